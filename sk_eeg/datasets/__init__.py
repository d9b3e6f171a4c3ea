"""Simulators with a planted truth and loaders of the formats EEG users hold.

Names are imported lazily, so simulators that need torch-free code only stay
light.
"""

from importlib import import_module

# Public name -> module defining it (one line per simulator or loader).
_DATASETS = {
    "load_lme_mat": "sk_eeg.datasets._lme",
    "load_lme_table": "sk_eeg.datasets._lme",
    "make_nested_timeseries": "sk_eeg.datasets._lme",
    "load_hms_eeg": "sk_eeg.datasets._patterns",
    "make_eeg_patterns": "sk_eeg.datasets._patterns",
    "make_hms_like": "sk_eeg.datasets._hms_like",
    "load_seed_dv": "sk_eeg.datasets._video",
    "make_eeg_video": "sk_eeg.datasets._video",
    "make_sparse_sources": "sk_eeg.datasets._sources",
    "make_bai_ng_factors": "sk_eeg.datasets._panel",
    "make_bai2009_panel": "sk_eeg.datasets._panel",
    "make_panel_factors": "sk_eeg.datasets._panel",
    "make_eeg_panel": "sk_eeg.datasets._panel",
    "load_panel_npy": "sk_eeg.datasets._panel",
}

__all__ = sorted(_DATASETS)


def __getattr__(name):
    if name in _DATASETS:
        return getattr(import_module(_DATASETS[name]), name)
    raise AttributeError(f"module 'sk_eeg.datasets' has no attribute {name!r}")


def __dir__():
    return __all__
