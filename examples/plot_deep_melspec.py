"""
Classifying EEG patterns from expert votes with MelSpecCNNClassifier
====================================================================

ICU EEG patterns (seizure, LPD, GPD, LRDA, GRDA, other) are labelled by
experts who often disagree, so each window comes with a *distribution* of
votes. :class:`~sk_eeg.deep.MelSpecCNNClassifier` is trained directly on these
soft targets with the KL divergence.

This example simulates the six pattern families with
:func:`~sk_eeg.datasets.make_eeg_patterns`, shows the front end (double-banana
bipolar montage, band-pass, mel spectrogram in dB stacked into one image), then
trains a small network on 15 patients and evaluates it on 5 held-out patients
against a logistic regression on band powers.
"""

# %%
# Simulated windows with noisy votes
# ----------------------------------
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.metrics import ConfusionMatrixDisplay

from sk_eeg.datasets import make_eeg_patterns
from sk_eeg.datasets._patterns import PATTERN_CLASSES
from sk_eeg.deep import (
    BandpassFilter,
    BipolarMontage,
    MelSpecCNNClassifier,
    kl_divergence,
)
from sk_eeg.deep._baseline import band_powers, fit_soft_logistic
from sk_eeg.deep._mel import MelSpectrogram

X, votes, patients, ch_names, labels = make_eeg_patterns(
    n_epochs=400, n_patients=20, n_times=2000, random_state=0, return_labels=True
)
print(X.shape, votes.shape)
print("votes of the first window:", dict(zip(PATTERN_CLASSES, votes[0])))

# %%
# The front end: montage, band-pass and mel spectrogram
# -----------------------------------------------------
# The 16 derivations of the double banana are filtered (0.5-20 Hz) and turned
# into mel spectrograms (dB, clamped to 80 dB below each window's maximum),
# stacked vertically into one image per window: this is what the 2D backbone
# sees.
montage = BipolarMontage("double_banana", ch_names=ch_names).fit(X)
derivations = BandpassFilter(sfreq=200, l_freq=0.5, h_freq=20).fit_transform(
    montage.transform(X)
)
mel = MelSpectrogram(
    sfreq=200,
    n_fft=256,
    win_length=128,
    hop_length=32,
    n_mels=32,
    fmin=0.5,
    fmax=30,
    normalize=True,
)
fig, axes = plt.subplots(1, 6, figsize=(13, 4.5), sharey=True)
for k, (ax, name) in enumerate(zip(axes, PATTERN_CLASSES)):
    idx = np.flatnonzero(labels == k)[0]
    with torch.no_grad():
        image = mel(torch.from_numpy(derivations[idx : idx + 1]).float())[0]
    ax.imshow(
        image.reshape(-1, image.shape[-1]).numpy(),
        aspect="auto",
        origin="upper",
        cmap="magma",
    )
    ax.set_title(name)
    ax.set_xlabel("frame")
axes[0].set_yticks(np.arange(16) * 32 + 16, montage.derivation_names_, fontsize=6)
fig.suptitle("Stacked mel spectrograms (one band of 32 mels per derivation)")
fig.tight_layout()

# %%
# Training on 15 patients, testing on 5 others
# --------------------------------------------
# To stay within a minute or two on a laptop CPU, the network here is the
# raw-signal backbone (``backbone='parallel_cnn1d'``: parallel spatial and
# temporal 1D CNN with grouped convolutions) behind the same montage and
# band-pass; the mel front end above feeds the 2D timm backbones
# (``backbone='mixnet_s'`` by default, or e.g. ``'efficientnet_b0'``), which
# want more data and epochs than fit in an example. Both are trained with the
# KL divergence on the vote distributions.
test = patients >= 15
features = band_powers(derivations, 200.0)
baseline = fit_soft_logistic(features[~test], votes[~test])
p_base = baseline.predict_proba(features[test])

clf = MelSpecCNNClassifier(
    backbone="parallel_cnn1d",
    ch_names=ch_names,
    max_epochs=8,
    lr=3e-3,
    random_state=0,
)
clf.fit(X[~test], votes[~test])
p_cnn = clf.predict_proba(X[test])

truth = votes[test].argmax(1)
for name, proba in (("band-power logistic", p_base), ("MelSpecCNN (1D)", p_cnn)):
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
