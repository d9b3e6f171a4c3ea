"""Band-power logistic regression: the baseline MelSpecCNNClassifier must beat."""

import numpy as np
from scipy.signal import welch

from ._scoring import soft_targets

BANDS = ((0.5, 2.0), (2.0, 4.0), (4.0, 8.0), (8.0, 13.0), (13.0, 20.0))


def band_powers(X, sfreq, bands=BANDS):
    """Log mean Welch power per channel and band.

    Parameters
    ----------
    X : ndarray, shape (n_epochs, n_channels, n_times)
        Signals (e.g. bipolar derivations).
    sfreq : float
        Sampling frequency in Hz.
    bands : sequence of (float, float)
        Band edges in Hz.

    Returns
    -------
    features : ndarray, shape (n_epochs, n_channels * n_bands)
        Log band powers.
    """
    nperseg = min(X.shape[-1], int(2 * sfreq))
    freqs, psd = welch(X, fs=sfreq, nperseg=nperseg, axis=-1)
    power = np.stack(
        [psd[..., (freqs >= lo) & (freqs < hi)].mean(axis=-1) for lo, hi in bands],
        axis=-1,
    )
    return np.log(np.maximum(power, 1e-20)).reshape(X.shape[0], -1)


def fit_soft_logistic(features, votes, C=0.1):
    """Multinomial logistic regression on soft targets.

    Each epoch is repeated once per class with its vote share as sample weight,
    so the fitted loss is the cross-entropy to the vote distribution (the KL
    divergence up to a constant).

    Parameters
    ----------
    features : ndarray, shape (n_epochs, n_features)
        Inputs.
    votes : ndarray, shape (n_epochs, n_classes)
        Vote counts or probabilities.
    C : float
        Inverse L2 penalty.

    Returns
    -------
    model : sklearn.pipeline.Pipeline
        Standard scaling + logistic regression, with ``predict_proba``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    q = soft_targets(votes, "votes")
    n_epochs, n_classes = q.shape
    X_rep = np.repeat(features, n_classes, axis=0)
    y_rep = np.tile(np.arange(n_classes), n_epochs)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
    model.fit(X_rep, y_rep, logisticregression__sample_weight=q.ravel())
    return model
