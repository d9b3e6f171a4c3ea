"""Spectral features of EEG epochs: band power and differential entropy.

NumPy / SciPy only, so these transformers stay light (no torch).
"""

import numpy as np
from scipy.signal import get_window
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..utils import check_type
from ._validation import validate_3d

# The SEED-DV / EEG2Video bands (delta, theta, alpha, beta, gamma), in Hz.
SEED_DV_BANDS = ((1.0, 4.0), (4.0, 8.0), (8.0, 14.0), (14.0, 31.0), (31.0, 99.0))
_BAND_NAMES = ("delta", "theta", "alpha", "beta", "gamma")


def _check_bands(bands, sfreq):
    bands = np.asarray(bands, dtype=float)
    if bands.ndim != 2 or bands.shape[1] != 2 or len(bands) == 0:
        raise ValueError(
            "bands must be a sequence of (fmin, fmax) pairs in Hz, e.g. "
            f"((8, 14), (14, 31)); got {bands.tolist()!r}."
        )
    if np.any(bands[:, 0] < 0) or np.any(bands[:, 1] <= bands[:, 0]):
        raise ValueError(
            f"bands must satisfy 0 <= fmin < fmax for each band; got {bands.tolist()}."
        )
    if np.any(bands[:, 1] > sfreq / 2 + 1e-9):
        raise ValueError(
            f"bands reach {bands[:, 1].max()} Hz, above the Nyquist frequency "
            f"{sfreq / 2} Hz of sfreq={sfreq}. Lower fmax or pass the right sfreq."
        )
    return bands


def _window_samples(window_length, sfreq, n_times, name="window_length"):
    if window_length is None:
        return n_times
    n_window = int(round(window_length * sfreq))
    if n_window < 2 or n_window > n_times:
        raise ValueError(
            f"{name}={window_length} s is {n_window} samples at sfreq={sfreq}; it must "
            f"span between 2 and n_times={n_times} samples."
        )
    return n_window


def _band_power(X, sfreq, bands, n_window, taper="hann"):
    """Band power of each non-overlapping window, channel and band.

    The power of a band is the integral of the tapered periodogram over the
    frequency bins ``fmin <= f < fmax``: by Parseval it is the variance of the
    band-limited part of the signal (units of ``X`` squared).

    Parameters
    ----------
    X : ndarray, shape (n_epochs, n_channels, n_times)
        The data.
    sfreq : float
        Sampling frequency in Hz.
    bands : ndarray, shape (n_bands, 2)
        Band edges in Hz.
    n_window : int
        Samples per window; ``n_times // n_window`` windows, the rest dropped.
    taper : str
        A :func:`scipy.signal.get_window` name (``'hann'``, ``'boxcar'``...).

    Returns
    -------
    power : ndarray, shape (n_epochs, n_windows, n_channels, n_bands)
        Band power.
    """
    n_epochs, n_channels, n_times = X.shape
    n_windows = n_times // n_window
    segments = X[:, :, : n_windows * n_window].reshape(
        n_epochs, n_channels, n_windows, n_window
    )
    segments = segments - segments.mean(axis=-1, keepdims=True)
    weights = get_window(taper, n_window, fftbins=True)
    spectrum = np.fft.rfft(segments * weights, axis=-1)
    # One-sided density scaled so that its integral is the mean square.
    density = np.abs(spectrum) ** 2 / (sfreq * np.sum(weights**2))
    density[..., 1:] *= 2
    if n_window % 2 == 0:
        density[..., -1] /= 2
    freqs = np.fft.rfftfreq(n_window, 1.0 / sfreq)
    df = sfreq / n_window
    power = np.empty((n_epochs, n_channels, n_windows, len(bands)))
    for k, (fmin, fmax) in enumerate(bands):
        mask = (freqs >= fmin) & (freqs < fmax)
        if not mask.any():
            raise ValueError(
                f"Band ({fmin}, {fmax}) Hz holds no frequency bin at a resolution of "
                f"{df:.3g} Hz (window of {n_window} samples). Use a longer "
                "window_length or a wider band."
            )
        power[..., k] = density[..., mask].sum(axis=-1) * df
    return power.transpose(0, 2, 1, 3)


def _differential_entropy(power):
    """Differential entropy of a zero-mean Gaussian with variance ``power``.

    ``DE = 0.5 * log(2 * pi * e * power)`` in nats.
    """
    return 0.5 * np.log(2 * np.pi * np.e * np.maximum(power, np.finfo(float).tiny))


