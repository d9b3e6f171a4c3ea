"""Formula parsing, factor coding and term contrasts for the fixed effects.

A small, dependency-free subset of the Wilkinson notation: ``a * b`` expands to
``a + b + a:b``, ``a:b`` is an interaction, ``+`` joins terms; an optional left
side (``data ~ ...``) is ignored because the data come from ``X``. Columns of
float dtype are numeric covariates; all others (int, bool, str, category) are
categorical factors coded with ``'sum'`` (deviation, as R's ``contr.sum``: the
last level is -1) or ``'treatment'`` (dummy, first sorted level as reference,
as patsy / statsmodels) contrasts.
"""

from itertools import combinations

import numpy as np
import pandas as pd


def parse_formula(formula):
    """Turn ``'y ~ a * b + c'`` into an ordered list of terms (tuples of names).

    Parameters
    ----------
    formula : str
        The fixed-effects formula.

    Returns
    -------
    terms : list of tuple of str
        Terms ordered by degree, then by first appearance (as patsy does).
    """
    if not isinstance(formula, str) or not formula.strip():
        raise ValueError(
            f"formula must be a non-empty string such as 'hit_miss * region', "
            f"got {formula!r}."
        )
    rhs = formula.split("~")[-1]
    if "|" in rhs:
        raise ValueError(
            f"formula {formula!r} has a random-effects term: give only the fixed "
            "effects. Random intercepts come from groups= (subjects) and nested= "
            "(channels in subjects), i.e. (1 | groups) + (1 | groups:nested); "
            "a random slope per subject such as (1 + cond | sid) comes from "
            "random_slopes='cond' (two-level factors)."
        )
    terms = []
    for piece in rhs.split("+"):
        piece = piece.strip()
        if piece in ("", "1"):
            continue
        if piece in ("0", "-1") or "-" in piece or "(" in piece:
            raise ValueError(
                f"formula term {piece!r} is not supported: use factor names joined "
                "by '+', '*' and ':' (the intercept is always included)."
            )
        if "*" in piece:
            names = [n.strip() for n in piece.split("*")]
            for order in range(1, len(names) + 1):
                for combo in combinations(names, order):
                    terms.append(tuple(combo))
        else:
            terms.append(tuple(n.strip() for n in piece.split(":")))
    if any(not name for term in terms for name in term):
        raise ValueError(f"formula {formula!r} has an empty factor name.")
    unique = []
    for term in terms:
        if sorted(term) not in [sorted(t) for t in unique]:
            unique.append(term)
    if not unique:
        raise ValueError(f"formula {formula!r} has no terms besides the intercept.")
    return sorted(unique, key=len)


def term_name(term):
    """Return the name of a term: ``('a', 'b') -> 'a:b'``."""
    return ":".join(term)


class DesignSpec:
    """Coding of the factors of a formula, reusable for new design rows.

    Parameters
    ----------
    terms : list of tuple of str
        From :func:`parse_formula`.
    design : DataFrame
        One row per observation with every factor of ``terms``.
    coding : {'sum', 'treatment'}
        Contrast coding of categorical factors.
    """

    def __init__(self, terms, design, coding):
        self.terms = terms
        self.coding = coding
        self.factors = list(dict.fromkeys(n for t in terms for n in t))
        missing = [f for f in self.factors if f not in design.columns]
        if missing:
            raise ValueError(
                f"design has no column {missing[0]!r} named in formula; its columns "
                f"are {list(design.columns)}."
            )
        self.levels = {}
        for name in self.factors:
            col = design[name]
            if col.isna().any():
                raise ValueError(
                    f"design column {name!r} has missing values; drop those rows from "
                    "both X and design first."
                )
            if pd.api.types.is_float_dtype(col):
                self.levels[name] = None  # numeric covariate
                continue
            if isinstance(col.dtype, pd.CategoricalDtype):
                levels = [lv for lv in col.cat.categories if (col == lv).any()]
            else:
                levels = sorted(pd.unique(col), key=lambda v: (str(type(v)), v))
            if len(levels) < 2:
                raise ValueError(
                    f"factor {name!r} has a single level ({levels[0]!r}): nothing to "
                    "test. Remove it from formula."
                )
            self.levels[name] = list(levels)
        self.column_names = ["Intercept"]
        self.term_slices = {}
        for term in terms:
            start = len(self.column_names)
            names = [""]
            for factor in term:
                names = [
                    f"{prev}:{lab}" if prev else lab
                    for prev in names
                    for lab in self._factor_labels(factor)
                ]
            self.column_names += names
            self.term_slices[term_name(term)] = slice(start, len(self.column_names))

    def _factor_labels(self, factor):
        levels = self.levels[factor]
        if levels is None:
            return [factor]
        if self.coding == "treatment":
            return [f"{factor}[T.{lv}]" for lv in levels[1:]]
        return [f"{factor}[S.{lv}]" for lv in levels[:-1]]

    def _factor_columns(self, factor, values):
        levels = self.levels[factor]
        values = np.asarray(values)
        if levels is None:
            return values.astype(float)[:, None]
        codes = np.full(len(values), -1)
        for i, lv in enumerate(levels):
            codes[values == lv] = i
        if (codes < 0).any():
            bad = values[codes < 0][0]
            raise ValueError(
                f"design column {factor!r} has level {bad!r} unseen in fit; known "
                f"levels are {levels}."
            )
        n_lev = len(levels)
        if self.coding == "treatment":
            contrast = np.eye(n_lev)[:, 1:]
        else:
            contrast = np.vstack([np.eye(n_lev - 1), -np.ones((1, n_lev - 1))])
        return contrast[codes]

    def codes(self, design):
        """Integer level codes of every categorical factor, keyed by name."""
        out = {}
        for factor in self.factors:
            levels = self.levels[factor]
            if levels is not None:
                values = np.asarray(design[factor])
                out[factor] = np.array([levels.index(v) for v in values])
        return out

    def matrix(self, design, values=None):
        """Design matrix for ``design`` rows; ``values`` overrides factor columns."""
        values = {} if values is None else values
        cols = {
            f: self._factor_columns(f, values[f] if f in values else design[f])
            for f in self.factors
        }
        n = len(design)
        blocks = [np.ones((n, 1))]
        for term in self.terms:
            block = np.ones((n, 1))
            for factor in term:
                fc = cols[factor]
                block = (block[:, :, None] * fc[:, None, :]).reshape(n, -1)
            blocks.append(block)
        return np.hstack(blocks)

    def contrast(self, name):
        """Contrast matrix (q, p) selecting the columns of term ``name``."""
        sl = self.term_slices[name]
        eye = np.eye(len(self.column_names))
        return eye[sl]

    def test_contrast(self, name):
        """Contrast (q, p) testing term ``name`` with lmerTest's type-3 rows.

        The F statistic does not depend on the basis of the rows, but the
        Satterthwaite df of a multi-row test does: lmerTest tests the
        treatment-coded term (each level against the first, products for
        interactions) expressed in the fitted coding, and so does this.
        """
        sl = self.term_slices[name]
        term = self.terms[list(self.term_slices).index(name)]
        rows = np.ones((1, 1))
        for factor in term:
            levels = self.levels[factor]
            if levels is None or self.coding == "treatment":
                n_cols = 1 if levels is None else len(levels) - 1
                block = np.eye(n_cols)
            else:
                n_lev = len(levels)
                coding = np.vstack([np.eye(n_lev - 1), -np.ones((1, n_lev - 1))])
                block = coding[1:] - coding[0]
            rows = np.kron(rows, block)
        out = np.zeros((len(rows), len(self.column_names)))
        out[:, sl] = rows
        return out
