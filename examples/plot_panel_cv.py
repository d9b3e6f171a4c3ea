"""
Grouped cross-validation, MNE recordings and confidence intervals
=================================================================

Turn MNE ``Raw`` recordings (several sessions per subject, recorded at
different clock times) into the panel layout with
:func:`~sk_eeg.panel.panel_from_mne` (log power from MNE's Welch PSD, clock
time from ``meas_date``), choose the number of latent factors by grouped
cross-validation over subjects (:class:`~sklearn.model_selection.GroupKFold`,
``groups`` routed to ``fit`` and to the
:class:`~sk_eeg.panel.LeaveChannelsOutScorer`), and report the covariate
effects with 95% confidence intervals.
"""

# %%
import datetime

import matplotlib.pyplot as plt
import mne
import numpy as np
import sklearn
from sklearn.model_selection import GridSearchCV, GroupKFold

from sk_eeg.datasets import make_eeg_panel
from sk_eeg.panel import IFEPanelRegressor, LeaveChannelsOutScorer, panel_from_mne

sfreq, n_subjects, n_sessions = 100.0, 6, 3
sim = make_eeg_panel(
    n_subjects, n_sessions, n_channels=16, n_samples=12_000, sfreq=sfreq,
    window=2.0, n_factors=3, random_state=0,
)  # fmt: skip
info = mne.create_info([f"EEG{i:02d}" for i in range(16)], sfreq, "eeg")
raws, subjects = [], []
for s in range(n_subjects):
    for k in range(n_sessions):
        raw = mne.io.RawArray(sim.data[s, k].astype(float), info, verbose=False)
        start = datetime.datetime(2024, 5, 1 + s, 8 + 4 * k, tzinfo=datetime.UTC)
        raw.set_meas_date(start)
        raws.append(raw)
        subjects.append(f"sub-{s:02d}")

panel = panel_from_mne(raws, subjects, window=2.0, fmin=1.0, fmax=40.0)
print(panel.X.columns.tolist(), panel.y.shape)

# %%
# Grouped cross-validation of the rank: each fold's subjects are unseen in
# training, so the scorer re-estimates their loadings on other time blocks and
# predicts every channel from the others.
with sklearn.config_context(enable_metadata_routing=True):
    search = GridSearchCV(
        IFEPanelRegressor().set_fit_request(groups=True),
        {"n_factors": [0, 1, 2, 3, 4, 5, 6]},
        cv=GroupKFold(3),
        scoring=LeaveChannelsOutScorer(),
    ).fit(panel.X, panel.y, groups=panel.groups)
print("best:", search.best_params_, "(planted: 3)")

fig, ax = plt.subplots(figsize=(5, 3))
ax.errorbar(
    search.param_grid["n_factors"],
    search.cv_results_["mean_test_score"],
    yerr=search.cv_results_["std_test_score"],
    marker="o",
)
ax.set(xlabel="n_factors", ylabel="leave-channels-out R2", title="GroupKFold(3)")
fig.tight_layout()

# %%
# Clock-time effects per channel with 95% confidence intervals (the default
# rank criterion chooses the rank per subject).
model = IFEPanelRegressor().fit(panel.X, panel.y, groups=panel.groups)
print("rank per subject:", model.n_factors_.tolist())
lower, upper = model.conf_int(0.95)
fig, ax = plt.subplots(figsize=(7, 3))
for j, name in enumerate(panel.X.columns):
    x = np.arange(16) + 0.2 * j
    ax.errorbar(
        x, model.coef_[:, j], yerr=[model.coef_[:, j] - lower[:, j],
        upper[:, j] - model.coef_[:, j]], fmt="o", ms=3, label=name,
    )  # fmt: skip
ax.axhline(0, color="k", lw=0.8)
ax.set(xlabel="channel", ylabel="effect on log power", title="95% CIs")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
