"""Reading the input of ClusterLMETest: data, design, times, channels, grouping.

``X`` is an array ``(n_obs, *feature_shape)`` (the last axis is time; extra
axes such as channels or frequencies come before it), an :class:`mne.Epochs`
(``(n_obs, n_channels, n_times)``, one channel reads as a time course) or an
:class:`mne.time_frequency.EpochsTFR` (``(n_obs, n_channels, n_freqs,
n_times)``). The model is fitted at every feature of the flattened
``(n_obs, n_features)`` matrix.
"""

import warnings

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.utils.validation import validate_data

from ..utils._checks import _mne_kind


class InputData:
    """The flattened data and what the feature axes mean.

    Attributes
    ----------
    X : array, shape (n_obs, n_features)
        The data, features in C order of ``feature_shape``.
    feature_shape : tuple of int
        Shape of one observation (last axis: time).
    times : array | None
        Times (s) of the last axis.
    ch_names : list of str | None
        Channel names of the first axis when it holds channels.
    freqs : array | None
        Frequencies (Hz) of the frequency axis of an EpochsTFR.
    info : mne.Info | None
        The measurement info of an MNE input (for the channel adjacency).
    """

    def __init__(self, X, feature_shape, times=None, ch_names=None, freqs=None):
        self.X = X
        self.feature_shape = tuple(feature_shape)
        self.times = times
        self.ch_names = ch_names
        self.freqs = freqs
        self.info = None


def _is_tfr(X):
    try:
        from mne.time_frequency import BaseTFR
    except ImportError:  # pragma: no cover - old MNE
        return False
    return isinstance(X, BaseTFR) and getattr(X, "_data", np.empty(0)).ndim == 4


def read_features(estimator, X, *, reset):
    """Turn ``X`` into (n_obs, n_features) floats and describe its feature axes.

    Parameters
    ----------
    estimator : ClusterLMETest
        The estimator (for ``validate_data`` and ``times``).
    X : array | Epochs | EpochsTFR
        The data.
    reset : bool
        True in ``fit`` (records ``n_features_in_``), False in ``transform``.

    Returns
    -------
    data : InputData
        The flattened data and its axes.
    metadata : DataFrame | None
        ``X.metadata`` of an MNE input.
    """
    metadata = None
    times = ch_names = freqs = info = None
    kind = _mne_kind(X)
    if kind == "Epochs" or _is_tfr(X):
        metadata = X.metadata
        times = np.asarray(X.times, float).copy()
        ch_names = list(X.ch_names)
        info = X.info
        data = X.get_data()
        if _is_tfr(X):
            freqs = np.asarray(X.freqs, float).copy()
            if np.iscomplexobj(data):
                raise ValueError(
                    "X is an EpochsTFR with complex values; compute power first "
                    "(tfr_epochs(..., output='power') or epochs_tfr.copy()"
                    ".apply_function(np.abs))."
                )
        elif data.shape[1] == 1:
            data = data[:, 0]
            ch_names = None
        X = data
    elif kind is not None:
        raise TypeError(
            f"X is an mne.{kind}; pass an Epochs, an EpochsTFR or an array "
            "(n_obs, ..., n_times)."
        )
    elif hasattr(X, "iloc"):
        X = X.to_numpy()
    feature_shape = None
    if not sparse.issparse(X):
        X = np.asarray(X)
        if X.ndim > 2:
            feature_shape = X.shape[1:]
            X = X.reshape(len(X), -1)
        if X.ndim == 2 and X.dtype.kind in "fc" and np.isnan(X).any():
            rows = np.flatnonzero(np.isnan(X).any(axis=1))
            raise ValueError(
                f"X has NaN in {len(rows)} rows (first: {rows[:5].tolist()}); drop "
                "those rows from X and design together (unbalanced designs are "
                "fitted exactly)."
            )
    # sparse, 1-D and non-numeric input get scikit-learn's messages here
    flat = validate_data(
        estimator,
        X,
        dtype=np.float64,
        ensure_min_samples=2 if reset else 1,
        reset=reset,
    )
    if feature_shape is None:
        feature_shape = flat.shape[1:]
    data = InputData(flat, feature_shape, times, ch_names, freqs)
    data.info = info
    if estimator.times is not None:
        user_times = np.asarray(estimator.times, float)
        if user_times.shape != (feature_shape[-1],):
            raise ValueError(
                f"times must have one value per timepoint (the last axis of X, "
                f"{feature_shape[-1]}), got shape {user_times.shape}."
            )
        data.times = user_times
    return data, metadata


