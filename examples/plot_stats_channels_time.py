"""
Channels x time clusters on EEG epochs with a mixed model
=========================================================

Scalp EEG effects extend over neighbouring electrodes and consecutive
timepoints. With an :class:`mne.Epochs` of several channels,
:class:`sk_eeg.stats.ClusterLMETest` fits the mixed model at every channel and
timepoint and forms clusters over the channel adjacency
(:func:`mne.channels.find_ch_adjacency`) and time, as
:func:`mne.stats.spatio_temporal_cluster_1samp_test` does; the design comes
from ``epochs.metadata``.

We simulate 12 subjects with two conditions each (one averaged epoch per
subject and condition) and a condition effect over central-parietal
electrodes between 150 and 300 ms.
"""

# %%
import matplotlib.pyplot as plt
import mne
import numpy as np
import pandas as pd

from sk_eeg.stats import ClusterLMETest

rng = np.random.default_rng(0)
montage = mne.channels.make_standard_montage("colin27_1020")
ch_names = ["Fz", "F3", "F4", "FCz", "Cz", "C3", "C4", "CPz", "Pz", "P3", "P4"]
ch_names += ["Oz", "O1", "O2", "T7", "T8"]
info = mne.create_info(ch_names, 100.0, "eeg")
info.set_montage(montage)
n_subjects, n_times = 12, 50
times = np.arange(n_times) / 100.0 - 0.1
effect = np.zeros((len(ch_names), n_times))
central = [ch_names.index(c) for c in ("Cz", "CPz", "Pz", "C3", "P3")]
effect[np.ix_(central, np.flatnonzero((times >= 0.15) & (times < 0.3)))] = 1.5
subject = rng.normal(0, 2, size=(n_subjects, 1, len(ch_names), n_times))
data = np.concatenate(
    [
        subject[:, 0] + rng.normal(size=(n_subjects, len(ch_names), n_times)),
        subject[:, 0] + effect + rng.normal(size=(n_subjects, len(ch_names), n_times)),
    ]
)
metadata = pd.DataFrame(
    {
        "sid": np.tile([f"s{i:02d}" for i in range(n_subjects)], 2),
        "cond": np.repeat(["standard", "deviant"], n_subjects),
    }
)
epochs = mne.EpochsArray(
    data * 1e-6, info, tmin=times[0], metadata=metadata, verbose=False
)

# %%
# ``cond`` varies within subjects, so the permutations swap the two epochs of
# a subject (sign flips of the paired difference). The adjacency is found
# from the channel positions when ``adjacency`` is None; pass
# ``mne.channels.find_ch_adjacency(epochs.info, 'eeg')[0]`` (or any sparse
# matrix) to choose it.
test = ClusterLMETest(
    "cond",
    groups="sid",
    statistic="t",
    n_permutations=199,
    random_state=0,
    verbose=False,
).fit(epochs)
print(test.clusters_[["term", "tmin", "tmax", "size", "statistic", "p"]])
best = test.clusters_.loc[test.clusters_["p"].idxmin()]
print("channels of the strongest cluster:", best["channels"])

# %%
# One image per term (channels x time, x axis in seconds) with the significant
# clusters outlined.
fig = test.plot()
plt.show()
