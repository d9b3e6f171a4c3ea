"""
Panel model of multichannel EEG power with interactive fixed effects
=====================================================================

Simulate repeated EEG sessions whose windowed log-power follows
``y_t = mu_g + C x_t + L_g f_t + e_t`` (an afternoon effect ``C`` and two
latent spatial factors per subject), fit :class:`~sk_eeg.panel.IFEPanelRegressor`
on the first three sessions of each subject, and score the held-out fourth
session three ways: covariates only (honest), the original code's
reconstruction (which uses the held-out EEG itself) and leave-channels-out
(factors estimated from the other channels).
"""

# %%
import matplotlib.pyplot as plt
import mne
import numpy as np

from sk_eeg.datasets import make_eeg_panel
from sk_eeg.panel import IFEPanelRegressor, evaluate_heldout, log_power_features

ch_names = [
    "Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "FC5", "FC1", "FC2", "FC6",
    "T7", "C3", "Cz", "C4", "T8", "CP5", "CP1", "CP2", "CP6", "P7", "P3",
    "Pz", "P4", "P8", "PO9", "O1", "Oz", "O2", "PO10", "AF3", "AF4",
]  # fmt: skip
info = mne.create_info(ch_names, sfreq=250.0, ch_types="eeg")
info.set_montage("colin27_1020")

sim = make_eeg_panel(
    n_subjects=6, n_sessions=4, n_channels=32, n_samples=40_000, sfreq=250.0,
    n_factors=2, random_state=0,
)  # fmt: skip

# %%
# Log-power per 1 s window; the floor is relative to each subject's median power.
X, y, groups, session = [], [], [], []
for s in range(6):
    scale = np.median(np.exp(log_power_features(sim.data[s, 0], 250.0)))
    for k in range(4):
        lp = log_power_features(sim.data[s, k], 250.0, scale=scale)
        y.append(lp)
        X.append(np.full((len(lp), 1), float(sim.sessions["afternoon"][k])))
        groups.append(np.full(len(lp), s))
        session.append(np.full(len(lp), k))
X, y = np.vstack(X), np.vstack(y)
groups, session = np.concatenate(groups), np.concatenate(session)
train = session < 3

model = IFEPanelRegressor().fit(X[train], y[train], groups=groups[train])
print("rank per subject:", model.n_factors_.tolist(), "(planted: 2)")
print(model.rank_selection_)

# %%
# Three held-out scores per subject.
pooled, per_channel = evaluate_heldout(model, X[~train], y[~train], groups[~train])
print(pooled.round(3).to_string())

# %%
# Loadings of subject 0 (topomaps) and the recovered afternoon effect with
# its 95% confidence intervals (``conf_int``; they assume errors uncorrelated
# over windows).
fig, axes = plt.subplots(1, 3, figsize=(10, 3.2))
for k in range(model.n_factors_[0]):
    mne.viz.plot_topomap(model.loadings_[0][:, k], info, axes=axes[k], show=False)
    axes[k].set_title(f"factor {k + 1} loading")
lower, upper = model.conf_int(0.95)  # 95% confidence intervals per channel
axes[2].errorbar(
    sim.afternoon_effect, model.coef_[:, 0],
    yerr=[model.coef_[:, 0] - lower[:, 0], upper[:, 0] - model.coef_[:, 0]],
    fmt="o", ms=3,
)  # fmt: skip
lim = np.abs(sim.afternoon_effect).max() * 1.1
axes[2].plot([-lim, lim], [-lim, lim], "k--", lw=1)
axes[2].set(xlabel="planted afternoon effect", ylabel="estimated")
fig.tight_layout()

# %%
# Observed vs predicted log-power on the held-out session (subject 0, Oz).
sel = (~train) & (groups == 0)
ch = ch_names.index("Oz")
cov = model.predict(X[sel], groups=groups[sel])[:, ch]
rec = model.reconstruct(X[sel], y[sel], groups=groups[sel])[:, ch]
fig, ax = plt.subplots(figsize=(8, 3))
ax.plot(y[sel][:, ch], "k", lw=1, label="observed")
ax.plot(cov, label=f"covariates only (R2 {per_channel.loc[(0, ch)].iloc[0]:.2f})")
ax.plot(rec, "--", label="reconstruction, uses the held-out y")
ax.set(xlabel="window", ylabel="log power", title="held-out session, Oz")
ax.legend(loc="upper right", fontsize=8)
fig.tight_layout()
plt.show()
