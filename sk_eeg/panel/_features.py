"""Covariate and response features for the panel model."""

import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils import check_type


class TimeOfDayFeatures(TransformerMixin, BaseEstimator):
    """Harmonics of clock time: ``sin`` and ``cos`` of ``2 pi h tau / period``.

    Each input column is a clock time in hours; each becomes ``2 *
    n_harmonics`` columns. Missing times (NaN) stay NaN, so that
    :class:`IFEPanelRegressor` can impute them.

    Parameters
    ----------
    n_harmonics : int
        Number of harmonics ``h = 1..n_harmonics``.
    period : float
        Period in hours.

    Attributes
    ----------
    n_features_in_ : int
        Number of clock-time columns.
    feature_names_in_ : array of str
        Column names when ``X`` was a DataFrame.

    Notes
    -----
    When every subject is recorded at only two clock times, ``sin`` and
    ``cos`` carry one contrast between them; keep one column (or a
    morning/afternoon indicator) in that case.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_eeg.panel import TimeOfDayFeatures
    >>> TimeOfDayFeatures().fit_transform(np.array([[6.0], [18.0]])).round(3)
    array([[ 1.,  0.],
           [-1., -0.]])
    """

    def __init__(self, n_harmonics=1, period=24.0):
        self.n_harmonics = n_harmonics
        self.period = period

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def fit(self, X, y=None):
        """Check the parameters and record the input columns.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            Clock times in hours.
        y : None
            Ignored.

        Returns
        -------
        self : TimeOfDayFeatures
            The fitted transformer.
        """
        check_type(self.n_harmonics, "int", "n_harmonics")
        if self.n_harmonics < 1:
            raise ValueError(f"n_harmonics must be >= 1, got {self.n_harmonics}.")
        check_type(self.period, "numeric", "period")
        if self.period <= 0:
            raise ValueError(f"period must be > 0, got {self.period}.")
        validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan")
        self.n_output_features_ = 2 * self.n_harmonics * self.n_features_in_
        return self

    def transform(self, X):
        """Return the harmonics.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            Clock times in hours.

        Returns
        -------
        features : array, shape (n_samples, 2 * n_harmonics * n_features)
            For each column and harmonic, ``sin`` then ``cos``.
        """
        check_is_fitted(self)
        X = validate_data(
            self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False
        )
        h = np.arange(1, self.n_harmonics + 1)
        angle = 2 * np.pi * X[:, :, None] * h / self.period
        out = np.stack([np.sin(angle), np.cos(angle)], axis=3)
        return out.reshape(X.shape[0], -1)

    def get_feature_names_out(self, input_features=None):
        """Names ``{column}_sin{h}`` and ``{column}_cos{h}``.

        Parameters
        ----------
        input_features : array-like of str | None
            Input names; None uses ``feature_names_in_`` or ``x0, x1, ...``.

        Returns
        -------
        names : array of str
            Output feature names.
        """
        check_is_fitted(self)
        if input_features is None:
            input_features = getattr(
                self,
                "feature_names_in_",
                [f"x{j}" for j in range(self.n_features_in_)],
            )
        names = [
            f"{col}_{fn}{h}"
            for col in input_features
            for h in range(1, self.n_harmonics + 1)
            for fn in ("sin", "cos")
        ]
        return np.asarray(names, dtype=object)


def log_power_features(
    recording, sfreq, *, window=1.0, band=None, eps_rel=1e-3, scale=None
):
    """Log power per channel in consecutive windows of one recording.

    Parameters
    ----------
    recording : array, shape (n_channels, n_samples)
        One recording (may be a memory map; read window block by block).
    sfreq : float
        Sampling frequency (Hz).
    window : float
        Window length (s).
    band : tuple of float | None
        ``(low, high)`` band in Hz (power from the windowed periodogram);
        None uses the broadband mean square.
    eps_rel : float
        Floor added before the log, relative to the median window power (so
        that it never swamps the signal, whatever its units).
    scale : float | None
        Median power to use for the floor (e.g. of the training recordings);
        None computes it from this recording.

    Returns
    -------
    log_power : array, shape (n_windows, n_channels)
        ``log(power + eps_rel * scale)``. NaN samples are skipped by the
        broadband mean square; a window is NaN when none of its samples is
        observed (or, with ``band``, when any is missing).
    """
    n_channels, n_samples = recording.shape
    win = int(round(window * sfreq))
    n_windows = n_samples // win
    if n_windows < 1:
        raise ValueError(
            f"recording has {n_samples} samples, fewer than one window of "
            f"{window} s at {sfreq} Hz; shorten window."
        )
    power = np.empty((n_windows, n_channels))
    if band is not None:
        freqs = np.fft.rfftfreq(win, 1.0 / sfreq)
        keep = (freqs >= band[0]) & (freqs <= band[1])
        if not keep.any():
            raise ValueError(
                f"band {band} contains no frequency of a {window} s window."
            )
    block = max(1, 65536 // win)
    for start in range(0, n_windows, block):
        stop = min(n_windows, start + block)
        seg = np.asarray(recording[:, start * win : stop * win], dtype=np.float64)
        seg = seg.reshape(n_channels, stop - start, win)
        if band is None:
            with warnings.catch_warnings():
                # A window without any observed sample has no power (NaN).
                warnings.simplefilter("ignore", RuntimeWarning)
                power[start:stop] = np.nanmean(seg**2, axis=2).T
        else:
            spec = np.abs(np.fft.rfft(seg - seg.mean(2, keepdims=True), axis=2)) ** 2
            power[start:stop] = spec[:, :, keep].sum(2).T * 2 / win**2
    if scale is None:
        scale = float(np.nanmedian(power))
    return np.log(power + eps_rel * max(scale, np.finfo(float).tiny))
