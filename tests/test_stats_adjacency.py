"""Clusters over channels x time and frequencies x time against MNE's cluster tests."""

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from sk_eeg.stats import ClusterLMETest


def _paired(n_subjects, feature_shape, effect, random_state):
    """Two conditions per subject with large subject offsets (no boundary fits)."""
    rng = np.random.default_rng(random_state)
    offsets = rng.normal(0, 5, size=(n_subjects, 1) + feature_shape)
    a = offsets[:, 0] + rng.normal(size=(n_subjects,) + feature_shape)
    b = offsets[:, 0] + effect + rng.normal(size=(n_subjects,) + feature_shape)
    X = np.concatenate([a, b])
    design = pd.DataFrame(
        {
            "sid": np.tile([f"s{i}" for i in range(n_subjects)], 2),
            "cond": np.repeat(["a", "b"], n_subjects),
        }
    )
    return X, design, b - a


def _eeg_epochs(n_subjects=7, n_times=12, random_state=0):
    import mne

    ch_names = ["Fz", "F3", "F4", "Cz", "C3", "C4", "Pz", "P3", "P4", "Oz", "O1"]
    info = mne.create_info(ch_names, 100.0, "eeg")
    info.set_montage("colin27_1020")
    effect = np.zeros((len(ch_names), n_times))
    effect[[3, 4, 6], 4:9] = 2.0  # Cz, C3, Pz: neighbours
    X, design, diff = _paired(n_subjects, effect.shape, effect, random_state)
    epochs = mne.EpochsArray(X, info, tmin=-0.04, metadata=design, verbose=False)
    return epochs, diff


def _paired_t_test(**kwargs):
    """ClusterLMETest as a paired t-test on ``cond`` within ``sid``."""
    return ClusterLMETest(
        "cond", groups="sid", coding="treatment", statistic="t", **kwargs
    )


def _same_clusters(test, clusters, p_mne, to_ours):
    """Match MNE's clusters (masks) with ours; return matched (ours, mne) p."""
    ours = {m.tobytes(): p for m, p in zip(test.cluster_masks_, test.clusters_["p"])}
    assert len(ours) == len(clusters)
    pairs = []
    for mask, p in zip(clusters, p_mne):
        key = to_ours(mask).tobytes()
        assert key in ours
        pairs.append((ours[key], p))
    return np.array(pairs)


def test_channels_x_time_on_epochs_equals_mne_spatio_temporal_1samp():
    from mne.channels import find_ch_adjacency
    from mne.stats import spatio_temporal_cluster_1samp_test

    epochs, diff = _eeg_epochs()
    adjacency, _ = find_ch_adjacency(epochs.info, "eeg")
    test = _paired_t_test(
        tail=0,
        threshold=2.5,
        min_cluster_size=1,
        n_permutations="all",
        verbose=False,
    ).fit(epochs)
    assert test.stat_.shape == (1, 11, 12)
    assert test.n_permutations_ == 2**7
    # MNE: (n_obs, n_times, n_channels) and the channel adjacency
    t_obs, clusters, p_mne, h0 = spatio_temporal_cluster_1samp_test(
        np.transpose(diff, (0, 2, 1)),
        threshold=2.5,
        n_permutations=2**7,
        tail=0,
        adjacency=adjacency,
        out_type="mask",
        verbose=False,
    )
    np.testing.assert_allclose(test.stat_[0], t_obs.T, rtol=1e-5)
    pairs = _same_clusters(test, clusters, p_mne, lambda m: m.T)
    # MNE enumerates 2**6 of the 2**7 flips (the sign-symmetric half): same p
    np.testing.assert_allclose(pairs[:, 0], pairs[:, 1], rtol=1e-12)
    best = test.clusters_.loc[test.clusters_["p"].idxmin()]
    assert best["p"] < 0.05
    assert {"Cz", "C3", "Pz"} <= set(best["channels"]) <= set(epochs.ch_names)
    mask = test.cluster_masks_[test.clusters_["p"].idxmin()]
    assert mask[[3, 4, 6], 4:9].mean() >= 0.8  # the planted features
    assert best["tmin"] == pytest.approx(epochs.times[best["start"]])
    frame = test.to_frame()
    assert {"channel", "time", "df_den"} <= set(frame.columns)
    assert len(frame) == 11 * 12
    # transform keeps the channel x time features of significant clusters
    assert test.transform(epochs).shape == (14, int(test.support_.sum()))
    assert test.plot() is not None


def test_freq_x_time_array_equals_mne_lattice_1samp():
    from mne.stats import permutation_cluster_1samp_test

    effect = np.zeros((6, 10))
    effect[2:4, 3:8] = 2.0
    X, design, diff = _paired(7, effect.shape, effect, random_state=1)
    test = _paired_t_test(
        tail=0,
        threshold=2.5,
        min_cluster_size=1,
        n_permutations="all",
        verbose=False,
    ).fit(X, design=design)
    t_obs, clusters, p_mne, _ = permutation_cluster_1samp_test(
        diff,
        threshold=2.5,
        n_permutations=2**7,
        tail=0,
        out_type="mask",
        verbose=False,
    )
    np.testing.assert_allclose(test.stat_[0], t_obs, rtol=1e-5)
    pairs = _same_clusters(test, clusters, p_mne, lambda m: m)
    np.testing.assert_allclose(pairs[:, 0], pairs[:, 1], rtol=1e-12)
    assert pairs[:, 0].min() < 0.05


