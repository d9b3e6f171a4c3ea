"""KL divergence between vote distributions and predicted probabilities."""

import warnings

import numpy as np


def soft_targets(y, name="y_true"):
    """Normalise vote counts / probabilities to rows that sum to 1.

    Parameters
    ----------
    y : array-like, shape (n_samples, n_classes)
        Non-negative votes or probabilities.
    name : str
        Argument name for error messages.

    Returns
    -------
    targets : ndarray, shape (n_samples, n_classes)
        Rows divided by their sums (float64).
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError(f"{name} must be 2D (n_samples, n_classes), got {y.shape}.")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"{name} contains NaN or infinite votes; clean them first.")
    if np.any(y < 0):
        raise ValueError(f"{name} contains negative votes / probabilities.")
    sums = y.sum(axis=1, keepdims=True)
    if np.any(sums <= 0):
        bad = np.flatnonzero(sums[:, 0] <= 0)[:5].tolist()
        raise ValueError(
            f"{name} has rows without any vote (e.g. rows {bad}); drop them."
        )
    return y / sums


def kl_divergence(y_true, y_proba, *, labels=None, sample_weight=None, eps=1e-15):
    """Mean ``KL(y_true || y_proba)``, the HMS competition metric.

    Parameters
    ----------
    y_true : array-like, shape (n_samples, n_classes) | (n_samples,)
        Vote counts / probabilities (normalised per row) or class labels
        (one-hot, then this is the log-loss).
    y_proba : array-like, shape (n_samples, n_classes)
        Predicted probabilities.
    labels : array-like | None
        Class order of the columns when ``y_true`` holds labels; default the
        sorted unique labels of ``y_true``.
    sample_weight : array-like, shape (n_samples,) | None
        Weights of the samples in the mean.
    eps : float
        Floor applied to ``y_proba``.

    Returns
    -------
    kl : float
        ``sum_k q_k log(q_k / p_k)`` averaged over samples (natural log).

    Examples
    --------
    >>> from sk_eeg.deep import kl_divergence
    >>> round(kl_divergence([[3, 1]], [[0.5, 0.5]]), 4)
    0.1308
    """
    y_proba = np.asarray(y_proba, dtype=np.float64)
    y_true = np.asarray(y_true)
    if y_true.ndim == 1:
        labels = np.unique(y_true) if labels is None else np.asarray(labels)
        y_true = (y_true[:, None] == labels[None, :]).astype(np.float64)
    q = soft_targets(y_true, "y_true")
    if y_proba.shape != q.shape:
        raise ValueError(
            f"y_proba has shape {y_proba.shape} but y_true gives {q.shape}; give one "
            "probability per class."
        )
    p = np.clip(y_proba, eps, None)
    p = p / p.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(q > 0, q * (np.log(q) - np.log(p)), 0.0)
    return float(np.average(terms.sum(axis=1), weights=sample_weight))


def kl_divergence_scorer(estimator, X, y, sample_weight=None):
    """Negative KL divergence of a fitted classifier, for ``scoring=``.

    Greater is better, as for sklearn's ``neg_log_loss``; usable in
    :class:`~sklearn.model_selection.GridSearchCV` with soft or hard targets.
    A test fold may lack classes. Classes the estimator never saw in ``fit``
    (hard labels absent from its training fold, or vote columns outside
    ``classes_``) get probability 0, i.e. the largest penalty, with a
    warning: pass ``classes=[...]`` to the estimator so that every fold knows
    them all.

    Parameters
    ----------
    estimator : classifier
        Fitted, with ``predict_proba`` and ``classes_``.
    X : array-like
        Inputs.
    y : array-like, shape (n_samples, n_classes) | (n_samples,)
        Vote counts / probabilities or labels.
    sample_weight : array-like | None
        Sample weights.

    Returns
    -------
    score : float
        ``-kl_divergence(y, estimator.predict_proba(X))``.
    """
    proba = estimator.predict_proba(X)
    classes = np.asarray(estimator.classes_)
    y = np.asarray(y)
    if y.ndim == 1:
        unseen = np.setdiff1d(np.unique(y), classes)
        if unseen.size:
            _warn_unseen(unseen.tolist())
            classes = np.concatenate([classes, unseen])
            proba = np.hstack([proba, np.zeros((len(proba), unseen.size))])
    elif y.ndim == 2 and proba.shape[1] < y.shape[1]:
        integer = np.issubdtype(classes.dtype, np.integer)
        if integer and classes.min() >= 0 and classes.max() < y.shape[1]:
            _warn_unseen(np.setdiff1d(np.arange(y.shape[1]), classes).tolist())
            full = np.zeros((len(proba), y.shape[1]))
            full[:, classes] = proba
            proba = full
    return -kl_divergence(y, proba, labels=classes, sample_weight=sample_weight)


def _warn_unseen(unseen):
    warnings.warn(
        f"y holds classes {unseen} that the estimator did not see in fit; they get "
        "probability 0. Pass classes=[...] to the estimator so that every training "
        "fold knows all classes.",
        UserWarning,
        stacklevel=3,
    )
