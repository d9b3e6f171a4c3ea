"""
Generate the clip a subject watched from their EEG
===================================================

:class:`sk_eeg.video.EEG2VideoGenerator` conditions a small video diffusion
model (a diffusers ``UNet3DConditionModel`` built from config) on an EEG
encoder. Here it is trained in seconds on a CPU with simulated data from
:func:`sk_eeg.datasets.make_eeg_video`: moving shapes whose class, colour and
speed are planted in the EEG. It is trained on two recording blocks and
generates the clips of the third from EEG alone; the ground truth and the
generated frames are shown side by side, and the generated clips are scored
against references that need no EEG and against generation from shuffled EEG.
"""

import matplotlib.pyplot as plt
import numpy as np

from sk_eeg.datasets import make_eeg_video
from sk_eeg.video import (
    EEG2VideoGenerator,
    make_video_classifier,
    n_way_identification,
    plot_video_frames,
    reconstruction_baselines,
)

data = make_eeg_video(
    n_blocks=3,
    n_classes=3,
    n_clips=4,
    n_frames=4,
    height=16,
    width=16,
    n_channels=16,
    sfreq=100.0,
    random_state=0,
)
train, test = data.blocks < 2, data.blocks == 2
print(f"{train.sum()} training clips, {test.sum()} held-out clips ({data.shapes})")

# %%
# Train with the default, CPU-sized configuration: differential entropy of
# 1 s windows -> MLP encoder -> condition tokens of a tiny UNet that runs on
# 4 x 4 pixel patches folded into channels. The encoder also regresses the
# clean clip (EEG2Video's latent predictor) and sampling starts from that
# prediction (``init_strength=0.1``). ``sfreq`` and ``bands`` match this
# 100 Hz simulation; fewer epochs and a smaller UNet than the defaults keep
# the example fast. ``EEG2VideoGenerator.from_preset("gpu")`` builds
# EEG2Video's GLMNet model, sized for a GPU.
gen = EEG2VideoGenerator(
    sfreq=data.sfreq,
    bands=((4, 8), (8, 14), (31, 49)),
    unet_channels=(16, 32),
    encoder_epochs=40,
    max_epochs=2,
    device="cpu",
    random_state=0,
)
gen.fit(data.X[train], data.videos[train], labels=data.y[train])
generated = gen.predict(data.X[test])
rng = np.random.default_rng(0)
shuffled = gen.predict(data.X[test][rng.permutation(test.sum())])

# %%
# Score: SSIM / PSNR to the true clip beside references that need no EEG
# (the mean training clip, and the mean training clip of the true class, an
# oracle that knows the class) and beside generation from shuffled EEG; and
# whether a classifier trained on true clips recognises the class of the
# generated ones (3-way top-1, chance 1/3).
truth = data.videos[test]
scores = reconstruction_baselines(
    truth,
    generated,
    data.videos[train],
    train_labels=data.y[train],
    labels=data.y[test],
    y_shuffled=shuffled,
)
for name, score in scores.items():
    print(f"{name:<16s} SSIM {score['ssim']:.3f}  PSNR {score['psnr']:.2f} dB")
video_clf = make_video_classifier(0).fit(data.videos[train], data.y[train])
ident = n_way_identification(
    video_clf.predict_proba(generated), data.y[test], n_way=3, random_state=0
)
print(f"identification {ident.accuracy:.2f} (chance {ident.chance:.2f})")

# %%
# Ground truth (top row of each pair) and generated frames (bottom row).
# :func:`sk_eeg.video.save_video_gif` writes the same clips as an animation.
fig = plot_video_frames(generated, truth, n_clips=3)
plt.show()
