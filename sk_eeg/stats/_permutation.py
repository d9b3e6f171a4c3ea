"""Permutation schemes that respect the nesting of rows in channels in subjects.

A permutation is described by row index arrays: for a relabelling, the new
value of a factor at row ``i`` is its old value at row ``idx[i]``; for
Freedman-Lane, the permuted residual at row ``i`` is the residual at
``idx[i]``. Every index array is drawn in the parent process from one random
state, so the null distribution does not depend on ``n_jobs`` or the backend.

Exchangeability follows the level at which a factor varies (Winkler et al.
2015): a factor that varies within channels is relabelled among the rows of
each channel (for two rows per channel, a sign flip of the paired difference);
a factor constant within channels is relabelled among the channels of each
subject; a factor constant within subjects is relabelled among whole subjects.
Label counts are preserved at every level.
"""

from itertools import permutations, product

import numpy as np

LEVELS = ("within", "channel", "subject")


class Blocks:
    """Row, channel and subject indices used to draw permutations.

    Parameters
    ----------
    subject : array of int, shape (n_obs,) | None
        Subject of each row.
    channel : array of int, shape (n_obs,) | None
        Channel of each row (nested in subject).
    n_obs : int
        Number of rows.
    """

    def __init__(self, subject, channel, n_obs):
        n = n_obs
        self.n_obs = n
        self.subject = np.zeros(n, int) if subject is None else np.asarray(subject)
        self.has_subject = subject is not None
        self.has_channel = channel is not None
        # the finest grouping that keeps random effects intact
        self.channel = np.asarray(channel) if channel is not None else None

    def level_of(self, values):
        """Lowest level at which ``values`` (n_obs,) vary."""
        values = np.asarray(values)
        if self.channel is not None and _varies_within(values, self.channel):
            return "within"
        if not self.has_subject:
            return "within"
        if _varies_within(values, self.subject):
            return "within" if self.channel is None else "channel"
        return "subject"

    def row_blocks(self, level):
        """Block id of every row for row-level permutations at ``level``."""
        if level == "within":
            if self.channel is not None:
                return self.channel
            return self.subject if self.has_subject else np.zeros(self.n_obs, int)
        raise ValueError(level)

    def draw(self, rng, level):
        """One random row index array relabelling at ``level``."""
        if level == "within":
            return _permute_rows_within(rng, self.row_blocks("within"))
        if level == "channel":
            return _permute_units(rng, self.channel, self.subject)
        return _permute_units(rng, self.subject, np.zeros(self.n_obs, int))

    def enumerate(self, level, values=None, max_count=2**16):
        """Every distinct within-block rearrangement (identity first).

        Parameters
        ----------
        level : str
            Only ``'within'`` can be enumerated.
        values : array | None
            Factor values; arrangements giving the same labels are merged.
        max_count : int
            Refuse to enumerate more than this.

        Returns
        -------
        idx : array of int, shape (n_arrangements, n_obs)
            Row index arrays.
        """
        if level != "within":
            raise ValueError(
                "n_permutations='all' is supported only for terms that vary within "
                "channels (row swaps); use an integer n_permutations."
            )
        blocks = self.row_blocks("within")
        options = []
        count = 1
        for b in np.unique(blocks):
            rows = np.nonzero(blocks == b)[0]
            arrangements = {}
            for perm in permutations(range(len(rows))):
                perm_rows = rows[list(perm)]
                key = tuple(values[perm_rows]) if values is not None else perm
                arrangements.setdefault(key, perm_rows)
            options.append((rows, list(arrangements.values())))
            count *= len(arrangements)
            if count > max_count:
                raise ValueError(
                    f"n_permutations='all' would enumerate more than {max_count} "
                    "rearrangements; use an integer n_permutations instead."
                )
        out = np.empty((count, self.n_obs), int)
        for i, choice in enumerate(product(*[opt for _, opt in options])):
            for (rows, _), perm_rows in zip(options, choice):
                out[i, rows] = perm_rows
        return out


def _varies_within(values, block):
    order = np.lexsort(
        (values.astype(str) if values.dtype == object else values, block)
    )
    v, b = values[order], block[order]
    return bool(np.any((b[1:] == b[:-1]) & (v[1:] != v[:-1])))


def _permute_rows_within(rng, block):
    """Uniform random permutation of rows inside each block (vectorised)."""
    n = len(block)
    base = np.argsort(block, kind="stable")
    shuffled = np.lexsort((rng.random(n), block))
    idx = np.empty(n, int)
    idx[base] = shuffled
    return idx


def _permute_units(rng, unit, super_block):
    """Permute whole units inside super-blocks; rows follow their unit."""
    n_units = int(unit.max()) + 1
    unit_super = np.zeros(n_units, int)
    unit_super[unit] = super_block
    rep_row = np.zeros(n_units, int)
    rep_row[unit[::-1]] = np.arange(len(unit))[::-1]  # first row of each unit
    unit_perm = _permute_rows_within(rng, unit_super)
    return rep_row[unit_perm][unit]
