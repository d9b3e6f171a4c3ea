"""make_eeg_patterns (planted classes, votes) and the HMS-style loader."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sk_eeg.datasets import load_hms_eeg, make_eeg_patterns
from sk_eeg.datasets._patterns import PATTERN_CLASSES
from sk_eeg.deep import BipolarMontage
from sk_eeg.deep._baseline import band_powers


def test_simulator_shapes_votes_and_patients():
    X, votes, patients, ch_names, labels = make_eeg_patterns(
        n_epochs=60,
        n_patients=5,
        n_times=600,
        n_voters=(3, 9),
        random_state=0,
        return_labels=True,
    )
    assert X.shape == (60, 20, 600) and votes.shape == (60, 6)
    assert ch_names[0] == "Fp1" and ch_names[-1] == "EKG"
    assert np.all((votes.sum(1) >= 3) & (votes.sum(1) <= 9))
    assert set(patients) <= set(range(5))
    # the planted class gets the most votes far more often than chance (1/6)
    assert np.mean(votes.argmax(1) == labels) > 0.5
    again = make_eeg_patterns(
        n_epochs=60, n_patients=5, n_times=600, n_voters=(3, 9), random_state=0
    )
    assert_array_equal(again[0], X)


def test_simulated_patterns_are_lateralised_and_rhythmic_as_planted():
    X, votes, _, ch_names, labels = make_eeg_patterns(
        n_epochs=240, n_times=2000, random_state=1, return_labels=True
    )
    derivations = BipolarMontage(ch_names=ch_names).fit_transform(X)
    power = band_powers(derivations, 200.0).reshape(240, 16, 5)
    delta = power[..., 0]
    left, right = (
        delta[:, :4].mean(1) + delta[:, 8:12].mean(1),
        (delta[:, 4:8].mean(1) + delta[:, 12:].mean(1)),
    )
    asym = np.abs(left - right)
    lrda, grda, other = (
        labels == PATTERN_CLASSES.index(k) for k in ("lrda", "grda", "other")
    )
    assert asym[lrda].mean() > asym[grda].mean()
    assert delta[lrda | grda].max(1).mean() > delta[other].max(1).mean() + 0.3


def test_simulator_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n_voters"):
        make_eeg_patterns(n_voters=(5, 2))
    with pytest.raises(ValueError, match="agreement"):
        make_eeg_patterns(agreement=0)


def _write_hms(tmp_path, with_nan=False):
    rng = np.random.default_rng(0)
    channels = ["Fp1", "F7", "T3", "EKG"]
    eeg_dir = tmp_path / "eegs"
    eeg_dir.mkdir()
    recordings = {}
    for eeg_id in (11, 22):
        data = rng.standard_normal((200 * 30, 4)).astype(np.float32)
        if with_nan:
            data[5, 1] = np.nan
        recordings[eeg_id] = data
        pd.DataFrame(data, columns=channels).to_parquet(eeg_dir / f"{eeg_id}.parquet")
    rows = [
        (11, 0.0, 7, [3, 0, 0, 0, 0, 0]),
        (11, 2.0, 7, [3, 0, 0, 0, 0, 0]),  # same votes, overlapping: duplicate
        (11, 4.0, 7, [3, 0, 0, 0, 0, 0]),
        (22, 10.0, 8, [0, 1, 1, 0, 0, 9]),
        (22, 12.0, 8, [0, 0, 0, 0, 0, 1]),
    ]
    frame = pd.DataFrame(
        [
            dict(
                eeg_id=e,
                eeg_label_offset_seconds=o,
                patient_id=p,
                **{f"{c}_vote": v for c, v in zip(PATTERN_CLASSES, votes)},
            )
            for e, o, p, votes in rows
        ]
    )
    frame.to_csv(tmp_path / "train.csv", index=False)
    return tmp_path / "train.csv", eeg_dir, recordings


def test_hms_loader_reads_windows_votes_and_patients(tmp_path):
    csv, eeg_dir, recordings = _write_hms(tmp_path)
    X, votes, patients, ch_names = load_hms_eeg(csv, eeg_dir, window_seconds=10)
    assert X.shape == (5, 4, 2000) and ch_names == ["Fp1", "F7", "T3", "EKG"]
    assert_allclose(X[3], recordings[22][2000:4000].T)
    assert_array_equal(patients, [7, 7, 7, 8, 8])
    assert_array_equal(votes[3], [0, 1, 1, 0, 0, 9])
    X, votes, patients, _, frame = load_hms_eeg(
        csv,
        eeg_dir,
        window_seconds=10,
        min_votes=3,
        deduplicate=True,
        channels=["T3", "Fp1"],
        return_frame=True,
    )
    assert X.shape == (2, 2, 2000)
    assert_array_equal(frame["eeg_label_offset_seconds"], [2.0, 10.0])
    assert_allclose(X[0], recordings[11][400:2400][:, [2, 0]].T)


def test_hms_loader_nan_policy_and_errors(tmp_path):
    csv, eeg_dir, _ = _write_hms(tmp_path, with_nan=True)
    X, *_ = load_hms_eeg(csv, eeg_dir, window_seconds=10)
    assert np.isfinite(X).all() and X[0, 1, 5] == 0.0
    with pytest.raises(ValueError, match="nan_policy='zero'"):
        load_hms_eeg(csv, eeg_dir, window_seconds=10, nan_policy="raise")
    with pytest.raises(ValueError, match="needs samples"):
        load_hms_eeg(csv, eeg_dir, window_seconds=25)
    with pytest.raises(ValueError, match="lacks the channels"):
        load_hms_eeg(csv, eeg_dir, window_seconds=10, channels=["Cz"])
    with pytest.raises(FileNotFoundError, match="eeg_dir"):
        load_hms_eeg(csv, tmp_path / "nothing")


# ---------------------------------------------------------- second simulator
def test_hms_like_shapes_vote_counts_and_reproducibility():
    from sk_eeg.datasets import make_hms_like

    X, votes, patients, ch_names, labels = make_hms_like(
        n_epochs=200, n_patients=5, n_times=400, random_state=0, return_labels=True
    )
    assert X.shape == (200, 20, 400) and votes.shape == (200, 6)
    assert ch_names[-1] == "EKG" and set(patients) <= set(range(5))
    n_votes = votes.sum(1)
    few, many = (n_votes >= 1) & (n_votes <= 3), (n_votes >= 10) & (n_votes <= 20)
    assert np.all(few | many)
    assert 0.6 < np.mean(few) < 0.9  # most windows have few votes
    # annotators agree with the plant more often than chance, far from always
    agree = np.mean(votes[many].argmax(1) == labels[many])
    assert 0.4 < agree < 0.95
    assert_array_equal(make_hms_like(n_epochs=200, n_patients=5, n_times=400,
                                     random_state=0)[1], votes)  # fmt: skip
    with pytest.raises(ValueError, match="skill"):
        make_hms_like(skill=0)


def test_hms_like_patterns_differ_from_make_eeg_patterns_as_planted():
    from sk_eeg.datasets import make_hms_like

    X, _, _, ch_names, labels = make_hms_like(
        n_epochs=240, n_times=2000, random_state=1, return_labels=True
    )
    derivations = BipolarMontage(ch_names=ch_names).fit_transform(X)
    power = band_powers(derivations, 200.0).reshape(240, 16, 5)
    delta = power[..., 0]
    asym = np.abs(
        delta[:, :4].mean(1) + delta[:, 8:12].mean(1)
        - delta[:, 4:8].mean(1) - delta[:, 12:].mean(1)
    )  # fmt: skip
    lrda, grda, other = (
        labels == PATTERN_CLASSES.index(k) for k in ("lrda", "grda", "other")
    )
    assert asym[lrda].mean() > asym[grda].mean()
    assert delta[lrda | grda].max(1).mean() > delta[other].max(1).mean()
    # the other simulator's background is pink (beta = 1); here beta varies
    # from 1 to 2.2, so the mean slow-to-fast power ratio of background
    # windows is larger
    X2, _, _, _, labels2 = make_eeg_patterns(
        n_epochs=240, n_times=2000, random_state=1, return_labels=True
    )
    power2 = band_powers(BipolarMontage(ch_names=ch_names).fit_transform(X2), 200.0)
    power2 = power2.reshape(240, 16, 5)
    other2 = labels2 == PATTERN_CLASSES.index("other")
    slope = (power[other, :, 1] - power[other, :, 4]).mean()
    slope2 = (power2[other2, :, 1] - power2[other2, :, 4]).mean()
    assert slope > slope2 + 0.5
