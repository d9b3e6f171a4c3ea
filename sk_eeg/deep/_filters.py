"""Butterworth band-pass filtering of epochs (SciPy, second-order sections)."""

from numbers import Real

import numpy as np
from scipy import signal
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..utils import check_option, check_type
from ._montage import validate_epochs


def _check_band(sfreq, l_freq, h_freq):
    check_type(sfreq, "numeric", "sfreq")
    if sfreq <= 0:
        raise ValueError(f"sfreq must be positive, got {sfreq}.")
    for name, freq in (("l_freq", l_freq), ("h_freq", h_freq)):
        check_type(freq, ("numeric", None), name)
        if freq is not None and not 0 < freq < sfreq / 2:
            raise ValueError(
                f"{name}={freq} Hz must lie strictly between 0 and the Nyquist "
                f"frequency sfreq / 2 = {sfreq / 2} Hz; use None to disable it."
            )
    if l_freq is not None and h_freq is not None and l_freq >= h_freq:
        raise ValueError(
            f"l_freq={l_freq} must be below h_freq={h_freq}; swap them or set one "
            "to None."
        )


def butter_sos(sfreq, l_freq, h_freq, order):
    """Return the Butterworth filter as second-order sections (or None).

    Parameters
    ----------
    sfreq : float
        Sampling frequency in Hz.
    l_freq, h_freq : float | None
        Edges in Hz; None for a low-pass (``l_freq``) or high-pass
        (``h_freq``) filter; both None means no filter.
    order : int
        Filter order.

    Returns
    -------
    sos : ndarray, shape (n_sections, 6) | None
        The filter; None when both edges are None.
    """
    _check_band(sfreq, l_freq, h_freq)
    if l_freq is None and h_freq is None:
        return None
    if l_freq is not None and h_freq is not None:
        band = [l_freq, h_freq]
        return signal.butter(order, band, "bandpass", fs=sfreq, output="sos")
    if l_freq is not None:
        return signal.butter(order, l_freq, "highpass", fs=sfreq, output="sos")
    return signal.butter(order, h_freq, "lowpass", fs=sfreq, output="sos")


def apply_filter(X, sos, phase="zero"):
    """Filter along the last axis.

    Parameters
    ----------
    X : ndarray, shape (..., n_times)
        The signals.
    sos : ndarray | None
        Second-order sections from :func:`butter_sos`; None returns ``X``.
    phase : {'zero', 'causal'}
        ``'zero'``: forward-backward (:func:`scipy.signal.sosfiltfilt`, no
        phase shift, squared magnitude response); ``'causal'``: one forward
        pass (:func:`scipy.signal.sosfilt`, as the HMS recipes' ``lfilter``).

    Returns
    -------
    X_filt : ndarray, shape (..., n_times)
        The filtered signals.
    """
    if sos is None:
        return X
    # SciPy's Cython kernels need writeable buffers (memory-mapped input is not).
    sos = np.array(sos, dtype=np.float64)
    X = np.array(X, dtype=np.float64)
    if phase == "causal":
        return signal.sosfilt(sos, X, axis=-1)
    default_pad = 3 * (2 * len(sos) + 1)
    padlen = min(default_pad, X.shape[-1] - 1)
    # sosfiltfilt returns a reversed view (negative strides), which torch and
    # other consumers reject.
    return np.ascontiguousarray(signal.sosfiltfilt(sos, X, axis=-1, padlen=padlen))


def design_bandpass(sfreq, l_freq, h_freq):
    """FIR coefficients of :func:`mne.filter.filter_data`'s default filter.

    Parameters
    ----------
    sfreq : float
        Sampling frequency in Hz.
    l_freq, h_freq : float | None
        Band edges in Hz (None: low-pass / high-pass; both None: no filter).

    Returns
    -------
    h : ndarray, shape (n_taps,) | None
        The zero-phase FIR filter (odd length), or None.
    """
    if l_freq is None and h_freq is None:
        return None
    from mne.filter import create_filter

    return create_filter(
        None,
        float(sfreq),
        l_freq,
        h_freq,
        method="fir",
        phase="zero",
        fir_window="hamming",
        fir_design="firwin",
        verbose=False,
    )


class BandpassFilter(TransformerMixin, BaseEstimator):
    """Butterworth band-pass (or low-/high-pass) filter for epochs.

    Parameters
    ----------
    sfreq : float
        Sampling frequency of ``X`` in Hz.
    l_freq : float | None
        Lower edge in Hz; None for a low-pass filter.
    h_freq : float | None
        Upper edge in Hz; None for a high-pass filter.
    order : int
        Butterworth order (per pass).
    phase : {'zero', 'causal'}
        ``'zero'`` filters forward and backward (no phase shift, edges padded
        as in :func:`scipy.signal.sosfiltfilt`); ``'causal'`` filters once
        forward like the HMS recipes' ``scipy.signal.lfilter``.

    Attributes
    ----------
    n_features_in_ : int
        Number of channels.
    sos_ : ndarray, shape (n_sections, 6) | None
        The filter in second-order sections.

    See Also
    --------
    BipolarMontage : The montage usually applied before.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_eeg.deep import BandpassFilter
    >>> t = np.arange(2000) / 200.0
    >>> X = (np.sin(2 * np.pi * 5 * t) + np.sin(2 * np.pi * 60 * t))[None, None]
    >>> X_filt = BandpassFilter(sfreq=200, l_freq=1, h_freq=20).fit_transform(X)
    >>> bool(np.abs(X_filt[0, 0, 500:1500] - X[0, 0, 500:1500]).max() > 0.9)
    True
    """

    def __init__(self, sfreq=200.0, l_freq=0.5, h_freq=20.0, order=4, phase="zero"):
        self.sfreq = sfreq
        self.l_freq = l_freq
        self.h_freq = h_freq
        self.order = order
        self.phase = phase

    def _validate(self, X, reset):
        return validate_epochs(self, X, reset)

    def fit(self, X, y=None):
        """Design the filter and check ``X``.

        Parameters
        ----------
        X : array, shape (n_epochs, n_channels, n_times) | Epochs
            The data (a 2D array is read as one time sample per epoch).
        y : None
            Ignored.

        Returns
        -------
        self : BandpassFilter
            The fitted transformer.
        """
        self._validate(X, reset=True)
        check_type(self.order, "int", "order")
        if self.order < 1:
            raise ValueError(f"order must be a positive integer, got {self.order}.")
        check_option("phase", self.phase, ("zero", "causal"))
        if not isinstance(self.sfreq, Real):
            check_type(self.sfreq, "numeric", "sfreq")
        self.sos_ = butter_sos(self.sfreq, self.l_freq, self.h_freq, self.order)
        return self

    def transform(self, X):
        """Filter the epochs.

        Parameters
        ----------
        X : array, shape (n_epochs, n_channels, n_times) | Epochs
            The data.

        Returns
        -------
        X_filt : ndarray, shape (n_epochs, n_channels, n_times)
            The filtered data.
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        return apply_filter(X, self.sos_, self.phase)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags
