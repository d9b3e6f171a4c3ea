"""ClusterLMETest as an estimator: API, parallel runs, checkpoints, bad input."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline

import sk_eeg.stats._null as null_module
from sk_eeg.cli import main
from sk_eeg.datasets import make_nested_timeseries
from sk_eeg.stats import ClusterLMETest


def test_results_identical_for_n_jobs_and_dask_backend(nested_data, cluster_test):
    from dask.distributed import Client, LocalCluster
    from joblib import parallel_config

    X, design = nested_data
    ref = cluster_test(n_jobs=1).fit(X, design=design)
    two = cluster_test(n_jobs=2).fit(X, design=design)
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        with parallel_config(backend="dask"):
            dask = cluster_test(n_jobs=2).fit(X, design=design)
    for other in (two, dask):
        np.testing.assert_array_equal(other.null_stat_, ref.null_stat_)
        np.testing.assert_array_equal(other.p_corrected_, ref.p_corrected_)
        pd.testing.assert_frame_equal(other.clusters_, ref.clusters_)


def test_same_random_state_same_null_and_different_state_differs(
    nested_data, cluster_test
):
    X, design = nested_data
    a = cluster_test().fit(X, design=design)
    b = cluster_test(batch_size=7).fit(X, design=design)
    c = cluster_test(random_state=1).fit(X, design=design)
    # batch_size only changes how permutations are grouped into tasks
    np.testing.assert_allclose(a.null_stat_, b.null_stat_, rtol=1e-10)
    assert not np.array_equal(a.null_stat_, c.null_stat_)


def test_killed_run_resumes_from_checkpoint(
    nested_data, tmp_path, monkeypatch, cluster_test
):
    X, design = nested_data
    ref = cluster_test().fit(X, design=design)
    path = tmp_path / "null.npz"
    original = null_module.null_chunk
    calls = []

    def dying(*args, **kwargs):
        if len(calls) == 5:
            raise KeyboardInterrupt
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(null_module, "null_chunk", dying)
    with pytest.raises(KeyboardInterrupt):
        cluster_test(checkpoint=path).fit(X, design=design)
    assert path.exists()

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    calls.clear()
    monkeypatch.setattr(null_module, "null_chunk", counting)
    resumed = cluster_test(checkpoint=path).fit(X, design=design)
    n_chunks = 3 * 4  # three terms, 19 permutations in chunks of 5
    assert len(calls) == n_chunks - 5
    np.testing.assert_array_equal(resumed.null_stat_, ref.null_stat_)
    pd.testing.assert_frame_equal(resumed.clusters_, ref.clusters_)
    # a checkpoint of another run is refused
    with pytest.raises(ValueError, match="different run"):
        cluster_test(checkpoint=path, random_state=5).fit(X, design=design)


def test_fitted_attributes_frames_and_plot(nested_data, cluster_test):
    X, design = nested_data
    test = cluster_test(n_permutations=39).fit(X, design=design)
    assert test.terms_ == ["hit_miss", "region", "hit_miss:region"]
    assert test.term_levels_ == {
        "hit_miss": "within",
        "region": "channel",
        "hit_miss:region": "within",
    }
    assert test.stat_.shape == test.p_uncorrected_.shape == (3, 24)
    assert test.null_max_.shape == (3, 39)
    assert test.coef_.shape == (4, 24)
    assert list(test.variance_components_.columns) == ["subject", "channel", "residual"]
    # p-values live on the 1/(B+1) lattice
    p = test.clusters_["p"].to_numpy()
    np.testing.assert_allclose(p * 40, np.round(p * 40))
    frame = test.to_frame()
    assert len(frame) == 3 * 24
    assert set(frame.columns) >= {"term", "F", "p_uncorrected", "p_corrected"}
    assert test.results_.equals(frame)
    pd.testing.assert_frame_equal(test.to_frame("clusters"), test.clusters_)
    fig = test.plot()
    assert len(fig.axes) == 3
    sig = test.clusters_[test.clusters_["significant"]]
    assert "hit_miss" in set(sig["term"])
    assert test.get_support().sum() > 0
    assert test.transform(X).shape == (len(X), test.get_support().sum())


def test_predict_gives_cell_means_for_a_saturated_ols_model(nested_data):
    X, design = nested_data
    test = ClusterLMETest(
        "hit_miss * region", n_permutations=9, verbose=False, random_state=0
    )
    with pytest.warns(UserWarning, match="cannot reach"):
        test.fit(X, design=design)
    pred = test.predict(design)
    cells = design.groupby(["hit_miss", "region"]).indices
    for rows in cells.values():
        np.testing.assert_allclose(
            pred[rows],
            np.broadcast_to(X[rows].mean(axis=0), (len(rows), X.shape[1])),
            atol=1e-10,
        )


def test_fit_with_y_is_one_way_anova_and_selects_in_a_pipeline():
    rng = np.random.RandomState(0)
    y = np.repeat([0, 1, 2], 20)
    X = rng.normal(size=(60, 30))
    X[:, 10:18] += (y == 2)[:, None] * 1.5
    test = ClusterLMETest(n_permutations=49, random_state=0, verbose=False)
    test.fit(X, y)
    np.testing.assert_allclose(
        test.stat_[0], sps.f_oneway(*(X[y == k] for k in range(3))).statistic
    )
    assert not hasattr(test, "predict")
    support = np.flatnonzero(test.get_support())
    assert support.min() >= 8 and support.max() <= 19 and len(support) >= 5
    pipe = make_pipeline(
        ClusterLMETest(n_permutations=19, random_state=0, verbose=False),
        LogisticRegression(max_iter=500),
    )
    assert cross_val_score(pipe, X, y, cv=3).mean() > 0.5


def test_epochs_input_uses_metadata_and_times(cluster_test):
    import mne

    X, design = make_nested_timeseries(
        n_subjects=3,
        n_channels=4,
        n_times=20,
        effect_window=(5, 12),
        hit_miss_effect=2.0,
        random_state=1,
    )
    info = mne.create_info(["iEEG"], 100.0, "seeg")
    epochs = mne.EpochsArray(
        X[:, None, :], info, tmin=-0.05, metadata=design, verbose=False
    )
    test = cluster_test().fit(epochs)
    np.testing.assert_allclose(test.times_, epochs.times)
    ref = cluster_test().fit(X, design=design)
    np.testing.assert_allclose(test.stat_, ref.stat_)
    assert "time" in test.to_frame().columns


def test_sum_and_treatment_coding_agree_on_the_interaction_and_differ_on_mains(
    nested_data,
    cluster_test,
):
    X, design = nested_data
    s = cluster_test(n_permutations=1, coding="sum")
    t = cluster_test(n_permutations=1, coding="treatment")
    with pytest.warns(UserWarning):
        s.fit(X, design=design)
        t.fit(X, design=design)
    np.testing.assert_allclose(s.stat_[2], t.stat_[2], rtol=1e-6)
    assert not np.allclose(s.stat_[1], t.stat_[1])


def test_channel_labels_are_read_within_subject(nested_data, cluster_test):
    X, design = nested_data
    assert design.groupby("ch")["sid"].nunique().max() > 1  # ch00 in every sid
    test = cluster_test(n_permutations=1, df_method="between-within")
    with pytest.warns(UserWarning):
        test.fit(X, design=design)
    n_channels = design.groupby(["sid", "ch"]).ngroups
    # within-channel df = n_obs - n_channels - 2 within-channel columns
    np.testing.assert_array_equal(test.df_den_[0], len(X) - n_channels - 2)


@pytest.mark.parametrize(
    "kwargs, fit_kwargs, match",
    [
        ({}, {"design": "rows"}, "rows but X has"),
        ({}, {"design": "nan"}, "NaN in 1 rows"),
        ({}, {"design": "one-level"}, "single level"),
        ({}, {"design": "confounded"}, "rank deficient"),
        ({"groups": None}, {}, "nested is given without groups"),
        ({"statistic": "t"}, {"design": "three-levels"}, "one-column terms"),
        ({"tail": 0}, {}, "tail must be 1"),
        ({"n_permutations": 0}, {}, "n_permutations must be"),
        ({"threshold": "bogus"}, {}, "Invalid value for threshold"),
        ({"permutation_scheme": "shuffle"}, {}, "permutation_scheme"),
        (
            {"formula": "hit_miss + (1 + hit_miss | sid)"},
            {},
            r"\(1 \+ cond \| sid\) comes from random_slopes=.cond.",
        ),
    ],
)
def test_bad_input_gets_a_clear_error(nested_data, kwargs, fit_kwargs, match):
    X, design = nested_data
    design = design.copy()
    X = X.copy()
    kind = fit_kwargs.get("design")
    formula = "hit_miss * region"
    if kind == "rows":
        design = design.iloc[:-1]
    elif kind == "nan":
        X[3, 5] = np.nan
    elif kind == "one-level":
        design["region"] = "hc"
    elif kind == "confounded":
        design["site"] = design["region"]
        formula = "hit_miss + region + site"
    elif kind == "three-levels":
        design["region"] = np.resize(["a", "b", "c"], len(design))
    params = dict(groups="sid", nested="ch", n_permutations=19, verbose=False)
    params.update(kwargs)
    formula = params.pop("formula", formula)
    with pytest.raises((ValueError, TypeError), match=match):
        ClusterLMETest(formula, **params).fit(X, design=design)


def test_missing_design_and_y_is_an_error(nested_data):
    X, _ = nested_data
    with pytest.raises(ValueError, match="fit needs design"):
        ClusterLMETest("hit_miss").fit(X)


def test_unbalanced_design_with_dropped_rows_runs(nested_data, cluster_test):
    X, design = make_nested_timeseries(
        n_subjects=4,
        n_channels=5,
        n_times=16,
        effect_window=(4, 10),
        n_missing=5,
        random_state=3,
    )
    test = cluster_test(permutation_scheme="freedman-lane").fit(X, design=design)
    assert np.isfinite(test.stat_).all() and np.isfinite(test.null_stat_).all()


def test_tfce_and_size_cluster_statistics_find_the_effect(cluster_test):
    X, design = make_nested_timeseries(
        n_subjects=4,
        n_channels=6,
        n_times=24,
        effect_window=(8, 16),
        hit_miss_effect=3.0,
        random_state=0,
    )
    for kwargs in ({"cluster_stat": "tfce"}, {"cluster_stat": "size"}):
        test = cluster_test(
            n_permutations=39, permutation_scheme="labels", **kwargs
        ).fit(X, design=design)
        sig = test.clusters_[test.clusters_["significant"]]
        assert "hit_miss" in set(sig["term"])
        inside = np.flatnonzero(test.p_corrected_[0] <= 0.05)
        assert inside.min() >= 6 and inside.max() <= 17


def test_cli_writes_results_from_a_csv(tmp_path, nested_data, capsys):
    X, design = nested_data
    wide = pd.concat(
        [design, pd.DataFrame(X, columns=[f"t{i}" for i in range(X.shape[1])])],
        axis=1,
    )
    src = tmp_path / "data.csv"
    wide.to_csv(src, index=False)
    out = tmp_path / "res.csv"
    code = main(
        [
            "cluster-lme",
            str(src),
            "--n-permutations",
            "19",
            "--quiet",
            "--out",
            str(out),
            "--plot",
            str(tmp_path / "fig.png"),
        ]
    )
    assert code == 0
    frame = pd.read_csv(out)
    assert len(frame) == 3 * X.shape[1]
    assert (tmp_path / "fig.png").exists()
    assert "permutations" in capsys.readouterr().out


def test_relabellings_that_empty_a_design_cell_are_redrawn():
    # subjects only (no channel level): region is relabelled among the rows of
    # a subject, which can leave a hit_miss x region cell empty
    X, design = make_nested_timeseries(
        n_subjects=3,
        n_channels=4,
        n_times=20,
        effect_window=(5, 12),
        hit_miss_effect=2.0,
        random_state=0,
    )
    test = ClusterLMETest(
        "hit_miss * region",
        groups="sid",
        n_permutations=39,
        df_method="between-within",
        random_state=0,
        verbose=False,
    ).fit(X, design=design)
    assert set(test.term_levels_.values()) == {"within"}
    assert np.isfinite(test.null_stat_).all()
    # rows - subjects - within columns
    np.testing.assert_array_equal(test.df_den_[0], len(X) - 3 - 3)
