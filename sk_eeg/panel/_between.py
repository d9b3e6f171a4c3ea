"""Between-subject part: subject-level columns and their regression.

Covariates constant within every subject (sex, age, task) are collinear with
the subject intercepts; their effects come from regressing the intercepts on
them across subjects, with an EM for subjects whose values are missing.
"""

import numpy as np

from ._ife import (
    _impute_gaussian,
)


def _column_names(estimator, n_features):
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        return [f"x{j}" for j in range(n_features)]
    return [str(n) for n in names]


def _subject_level_columns(X, codes, n_groups):
    """Columns whose observed values are constant within every subject."""
    mask = np.ones(X.shape[1], dtype=bool)
    for g in range(n_groups):
        block = X[codes == g]
        observed = ~np.isnan(block)
        hi = np.where(observed, block, -np.inf).max(0)
        lo = np.where(observed, block, np.inf).min(0)
        varies = observed.any(0) & (hi - lo > 1e-12 * np.maximum(np.abs(hi), 1.0))
        mask &= ~varies
    return mask


def _subject_table(X, codes, n_groups):
    """Per-subject value of subject-level columns (NaN when never observed)."""
    table = np.full((n_groups, X.shape[1]), np.nan)
    for g in range(n_groups):
        block = X[codes == g]
        observed = ~np.isnan(block)
        any_obs = observed.any(0)
        table[g, any_obs] = np.nanmax(block[:, any_obs], axis=0)
    return table


def _identified_subject_columns(table):
    """Subject-level columns whose effects the between-subject fit can identify.

    Columns are taken in order; a column is kept when it takes at least two
    observed values across subjects, is not collinear with the intercept and
    the columns kept before it (on the subjects where all are observed), and
    at least two subjects per parameter remain (``n_kept + 2 <= n_groups``).
    The others cannot be estimated from these subjects: their effects are
    set to 0, i.e. absorbed in the population intercept.
    """
    n_groups, n_cov = table.shape
    keep = np.zeros(n_cov, dtype=bool)
    for j in range(n_cov):
        if int(keep.sum()) + 3 > n_groups:
            break
        cand = keep.copy()
        cand[j] = True
        block = table[:, cand]
        rows = ~np.isnan(block).any(1)
        observed = table[~np.isnan(table[:, j]), j]
        if np.unique(observed).size < 2 or rows.sum() < cand.sum() + 2:
            continue
        design = np.column_stack([np.ones(rows.sum()), block[rows]])
        design = design / np.maximum(np.abs(design).max(0), 1e-300)
        if np.linalg.matrix_rank(design, tol=1e-8) == design.shape[1]:
            keep = cand
    return keep


def _between_fit(intercepts, table, max_iter=200, tol=1e-8):
    """Regress subject intercepts on subject-level covariates across subjects.

    Model ``mu_g = m0 + C_a a_g + u_g`` with ``u_g ~ N(0, diag(psi))`` and, for
    subjects whose covariates are missing, ``a_g ~ N(m_a, S_a)``; the EM
    replaces missing ``a_g`` by their posterior given ``mu_g``.

    Returns
    -------
    intercept : array, shape (n_channels,)
    coef : array, shape (n_channels, n_subject_covariates)
    table_filled : array, shape (n_groups, n_subject_covariates)
    a_mean, a_cov : arrays
        The fitted covariate model (for prediction with missing values).
    """
    n_groups, n_cov = table.shape
    miss = np.isnan(table)
    filled = np.where(miss, np.nanmean(table, axis=0), table)
    coef = np.zeros((intercepts.shape[1], n_cov))
    intercept = intercepts.mean(0)
    for _ in range(max_iter):
        a_mean = filled.mean(0)
        dev = filled - a_mean
        a_cov = dev.T @ dev / n_groups
        if miss.any():
            psi = np.maximum(
                ((intercepts - intercept - filled @ coef.T) ** 2).mean(0), 1e-12
            )
            filled_new, (rows, covs) = _impute_gaussian(
                np.where(miss, np.nan, table),
                intercepts - intercept,
                coef,
                np.diag(1.0 / psi),
                a_mean,
                a_cov + 1e-9 * np.eye(n_cov),
            )
        else:
            filled_new, rows, covs = filled, np.array([], dtype=int), None
        design = np.column_stack([np.ones(n_groups), filled_new])
        normal = design.T @ design
        if np.linalg.matrix_rank(design) < design.shape[1]:
            raise ValueError(
                "The subject-level columns of X are collinear across subjects (or "
                "constant): their effects are not identified. Drop one of them."
            )
        if rows.size:
            normal[1:, 1:] += covs.sum(0)
        sol = np.linalg.solve(normal, design.T @ intercepts)
        new_intercept, new_coef = sol[0], sol[1:].T
        change = np.max(np.abs(new_coef - coef), initial=0.0) + np.max(
            np.abs(filled_new - filled), initial=0.0
        )
        intercept, coef, filled = new_intercept, new_coef, filled_new
        if not miss.any() or change < tol:
            break
    a_mean = filled.mean(0)
    dev = filled - a_mean
    a_cov = dev.T @ dev / n_groups
    return intercept, coef, filled, a_mean, a_cov
