"""Sub-grid refinement: the active sources as free dipoles in continuous space.

After the sparse solver has found a support on the source grid, the dipoles
are first re-placed on the grid (alternating projection: each moves to the
grid point explaining most of the data given the others; dipoles that
explain no more than noise are dropped, and one is added where the residual
still holds more than noise), then moved off the grid: the positions of all
of them are fitted jointly (one dipole at a time, in sweeps, inside the inner
skull) by minimizing the whitened residual of the data window, their moments
(orientation and amplitude at every time sample) being the least-squares
solution for given positions. The gain at a position is computed as
:func:`mne.fit_dipole` computes it, with MNE's forward machinery on the BEM
or sphere model.
"""

import numpy as np
from scipy.optimize import minimize


class _FieldComputer:
    """Whitened gain of free dipoles at arbitrary positions (head frame).

    Set up once per (info, bem, trans) the way :func:`mne.fit_dipole` does,
    then ``gain(rr)`` returns ``(n_channels, 3 * n_dipoles)`` for the channels
    of ``info`` (its projectors applied), whitened with ``whitener``.
    """

    def __init__(self, info, bem, trans, whitener, min_dist=0.005):
        from mne import pick_types
        from mne.bem import _bem_find_surface, _fit_sphere
        from mne.dipole import _sphere_constraint, _surface_constraint
        from mne.forward._compute_forward import _prep_field_computation
        from mne.forward._make_forward import (
            _get_trans,
            _prep_eeg_channels,
            _prep_meg_channels,
            _setup_bem,
        )
        from mne.surface import transform_surface_to
        from mne.transforms import apply_trans

        n_eeg = len(pick_types(info, meg=False, eeg=True, exclude=[]))
        mri_head_t, _ = _get_trans(trans)
        bem = _setup_bem(bem, repr(bem), n_eeg, mri_head_t, verbose=False)
        sensors = {}
        if len(pick_types(info, meg=True, eeg=False, exclude=[])):
            sensors["meg"] = _prep_meg_channels(info, exclude="bads", verbose=False)
        if n_eeg:
            sensors["eeg"] = _prep_eeg_channels(info, exclude="bads", verbose=False)
        self.sensors = sensors
        self.fwd_data = _prep_field_computation(
            sensors=sensors, bem=bem, n_jobs=1, verbose=False
        )
        if bem["is_sphere"]:
            r0 = np.asarray(bem["r0"], float)
            radius = bem["layers"][0]["rad"] - min_dist
            self.inside = lambda rd: _sphere_constraint(rd, r0, radius)
            self.center = r0
        else:
            surf = _bem_find_surface(bem, "inner_skull").copy()
            transform_surface_to(surf, "head", mri_head_t)
            self.inside = lambda rd: _surface_constraint(rd, surf, min_dist)
            self.center = apply_trans(
                mri_head_t["trans"], _fit_sphere(surf["rr"])[1][np.newaxis]
            )[0]
        self.whitener = whitener

    def sensor_gain(self, rr):
        """Unwhitened gain ``(n_channels, 3 * n_dipoles)``, x/y/z adjacent."""
        from mne.forward._compute_forward import _compute_forwards_meeg

        fields = _compute_forwards_meeg(
            np.atleast_2d(rr),
            sensors=self.sensors,
            fwd_data=self.fwd_data,
            n_jobs=1,
            silent=True,
        )
        return np.concatenate([fields[k] for k in ("meg", "eeg") if k in fields]).T

    def gain(self, rr):
        """Whitened gain ``(n_channels, 3 * n_dipoles)``."""
        return self.whitener @ self.sensor_gain(rr)


def _grid_step(source_rr):
    """Median distance from a source to its nearest neighbour (metres)."""
    from scipy.spatial import cKDTree

    if len(source_rr) < 2:
        return 0.0
    dist = cKDTree(source_rr).query(source_rr, k=2)[0][:, 1]
    return float(np.median(dist))


