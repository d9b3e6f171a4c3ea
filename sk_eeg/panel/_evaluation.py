"""Held-out evaluation of a fitted IFEPanelRegressor: three honest scores."""

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from ._rank import _cv_rank_errors, _loco_weights

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


def _crossfit_loco(resid, n_blocks, kmax):
    """Leave-one-channel-out errors of ranks ``0..kmax`` fitted on other blocks.

    The samples (in time order) are cut into ``n_blocks`` contiguous blocks;
    for each block, loadings are the leading eigenvectors of the Gram matrix
    of the other blocks (centred by their mean) and each channel of the block
    is predicted from the other channels through the factor scores they
    imply. Returns the summed squared errors per rank, the summed squares of
    the centred block (the rank-0 error) and the training Gram matrices.
    """
    bounds = np.linspace(0, resid.shape[0], n_blocks + 1).astype(int)
    trains, tests = [], []
    for b in range(n_blocks):
        inside = np.zeros(resid.shape[0], dtype=bool)
        inside[bounds[b] : bounds[b + 1]] = True
        mean = resid[~inside].mean(0)
        train = resid[~inside] - mean
        test = resid[inside] - mean
        trains.append(train.T @ train)
        tests.append(test.T @ test)
    return _cv_rank_errors(trains, tests, kmax), trains


class LeaveChannelsOutScorer:
    """Cross-validation score of the latent-factor part of a panel model.

    :meth:`IFEPanelRegressor.score` is the covariate-only :math:`R^2`, which
    does not depend on the number of factors; a search over ``n_factors`` or
    ``factor_criterion`` needs a score that does. For each held-out subject,
    the residuals of :meth:`IFEPanelRegressor.predict` (covariates only) are
    cut into ``n_blocks`` contiguous time blocks; loadings of the model's rank
    are estimated on the other blocks and each channel of the block is
    predicted from the other channels through the factor scores they imply
    (as the ``'cv'`` rank criterion does). The score is the :math:`R^2` of
    that prediction against the training-block mean, pooled over channels,
    blocks and subjects. Loadings are re-estimated on the held-out subject's
    other blocks, so subjects not seen in ``fit`` (``GroupKFold``) are scored
    the same way, and no block's own samples are used to predict it.

    The rank is ``n_factors`` when it is an int; with ``n_factors='auto'``
    it is chosen by the model's ``factor_criterion`` from the other blocks'
    eigenvalues (``'cv'``: the median of the fitted ranks).

    Parameters
    ----------
    n_blocks : int
        Number of contiguous time blocks per subject.

    Examples
    --------
    >>> import sklearn
    >>> from sklearn.model_selection import GridSearchCV, GroupKFold
    >>> from sk_eeg.datasets import make_panel_factors
    >>> from sk_eeg.panel import IFEPanelRegressor, LeaveChannelsOutScorer
    >>> data = make_panel_factors(n_subjects=6, n_times=300, random_state=0)
    >>> with sklearn.config_context(enable_metadata_routing=True):
    ...     est = IFEPanelRegressor().set_fit_request(groups=True)
    ...     search = GridSearchCV(
    ...         est,
    ...         {"n_factors": [1, 2, 3, 4, 5]},
    ...         cv=GroupKFold(3),
    ...         scoring=LeaveChannelsOutScorer(),
    ...     ).fit(data.X, data.y, groups=data.groups)
    >>> search.best_params_
    {'n_factors': 3}
    """

    def __init__(self, n_blocks=5):
        self.n_blocks = n_blocks

    def __repr__(self):
        return f"LeaveChannelsOutScorer(n_blocks={self.n_blocks})"

    def get_metadata_routing(self):
        """Request ``groups`` for scoring (used by metadata routing).

        Returns
        -------
        routing : MetadataRequest
            ``groups`` requested by ``score``.
        """
        from sklearn.utils.metadata_routing import MetadataRequest

        request = MetadataRequest(owner=self.__class__.__name__)
        request.score.add_request(param="groups", alias=True)
        return request

    def __call__(self, estimator, X, y, groups=None):
        """Score a fitted :class:`IFEPanelRegressor` on held-out data.

        Parameters
        ----------
        estimator : IFEPanelRegressor
            The fitted model.
        X : array-like or DataFrame, shape (n_samples, n_features)
            Held-out covariates.
        y : array-like, shape (n_samples, n_channels)
            Held-out responses (complete), each subject's samples in time
            order.
        groups : array-like, shape (n_samples,) | None
            Subject of each sample (None: one subject).

        Returns
        -------
        score : float
            Pooled leave-channels-out :math:`R^2`.
        """
        from ._rank import _criteria_table, _max_rank, _select

        check_is_fitted(estimator)
        Y = np.asarray(y, dtype=np.float64)
        Y = Y.reshape(Y.shape[0], -1)
        if np.isnan(Y).any():
            raise ValueError("y contains NaN; score complete held-out sessions.")
        if Y.shape[1] < 3:
            raise ValueError(
                f"LeaveChannelsOutScorer needs at least 3 channels, got {Y.shape[1]}."
            )
        resid = Y - np.asarray(estimator.predict(X, groups)).reshape(Y.shape)
        labels = np.zeros(len(Y)) if groups is None else np.asarray(groups)
        sse = ss0 = 0.0
        for label in np.unique(labels):
            block = resid[labels == label]
            n_blocks = min(self.n_blocks, len(block) // 2)
            if n_blocks < 2:
                continue
            kmax = _max_rank(Y.shape[1], len(block), estimator.max_factors)
            if estimator.n_factors != "auto":
                kmax = max(kmax, min(estimator.n_factors, Y.shape[1] - 1))
            errors, trains = _crossfit_loco(block, n_blocks, kmax)
            if estimator.n_factors != "auto":
                rank = min(estimator.n_factors, kmax)
            elif estimator.factor_criterion == "cv":
                rank = int(np.median(estimator.n_factors_))
            else:
                gram = sum(trains)
                vals = np.linalg.eigvalsh(gram)
                table = _criteria_table(vals, Y.shape[1], len(block), kmax, gram)
                rank = _select(table, estimator.factor_criterion)
            sse += errors[min(rank, kmax)]
            ss0 += errors[0]
        return 1.0 - sse / max(ss0, np.finfo(float).tiny)
