"""Validation of 3D EEG input shared by the video estimators (NumPy only)."""

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import validate_data

from ..utils import to_3d_array


def validate_3d(estimator, X, *, reset, y="no_validation"):
    """Validate ``X`` as ``(n_epochs, n_channels, n_times)`` (mne.decoding route).

    An :class:`mne.Epochs` gives its data; a 2D array is read as one time
    sample per epoch. ``n_features_in_`` is the number of channels: set when
    ``reset``, checked otherwise.

    Returns
    -------
    X : ndarray, shape (n_epochs, n_channels, n_times)
        Float64 data (and ``y`` when given).
    """
    if sp.issparse(X):
        raise TypeError(
            "Sparse data was passed for X, but dense data is required: EEG epochs "
            "are dense arrays. Use X.toarray()."
        )
    if not hasattr(X, "get_data") and not isinstance(X, np.ndarray):
        X = np.asarray(X)
    X = to_3d_array(X)
    if getattr(X, "ndim", None) == 1:
        raise ValueError(
            "Expected a 3D array (n_epochs, n_channels, n_times) or 2D "
            "(n_epochs, n_channels), got a 1D array. Reshape your data, e.g. "
            "X.reshape(-1, 1) for one channel."
        )
    if X.ndim == 3 and X.shape[1] == 0:
        raise ValueError(
            f"0 feature(s) (shape=({X.shape[0]}, 0)) while a minimum of 1 is "
            "required: X has no channels."
        )
    out = validate_data(
        estimator, X, y, allow_nd=True, ensure_2d=False, dtype=np.float64, reset=reset
    )
    X = out[0] if isinstance(out, tuple) else out
    if X.ndim != 3:
        raise ValueError(
            "X must have shape (n_epochs, n_channels, n_times); got an array of "
            f"shape {X.shape}."
        )
    if reset:
        estimator.n_features_in_ = X.shape[1]
    elif X.shape[1] != estimator.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but "
            f"{type(estimator).__name__} is expecting {estimator.n_features_in_} "
            "features as input (one per channel)."
        )
    return out