def _merge_neighbours(positions, power, distance):
    """Group active sources closer than ``distance`` to a stronger one.

    A focal source between grid points is often shared by two or three
    neighbouring grid points; they become one dipole, started at the
    strongest. Returns the index of each group's strongest source and, for
    every source, the index (into the kept ones) of its group.
    """
    order = np.argsort(-np.asarray(power), kind="stable")
    kept, group = [], np.empty(len(positions), dtype=int)
    for k in order:
        near = [
            j
            for j, idx in enumerate(kept)
            if np.linalg.norm(positions[k] - positions[idx]) <= distance
        ]
        if near:
            group[k] = near[0]
        else:
            group[k] = len(kept)
            kept.append(k)
    return np.array(kept, dtype=int), group


def _residual_power(gain, data):
    """Residual power of the least-squares fit of ``data`` by ``gain``."""
    u, s, _ = np.linalg.svd(gain, full_matrices=False)
    u = u[:, s > s[0] * 1e-8] if s.size and s[0] > 0 else u[:, :0]
    proj = u.T @ data
    return float(np.sum(data**2) - np.sum(proj**2))


def _refine_positions(field, data, start, max_move=0.03, xatol=1e-4, n_sweeps=5):
    """Fit the positions of ``len(start)`` free dipoles jointly.

    Block coordinate descent: each dipole in turn moves (3-D simplex search)
    to minimize the residual of the least-squares fit of ``data`` by all the
    dipoles, the others held where they are; sweeps repeat until no dipole
    moves more than ``xatol``. One sweep is an exact fit for one dipole.

    Parameters
    ----------
    field : _FieldComputer
        Gain at arbitrary positions.
    data : array, shape (n_channels, n_times)
        Whitened data.
    start : array, shape (n_dipoles, 3)
        Starting positions (head frame, metres): the grid points.
    max_move : float
        Largest distance (metres) a dipole may move from its start.
    xatol : float
        Position tolerance (metres).
    n_sweeps : int
        Maximum number of sweeps over the dipoles.

    Returns
    -------
    positions : array, shape (n_dipoles, 3)
        Fitted positions.
    """
    start = np.asarray(start, float)
    positions = start.copy()
    gains = [field.gain(rd) for rd in positions]
    power = float(np.sum(data**2))
    scale = 1e-3  # search in millimetres: a well-scaled simplex

    for _ in range(n_sweeps):
        largest = 0.0
        for k in range(len(positions)):
            others = gains[:k] + gains[k + 1 :]

            def cost(x, k=k, others=others):
                rd = positions[k] + scale * x
                # Outside the inner skull or too far from the grid point:
                # worse than the worst fit, more so the farther out.
                excess = max(-field.inside(rd), 0.0) + max(
                    np.linalg.norm(rd - start[k]) - max_move, 0.0
                )
                if excess > 0:
                    return power * (1.0 + excess)
                return _residual_power(np.hstack(others + [field.gain(rd)]), data)

            res = minimize(
                cost,
                np.zeros(3),
                method="Nelder-Mead",
                options=dict(
                    initial_simplex=np.vstack([np.zeros(3), 2.0 * np.eye(3)]),
                    xatol=xatol / scale,
                    fatol=1e-12 * power,
                    maxiter=300,
                ),
            )
            moved = scale * res.x
            if res.fun <= cost(np.zeros(3)):
                positions[k] = positions[k] + moved
                gains[k] = field.gain(positions[k])
                largest = max(largest, float(np.linalg.norm(moved)))
        if largest <= xatol:
            break
    return positions


def _moments(gain, data):
    """Least-squares moments ``(3 * n_dipoles, n_times)`` for given gains."""
    return np.linalg.lstsq(gain, data, rcond=None)[0]