class _SpectralFeatures(TransformerMixin, BaseEstimator):
    """Shared validation and layout of the band features."""

    def __init__(
        self,
        sfreq=200.0,
        bands=SEED_DV_BANDS,
        window_length=None,
        taper="hann",
        flatten=True,
    ):
        self.sfreq = sfreq
        self.bands = bands
        self.window_length = window_length
        self.taper = taper
        self.flatten = flatten

    def _check_params(self):
        check_type(self.sfreq, "numeric", "sfreq")
        if self.sfreq <= 0:
            raise ValueError(f"sfreq must be positive, got {self.sfreq}.")
        check_type(self.taper, str, "taper")
        check_type(self.flatten, bool, "flatten")
        if self.window_length is not None:
            check_type(self.window_length, "numeric", "window_length")
        return _check_bands(self.bands, float(self.sfreq))

    def _validate(self, X, reset):
        return validate_3d(self, X, reset=reset)

    def fit(self, X, y=None):
        """Check the parameters and record the shape of ``X``.

        Nothing is learnt: the features are computed per epoch in
        :meth:`transform`, which raises if a band holds no frequency bin at
        the resolution of the window (e.g. 2D input, one sample per epoch).

        Parameters
        ----------
        X : array, shape (n_epochs, n_channels, n_times) | Epochs
            The epochs (the features have no fitted state beyond the shape).
        y : None
            Ignored.

        Returns
        -------
        self : object
            The transformer.
        """
        self._check_params()
        X = self._validate(X, reset=True)
        self.n_window_ = _window_samples(self.window_length, self.sfreq, X.shape[2])
        self.n_windows_ = X.shape[2] // self.n_window_
        self.n_times_ = X.shape[2]
        return self

    def _power(self, X):
        check_is_fitted(self)
        bands = self._check_params()
        X = self._validate(X, reset=False)
        if X.shape[2] != self.n_times_:
            raise ValueError(
                f"X has {X.shape[2]} time samples but the transformer was fitted on "
                f"{self.n_times_}."
            )
        return _band_power(X, float(self.sfreq), bands, self.n_window_, self.taper)

    def _layout(self, features):
        if self.flatten:
            return features.reshape(len(features), -1)
        if self.n_windows_ == 1:
            return features[:, 0]
        return features

    def get_feature_names_out(self, input_features=None):
        """Names ``w{window}_ch{channel}_{band}`` of the flattened features.

        Parameters
        ----------
        input_features : None
            Ignored.

        Returns
        -------
        names : ndarray of str
            One name per output column (``flatten=True``).
        """
        check_is_fitted(self)
        bands = np.asarray(self.bands, dtype=float)
        band_names = [
            _BAND_NAMES[i]
            if len(bands) == 5 and np.allclose(bands, SEED_DV_BANDS)
            else f"{lo:g}-{hi:g}Hz"
            for i, (lo, hi) in enumerate(bands)
        ]
        names = [
            f"{self._prefix}_w{w}_ch{c}_{b}"
            for w in range(self.n_windows_)
            for c in range(self.n_features_in_)
            for b in band_names
        ]
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags


_FEATURE_PARAMS = """
    Parameters
    ----------
    sfreq : float
        Sampling frequency of ``X`` in Hz.
    bands : sequence of (float, float)
        Frequency bands ``(fmin, fmax)`` in Hz; a bin belongs to a band when
        ``fmin <= f < fmax``. Default: the SEED-DV bands 1-4, 4-8, 8-14, 14-31
        and 31-99 Hz.
    window_length : float | None
        Length in seconds of the non-overlapping windows each epoch is cut into
        (e.g. 1.0 gives the EEG2Video "1per1s" features); None uses the whole
        epoch as one window. Samples after the last full window are dropped.
    taper : str
        Taper applied to each window before the FFT (any
        :func:`scipy.signal.get_window` name); ``'boxcar'`` is the plain
        periodogram.
    flatten : bool
        If True (default) return ``(n_epochs, n_windows * n_channels * n_bands)``
        so the output feeds any scikit-learn estimator (order: window, channel,
        band); if False return ``(n_epochs, n_channels, n_bands)`` for one window
        or ``(n_epochs, n_windows, n_channels, n_bands)``.
"""

