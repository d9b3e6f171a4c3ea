"""Input validation for arrays and MNE objects.

Every error names the offending argument and says how to fix it.
"""

import os
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_array

_MNE_KINDS = ("Epochs", "Evoked", "Raw")


def check_type(value, types, name, type_name=None):
    """Raise a ``TypeError`` naming ``name`` unless ``value`` is one of ``types``.

    Parameters
    ----------
    value : object
        The value to check.
    types : type | str | tuple
        Accepted types. The strings ``"int"``, ``"numeric"``, ``"path-like"``
        and ``"callable"`` stand for the usual families; ``None`` accepts None.
    name : str
        The argument name used in the message.
    type_name : str | None
        How to describe the accepted types in the message.

    Returns
    -------
    value : object
        The value, unchanged.
    """
    if not isinstance(types, tuple):
        types = (types,)
    families = {
        "int": (Integral,),
        "numeric": (Real,),
        "path-like": (str, os.PathLike),
        "callable": (),
    }
    ok = False
    for kind in types:
        if kind is None:
            ok |= value is None
        elif kind == "callable":
            ok |= callable(value)
        elif isinstance(kind, str):
            ok |= isinstance(value, families[kind]) and not isinstance(value, bool)
        else:
            ok |= isinstance(value, kind)
    if not ok:
        if type_name is None:
            type_name = " or ".join(
                "None" if t is None else (t if isinstance(t, str) else t.__name__)
                for t in types
            )
        raise TypeError(
            f"{name} must be an instance of {type_name}, got {type(value).__name__} "
            f"({value!r:.60})."
        )
    return value


def check_option(name, value, allowed):
    """Raise a ``ValueError`` naming ``name`` unless ``value`` is in ``allowed``.

    Parameters
    ----------
    name : str
        The argument name used in the message.
    value : object
        The value to check.
    allowed : sequence
        The accepted values.

    Returns
    -------
    value : object
        The value, unchanged.
    """
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"Invalid value for {name}: {value!r}. Use one of {options}.")
    return value


def _mne_kind(inst):
    """Return ``'Epochs'``, ``'Evoked'``, ``'Raw'`` or None for any object."""
    try:
        from mne import Evoked
        from mne.epochs import BaseEpochs
        from mne.io import BaseRaw
    except ImportError:  # pragma: no cover - mne is a core dependency
        return None
    for kind, cls in zip(_MNE_KINDS, (BaseEpochs, Evoked, BaseRaw)):
        if isinstance(inst, cls):
            return kind
    return None


def check_mne_data(inst, name="X", picks=None):
    """Turn an MNE ``Epochs``, ``Evoked`` or ``Raw`` into an array plus its info.

    Parameters
    ----------
    inst : Epochs | Evoked | Raw
        The MNE object. Its data are read without copying where MNE allows;
        neither the object nor its ``info`` is modified.
    name : str
        The argument name used in error messages.
    picks : str | list | None
        Channels to keep (any MNE ``picks``); None keeps the data channels.

    Returns
    -------
    data : ndarray
        ``(n_epochs, n_channels, n_times)`` for Epochs, ``(n_channels, n_times)``
        for Evoked and Raw.
    info : mne.Info
        The measurement info of the picked channels (a copy).
    """
    kind = _mne_kind(inst)
    if kind is None:
        raise TypeError(
            f"{name} must be an mne.Epochs, mne.Evoked or mne.io.Raw, got "
            f"{type(inst).__name__}. Pass the array with inst.get_data() instead."
        )
    import mne

    if picks is None:
        picks = "data"
    picked = mne.pick_info(inst.info, mne.io.pick._picks_to_idx(inst.info, picks))
    if kind == "Epochs":
        data = inst.get_data(picks=picks, copy=False)
    elif kind == "Evoked":
        data = inst.copy().pick(picks).data
    else:
        data = inst.get_data(picks=picks)
    return np.asarray(data, dtype=np.float64), picked


def to_3d_array(X, name="X"):
    """Return ``X`` as a float64 array ``(n_epochs, n_channels, n_times)``.

    MNE ``Epochs`` become their data; a 2D array ``(n_epochs, n_channels)`` is
    read as one time sample per epoch, as in :mod:`mne.decoding`.

    Parameters
    ----------
    X : array-like | Epochs
        The data.
    name : str
        The argument name used in error messages.

    Returns
    -------
    X : ndarray, shape (n_epochs, n_channels, n_times)
        The data as a 3D array.
    """
    if _mne_kind(X) == "Epochs":
        X = X.get_data(copy=False)
    elif _mne_kind(X) is not None:
        raise TypeError(
            f"{name} is an mne.{_mne_kind(X)}; this estimator needs epochs. "
            "Pass an mne.Epochs or an array of shape (n_epochs, n_channels, n_times)."
        )
    X = np.asarray(X) if not hasattr(X, "shape") else X
    if getattr(X, "ndim", 0) == 2:
        X = X[:, :, np.newaxis]
    return X


def check_3d_data(X, name="X", *, min_times=1, allow_nan=False):
    """Validate 3D data ``(n_epochs, n_channels, n_times)`` without an estimator.

    Parameters
    ----------
    X : array-like | Epochs
        The data; a 2D array is read as ``(n_epochs, n_channels, 1)``.
    name : str
        The argument name used in error messages.
    min_times : int
        Minimum number of time samples.
    allow_nan : bool
        Whether NaN may appear.

    Returns
    -------
    X : ndarray, shape (n_epochs, n_channels, n_times)
        A float64 C-contiguous array.
    """
    X = to_3d_array(X, name=name)
    X = check_array(
        X,
        allow_nd=True,
        dtype=np.float64,
        ensure_all_finite="allow-nan" if allow_nan else True,
        input_name=name,
    )
    if X.ndim != 3:
        raise ValueError(
            f"{name} must have shape (n_epochs, n_channels, n_times); got an array "
            f"with {X.ndim} dimensions and shape {X.shape}."
        )
    if X.shape[2] < min_times:
        raise ValueError(
            f"{name} has {X.shape[2]} time samples, at least {min_times} are needed."
        )
    return np.ascontiguousarray(X)