def _scan_grid(blocks, cov, fixed=None):
    """Power of the data explained by one free dipole at every grid point.

    Parameters
    ----------
    blocks : array, shape (n_channels, n_sources, n_orient)
        Whitened gain of the grid, the orientation columns of each source.
    cov : array, shape (n_channels, n_channels)
        ``data @ data.T`` of the whitened data.
    fixed : array, shape (n_channels, n_fixed) | None
        Gain of dipoles held fixed: their span is projected out of the data
        and of the grid's gain first.

    Returns
    -------
    power : array, shape (n_sources,)
        Data power explained by each grid source on top of ``fixed``.
    """
    # Ridge relative to each source's own gain: a source in the span of the
    # fixed ones then explains nothing, not rounding noise over rounding noise.
    scale = np.einsum("cso,cso->s", blocks, blocks)[:, None, None]
    if fixed is not None and fixed.shape[1]:
        u, s, _ = np.linalg.svd(fixed, full_matrices=False)
        u = u[:, s > s[0] * 1e-8]
        proj = np.eye(len(cov)) - u @ u.T
        cov = proj @ cov @ proj
        blocks = np.einsum("cd,dso->cso", proj, blocks)
    gram = np.einsum("cso,csp->sop", blocks, blocks)
    cross = np.einsum("cso,csp->sop", blocks, np.einsum("cd,dsp->csp", cov, blocks))
    n_orient = blocks.shape[2]
    ridge = 1e-10 * np.maximum(scale, 1e-300) * np.eye(n_orient)
    return np.trace(np.linalg.solve(gram + ridge, cross), axis1=1, axis2=2)


def _alternating_projection(blocks, cov, start, n_iter=10):
    """Re-place each grid dipole given the others (alternating projection).

    Each dipole in turn moves to the grid point that explains most of the
    data with the other dipoles held fixed, until no dipole moves (Adler et
    al., 2022). Returns the grid indices.
    """
    index = list(start)
    for _ in range(n_iter):
        changed = False
        for k in range(len(index)):
            others = [j for i, j in enumerate(index) if i != k]
            fixed = blocks[:, others].reshape(len(cov), -1) if others else None
            power = _scan_grid(blocks, cov, fixed)
            power[others] = -np.inf
            best = int(np.argmax(power))
            if best != index[k]:
                index[k], changed = best, True
        if not changed:
            break
    return np.array(index, dtype=int)


def _explained(gain, cov):
    """Power of the data (``cov = data @ data.T``) in the span of ``gain``."""
    if gain.shape[1] == 0:
        return 0.0
    u, s, _ = np.linalg.svd(gain, full_matrices=False)
    u = u[:, s > s[0] * 1e-8]
    return float(np.trace(u.T @ cov @ u))


def _select_dipoles(blocks, cov, start, threshold, n_extra=1):
    """Place, prune and add grid dipoles by the power they explain.

    The dipole explaining least on top of the others is dropped while that
    is below ``threshold``; the rest move by alternating projection and are
    pruned again; then a dipole is added at the grid point explaining most
    of the residual while that is above ``threshold`` (at most ``n_extra`` of
    them), re-placing all after each addition.

    Parameters
    ----------
    blocks : array, shape (n_channels, n_sources, n_orient)
        Whitened gain of the grid.
    cov : array, shape (n_channels, n_channels)
        ``data @ data.T`` of the whitened data.
    start : array of int
        Grid indices of the starting dipoles.
    threshold : float
        Smallest data power a dipole must explain on top of the others.
    n_extra : int
        Largest number of dipoles added from the residual.

    Returns
    -------
    index : array of int
        Grid indices of the dipoles.
    """
    n_channels = len(cov)

    def gain_of(index):
        return blocks[:, list(index)].reshape(n_channels, -1)

    index = list(start)
    for moved in (False, True):  # prune the solver's support, then again
        if moved:
            index = list(_alternating_projection(blocks, cov, index))
        index = _prune(index, gain_of, cov, threshold)
    for _ in range(n_extra):
        power = _scan_grid(blocks, cov, gain_of(index))
        power[index] = -np.inf
        best = int(np.argmax(power))
        if power[best] < threshold:
            break
        index = list(_alternating_projection(blocks, cov, index + [best]))
    return np.array(index, dtype=int)