def test_random_permutations_agree_with_mne_to_monte_carlo_error():
    from mne.stats import permutation_cluster_1samp_test

    effect = np.zeros((5, 10))
    effect[1:3, 2:7] = 1.0
    X, design, diff = _paired(10, effect.shape, effect, random_state=3)
    kw = dict(threshold=2.0, tail=0)
    test = _paired_t_test(
        min_cluster_size=1,
        n_permutations=399,
        random_state=0,
        verbose=False,
        **kw,
    ).fit(X, design=design)
    _, clusters, p_mne, _ = permutation_cluster_1samp_test(
        diff, n_permutations=400, seed=0, out_type="mask", verbose=False, **kw
    )
    pairs = _same_clusters(test, clusters, p_mne, lambda m: m)
    # two independent Monte-Carlo estimates of the same p: 4 standard errors
    p = pairs.mean(axis=1)
    se = np.sqrt(2 * p * (1 - p) / 400) + 1 / 400
    assert (np.abs(pairs[:, 0] - pairs[:, 1]) <= 4 * se).all()


def test_adjacency_argument_is_checked_and_a_full_graph_is_used_as_is():
    effect = np.zeros((3, 8))
    X, design, _ = _paired(6, effect.shape, effect, random_state=2)
    kw = dict(groups="sid", n_permutations=19, random_state=0, verbose=False)
    with pytest.raises(ValueError, match="adjacency has shape"):
        ClusterLMETest("cond", adjacency=sparse.eye(5), **kw).fit(X, design=design)
    with pytest.raises(TypeError, match="adjacency must be a scipy sparse"):
        ClusterLMETest("cond", adjacency=[[1]], **kw).fit(X, design=design)
    # no edges between the 3 rows: clusters never span two rows
    chain = sparse.diags([1.0, 1.0], [-1, 1], shape=(8, 8))
    full = sparse.kron(sparse.eye(3), chain)
    test = ClusterLMETest(
        "cond", adjacency=full, threshold=0.0, min_cluster_size=1, **kw
    ).fit(X, design=design)
    rows_per_cluster = [m.any(axis=1).sum() for m in test.cluster_masks_]
    assert max(rows_per_cluster) == 1


def test_tfce_on_channels_x_time_equals_mne():
    from mne.channels import find_ch_adjacency
    from mne.stats import spatio_temporal_cluster_1samp_test

    epochs, diff = _eeg_epochs(n_subjects=6, n_times=8, random_state=5)
    adjacency, _ = find_ch_adjacency(epochs.info, "eeg")
    from scipy.stats import ttest_1samp

    dh = np.abs(ttest_1samp(diff, 0).statistic).max() / 20
    test = _paired_t_test(
        tail=0,
        cluster_stat="tfce",
        tfce_params={"dh": dh},
        n_permutations="all",
        verbose=False,
    ).fit(epochs)
    # MNE's TFCE: heights start, start + step, ... below the maximum
    tfce_mne, _, p_mne, _ = spatio_temporal_cluster_1samp_test(
        np.transpose(diff, (0, 2, 1)),
        threshold=dict(start=dh, step=dh),
        n_permutations=2**6,
        tail=0,
        adjacency=adjacency,
        verbose=False,
    )
    np.testing.assert_allclose(
        test.p_corrected_[0], p_mne.reshape(tfce_mne.shape).T, rtol=1e-12
    )
    assert test.p_corrected_.min() < 0.05
    assert test.clusters_["significant"].all() and len(test.clusters_) >= 1


def test_epochs_tfr_power_is_channels_x_freqs_x_time():
    import mne
    from mne.time_frequency import EpochsTFRArray

    effect = np.zeros((3, 4, 8))
    effect[:, 1:3, 2:6] = 2.5
    X, design, _ = _paired(6, effect.shape, effect, random_state=4)
    info = mne.create_info(["Cz", "C3", "Pz"], 100.0, "eeg")
    freqs = np.array([4.0, 8.0, 12.0, 20.0])
    times = np.arange(8) / 100.0 - 0.02
    tfr = EpochsTFRArray(info, X, times, freqs, metadata=design)
    test = ClusterLMETest(
        "cond",
        groups="sid",
        adjacency=sparse.csr_matrix(np.ones((3, 3))),
        n_permutations=99,
        random_state=0,
        verbose=False,
    ).fit(tfr)
    assert test.stat_.shape == (1, 3, 4, 8)
    np.testing.assert_allclose(test.freqs_, freqs)
    best = test.clusters_.loc[test.clusters_["p"].idxmin()]
    assert best["p"] < 0.05
    assert (best["fmin"], best["fmax"]) == (8.0, 12.0)
    assert best["channels"] == ["Cz", "C3", "Pz"]
    assert {"freq", "channel"} <= set(test.to_frame().columns)
    with pytest.raises(ValueError, match="complex"):
        test.fit(EpochsTFRArray(info, X + 0j, times, freqs, metadata=design))
