"""Regressors that vary over channels and time (Bai 2009's ``x_it``).

With ``z_t = [y_t, x_t1, ..., x_tK]`` (``K + 1`` blocks of ``p`` channels)
the moments of ``z`` (accumulated in streaming passes like those of ``y``)
give, after the pooled within-subject projection on the time-level
covariates, each subject's ``(K + 1) p`` square Gram matrix: Bai's
alternating least squares for the shared coefficients ``beta`` and the
per-subject loadings runs on it (:func:`~sk_eeg.panel._ife._bai_als`), and
the moments of ``y - sum_k beta_k x_k`` are linear combinations of those of
``z``, so everything else (covariate effects, ranks, loadings) is the
ordinary fit on them.
"""

import numpy as np

from ._between import _column_names, _subject_level_columns, _subject_table
from ._em import _nan_cov
from ._ife import (
    _accumulate_moments,
    _bai_als,
    _fold_codes,
    _group_codes,
    _sum_cells,
    _within_fit,
)


def _stack_channel_regressors(Y, channel_X):
    """``[y, x_1, ..., x_K]`` as ``(n_samples, (K + 1) p)`` blocks."""
    K = channel_X.shape[2]
    return np.concatenate([Y] + [channel_X[:, :, k] for k in range(K)], axis=1)


def _combine_moments(mom_z, coefs, n_channels):
    """Moments of ``sum_a coefs[a] z_a`` from the moments of ``z``."""
    n_cells = mom_z["w"].shape[0]
    n_blocks = coefs.size
    q = mom_z["sx"].shape[1]
    sz = mom_z["sy"].reshape(n_cells, n_blocks, n_channels)
    szz = mom_z["syy"].reshape(n_cells, n_blocks, n_channels, n_blocks, n_channels)
    szx = mom_z["syx"].reshape(n_cells, n_blocks, n_channels, q)
    out = {key: mom_z[key] for key in ("w", "sx", "sxx")}
    out["sy"] = np.einsum("a,nap->np", coefs, sz)
    out["syy"] = np.einsum("a,b,napbq->npq", coefs, coefs, szz)
    out["syx"] = np.einsum("a,napq->npq", coefs, szx)
    return out


def _bai_grams(mom_z, cell_group, n_groups, names_t, n_channels):
    """Per-subject Gram blocks ``(G, K + 1, K + 1, p, p)`` after the covariates."""
    mom = _sum_cells(mom_z, cell_group, n_groups)
    _, _, grams = _within_fit(mom, names_t)
    n_blocks = grams.shape[1] // n_channels
    grams = grams.reshape(n_groups, n_blocks, n_channels, n_blocks, n_channels)
    return np.transpose(grams, (0, 1, 3, 2, 4))


class _ChannelMixin:
    """``fit(..., channel_X=)``: Bai's ALS on streamed Gram matrices."""

    def _check_channel_X(self, channel_X, n_samples, n_channels):
        channel_X = np.asarray(channel_X, dtype=np.float64)
        if channel_X.ndim == 2:
            channel_X = channel_X[:, :, None]
        if channel_X.ndim != 3 or channel_X.shape[:2] != (n_samples, n_channels):
            raise ValueError(
                "channel_X must have shape (n_samples, n_channels, n_regressors) = "
                f"({n_samples}, {n_channels}, K), got {channel_X.shape}."
            )
        if not np.all(np.isfinite(channel_X)):
            raise ValueError("channel_X must be finite (no NaN or infinity).")
        return channel_X

    def _channel_solve(self, mom_z, cell_group, n_groups, n_folds, names_t, p):
        """Bai ALS for ``beta``, ranks re-selected until they settle."""
        grams = _bai_grams(mom_z, cell_group, n_groups, names_t, p)
        beta, _, _ = _bai_als(grams, 0)  # pooled least squares
        ranks, n_iter = None, 0
        for _ in range(3):
            coefs = np.concatenate([[1.0], -beta])
            state = self._solve(
                _combine_moments(mom_z, coefs, p),
                cell_group,
                n_groups,
                n_folds,
                names_t,
            )
            if ranks is not None and np.array_equal(state["ranks"], ranks):
                break
            ranks = state["ranks"]
            beta, _, it = _bai_als(grams, ranks, beta_init=beta, tol=self.tol * 1e-4)
            n_iter += it
        return state, beta, n_iter

    def _fit_channel(self, X, Y, groups, channel_X):
        """Fit with channel-varying regressors: Bai ALS on streamed Grams."""
        n_samples, n_channels = Y.shape
        channel_X = self._check_channel_X(channel_X, n_samples, n_channels)
        if self.robust is not None or np.isnan(X).any() or np.isnan(Y).any():
            raise ValueError(
                "channel_X needs complete X and y and robust=None (no EM or IRLS "
                "with channel-varying regressors)."
            )
        codes, labels = _group_codes(groups, n_samples)
        n_groups = labels.size
        names = _column_names(self, X.shape[1])
        subject_level = _subject_level_columns(X, codes, n_groups)
        table = _subject_table(X[:, subject_level], codes, n_groups)
        Xt = X[:, ~subject_level]
        names_t = [n for n, s in zip(names, subject_level) if not s]
        n_folds = self.n_folds if self.factor_criterion == "cv" else 1
        cells = codes * n_folds + _fold_codes(codes, n_groups, n_folds)
        cell_group = np.repeat(np.arange(n_groups), n_folds)
        mom_z = _accumulate_moments(
            _stack_channel_regressors(Y, channel_X),
            Xt,
            cells,
            n_groups * n_folds,
            None,
            self.chunk_size,
        )
        state, beta, n_iter = self._channel_solve(
            mom_z, cell_group, n_groups, n_folds, names_t, n_channels
        )
        self._store(state, labels, subject_level, table, names)
        self.channel_coef_ = beta
        self.weights_ = None
        self.covariate_mean_ = Xt.mean(0)
        self.covariate_cov_ = _nan_cov(Xt) if Xt.shape[1] else np.zeros((0, 0))
        self.n_iter_ = n_iter
        self._y_1d = False
        return self
