"""Torch front end on the model's device: bipolar montage and FIR band-pass.

The montage is an exact gather-and-subtract (``mne.set_bipolar_reference``
semantics: anode minus cathode); the band-pass uses the coefficients of
:func:`mne.filter.create_filter` (``filter_data``'s default zero-phase
firwin / Hamming design) and reproduces ``filter_data``'s edge handling
(``'reflect_limited'`` padding) with one FFT convolution per batch.
"""

import numpy as np
import torch
from scipy.fft import next_fast_len
from torch import nn


class BipolarReference(nn.Module):
    """``x[:, anode] - x[:, cathode]`` per output channel (no cathode: as is).

    Parameters
    ----------
    anodes, cathodes : array of int, shape (n_outputs,)
        Input channel indices; ``-1`` for no cathode.
    """

    def __init__(self, anodes, cathodes):
        super().__init__()
        anodes, cathodes = np.asarray(anodes), np.asarray(cathodes)
        has = np.flatnonzero(cathodes >= 0)
        self.register_buffer("anodes", torch.as_tensor(anodes, dtype=torch.long))
        self.register_buffer("positions", torch.as_tensor(has, dtype=torch.long))
        self.register_buffer(
            "cathodes", torch.as_tensor(cathodes[has], dtype=torch.long)
        )

    def forward(self, x):
        """Map ``(batch, n_chans, n_times)`` to ``(batch, n_outputs, n_times)``."""
        out = x.index_select(1, self.anodes)
        n_cathodes = self.cathodes.numel()
        if n_cathodes == self.anodes.numel():  # every output is a difference
            return out - x.index_select(1, self.cathodes)
        if n_cathodes:
            out = out.index_add(
                1, self.positions, x.index_select(1, self.cathodes), alpha=-1
            )
        return out


class FIRFilter(nn.Module):
    """Zero-phase FIR filtering along the last axis, as ``mne.filter.filter_data``.

    The signal is extended at both ends by ``min(n_taps, n_times) - 1``
    samples of odd reflection about the edge sample (MNE's
    ``'reflect_limited'`` padding), convolved with the filter through one
    FFT, and cut back with the filter's group delay removed.

    Parameters
    ----------
    h : array, shape (n_taps,)
        Symmetric filter of odd length (from :func:`design_bandpass`).
    """

    def __init__(self, h):
        super().__init__()
        self.register_buffer("h", torch.as_tensor(np.asarray(h), dtype=torch.float32))

    def forward(self, x):
        """Filter ``x`` of shape ``(..., n_times)``."""
        n_h, n_times = self.h.numel(), x.shape[-1]
        n_edge = max(min(n_h, n_times) - 1, 0)
        if n_edge:
            left = 2 * x[..., :1] - x[..., 1 : n_edge + 1].flip(-1)
            right = 2 * x[..., -1:] - x[..., -n_edge - 1 : -1].flip(-1)
            x = torch.cat([left, x, right], dim=-1)
        n_fft = next_fast_len(x.shape[-1] + n_h - 1, real=True)
        h = self.h.to(x.dtype)
        y = torch.fft.irfft(torch.fft.rfft(x, n_fft) * torch.fft.rfft(h, n_fft), n_fft)
        shift = (n_h - 1) // 2 + n_edge
        return y[..., shift : shift + n_times]


class FrontEnd(nn.Module):
    """Montage then band-pass, batched on the device, in float32 or float64.

    Parameters
    ----------
    anodes, cathodes : array of int
        The montage (see :class:`BipolarReference`).
    fir : array | None
        Band-pass coefficients; None skips filtering.
    decim : int
        Keep every ``decim``-th sample after the low-pass filter.
    """

    def __init__(self, anodes, cathodes, fir=None, decim=1):
        super().__init__()
        self.montage = BipolarReference(anodes, cathodes)
        self.filter = FIRFilter(fir) if fir is not None else None
        self.decim = int(decim)

    def forward(self, x):
        """Map raw ``(batch, n_chans, n_times)`` to filtered derivations."""
        x = self.montage(x)
        if self.filter is not None:
            x = self.filter(x)
        return x[..., :: self.decim] if self.decim > 1 else x
