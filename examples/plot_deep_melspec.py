"""
Classifying EEG patterns from expert votes with MelSpecCNNClassifier
====================================================================

ICU EEG patterns (seizure, LPD, GPD, LRDA, GRDA, other) are labelled by
experts who often disagree, so each window comes with a *distribution* of
votes. :class:`~sk_eeg.deep.MelSpecCNNClassifier` is trained directly on these
soft targets with the KL divergence.

This example simulates the six pattern families with
:func:`~sk_eeg.datasets.make_eeg_patterns`, shows the front end (double-banana
bipolar montage and band-pass, computed by the network itself in torch), then
trains the default network on 15 patients, with early stopping on held-out
patients, and evaluates it on 5 other patients against a logistic regression
on band powers.
"""

# %%
# Simulated windows with noisy votes
# ----------------------------------
import matplotlib.pyplot as plt
import numpy as np
from scipy.signal import welch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_eeg.datasets import make_eeg_patterns
from sk_eeg.deep import (
    PATTERN_CLASSES,
    BandpassFilter,
    BipolarMontage,
    MelSpecCNNClassifier,
    kl_divergence,
)

X, votes, patients, ch_names, labels = make_eeg_patterns(
    n_epochs=400, n_patients=20, n_times=2000, random_state=0, return_labels=True
)
print(X.shape, votes.shape)
print("votes of the first window:", dict(zip(PATTERN_CLASSES, votes[0])))

# %%
# The front end: montage and band-pass
# ------------------------------------
# The classifier turns the 20 recorded channels into the 16 derivations of the
# double banana and band-passes them (0.5-20 Hz) on its own device. The same
# steps as NumPy transformers show what the network sees: one window of each
# class.
montage = BipolarMontage("double_banana", ch_names=ch_names).fit(X)
derivations = BandpassFilter(sfreq=200, l_freq=0.5, h_freq=20).fit_transform(
    montage.transform(X)
)
t = np.arange(X.shape[-1]) / 200.0
fig, axes = plt.subplots(1, 6, figsize=(13, 5), sharey=True)
for k, (ax, name) in enumerate(zip(axes, PATTERN_CLASSES)):
    window = derivations[np.flatnonzero(labels == k)[0]]
    scale = 4 * np.median(np.abs(window))
    ax.plot(t, (window / scale - np.arange(16)[:, None]).T, lw=0.4, color="k")
    ax.set_title(name)
    ax.set_xlabel("time (s)")
axes[0].set_yticks(-np.arange(16), montage.derivation_names_, fontsize=6)
fig.suptitle("Double-banana derivations, 0.5-20 Hz")
fig.tight_layout()

# %%
# Training on 15 patients, testing on 5 others
# --------------------------------------------
# The default network (``backbone='parallel_cnn1d'``: parallel spatial and
# temporal 1D CNN with grouped convolutions on the derivations) is trained
# with the KL divergence on the vote distributions, with mixup and left/right
# flips. ``groups`` makes early stopping hold out whole patients. The 2D timm
# backbones on stacked mel spectrograms (``backbone='mixnet_s'``, ...) use
# the same interface.
test = patients >= 15
clf = MelSpecCNNClassifier(
    ch_names=ch_names, early_stopping=True, n_iter_no_change=5, random_state=0
)
clf.fit(X[~test], votes[~test], groups=patients[~test])
p_cnn = clf.predict_proba(X[test])

# %%
# The baseline: a multinomial logistic regression on log band powers, fitted
# to the vote shares (each window repeated once per class, weighted by its
# share of votes).
freqs, psd = welch(derivations, fs=200.0, nperseg=400, axis=-1)
bands = [(0.5, 2), (2, 4), (4, 8), (8, 13), (13, 20)]
features = np.log(
    np.stack([psd[..., (freqs >= lo) & (freqs < hi)].mean(-1) for lo, hi in bands], -1)
).reshape(len(X), -1)
shares = votes / votes.sum(1, keepdims=True)
baseline = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
baseline.fit(
    np.repeat(features[~test], 6, axis=0),
    np.tile(np.arange(6), (~test).sum()),
    logisticregression__sample_weight=shares[~test].ravel(),
)
p_base = baseline.predict_proba(features[test])

truth = votes[test].argmax(1)
for name, proba in (("band-power logistic", p_base), ("MelSpecCNN", p_cnn)):
    print(
        f"{name:<20s} KL {kl_divergence(votes[test], proba):.3f}  "
        f"accuracy {np.mean(proba.argmax(1) == truth):.3f}"
    )

# %%
# Confusion matrix on the held-out patients
# -----------------------------------------
# Rows are the experts' majority class; the usual confusions (LPD vs GPD,
# LRDA vs GRDA) are the ones the simulated experts also make.
fig, ax = plt.subplots(figsize=(5, 4.5))
ConfusionMatrixDisplay.from_predictions(
    truth,
    p_cnn.argmax(1),
    labels=np.arange(6),
    display_labels=PATTERN_CLASSES,
    normalize="true",
    values_format=".2f",
    ax=ax,
    colorbar=False,
)
ax.set_title("MelSpecCNNClassifier, held-out patients")
fig.tight_layout()
plt.show()
