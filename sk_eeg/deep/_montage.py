"""Bipolar montages and channel selection by name (NumPy only)."""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils import check_type, to_3d_array
from ..utils._checks import _mne_kind

# The "double banana" longitudinal bipolar montage of the HMS recipe: four
# chains (left lateral, right lateral, left parasagittal, right parasagittal),
# each from frontal to occipital. 10-20 names with the old temporal labels.
DOUBLE_BANANA = (
    ("Fp1", "F7"),
    ("F7", "T3"),
    ("T3", "T5"),
    ("T5", "O1"),
    ("Fp2", "F8"),
    ("F8", "T4"),
    ("T4", "T6"),
    ("T6", "O2"),
    ("Fp1", "F3"),
    ("F3", "C3"),
    ("C3", "P3"),
    ("P3", "O1"),
    ("Fp2", "F4"),
    ("F4", "C4"),
    ("C4", "P4"),
    ("P4", "O2"),
)


# 10-10 names of the renamed temporal electrodes, so MNE's standard_1020 data
# (T7, T8, P7, P8) work with the 10-20 montage definitions above.
_ALIASES = {"t7": "t3", "t8": "t4", "p7": "t5", "p8": "t6"}

_MONTAGES = {"double_banana": DOUBLE_BANANA}


def _canonical(name):
    name = str(name).strip().lower()
    return _ALIASES.get(name, name)


def _montage_pairs(montage):
    """Return the montage as a list of ``(anode, cathode)`` (cathode may be None)."""
    if isinstance(montage, str):
        if montage not in _MONTAGES:
            options = ", ".join(repr(k) for k in _MONTAGES)
            raise ValueError(
                f"Invalid value for montage: {montage!r}. Use one of {options}, None, "
                "or a list of channel names / (anode, cathode) pairs."
            )
        return [tuple(pair) for pair in _MONTAGES[montage]]
    check_type(montage, (list, tuple), "montage", "str, list or tuple")
    if len(montage) == 0:
        raise ValueError("montage is empty; give at least one channel or pair.")
    pairs = []
    for entry in montage:
        if isinstance(entry, (str, int, np.integer)):
            pairs.append((entry, None))
        elif isinstance(entry, (list, tuple)) and len(entry) == 2:
            pairs.append((entry[0], entry[1]))
        else:
            raise ValueError(
                f"montage entries must be a channel (name or index) or an "
                f"(anode, cathode) pair, got {entry!r}."
            )
    return pairs


def _channel_index(channel, ch_names, n_channels):
    if isinstance(channel, (int, np.integer)) and not isinstance(channel, bool):
        if not 0 <= channel < n_channels:
            raise ValueError(
                f"montage refers to channel index {channel}, but X has "
                f"{n_channels} feature(s) (channels)."
            )
        return int(channel)
    if ch_names is None:
        raise ValueError(
            f"montage refers to channel {channel!r} by name, but no channel names "
            "are known: pass ch_names=[...] (one name per channel of X), an "
            "mne.Epochs, or montage=None to use the channels as they are."
        )
    lookup = {_canonical(name): k for k, name in enumerate(ch_names)}
    key = _canonical(channel)
    if key not in lookup:
        raise ValueError(
            f"montage needs channel {channel!r}, which is not among ch_names "
            f"{list(ch_names)}. Rename the channels or pass another montage."
        )
    return lookup[key]


def resolve_montage(montage, ch_names, n_channels):
    """Resolve a montage to channel indices.

    Parameters
    ----------
    montage : str | list | None
        ``'double_banana'``, a list whose entries are a channel (name or
        index, kept as is) or an ``(anode, cathode)`` pair, or None (all
        channels as they are).
    ch_names : list of str | None
        Names of the channels of the data.
    n_channels : int
        Number of channels of the data.

    Returns
    -------
    anodes : ndarray of int, shape (n_outputs,)
        Index of the first channel of each output.
    cathodes : ndarray of int, shape (n_outputs,)
        Index of the subtracted channel, ``-1`` for none.
    names : list of str
        Output names (``'Fp1-F7'`` or ``'Cz'``).
    """
    if ch_names is not None and len(ch_names) != n_channels:
        raise ValueError(
            f"ch_names has {len(ch_names)} names but X has {n_channels} channels; "
            "give one name per channel."
        )
    if montage is None:
        names = (
            list(ch_names)
            if ch_names is not None
            else [f"ch{k}" for k in range(n_channels)]
        )
        return np.arange(n_channels), np.full(n_channels, -1), names
    anodes, cathodes, names = [], [], []
    for anode, cathode in _montage_pairs(montage):
        anodes.append(_channel_index(anode, ch_names, n_channels))
        label = ch_names[anodes[-1]] if ch_names is not None else f"ch{anodes[-1]}"
        if cathode is None:
            cathodes.append(-1)
        else:
            cathodes.append(_channel_index(cathode, ch_names, n_channels))
            other = (
                ch_names[cathodes[-1]] if ch_names is not None else f"ch{cathodes[-1]}"
            )
            label = f"{label}-{other}"
        names.append(label)
    return np.asarray(anodes), np.asarray(cathodes), names


def apply_montage(X, anodes, cathodes):
    """Return ``X[:, anode] - X[:, cathode]`` for each output channel.

    Parameters
    ----------
    X : ndarray, shape (n_epochs, n_channels, n_times)
        The data.
    anodes, cathodes : ndarray of int, shape (n_outputs,)
        From :func:`resolve_montage` (``-1`` = no cathode).

    Returns
    -------
    X_out : ndarray, shape (n_epochs, n_outputs, n_times)
        The derivations.
    """
    out = X[:, anodes].copy()
    has = cathodes >= 0
    out[:, has] -= X[:, cathodes[has]]
    return out