def read_design(X, y, design, metadata, formula, groups, nested):
    """Return the design DataFrame and the formula, groups and nested to use.

    Without a design, ``y`` is the single factor of a model without grouping.
    Returns ``(design, formula, groups, nested, from_design)``.
    """
    if design is None and metadata is not None:
        design = metadata
    n_obs = len(X)
    if design is None:
        if y is None:
            raise ValueError(
                "ClusterLMETest requires y to be passed, but the target y is "
                "None: fit needs design (a DataFrame with the factor columns of "
                "formula) or y (a single factor)."
            )
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != n_obs:
            raise ValueError(f"y must have shape (n_obs,) = ({n_obs},), got {y.shape}.")
        design = pd.DataFrame({"y": y})
        formula, groups, nested, from_design = "y", None, None, False
    else:
        from_design = True
    if not isinstance(design, pd.DataFrame):
        raise TypeError(
            f"design must be a pandas DataFrame, got {type(design).__name__}."
        )
    if len(design) != n_obs:
        raise ValueError(
            f"design has {len(design)} rows but X has {n_obs}: they must "
            "describe the same observations, in the same order."
        )
    if formula is None:
        raise ValueError(
            "formula is None: give the fixed effects, e.g. "
            "ClusterLMETest('hit_miss * region', groups='sid', nested='ch')."
        )
    return design.reset_index(drop=True), formula, groups, nested, from_design


def check_factor_columns(design, terms, groups, nested):
    """Refuse grouping columns as fixed effects; warn about 0/1 float columns."""
    warned = set()
    for term in terms:
        for name in term:
            if name in (groups, nested):
                raise ValueError(
                    f"{name!r} is a grouping column and cannot be a fixed effect "
                    "in formula."
                )
            if name in warned or name not in design.columns:
                continue
            column = design[name]
            values = column.dropna().unique()
            if column.dtype.kind == "f" and len(values) == 2:
                warned.add(name)
                low, high = sorted(values)
                warnings.warn(
                    f"design column {name!r} is float with two distinct values "
                    f"({low:g}, {high:g}): it is treated as a numeric covariate "
                    "(one slope), not as a factor. If it is a factor (e.g. 0/1 "
                    f"doubles from MATLAB), convert it first: design[{name!r}] = "
                    f"design[{name!r}].astype(int) (or .astype('category')).",
                    UserWarning,
                    stacklevel=4,
                )


def grouping(design, groups, nested):
    """Integer subject and channel (within subject) indices of every row."""
    if nested is not None and groups is None:
        raise ValueError(
            "nested is given without groups: channels are nested in subjects, "
            "so give groups (the subject column) too."
        )
    subject = channel = None
    for name in (groups, nested):
        if name is not None and name not in design.columns:
            raise ValueError(
                f"design has no column {name!r}; its columns are "
                f"{list(design.columns)}."
            )
        if name is not None and design[name].isna().any():
            raise ValueError(f"design column {name!r} has missing values.")
    if groups is not None:
        subject = pd.factorize(design[groups], sort=True)[0]
    if nested is not None:
        pairs = design[groups].astype(str) + "\x00" + design[nested].astype(str)
        channel = pd.factorize(pairs, sort=True)[0]
    return subject, channel
