"""Permutation schemes, clusters, TFCE and the cluster test's error rates."""

import warnings

import numpy as np
import pandas as pd
import pytest

from sk_eeg.datasets import make_nested_timeseries
from sk_eeg.stats import ClusterLMETest
from sk_eeg.stats._cluster import (
    cluster_table,
    find_clusters,
    max_cluster_stats,
    permutation_p,
    tfce,
)
from sk_eeg.stats._permutation import Blocks


def _paired_differences(X, design):
    key = (design["sid"] + ":" + design["ch"]).to_numpy()
    hit = design["hit_miss"].to_numpy() == 1
    frame_hit = pd.DataFrame(X[hit], index=key[hit])
    frame_miss = pd.DataFrame(X[~hit], index=key[~hit])
    return (frame_hit - frame_miss.loc[frame_hit.index]).to_numpy()


def test_cluster_p_values_equal_mne_1samp_test_with_all_sign_flips():
    from mne.stats import permutation_cluster_1samp_test

    X, design = make_nested_timeseries(
        n_subjects=2,
        n_channels=[5, 4],
        n_times=30,
        effect_window=(10, 25),
        hit_miss_effect=1.2,
        sigma_channel=1.5,
        sigma_noise=0.6,
        ar=0.7,
        random_state=2,
    )
    threshold = 2.0
    test = ClusterLMETest(
        "hit_miss",
        groups="sid",
        nested="ch",
        coding="treatment",
        statistic="t",
        tail=0,
        n_permutations="all",
        threshold=threshold,
        min_cluster_size=1,
        verbose=False,
    ).fit(X, design=design)
    assert test.n_permutations_ == 2**9
    diff = _paired_differences(X, design)
    # MNE enumerates every sign flip when n_permutations exceeds the number of
    # distinct flips (its n_permutations="all" drops one flip class at random
    # in MNE 1.13: it draws 2**(n-1) - 2 of the 2**(n-1) - 1 non-identity ones)
    t_obs, clusters, p_mne, h0 = permutation_cluster_1samp_test(
        diff,
        threshold=threshold,
        n_permutations=2**9,
        tail=0,
        out_type="mask",
        verbose=False,
    )
    assert len(h0) == 2**8
    np.testing.assert_allclose(test.stat_[0], t_obs, rtol=1e-6)
    assert len(clusters) == len(test.clusters_) >= 1
    starts = [
        int(np.arange(X.shape[1])[c[0] if isinstance(c, tuple) else c][0])
        for c in clusters
    ]
    mne_by_start = dict(zip(starts, p_mne))
    for _, row in test.clusters_.iterrows():
        np.testing.assert_allclose(row["p"], mne_by_start[row["start"]], rtol=1e-12)
    assert test.clusters_["p"].min() < 0.05


def test_within_channel_relabelling_swaps_rows_inside_channels_only():
    rng = np.random.RandomState(0)
    channel = np.repeat(np.arange(30), 2)
    subject = channel // 6
    blocks = Blocks(subject, channel, 60)
    for _ in range(20):
        idx = blocks.draw(rng, "within")
        assert sorted(idx) == list(range(60))
        np.testing.assert_array_equal(channel[idx], channel)


def test_channel_relabelling_keeps_label_counts_per_subject():
    # the original urn swapped the two regions' counts (pitfall D2)
    rng = np.random.RandomState(0)
    channel = np.repeat(np.arange(40), 2)
    subject = channel // 10
    region = np.where(np.arange(40) % 10 < 3, "hc", "phrc")[channel]
    blocks = Blocks(subject, channel, 80)
    assert blocks.level_of(region) == "channel"
    seen = set()
    for _ in range(50):
        new = region[blocks.draw(rng, "channel")]
        for s in range(4):
            assert (new[subject == s] == "hc").sum() == 6
        # both rows of a channel keep one label
        assert (new[::2] == new[1::2]).all()
        seen.add(tuple(new))
    assert len(seen) > 40


