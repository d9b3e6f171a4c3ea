"""What users trip over: resume, 0/1 floats, progress, CLI, NaN, Epochs, times."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import sk_eeg.stats._null as null_module
from sk_eeg.cli import main
from sk_eeg.datasets import make_nested_timeseries


def test_checkpoint_resumes_with_another_batch_size(
    nested_data, tmp_path, monkeypatch, cluster_test
):
    X, design = nested_data
    ref = cluster_test().fit(X, design=design)
    path = tmp_path / "null.npz"
    original = null_module.null_chunk
    calls = []

    def dying(*args, **kwargs):
        if len(calls) == 4:
            raise KeyboardInterrupt
        calls.append(len(args[0]["idx"]) if args[0]["kind"] != "labels" else 0)
        return original(*args, **kwargs)

    monkeypatch.setattr(null_module, "null_chunk", dying)
    with pytest.raises(KeyboardInterrupt):
        cluster_test(checkpoint=path).fit(X, design=design)
    monkeypatch.setattr(null_module, "null_chunk", original)
    # 4 chunks of 5 permutations were saved; resume in chunks of 7 and of 3
    for batch_size in (7, 3):
        resumed = cluster_test(checkpoint=path, batch_size=batch_size).fit(
            X, design=design
        )
        np.testing.assert_allclose(resumed.null_stat_, ref.null_stat_, rtol=1e-10)
        np.testing.assert_array_equal(resumed.p_corrected_, ref.p_corrected_)
        pd.testing.assert_frame_equal(resumed.clusters_, ref.clusters_)


def test_float_column_with_two_values_warns_and_says_how_to_make_a_factor(
    nested_data,
    cluster_test,
):
    X, design = nested_data
    floats = design.assign(hit_miss=design["hit_miss"].astype(float))
    with pytest.warns(
        UserWarning,
        match=r"'hit_miss' is float with two distinct.*"
        r"astype\(int\)",
    ):
        as_covariate = cluster_test(n_permutations=19).fit(X, design=floats)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        as_factor = cluster_test(n_permutations=19).fit(X, design=design)
    assert not any("two distinct" in str(w.message) for w in record)
    # a 0/1 covariate is not the sum-coded factor: the region F changes
    assert not np.allclose(as_covariate.stat_[1], as_factor.stat_[1])


def test_progress_bar_counts_permutations(nested_data, monkeypatch, cluster_test):
    X, design = nested_data
    bars = []
    original = null_module.progress_bar

    def recording(**kwargs):
        bar = original(**kwargs)
        steps = []
        bar.update = steps.append
        bars.append((kwargs, steps))
        return bar

    monkeypatch.setattr(null_module, "progress_bar", recording)
    cluster_test(n_permutations=23, batch_size=4).fit(X, design=design)
    ((kwargs, steps),) = bars
    assert kwargs["total"] == 23  # permutations, not 3 terms x 6 chunks
    assert sum(steps) == 23 and max(steps) <= 4


def test_cli_threshold_error_names_the_option(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["cluster-lme", str(tmp_path / "x.csv"), "--threshold", "abc"])
    err = capsys.readouterr().err
    assert "--threshold" in err and "'abc'" in err and "null-percentile" in err


def test_nan_in_a_dataframe_gets_our_message(nested_data, cluster_test):
    X, design = nested_data
    frame = pd.DataFrame(X)
    frame.iloc[3, 5] = np.nan
    with pytest.raises(ValueError, match=r"X has NaN in 1 rows \(first: \[3\]\)"):
        cluster_test().fit(frame, design=design)


def _epochs(n_channels=1, random_state=1):
    import mne

    X, design = make_nested_timeseries(
        n_subjects=4,
        n_channels=4,
        n_times=20,
        effect_window=(5, 12),
        hit_miss_effect=2.0,
        random_state=random_state,
    )
    data = np.repeat(X[:, None, :], n_channels, axis=1)
    info = mne.create_info([f"e{k}" for k in range(n_channels)], 100.0, "seeg")
    epochs = mne.EpochsArray(data, info, tmin=-0.05, metadata=design, verbose=False)
    return epochs, X, design


def test_pipeline_on_epochs_transforms_epochs(cluster_test):
    epochs, X, design = _epochs()
    y = design["hit_miss"].to_numpy()
    test = cluster_test(formula="hit_miss", nested=None, n_permutations=39)
    pipe = make_pipeline(test, LogisticRegression()).fit(epochs, y)
    selected = pipe[0].transform(epochs)
    np.testing.assert_array_equal(selected, X[:, pipe[0].support_])
    assert selected.shape[1] >= 2  # the planted window is found
    assert pipe.score(epochs, y) > 0.6
    with pytest.raises(ValueError, match="expecting 20 features"):
        pipe[0].transform(epochs.copy().crop(0, 0.1))


def test_times_are_used_in_frames_clusters_and_plot(nested_data, cluster_test):
    X, design = nested_data
    times = np.linspace(-0.2, 0.26, X.shape[1])
    test = cluster_test(n_permutations=39, times=times).fit(X, design=design)
    frame = test.to_frame()
    np.testing.assert_allclose(frame["time"][: X.shape[1]], times)
    row = test.clusters_.iloc[0]
    assert row["tmin"] == times[row["start"]]
    assert row["tmax"] == times[row["stop"] - 1]
    fig = test.plot()
    ax = fig.axes[0]
    assert ax.get_xlabel() == "" and fig.axes[-1].get_xlabel() == "time (s)"
    np.testing.assert_allclose(ax.lines[0].get_xdata(), times)
    with pytest.raises(ValueError, match="times must have one value per timepoint"):
        cluster_test(times=times[:-1]).fit(X, design=design)


def test_a_flat_timepoint_does_not_change_the_others(nested_data, cluster_test):
    # a flat channel/timepoint (all zeros) is a degenerate REML problem; the
    # other features fitted in the same batch must not change
    X, design = nested_data
    flat = X.copy()
    flat[:, 3] = 0.0
    ref = cluster_test(n_permutations=19).fit(X, design=design)
    test = cluster_test(n_permutations=19).fit(flat, design=design)
    keep = np.arange(X.shape[1]) != 3
    np.testing.assert_allclose(test.stat_[:, keep], ref.stat_[:, keep], rtol=1e-6)
    np.testing.assert_allclose(
        test.null_stat_[:, :, keep], ref.null_stat_[:, :, keep], rtol=1e-6
    )
    # it has no df (NaN), without numerical warnings, for either method
    for method in ("satterthwaite", "kenward-roger"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            test = cluster_test(n_permutations=19, df_method=method)
            test.fit(flat, design=design)
        assert np.isnan(test.df_den_[:, 3]).all()
        assert np.isfinite(test.df_den_[:, keep]).all()


def test_checkpoint_written_by_another_process_is_resumed(
    tmp_path, monkeypatch, cluster_test
):
    import subprocess
    import sys
    import textwrap

    path = tmp_path / "null.npz"
    script = textwrap.dedent(
        f"""
        from sk_eeg.datasets import make_nested_timeseries
        from sk_eeg.stats import ClusterLMETest
        X, design = make_nested_timeseries(
            n_subjects=3, n_channels=3, n_times=12, effect_window=(4, 8),
            random_state=7)
        ClusterLMETest("hit_miss * region", groups="sid", nested="ch",
                       n_permutations=19, batch_size=5, random_state=0,
                       checkpoint={str(path)!r}, verbose=False).fit(X, design=design)
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    X, design = make_nested_timeseries(
        n_subjects=3, n_channels=3, n_times=12, effect_window=(4, 8), random_state=7
    )
    kw = dict(formula="hit_miss * region", n_permutations=19, batch_size=7)
    ref = cluster_test(**kw).fit(X, design=design)

    def fail(*args, **kwargs):
        raise AssertionError("every permutation should come from the checkpoint")

    monkeypatch.setattr(null_module, "null_chunk", fail)
    resumed = cluster_test(checkpoint=path, **kw).fit(X, design=design)
    np.testing.assert_allclose(resumed.null_stat_, ref.null_stat_, rtol=1e-10)
