"""HTK mel filterbank and mel parameter checks (NumPy only)."""

import numpy as np


def hz_to_mel(freq):
    """HTK mel scale: ``2595 * log10(1 + f / 700)``."""
    return 2595.0 * np.log10(1.0 + np.asarray(freq, dtype=np.float64) / 700.0)


def mel_to_hz(mel):
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_freqs, f_min, f_max, n_mels, sfreq):
    """Triangular HTK mel filterbank without normalisation (peaks at 1).

    Parameters
    ----------
    n_freqs : int
        Number of STFT frequency bins (``n_fft // 2 + 1``), spanning 0 to
        ``sfreq / 2``.
    f_min, f_max : float
        Frequency range of the filters in Hz.
    n_mels : int
        Number of filters.
    sfreq : float
        Sampling frequency in Hz.

    Returns
    -------
    fbank : ndarray, shape (n_freqs, n_mels)
        Filter weights (float64).
    """
    all_freqs = np.linspace(0.0, sfreq / 2.0, n_freqs)
    mel_pts = np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2)
    f_pts = mel_to_hz(mel_pts)
    f_diff = np.diff(f_pts)
    slopes = f_pts[np.newaxis, :] - all_freqs[:, np.newaxis]
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return np.maximum(0.0, np.minimum(down, up))


def check_mel_params(sfreq, n_fft, win_length, hop_length, n_mels, fmin, fmax):
    """Validate the mel parameters; return ``(win_length, fmax)`` resolved."""
    for name, value in (("n_fft", n_fft), ("hop_length", hop_length)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if not isinstance(n_mels, (int, np.integer)) or n_mels < 1:
        raise ValueError(f"n_mels must be a positive integer, got {n_mels!r}.")
    win_length = n_fft if win_length is None else win_length
    if not isinstance(win_length, (int, np.integer)) or not 1 <= win_length <= n_fft:
        raise ValueError(
            f"win_length must be an integer between 1 and n_fft={n_fft}, got "
            f"{win_length!r}."
        )
    fmax = sfreq / 2.0 if fmax is None else fmax
    if not 0 <= fmin < fmax <= sfreq / 2.0:
        raise ValueError(
            f"Need 0 <= fmin < fmax <= sfreq / 2; got fmin={fmin}, fmax={fmax}, "
            f"sfreq={sfreq}."
        )
    return int(win_length), float(fmax)
