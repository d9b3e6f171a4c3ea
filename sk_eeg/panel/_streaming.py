"""partial_fit bookkeeping: streamed moments, blocks merged, one refit.

The estimate depends on the data only through per-subject (and per-fold)
moments, so blocks (recordings) are added one at a time, locally
(:meth:`_StreamingMixin._accumulate`) or from a worker
(:meth:`_StreamingMixin._merge_block`), and the model is refit from the
moments (:meth:`_StreamingMixin._finish_stream`).
"""

import numpy as np

from ..utils import use_log_level
from ._between import _column_names
from ._channel import _stack_channel_regressors
from ._ife import (
    _accumulate_moments,
    _group_codes,
    _sum_cells,
)


class _StreamingMixin:
    """``partial_fit`` and the streamed-moments bookkeeping."""

    def partial_fit(self, X, y, groups=None, channel_X=None):
        """Add complete samples to the sufficient statistics and refit.

        The estimate depends on the data only through per-subject Gram
        matrices, so fitting block by block (e.g. one recording of a
        memory-mapped tensor at a time) gives exactly the estimate of
        :meth:`fit` on all blocks, in memory independent of their number and
        whatever the order of the subjects. With ``factor_criterion='cv'``
        each call's samples of a subject form one time block (fold ``call
        index % n_folds``).

        A subject-level column (e.g. sex) may be NaN for all of a subject's
        samples: its value is then imputed by the EM of the between-subject
        regression. Subject-level effects that the subjects seen so far
        cannot identify are 0 until enough subjects have arrived (logged, not
        warned, since later calls may identify them).

        Parameters
        ----------
        X : array-like or DataFrame, shape (n_samples, n_features)
            Covariates: no missing values except subject-level columns
            missing for a whole subject (use :meth:`fit` for the EM of
            time-varying covariates).
        y : array-like, shape (n_samples,) or (n_samples, n_channels)
            Responses (no missing values).
        groups : array-like, shape (n_samples,) | None
            Subject of each sample; None is subject ``0``.
        channel_X : array-like, shape (n_samples, n_channels, n_regressors) | None
            Channel-varying regressors (as in :meth:`fit`); give them in every
            call or in none.

        Returns
        -------
        self : IFEPanelRegressor
            The updated estimator.
        """
        self._accumulate(X, y, groups, channel_X)
        with use_log_level(self.verbose):
            self._finish_stream(strict=False)
        return self

    def _accumulate(self, X, y, groups, channel_X=None):
        """Add one block to the streamed moments (no refit)."""
        self._check_params()
        if self.robust is not None:
            raise ValueError(
                "partial_fit supports robust=None only; Student-t weights need "
                "several passes over the data (use fit)."
            )
        first = not hasattr(self, "_stream")
        X, y, Y = self._validate_xy(X, y, reset=first, empty_x_ok=True)
        if np.isnan(Y).any():
            raise ValueError(
                "partial_fit needs complete y; drop the rows with NaN or use the "
                "EM of fit."
            )
        n_folds = self.n_folds if self.factor_criterion == "cv" else 1
        n_channels = Y.shape[1]
        if channel_X is not None:
            channel_X = self._check_channel_X(channel_X, *Y.shape)
            Y = _stack_channel_regressors(Y, channel_X)
        if first:
            self._stream = {"labels": [], "calls": [], "mom": None, "missing": set()}
            if channel_X is not None:
                self._stream["n_channels"] = n_channels
        elif (channel_X is None) != (self._stream.get("n_channels") is None):
            raise ValueError("give channel_X in every partial_fit call or in none.")
        elif Y.shape[1] != self._stream["mom"]["sy"].shape[1]:
            raise ValueError(
                f"y (with channel_X) has {Y.shape[1]} columns; earlier calls had "
                f"{self._stream['mom']['sy'].shape[1]}."
            )
        stream = self._stream
        local_codes, local_labels = _group_codes(
            np.zeros(Y.shape[0]) if groups is None else groups, Y.shape[0]
        )
        index = {label: i for i, label in enumerate(stream["labels"])}
        cells = np.empty(Y.shape[0], dtype=np.intp)
        miss = np.isnan(X)
        if miss.any():
            X = np.where(miss, 0.0, X)
        for j, label in enumerate(local_labels.tolist()):
            if label not in index:
                index[label] = len(stream["labels"])
                stream["labels"].append(label)
                stream["calls"].append(0)
            g = index[label]
            rows = local_codes == j
            cells[rows] = g * n_folds + stream["calls"][g] % n_folds
            stream["calls"][g] += 1
            if miss.any():
                lost = miss[rows]
                whole = lost.all(0)
                if (lost.any(0) & ~whole).any():
                    raise ValueError(
                        "partial_fit needs complete X, except subject-level "
                        "columns missing for all samples of a subject; the EM of "
                        "fit handles other missing covariates."
                    )
                stream["missing"].update((g, c) for c in np.flatnonzero(whole))
        n_groups = len(stream["labels"])
        new = _accumulate_moments(
            Y, X, cells, n_groups * n_folds, None, self.chunk_size
        )
        if stream["mom"] is not None:
            for key, val in stream["mom"].items():
                new[key][: val.shape[0]] += val
        stream["mom"] = new
        self._y_1d = y.ndim == 1
        return self

    def _merge_block(self, mom, label, names, missing_cols):
        """Add the moments of one block of one subject, computed elsewhere.

        ``mom`` holds one cell (see :func:`_accumulate_moments`) computed from
        complete responses and covariates with missing subject-level columns
        set to 0 (``missing_cols``); this is how a distributed fit merges the
        blocks its workers computed.
        """
        n_folds = self.n_folds if self.factor_criterion == "cv" else 1
        if not hasattr(self, "_stream"):
            self._check_params()
            if self.robust is not None:
                raise ValueError("a distributed fit supports robust=None only.")
            self.n_features_in_ = len(names)
            self.feature_names_in_ = np.asarray(names, dtype=object)
            self._stream = {"labels": [], "calls": [], "mom": None, "missing": set()}
        elif list(names) != list(self.feature_names_in_):
            raise ValueError(
                f"block covariates {list(names)} differ from the first block's "
                f"{list(self.feature_names_in_)}."
            )
        stream = self._stream
        if label not in stream["labels"]:
            stream["labels"].append(label)
            stream["calls"].append(0)
        g = stream["labels"].index(label)
        cell = g * n_folds + stream["calls"][g] % n_folds
        stream["calls"][g] += 1
        stream["missing"].update((g, int(c)) for c in missing_cols)
        n_cells = len(stream["labels"]) * n_folds
        old = stream["mom"]
        if old is None or old["w"].shape[0] < n_cells:
            new = {
                key: np.zeros((n_cells,) + val.shape[1:]) for key, val in mom.items()
            }
            if old is not None:
                for key, val in old.items():
                    new[key][: val.shape[0]] = val
            stream["mom"] = new
        for key, val in mom.items():
            stream["mom"][key][cell] += val[0]
        self._y_1d = False
        return self

    def _finish_stream(self, strict=True):
        """Refit from the streamed moments (``strict``: warn, do not log)."""
        n_folds = self.n_folds if self.factor_criterion == "cv" else 1
        self._finish_from_moments(
            self._stream["mom"], len(self._stream["labels"]), n_folds, strict
        )
        return self

    def _finish_from_moments(self, mom_cells, n_groups, n_folds, strict=False):
        cell_group = np.repeat(np.arange(n_groups), n_folds)
        mom = _sum_cells(mom_cells, cell_group, n_groups)
        w = np.maximum(mom["w"], 1e-300)
        xbar = mom["sx"] / w[:, None]
        within = np.diagonal(mom["sxx"], axis1=1, axis2=2) - w[:, None] * xbar**2
        total = within.sum(0) + np.sum(w[:, None] * (xbar - xbar.mean(0)) ** 2, 0)
        subject_level = np.all(within <= 1e-10 * np.maximum(total, 1e-300), axis=0)
        table = xbar.copy()
        for g, c in self._stream["missing"]:
            table[g, c] = np.nan
        bad = [c for _, c in self._stream["missing"] if not subject_level[c]]
        if bad:
            names = _column_names(self, subject_level.size)
            raise ValueError(
                f"X column(s) {sorted({names[c] for c in bad})} are missing for "
                "whole calls of some subjects but vary within subjects: only "
                "subject-level columns may be missing in partial_fit (use fit)."
            )
        keep = ~subject_level
        sub = dict(mom_cells)
        sub["sx"] = mom_cells["sx"][:, keep]
        sub["syx"] = mom_cells["syx"][:, :, keep]
        sub["sxx"] = mom_cells["sxx"][:, keep][:, :, keep]
        names = _column_names(self, subject_level.size)
        names_t = [n for n, s in zip(names, subject_level) if not s]
        n_channels = self._stream.get("n_channels")
        if n_channels is None:
            state = self._solve(sub, cell_group, n_groups, n_folds, names_t)
            beta, n_iter = np.zeros(0), 1
        else:
            state, beta, n_iter = self._channel_solve(
                sub, cell_group, n_groups, n_folds, names_t, n_channels
            )
        self._store(
            state,
            np.asarray(self._stream["labels"]),
            subject_level,
            table[:, subject_level],
            names,
            strict=strict,
        )
        n_total = w.sum()
        x_mean = mom["sx"][:, keep].sum(0) / n_total
        x_cov = mom["sxx"][:, keep][:, :, keep].sum(0) / n_total
        self.covariate_mean_ = x_mean
        self.covariate_cov_ = x_cov - np.outer(x_mean, x_mean)
        self.weights_ = None
        self.channel_coef_ = beta
        self.n_iter_ = n_iter
