"""The EM / IRLS loop of IFEPanelRegressor.fit (missing values, Student-t).

Missing responses are filled with the current low-rank fit, missing
time-varying covariates by their posterior expectation (posterior covariance
added to the normal equations), and with ``robust='t'`` each time point gets
a multivariate Student-t weight; each iteration is one Gram-matrix pass.
"""

import warnings

import numpy as np

from ..utils import logger
from ._between import _column_names, _subject_level_columns, _subject_table
from ._ife import (
    _accumulate_moments,
    _fold_codes,
    _group_codes,
    _impute_gaussian,
)


class _EMMixin:
    """``_fit``: the EM / IRLS iterations over Gram-matrix passes."""

    def _fit(self, X, y, Y, groups):
        n_samples, n_channels = Y.shape
        codes, labels = _group_codes(groups, n_samples)
        n_groups = labels.size
        counts = np.bincount(codes, minlength=n_groups)
        if counts.min() < 2:
            raise ValueError(
                f"Subject {labels[np.argmin(counts)]!r} has {counts.min()} sample; "
                "each subject needs at least 2 samples."
            )
        names = _column_names(self, X.shape[1])
        subject_level = _subject_level_columns(X, codes, n_groups)
        table = _subject_table(X[:, subject_level], codes, n_groups)
        Xt = X[:, ~subject_level]
        names_t = [n for n, s in zip(names, subject_level) if not s]

        miss_y = np.isnan(Y)
        miss_x = np.isnan(Xt)
        has_miss_y, has_miss_x = miss_y.any(), miss_x.any()
        iterative = has_miss_y or has_miss_x or self.robust == "t"
        if has_miss_y:
            Y = Y.copy()
            chan_mean = np.nanmean(Y, axis=0)
            for g in range(n_groups):
                block = Y[codes == g]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    gmean = np.nanmean(block, axis=0)
                gmean = np.where(np.isnan(gmean), chan_mean, gmean)
                Y[codes == g] = np.where(np.isnan(block), gmean, block)
        x_mean = np.nanmean(Xt, axis=0) if Xt.shape[1] else np.zeros(0)
        x_cov = _nan_cov(Xt) if Xt.shape[1] else np.zeros((0, 0))
        if has_miss_x:
            Xt = np.where(miss_x, x_mean, Xt)
        post = (np.array([], dtype=int), np.zeros((0,) + (Xt.shape[1],) * 2))

        use_cv = self.factor_criterion == "cv"
        n_folds = self.n_folds if use_cv else 1
        folds = _fold_codes(codes, n_groups, n_folds)
        cells = codes * n_folds + folds
        cell_group = np.repeat(np.arange(n_groups), n_folds)
        weights = None
        prev = None
        self.n_iter_ = 0
        for it in range(1, self.max_iter + 1):
            self.n_iter_ = it
            mom_cells = _accumulate_moments(
                Y, Xt, cells, n_groups * n_folds, weights, self.chunk_size
            )
            rows, covs = post
            if rows.size:
                w_rows = 1.0 if weights is None else weights[rows][:, None, None]
                np.add.at(mom_cells["sxx"], cells[rows], w_rows * covs)
            state = self._solve(mom_cells, cell_group, n_groups, n_folds, names_t)
            if not iterative:
                break
            coef, mu, loadings = state["coef"], state["mu"], state["loadings"]
            fitted = mu[codes] + Xt @ coef.T
            resid = Y - fitted
            low = np.zeros_like(resid)
            for g in range(n_groups):
                sel = codes == g
                lam = loadings[g]
                low[sel] = resid[sel] @ lam @ lam.T
            current = [coef.ravel(), mu.ravel()]
            if has_miss_y:
                Y[miss_y] = (fitted + low)[miss_y]
                current.append(Y[miss_y])
            if has_miss_x:
                Xt, post = self._impute_time_covariates(
                    np.where(miss_x, np.nan, Xt), Y, codes, state, x_mean, x_cov
                )
                x_mean, x_cov = _moments_with_posterior(Xt, post)
                current.append(Xt[miss_x])
            if self.robust == "t":
                counts = np.bincount(codes, minlength=n_groups).astype(float)
                weights = self._t_weights(resid, codes, state["grams"], counts)
                current.append(weights)
            current = np.concatenate(current)
            if prev is not None:
                change = np.linalg.norm(current - prev) / max(
                    np.linalg.norm(prev), np.finfo(float).tiny
                )
                logger.info("IFE iteration %d: relative change %.3g", it, change)
                if change < self.tol:
                    break
            prev = current
        else:
            if iterative and self.max_iter > 1:
                warnings.warn(
                    f"IFEPanelRegressor did not converge in max_iter={self.max_iter} "
                    "iterations; increase max_iter or tol.",
                    UserWarning,
                    stacklevel=3,
                )
        self._store(state, labels, subject_level, table, names)
        self.weights_ = weights
        self.covariate_mean_ = x_mean
        self.covariate_cov_ = x_cov
        self._y_1d = y.ndim == 1
        return self

    def _impute_time_covariates(self, Xt_nan, Y, codes, state, x_mean, x_cov):
        coef, mu, grams, counts = (
            state["coef"],
            state["mu"],
            state["grams"],
            state["counts"],
        )
        filled = Xt_nan.copy()
        rows_all, covs_all = [], []
        for g in range(mu.shape[0]):
            sel = np.flatnonzero(codes == g)
            if not np.isnan(Xt_nan[sel]).any():
                continue
            psi = grams[g] / max(counts[g], 1.0)
            psi_inv = np.linalg.pinv(psi + 1e-9 * np.trace(psi) / psi.shape[0])
            out, (rows, covs) = _impute_gaussian(
                Xt_nan[sel], Y[sel] - mu[g], coef, psi_inv, x_mean, x_cov
            )
            filled[sel] = out
            rows_all.append(sel[rows])
            covs_all.append(covs)
        rows = np.concatenate(rows_all) if rows_all else np.array([], dtype=int)
        covs = (
            np.concatenate(covs_all)
            if covs_all
            else np.zeros((0,) + (Xt_nan.shape[1],) * 2)
        )
        return filled, (rows, covs)

    def _t_weights(self, resid, codes, grams, counts):
        """Multivariate-t weights ``(nu + p) / (nu + u' S^-1 u)`` per time point.

        ``S`` is the subject's (weighted) residual covariance of
        ``u_t = y_t - mu_g - C x_t``, factors included: an outlying time point
        is down-weighted as a whole, not absorbed by its free factor score.
        """
        n_channels = resid.shape[1]
        delta = np.zeros(resid.shape[0])
        for g in range(grams.shape[0]):
            sel = codes == g
            cov = grams[g] / max(counts[g], 1.0)
            cov = cov + 1e-9 * np.trace(cov) / n_channels * np.eye(n_channels)
            sol = np.linalg.solve(cov, resid[sel].T)
            delta[sel] = np.einsum("ij,ji->i", resid[sel], sol)
        return (self.t_dof + n_channels) / (self.t_dof + delta)


def _nan_cov(X):
    """Covariance of the observed pairs of columns (pairwise deletion)."""
    n_features = X.shape[1]
    mean = np.nanmean(X, axis=0)
    dev = np.where(np.isnan(X), 0.0, X - mean)
    obs = (~np.isnan(X)).astype(float)
    counts = np.maximum(obs.T @ obs, 1.0)
    cov = dev.T @ dev / counts
    return cov + 1e-12 * np.eye(n_features) * max(np.trace(cov), 1e-300)


def _moments_with_posterior(Xt, post):
    """Mean and covariance of completed covariates plus posterior spread."""
    rows, covs = post
    mean = Xt.mean(0)
    dev = Xt - mean
    cov = dev.T @ dev
    if rows.size:
        cov = cov + covs.sum(0)
    return mean, cov / Xt.shape[0]
