"""Generalised-mean (GeM) pooling with a trainable exponent."""

import torch
from torch import nn


def gem(x, p, eps=1e-6):
    """Generalised mean over every axis after the first two.

    Parameters
    ----------
    x : Tensor, shape (batch, n_features, ...)
        Feature maps.
    p : Tensor | float
        Exponent: 1 is average pooling, large values approach max pooling.
    eps : float
        Floor applied before the power, so negative activations are ignored.

    Returns
    -------
    pooled : Tensor, shape (batch, n_features)
        ``mean(clamp(x, eps) ** p) ** (1 / p)``.
    """
    dims = tuple(range(2, x.ndim))
    return x.clamp(min=eps).pow(p).mean(dim=dims).pow(1.0 / p)


class GeM(nn.Module):
    """Generalised-mean pooling layer.

    Parameters
    ----------
    p : float
        Initial exponent (3 as in the HMS solutions).
    eps : float
        Floor applied to the activations.
    trainable : bool
        Whether ``p`` is a learnt parameter.
    """

    def __init__(self, p=3.0, eps=1e-6, trainable=True):
        super().__init__()
        p = torch.full((1,), float(p))
        if trainable:
            self.p = nn.Parameter(p)
        else:
            self.register_buffer("p", p)
        self.eps = eps

    def forward(self, x):
        """Pool ``x`` (batch, n_features, ...) to (batch, n_features)."""
        return gem(x, self.p, self.eps)