def _prune(index, gain_of, cov, threshold):
    """Drop the weakest dipole while it explains less than ``threshold``."""
    index = list(index)
    while len(index) > 1:
        total = _explained(gain_of(index), cov)
        loss = [
            total - _explained(gain_of(index[:k] + index[k + 1 :]), cov)
            for k in range(len(index))
        ]
        weakest = int(np.argmin(loss))
        if loss[weakest] >= threshold:
            break
        del index[weakest]
    return index


def _add_from_residual(
    field, blocks, grid_rr, data, positions, threshold, n_extra=1, **kwargs
):
    """Add free dipoles where the residual of the refined ones has structure.

    The grid point explaining most of the residual of the refined dipoles
    seeds one more dipole when it explains more than ``threshold``; all are
    refined again (``kwargs`` go to :func:`_refine_positions`) and the new one
    is kept if, refined, it still explains more than ``threshold`` on top of
    the others. At most ``n_extra`` times.

    Returns
    -------
    positions : array, shape (n_dipoles, 3)
        The refined positions, added dipoles last.
    added : list of int
        Grid indices of the seeds of the added dipoles.
    """
    cov = data @ data.T
    added = []
    for _ in range(n_extra):
        power = _scan_grid(blocks, cov, field.gain(positions))
        best = int(np.argmax(power))
        if power[best] < threshold:
            break
        trial = _refine_positions(
            field, data, np.vstack([positions, grid_rr[best]]), **kwargs
        )
        gain = field.gain(trial)
        if _explained(gain, cov) - _explained(gain[:, :-3], cov) < threshold:
            break
        positions = trial
        added.append(best)
    return positions, added


def _relocate_on_grid(gain, white, coef, n_orient, source_rr, nave, unit_noise):
    """Re-place a sparse solution's sources on the grid; least-squares currents.

    Active sources closer than 1.5 grid steps to a stronger one are merged
    (a focal source shared by neighbouring grid points), then placed, pruned
    and completed by :func:`_select_dipoles`: each moves to the grid point
    explaining most of the whitened data given the others, those explaining
    less than four times the power a free dipole fits to noise are dropped and
    one is added where the residual still holds more. Without unit noise
    (no noise covariance: the data scale is arbitrary) nothing is dropped or
    added, the sources are only re-placed.

    Parameters
    ----------
    gain : array, shape (n_channels, n_sources * n_orient)
        Whitened, weighted gain.
    white : array, shape (n_channels, n_times)
        Whitened data.
    coef : array, shape (n_sources * n_orient, n_times)
        The sparse solution in the units of ``gain``.
    n_orient : int
        Orientations per source.
    source_rr : array, shape (n_sources, 3)
        Grid positions (metres).
    nave : int
        Number of averaged epochs (the noise power of ``white`` is 1 / nave).
    unit_noise : bool
        Whether ``white`` has unit noise variance per epoch.

    Returns
    -------
    coef : array, shape (n_sources * n_orient, n_times)
        Least-squares currents of the re-placed sources, zero elsewhere.
    """
    n_channels, n_times = white.shape
    blocks = gain.reshape(n_channels, -1, n_orient)
    currents = coef.reshape(-1, n_orient, n_times)
    active = np.flatnonzero(np.any(currents != 0, axis=(1, 2)))
    if active.size == 0:
        return coef
    power = np.sum(
        np.einsum("cso,sot->sct", blocks[:, active], currents[active]) ** 2,
        axis=(1, 2),
    )
    distance = 1.5 * _grid_step(source_rr)
    if distance > 0:  # not for sources given no distinct positions
        active = active[_merge_neighbours(source_rr[active], power, distance)[0]]
    # A free dipole fitted to noise alone explains n_orient * n_times / nave
    # of the whitened average's power on average; see SparseSourceLocalizer._refine.
    threshold = 4.0 * n_orient * n_times / nave if unit_noise else 0.0
    index = _select_dipoles(
        blocks,
        white @ white.T,
        active,
        threshold,
        n_extra=1 if unit_noise else 0,
    )
    cols = np.zeros(blocks.shape[1], dtype=bool)
    cols[index] = True
    cols = np.repeat(cols, n_orient)
    out = np.zeros_like(coef)
    out[cols] = _moments(gain[:, cols], white)
    return out