def test_subject_level_factor_is_relabelled_across_whole_subjects():
    rng = np.random.RandomState(0)
    channel = np.repeat(np.arange(24), 2)
    subject = channel // 4
    group = np.where(subject < 2, "a", "b")
    blocks = Blocks(subject, channel, 48)
    assert blocks.level_of(group) == "subject"
    for _ in range(20):
        new = group[blocks.draw(rng, "subject")]
        assert (new == "a").sum() == (group == "a").sum()
        for s in range(6):
            assert len(set(new[subject == s])) == 1


def test_enumeration_lists_every_distinct_swap_once():
    channel = np.repeat(np.arange(4), 2)
    blocks = Blocks(np.zeros(8, int), channel, 8)
    values = np.tile([0, 1], 4)
    idx = blocks.enumerate("within", values)
    assert idx.shape == (16, 8)
    np.testing.assert_array_equal(idx[0], np.arange(8))
    assert len({tuple(values[i]) for i in idx}) == 16


def test_clusters_drop_single_timepoints_and_sum_mass():
    stat = np.array([0, 5, 0, 3, 4, 5, 0, 6, 7, 0.0])
    clusters = cluster_table(stat, np.full(10, 2.5), 1, "mass", 2)
    assert clusters == [(3, 6, 12.0), (7, 9, 13.0)]
    size = cluster_table(stat, np.full(10, 2.5), 1, "size", 1)
    assert [c[2] for c in size] == [1.0, 3.0, 2.0]
    assert find_clusters(stat > 2.5) == [(1, 2), (3, 6), (7, 9)]
    # two-tailed: negative clusters are separate and signed
    two = cluster_table(np.array([3, 3, -3, -3, 0.0]), np.full(5, 2), 0, "mass", 1)
    assert two == [(0, 2, 6.0), (2, 4, -6.0)]
    null = np.array([[0, 3, 3, 3, 0, 0, 0, 0, 0, 0.0], np.zeros(10)])
    np.testing.assert_allclose(
        max_cluster_stats(null, np.full(10, 2.5), 1, "mass", 2), [9.0, 0.0]
    )


def test_p_values_are_multiples_of_one_over_b_plus_one():
    null = np.arange(99.0)
    p = permutation_p(np.array([0.0, 50.0, 98.0, 1000.0]), null, exact=False)
    np.testing.assert_allclose(p * 100, np.round(p * 100))
    np.testing.assert_allclose(p, [1.0, 50 / 100, 2 / 100, 1 / 100])


def test_tfce_of_a_rectangle_matches_the_closed_form():
    L, h0, dh = 9, 4.0, 0.001
    stat = np.zeros(30)
    stat[10 : 10 + L] = h0
    enhanced = tfce(stat, 1, e_power=0.5, h_power=2.0, dh=dh)
    expected = L**0.5 * h0**3 / 3
    np.testing.assert_allclose(enhanced[10 : 10 + L], expected, rtol=1e-3)
    assert (enhanced[:10] == 0).all()
    # monotone in extent and height (1-D extent counted along time)
    longer = stat.copy()
    longer[10 : 10 + L + 3] = h0
    assert tfce(longer, 1, dh=0.01)[12] > tfce(stat, 1, dh=0.01)[12]
    assert tfce(stat * 1.5, 1, dh=0.01)[12] > tfce(stat, 1, dh=0.01)[12]


def test_null_percentile_threshold_reproduces_the_original_algorithm():
    X, design = make_nested_timeseries(
        n_subjects=4,
        n_channels=5,
        n_times=30,
        effect_window=(8, 20),
        hit_miss_effect=1.0,
        random_state=4,
    )
    test = ClusterLMETest(
        "hit_miss",
        groups="sid",
        nested="ch",
        threshold="null-percentile",
        n_permutations=59,
        random_state=0,
        verbose=False,
    ).fit(X, design=design)
    null = test.null_stat_[0]
    obs = test.stat_[0]
    # the original cluster_test: per-sample quantile, sum, length-1 dropped
    thr = np.quantile(null, 0.95, axis=0)
    np.testing.assert_allclose(test.threshold_[0], thr)

    def max_sum(row):
        best = 0.0
        for start, stop in find_clusters(row >= thr):
            if stop - start > 1:
                best = max(best, row[start:stop].sum())
        return best

    null_max = np.array([max_sum(row) for row in null])
    np.testing.assert_allclose(test.null_max_[0], null_max)
    for _, row in test.clusters_.iterrows():
        mass = obs[row["start"] : row["stop"]].sum()
        expected = ((null_max >= mass).sum() + 1) / 60
        np.testing.assert_allclose(row["p"], expected)