def left_right_permutation(names):
    """Return the permutation that swaps left and right derivations.

    Odd 10-20 numbers are on the left, even ones on the right; ``z``
    electrodes stay. In the double banana this maps LL to RL and LP to RP.

    Parameters
    ----------
    names : list of str
        Derivation names such as ``'Fp1-F7'``.

    Returns
    -------
    perm : ndarray of int
        ``X[:, perm]`` is the mirrored montage.
    """

    def mirror(channel):
        head = channel.rstrip("0123456789")
        digits = channel[len(head) :]
        if not digits:
            return channel
        number = int(digits)
        return f"{head}{number + 1 if number % 2 else number - 1}"

    lookup = {name.lower(): k for k, name in enumerate(names)}
    perm = []
    for name in names:
        mirrored = "-".join(mirror(part) for part in name.split("-")).lower()
        if mirrored not in lookup:
            raise ValueError(f"derivation {name!r} has no mirror image in {names}.")
        perm.append(lookup[mirrored])
    return np.asarray(perm)


def _epochs_ch_names(X):
    """Channel names of an :class:`mne.Epochs`, None for anything else."""
    if _mne_kind(X) != "Epochs":
        return None
    return list(X.info["ch_names"])


def validate_epochs(
    estimator, X, reset, scale_epochs=1.0, dtype=(np.float64, np.float32)
):
    """Validate ``X`` as ``(n_epochs, n_channels, n_times)`` for ``estimator``.

    :class:`mne.Epochs` give their data (times ``scale_epochs``, cast to the
    first ``dtype`` without an intermediate copy); a 2D array is read as one
    time sample per epoch, as in :mod:`mne.decoding`; ``n_features_in_`` is
    the number of channels.
    """
    dtype = list(dtype) if isinstance(dtype, (list, tuple)) else [dtype]
    if _epochs_ch_names(X) is not None:
        X = np.multiply(to_3d_array(X), scale_epochs, dtype=dtype[0])
    X = validate_data(
        estimator,
        X,
        reset=reset,
        allow_nd=True,
        dtype=dtype if len(dtype) > 1 else dtype[0],
        force_writeable=True,
    )
    if X.ndim == 2:
        X = X[:, :, np.newaxis]
    if X.ndim != 3:
        raise ValueError(
            f"X must have shape (n_epochs, n_channels, n_times), got shape {X.shape}."
        )
    return X


class BipolarMontage(TransformerMixin, BaseEstimator):
    """Re-reference EEG to a bipolar montage, or select channels by name.

    Each output channel is the difference of two input channels (anode minus
    cathode) or one input channel as it is.

    Parameters
    ----------
    montage : str | list | None
        ``'double_banana'`` (16 derivations: LL, RL, LP, RP chains), a list of
        channel names / indices (selection) and ``(anode, cathode)`` pairs, or
        None (all channels, unchanged). 10-10 names T7/T8/P7/P8 are accepted
        for T3/T4/T5/T6; names are case-insensitive.
    ch_names : list of str | None
        Names of the input channels, needed when ``montage`` uses names and
        ``X`` is an array. Read from ``X.info`` when ``X`` is an
        :class:`mne.Epochs`.

    Attributes
    ----------
    n_features_in_ : int
        Number of input channels.
    anodes_, cathodes_ : ndarray of int
        Input channel indices of each output (``-1``: no cathode).
    derivation_names_ : list of str
        Names of the output channels, e.g. ``'Fp1-F7'``.

    See Also
    --------
    BandpassFilter : The band-pass filter applied after the montage.
    MelSpecCNNClassifier : The classifier that uses both.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_eeg.deep import BipolarMontage
    >>> X = np.arange(12.0).reshape(1, 3, 4)
    >>> mont = BipolarMontage([("A", "B"), "C"], ch_names=["A", "B", "C"])
    >>> mont.fit_transform(X)[0, 0]
    array([-4., -4., -4., -4.])
    >>> mont.derivation_names_
    ['A-B', 'C']
    """

    def __init__(self, montage="double_banana", ch_names=None):
        self.montage = montage
        self.ch_names = ch_names

    def _validate(self, X, reset):
        return validate_epochs(self, X, reset), _epochs_ch_names(X)

    def fit(self, X, y=None):
        """Resolve the montage against the channels of ``X``.

        Parameters
        ----------
        X : array, shape (n_epochs, n_channels, n_times) | Epochs
            The data (a 2D array is read as one time sample per epoch).
        y : None
            Ignored.

        Returns
        -------
        self : BipolarMontage
            The fitted transformer.
        """
        X, names = self._validate(X, reset=True)
        ch_names = self.ch_names if self.ch_names is not None else names
        self.anodes_, self.cathodes_, self.derivation_names_ = resolve_montage(
            self.montage, ch_names, X.shape[1]
        )
        return self

    def transform(self, X):
        """Apply the montage.

        Parameters
        ----------
        X : array, shape (n_epochs, n_channels, n_times) | Epochs
            The data, with the channels seen in ``fit``.

        Returns
        -------
        X_new : ndarray, shape (n_epochs, n_derivations, n_times)
            The derivations.
        """
        check_is_fitted(self)
        X, _ = self._validate(X, reset=False)
        return apply_montage(X, self.anodes_, self.cathodes_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.requires_fit = True
        return tags
