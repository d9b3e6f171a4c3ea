"""Mel spectrogram in pure torch (STFT + HTK mel filterbank + dB), no torchaudio.

Matches ``torchaudio.transforms.MelSpectrogram`` with its defaults (Hann
window, ``center=True``, reflect padding, power 2, HTK mel scale,
``norm=None``) followed by ``AmplitudeToDB(stype='power')``; the ``top_db``
clamp is taken per sample, so a prediction never depends on the rest of the
batch.
"""

import torch
from torch import nn

from ._melbank import check_mel_params, mel_filterbank


class MelSpectrogram(nn.Module):
    """Power mel spectrogram in dB of multichannel signals, computed on the device.

    Parameters
    ----------
    sfreq : float
        Sampling frequency in Hz.
    n_fft, win_length, hop_length : int
        STFT size, Hann window length (zero-padded to ``n_fft``) and hop.
    n_mels : int
        Number of mel bands.
    fmin, fmax : float
        Frequency range of the mel filters in Hz.
    top_db : float | None
        Per-sample dynamic range: dB values below the sample's maximum minus
        ``top_db`` are clamped. None disables the clamp.
    normalize : bool
        If True, map the clamped dB image to ``[0, 1]`` per sample
        (``(db - max) / top_db + 1``), which makes the input unit-free.
    """

    def __init__(
        self,
        sfreq=200.0,
        n_fft=256,
        win_length=None,
        hop_length=32,
        n_mels=64,
        fmin=0.0,
        fmax=None,
        top_db=80.0,
        normalize=False,
    ):
        super().__init__()
        win_length, fmax = check_mel_params(
            sfreq, n_fft, win_length, hop_length, n_mels, fmin, fmax
        )
        self.n_fft, self.win_length, self.hop_length = n_fft, win_length, hop_length
        self.top_db, self.normalize = top_db, normalize
        fbank = mel_filterbank(n_fft // 2 + 1, fmin, fmax, n_mels, sfreq)
        self.register_buffer("fbank", torch.as_tensor(fbank, dtype=torch.float32))
        self.register_buffer(
            "window", torch.hann_window(win_length, periodic=True, dtype=torch.float32)
        )

    def power(self, x):
        """Mel power spectrogram.

        Parameters
        ----------
        x : Tensor, shape (..., n_times)
            Signals.

        Returns
        -------
        mel : Tensor, shape (..., n_mels, n_frames)
            Mel-band power.
        """
        lead = x.shape[:-1]
        x = x.reshape(-1, x.shape[-1])
        min_len = self.n_fft // 2 + 1
        if x.shape[-1] < min_len:
            # Reflect padding needs more samples than n_fft // 2: zero-pad short
            # signals at the end.
            x = nn.functional.pad(x, (0, min_len - x.shape[-1]))
        spec = torch.stft(
            x,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=self.window.to(x.dtype),
            center=True,
            pad_mode="reflect",
            normalized=False,
            onesided=True,
            return_complex=True,
        )
        power = spec.real**2 + spec.imag**2
        mel = torch.matmul(power.transpose(-1, -2), self.fbank.to(x.dtype))
        mel = mel.transpose(-1, -2)
        return mel.reshape(*lead, *mel.shape[-2:])

    def forward(self, x):
        """Mel spectrogram in dB.

        Parameters
        ----------
        x : Tensor, shape (batch, n_channels, n_times)
            Signals.

        Returns
        -------
        db : Tensor, shape (batch, n_channels, n_mels, n_frames)
            ``10 * log10(max(mel, 1e-10))``, clamped per sample to ``top_db``
            below its maximum (and scaled to [0, 1] if ``normalize``).
        """
        db = power_to_db(self.power(x))
        return clamp_db(db, self.top_db, self.normalize)


def power_to_db(power, amin=1e-10):
    """``10 * log10(max(power, amin))`` (``AmplitudeToDB(stype='power')``)."""
    return 10.0 * torch.log10(torch.clamp(power, min=amin))


def clamp_db(db, top_db, normalize=False):
    """Clamp each sample (first axis) to ``top_db`` below its own maximum."""
    if top_db is None:
        return db
    peak = db.reshape(db.shape[0], -1).amax(dim=1)
    peak = peak.reshape(-1, *([1] * (db.ndim - 1)))
    db = torch.maximum(db, peak - top_db)
    if normalize:
        db = (db - peak) / top_db + 1.0
    return db
