"""Mel-spectrogram CNN classification of EEG patterns with soft expert labels.

:class:`MelSpecCNNClassifier` is a torch network whose front end (bipolar
montage, FIR band-pass, mel spectrogram) runs on the model's device, followed
by a 1D CNN or a timm backbone with GeM pooling, trained by skorch. torch,
skorch and timm are imported only when a network is built, fitted or used.
"""

from ..datasets._patterns import HMS_CHANNELS, PATTERN_CLASSES
from ._estimator import MelSpecCNNClassifier
from ._filters import BandpassFilter
from ._montage import DOUBLE_BANANA, BipolarMontage
from ._scoring import kl_divergence, kl_divergence_scorer

__all__ = [
    "DOUBLE_BANANA",
    "HMS_CHANNELS",
    "PATTERN_CLASSES",
    "BandpassFilter",
    "BipolarMontage",
    "MelSpecCNNClassifier",
    "kl_divergence",
    "kl_divergence_scorer",
]
