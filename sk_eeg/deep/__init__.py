"""Mel-spectrogram CNN classification of EEG patterns with soft expert labels.

:class:`MelSpecCNNClassifier` composes a NumPy front end (bipolar montage,
band-pass) with a torch network (mel spectrogram, timm backbone, GeM pooling)
trained by skorch. torch, skorch and timm are imported only when a network is
built, fitted or used.
"""

from ..datasets._patterns import HMS_CHANNELS
from ._estimator import MelSpecCNNClassifier
from ._filters import BandpassFilter
from ._montage import DOUBLE_BANANA, BipolarMontage
from ._scoring import kl_divergence, kl_divergence_scorer

__all__ = [
    "DOUBLE_BANANA",
    "HMS_CHANNELS",
    "BandpassFilter",
    "BipolarMontage",
    "MelSpecCNNClassifier",
    "kl_divergence",
    "kl_divergence_scorer",
]
