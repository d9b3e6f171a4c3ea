"""Standard errors of the covariate effects of IFEPanelRegressor.

Time-varying columns: pooled within-subject least squares, whose error given
the factors is the idiosyncratic noise (the factors are orthogonal to the
covariates within each subject by the estimator's normalisation), so
``Var(C[c]) = psi_c (sum_g X_g' M_1 X_g)^-1`` with ``psi_c`` channel ``c``'s
idiosyncratic variance pooled over subjects, corrected for the degrees of
freedom of intercepts, covariates and factors. Subject-level columns: the
ordinary least-squares covariance of the between-subject regression of the
intercepts, with ``n_groups - 1 - n_columns`` degrees of freedom.
"""

import numpy as np


def _within_se(xtx, resid_ss, counts, ranks, n_features):
    """Return the standard errors of the time-varying effects, shape (p, q)."""
    n_channels = resid_ss.shape[0]
    factor_params = ranks * (counts + n_channels) / n_channels
    dof = np.sum(counts - 1.0 - factor_params) - n_features
    if dof <= 0 or n_features == 0:
        return np.full((n_channels, n_features), np.nan)
    psi = resid_ss / dof
    diag = np.diag(np.linalg.pinv(xtx))
    return np.sqrt(np.outer(psi, diag))


def _between_se(intercepts, table, intercept, coef):
    """Return standard errors and degrees of freedom of subject-level effects."""
    n_groups, n_cov = table.shape
    dof = n_groups - 1 - n_cov
    if dof <= 0:
        return np.full((intercepts.shape[1], n_cov), np.nan), dof
    design = np.column_stack([np.ones(n_groups), table])
    resid = intercepts - intercept - table @ coef.T
    s2 = np.sum(resid**2, axis=0) / dof
    diag = np.diag(np.linalg.pinv(design.T @ design))[1:]
    return np.sqrt(np.outer(s2, diag)), dof
