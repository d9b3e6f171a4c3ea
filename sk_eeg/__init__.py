"""sk_eeg: scikit-learn / MNE estimators for EEG statistics, imaging and decoding.

The estimators are imported lazily: ``import sk_eeg`` loads neither torch,
diffusers nor dask, and each method's subpackage is imported on first use of
one of its names.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sk_eeg")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

# Public name -> subpackage that defines it. The single registry of the public
# API: lazy attribute access, ``utils.all_estimators`` and the API docs read it.
_PUBLIC_API = {
    "ClusterLMETest": "sk_eeg.stats",
    "BandpassFilter": "sk_eeg.deep",
    "BipolarMontage": "sk_eeg.deep",
    "MelSpecCNNClassifier": "sk_eeg.deep",
    "kl_divergence": "sk_eeg.deep",
    "kl_divergence_scorer": "sk_eeg.deep",
    "BandPower": "sk_eeg.video",
    "DifferentialEntropy": "sk_eeg.video",
    "EEG2VideoGenerator": "sk_eeg.video",
    "EEGEncoderClassifier": "sk_eeg.video",
    "SparseSourceLocalizer": "sk_eeg.inverse",
    "IFEPanelRegressor": "sk_eeg.panel",
    "VonMisesFisherMixture": "sk_eeg.panel",
    "TimeOfDayFeatures": "sk_eeg.panel",
    "evaluate_heldout": "sk_eeg.panel",
    "fit_bai_ife": "sk_eeg.panel",
    "log_power_features": "sk_eeg.panel",
    "fit_panel_tensor": "sk_eeg.panel",
}

__all__ = sorted(_PUBLIC_API) + ["__version__"]


def __getattr__(name):
    if name in _PUBLIC_API:
        return getattr(import_module(_PUBLIC_API[name]), name)
    raise AttributeError(f"module 'sk_eeg' has no attribute {name!r}")


def __dir__():
    return __all__