_FEATURE_ATTRIBUTES = """
    Attributes
    ----------
    n_features_in_ : int
        Number of channels.
    n_window_ : int
        Samples per window.
    n_windows_ : int
        Windows per epoch.
    n_times_ : int
        Time samples per epoch seen in ``fit``.
"""


class BandPower(_SpectralFeatures):
    __doc__ = (
        """Band power of each channel in fixed frequency bands.

    The power of a band is the integral of the tapered periodogram over its
    bins, i.e. the variance of the band-limited signal (units of ``X``
    squared), so a sinusoid of amplitude ``A`` inside a band has power
    ``A**2 / 2`` there. Set ``log=True`` for log-power.

    ``X`` is ``(n_epochs, n_channels, n_times)`` or an :class:`mne.Epochs`. A 2D
    array is read as ``(n_epochs, n_channels)`` with one time sample, as in
    :mod:`mne.decoding`, and is rejected: no band can be estimated from one
    sample.
"""
        + _FEATURE_PARAMS
        + """    relative : bool
        Divide by the total power over all bands (per window and channel).
    log : bool
        Return the natural log of the (relative) power.
"""
        + _FEATURE_ATTRIBUTES
        + """
    See Also
    --------
    DifferentialEntropy : The Gaussian differential entropy of the same bands.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_eeg.video import BandPower
    >>> t = np.arange(400) / 200.0
    >>> X = np.sin(2 * np.pi * 10 * t)[None, None, :]  # 10 Hz, amplitude 1
    >>> BandPower(sfreq=200.0).fit_transform(X).round(3)
    array([[0. , 0. , 0.5, 0. , 0. ]])
    """
    )

    _prefix = "power"

    def __init__(
        self,
        sfreq=200.0,
        bands=SEED_DV_BANDS,
        window_length=None,
        taper="hann",
        flatten=True,
        relative=False,
        log=False,
    ):
        super().__init__(
            sfreq=sfreq,
            bands=bands,
            window_length=window_length,
            taper=taper,
            flatten=flatten,
        )
        self.relative = relative
        self.log = log

    def transform(self, X):
        """Compute the band power.

        Parameters
        ----------
        X : array, shape (n_epochs, n_channels, n_times) | Epochs
            The epochs.

        Returns
        -------
        power : ndarray
            ``(n_epochs, n_windows * n_channels * n_bands)``, or unflattened
            (see ``flatten``).
        """
        check_type(self.relative, bool, "relative")
        check_type(self.log, bool, "log")
        power = self._power(X)
        if self.relative:
            total = power.sum(axis=-1, keepdims=True)
            power = power / np.maximum(total, np.finfo(float).tiny)
        if self.log:
            power = np.log(np.maximum(power, np.finfo(float).tiny))
        return self._layout(power)


class DifferentialEntropy(_SpectralFeatures):
    __doc__ = (
        """Differential entropy (DE) of each channel in fixed frequency bands.

    For a band-limited Gaussian signal of variance ``sigma**2`` the
    differential entropy is ``0.5 * log(2 * pi * e * sigma**2)`` (nats); the
    variance is the band power of :class:`BandPower`. This is the standard DE
    feature of the SEED datasets. EEG2Video's script computes
    ``log2(100 * mean PSD in the band)`` instead, a monotone transform of the
    same quantity up to the band width; both rank epochs alike.

    ``X`` is ``(n_epochs, n_channels, n_times)`` or an :class:`mne.Epochs`. A 2D
    array is read as ``(n_epochs, n_channels)`` with one time sample, as in
    :mod:`mne.decoding`, and is rejected: no band can be estimated from one
    sample.
"""
        + _FEATURE_PARAMS
        + _FEATURE_ATTRIBUTES
        + """
    See Also
    --------
    BandPower : The band power (variance) behind the entropy.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_eeg.video import DifferentialEntropy
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((4, 62, 400))  # 4 clips of 2 s at 200 Hz
    >>> de = DifferentialEntropy(sfreq=200.0, window_length=1.0)
    >>> de.fit_transform(X).shape  # 2 windows x 62 channels x 5 bands
    (4, 620)
    """
    )

    _prefix = "de"

    def transform(self, X):
        """Compute the differential entropy.

        Parameters
        ----------
        X : array, shape (n_epochs, n_channels, n_times) | Epochs
            The epochs.

        Returns
        -------
        de : ndarray
            ``(n_epochs, n_windows * n_channels * n_bands)``, or unflattened
            (see ``flatten``).
        """
        return self._layout(_differential_entropy(self._power(X)))