def test_planted_effect_window_is_recovered():
    X, design = make_nested_timeseries(hit_miss_effect=0.8, random_state=0)
    test = ClusterLMETest(
        "hit_miss * region",
        groups="sid",
        nested="ch",
        n_permutations=49,
        permutation_scheme="labels",
        random_state=0,
        verbose=False,
    ).fit(X, design=design)
    sig = test.clusters_[test.clusters_["significant"]]
    assert set(sig["term"]) == {"hit_miss"}
    row = sig.iloc[0]
    assert 55 <= row["start"] <= 68 and 72 <= row["stop"] <= 85
    assert test.get_support().sum() == row["stop"] - row["start"]


def _null_rejections(seed, n_permutations, scheme):
    X, design = make_nested_timeseries(
        n_subjects=4,
        n_channels=[4, 5, 3, 6],
        n_times=16,
        effect_window=(0, 1),
        hit_miss_effect=0.0,
        sigma_subject=1.0,
        sigma_channel=0.8,
        ar=0.7,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        test = ClusterLMETest(
            "hit_miss + region",
            groups="sid",
            nested="ch",
            n_permutations=n_permutations,
            permutation_scheme=scheme,
            random_state=seed,
            verbose=False,
            batch_size=100,
        ).fit(X, design=design)
    return [
        bool(
            (test.clusters_["term"] == term).any()
            and test.clusters_[test.clusters_["term"] == term]["p"].min() <= 0.05
        )
        for term in test.terms_
    ]


@pytest.mark.slow
def test_fwer_is_controlled_under_null():
    # 500 null datasets (nested random effects, AR(1) noise), 19 permutations
    # each: P(p <= 0.05) = 1/20 exactly for an exchangeable null
    n_sim = 500
    rejections = np.array([_null_rejections(s, 19, "labels") for s in range(n_sim)])
    rate = rejections.mean(axis=0)
    se = np.sqrt(0.05 * 0.95 / n_sim)
    # within-channel (hit_miss) and between-channel (region) terms
    assert (rate <= 0.05 + 2 * se).all(), rate
    assert (rate >= 0.05 - 3 * se).all(), rate


def test_freedman_lane_interaction_null_is_calibrated_despite_main_effects():
    # strong hit_miss and region main effects at every timepoint, no interaction
    X, design = make_nested_timeseries(
        n_subjects=5,
        n_channels=8,
        n_times=20,
        effect_window=(0, 20),
        hit_miss_effect=3.0,
        region_effect=3.0,
        ar=0.0,
        random_state=7,
    )
    test = ClusterLMETest(
        "hit_miss * region",
        groups="sid",
        nested="ch",
        n_permutations=99,
        random_state=0,
        verbose=False,
    ).fit(X, design=design)
    i = test.terms_.index("hit_miss:region")
    null = test.null_stat_[i]
    # the null F of the interaction follows its parametric law (5% above F_.95)
    exceed = (null > test.threshold_[i]).mean()
    assert 0.03 < exceed < 0.08, exceed
    assert 0.8 < null.mean() < 1.25  # E[F(1, df)] = df / (df - 2) ~ 1


def test_observed_statistics_do_not_depend_on_row_order():
    X, design = make_nested_timeseries(
        n_subjects=3,
        n_channels=4,
        n_times=10,
        effect_window=(2, 6),
        random_state=5,
    )
    order = np.random.RandomState(0).permutation(len(X))
    kw = dict(
        groups="sid", nested="ch", n_permutations=19, random_state=0, verbose=False
    )
    a = ClusterLMETest("hit_miss * region", **kw).fit(X, design=design)
    b = ClusterLMETest("hit_miss * region", **kw).fit(
        X[order], design=design.iloc[order].reset_index(drop=True)
    )
    np.testing.assert_allclose(a.stat_, b.stat_, rtol=1e-8)
    np.testing.assert_allclose(
        a.variance_components_, b.variance_components_, rtol=1e-6
    )
