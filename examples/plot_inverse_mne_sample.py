"""
Auditory sources of real EEG with SparseSourceLocalizer
=======================================================

The MNE "sample" subject heard tones in the left and right ear. We take the
average auditory response (50-150 ms), the 60 EEG channels, the noise
covariance and a 7 mm volume forward model from ``../shared/mne_sample`` (a
small subset of the MNE sample data, read where it lies beside the project)
and localize it with irMxNE, then express the strongest sources in MNI
coordinates. With only nine trials and EEG alone, expect the strongest sources
in lateral temporal cortex, to about 15 mm.
"""

# %%
# Data
# ----
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sk_eeg.inverse import SparseSourceLocalizer

try:
    here = Path(__file__).resolve().parent
except NameError:  # run interactively
    here = Path.cwd()
sample_dir = here.parent.parent / "shared" / "mne_sample"

if not (sample_dir / "test-ave.fif.gz").exists():
    print(f"The MNE sample subset is not at {sample_dir}; nothing to localize.")
    fig, ax = plt.subplots()
    ax.text(0.5, 0.5, "../shared/mne_sample not found", ha="center")
    ax.set_axis_off()
else:
    import mne

    evokeds = mne.read_evokeds(
        sample_dir / "test-ave.fif.gz",
        condition=["Left Auditory", "Right Auditory"],
        baseline=(None, 0),
        verbose=False,
    )
    evoked = mne.combine_evoked(evokeds, weights="nave")
    evoked.pick("eeg").crop(0.05, 0.15)
    cov = mne.read_cov(sample_dir / "test-cov.fif", verbose=False)
    fwd_fname = str(sample_dir / "sample-vol7mm-eeg-fwd.fif")

    # %%
    # Localize with irMxNE
    # --------------------
    est = SparseSourceLocalizer(
        fwd_fname, cov, solver="irmxne", alpha=0.5, depth=0.9
    ).fit(evoked)
    print(
        f"{est.n_active_} active sources, explained variance "
        f"{est.explained_variance_:.2f}"
    )

    # %%
    # MNI coordinates of the strongest sources
    # ----------------------------------------
    trans = mne.read_trans(sample_dir / "sample_audvis_trunc-trans.fif")
    stc = est.to_stc(subject="sample")  # rows: active sources, norm over x/y/z
    amplitude = np.abs(stc.data).max(axis=1)
    order = np.argsort(amplitude)[::-1]
    head_pos = est.source_rr_[est.active_set_][order]
    mni = mne.head_to_mni(
        head_pos,
        "sample",
        trans,
        subjects_dir=sample_dir / "subjects",
        verbose=False,
    )
    for rank, (k, xyz) in enumerate(zip(order, np.atleast_2d(mni)), 1):
        side = "left" if xyz[0] < 0 else "right"
        print(
            f"#{rank}: MNI ({xyz[0]:.0f}, {xyz[1]:.0f}, {xyz[2]:.0f}) mm, {side} "
            f"hemisphere, peak {amplitude[k] * 1e9:.0f} nA m"
        )

    # %%
    # Glass-brain view and time courses
    # ---------------------------------
    fwd = mne.read_forward_solution(fwd_fname, verbose=False)
    grid = mne.head_to_mni(
        fwd["source_rr"],
        "sample",
        trans,
        subjects_dir=sample_dir / "subjects",
        verbose=False,
    )
    mni = np.atleast_2d(mni)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.8))
    views = [(0, 1, "axial"), (0, 2, "coronal"), (1, 2, "sagittal")]
    for ax, (i, j, title) in zip(axes[:2], views[:2]):
        ax.scatter(grid[:, i], grid[:, j], s=1, c="0.85")
        ax.scatter(
            mni[:, i],
            mni[:, j],
            s=300 * amplitude[order] / amplitude.max(),
            c="tab:red",
        )
        ax.set_aspect("equal")
        ax.set_title(f"{title} (MNI, mm)")
    times = evoked.times * 1e3
    for k in order:
        axes[2].plot(times, stc.data[k] * 1e9)
    axes[2].set_xlabel("time (ms)")
    axes[2].set_ylabel("amplitude (nA m)")
    axes[2].set_title("active sources")
    fig.tight_layout()
plt.show()
