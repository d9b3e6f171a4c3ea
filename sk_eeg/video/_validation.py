"""Validation of 3D EEG input shared by the video estimators (NumPy only)."""

import numpy as np
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
    X = to_3d_array(X)
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
            f"X has {X.shape[1]} features (channels), but "
            f"{type(estimator).__name__} is expecting {estimator.n_features_in_} "
            "features as input."
        )
    return out
