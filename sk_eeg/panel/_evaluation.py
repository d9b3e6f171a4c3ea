"""Held-out evaluation of a fitted IFEPanelRegressor: three honest scores."""

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from ._rank import _loco_weights

SCORES = ("covariate_r2", "reconstruction_r2", "leave_channels_out_r2")


def _r2(y, pred, baseline):
    sse = np.sum((y - pred) ** 2, axis=0)
    ss0 = np.sum((y - baseline) ** 2, axis=0)
    return 1.0 - sse / np.maximum(ss0, np.finfo(float).tiny), sse, ss0


def evaluate_heldout(estimator, X, y, groups=None):
    """Score held-out sessions three ways, per subject, per channel and pooled.

    - ``covariate_r2``: :meth:`IFEPanelRegressor.predict`, covariates only;
      the held-out ``y`` is never used to predict (the honest score).
    - ``reconstruction_r2``: :meth:`IFEPanelRegressor.reconstruct`, the
      original code's "test R^2": factor scores are estimated from the same
      held-out ``y_t`` (all channels), so it measures the stability of the
      loadings, not prediction.
    - ``leave_channels_out_r2``: each channel is predicted from covariates
      plus factor scores estimated from the *other* channels at the same time
      point (``f = pinv(L_{-j}) e_{-j}``), an honest use of the factors.

    :math:`R^2 = 1 - SSE / SS_0` where :math:`SS_0` is the error of the
    subject's training mean of each channel, so a positive score beats
    carrying the training mean forward. Pooled scores add SSE and
    :math:`SS_0` over channels.

    Parameters
    ----------
    estimator : IFEPanelRegressor
        A fitted model.
    X : array-like or DataFrame, shape (n_samples, n_features)
        Held-out covariates.
    y : array-like, shape (n_samples,) or (n_samples, n_channels)
        Held-out responses (complete).
    groups : array-like, shape (n_samples,) | None
        Subject of each sample (subjects seen in ``fit``).

    Returns
    -------
    pooled : DataFrame
        One row per subject: the three scores pooled over channels, the rank
        and the number of samples.
    per_channel : DataFrame
        One row per (subject, channel): the three scores.
    """
    check_is_fitted(estimator)
    Y = np.asarray(y, dtype=np.float64)
    Y = Y.reshape(Y.shape[0], -1)
    if np.isnan(Y).any():
        raise ValueError("y contains NaN; evaluate on complete held-out sessions.")
    cov = np.asarray(estimator.predict(X, groups)).reshape(Y.shape)
    rec = np.asarray(estimator.reconstruct(X, y, groups)).reshape(Y.shape)
    idx = estimator._group_index(groups, Y.shape[0])
    if groups is None and estimator.groups_.size == 1:
        idx[:] = 0
    resid = Y - cov
    pooled_rows, channel_rows = [], []
    for g in np.unique(idx):
        sel = idx == g
        weights = _loco_weights(estimator.loadings_[g])
        lco = cov[sel] + resid[sel] @ weights
        baseline = estimator.group_means_[g]
        label = estimator.groups_[g]
        row = {"subject": label, "n_factors": int(estimator.n_factors_[g])}
        per_channel = {}
        for name, pred in zip(SCORES, (cov[sel], rec[sel], lco)):
            r2, sse, ss0 = _r2(Y[sel], pred, baseline)
            per_channel[name] = r2
            row[name] = 1.0 - sse.sum() / max(ss0.sum(), np.finfo(float).tiny)
        row["n_samples"] = int(sel.sum())
        pooled_rows.append(row)
        for ch in range(Y.shape[1]):
            channel_rows.append(
                {"subject": label, "channel": ch}
                | {name: per_channel[name][ch] for name in SCORES}
            )
    pooled = pd.DataFrame(pooled_rows).set_index("subject")
    per_channel = pd.DataFrame(channel_rows).set_index(["subject", "channel"])
    return pooled, per_channel
