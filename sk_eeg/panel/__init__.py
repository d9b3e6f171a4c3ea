"""Panel regression of multichannel EEG with interactive fixed effects.

:class:`IFEPanelRegressor` (covariate effects + per-subject latent factors,
rank selection, EM for missing data, Student-t IRLS),
:class:`VonMisesFisherMixture` (spectral-direction states),
:class:`TimeOfDayFeatures` (clock-time harmonics), the three-score held-out
evaluation :func:`evaluate_heldout`, windowed log-power features
:func:`log_power_features`, the streaming tensor pipeline
:func:`fit_panel_tensor`, the Bai (2009) estimator :func:`fit_bai_ife` and
MNE recordings into the panel layout :func:`panel_from_mne`.
"""

from ._estimator import IFEPanelRegressor
from ._evaluation import LeaveChannelsOutScorer, evaluate_heldout
from ._features import TimeOfDayFeatures, log_power_features
from ._ife import fit_bai_ife
from ._mne import panel_from_mne
from ._pipeline import fit_panel_tensor
from ._vmf import VonMisesFisherMixture

__all__ = [
    "IFEPanelRegressor",
    "LeaveChannelsOutScorer",
    "TimeOfDayFeatures",
    "VonMisesFisherMixture",
    "evaluate_heldout",
    "fit_bai_ife",
    "fit_panel_tensor",
    "log_power_features",
    "panel_from_mne",
]
