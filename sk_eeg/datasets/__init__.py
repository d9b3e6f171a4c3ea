"""Simulators with a planted truth and loaders of the formats EEG users hold.

Names are imported lazily, so simulators that need torch-free code only stay
light.
"""

from importlib import import_module

# Public name -> module defining it (one line per simulator or loader).
_DATASETS = {}

__all__ = sorted(_DATASETS)


def __getattr__(name):
    if name in _DATASETS:
        return getattr(import_module(_DATASETS[name]), name)
    raise AttributeError(f"module 'sk_eeg.datasets' has no attribute {name!r}")


def __dir__():
    return __all__
