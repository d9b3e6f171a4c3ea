"""Panel simulators, the memory-mapped loader and the feature transformers."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from sk_eeg.datasets import load_panel_npy, make_eeg_panel, make_panel_factors
from sk_eeg.panel import IFEPanelRegressor, TimeOfDayFeatures, log_power_features
from sk_eeg.panel._pipeline import fit_panel_tensor


def test_time_of_day_harmonics_and_names():
    tod = TimeOfDayFeatures(n_harmonics=2).fit(pd.DataFrame({"clock": [0.0, 6.0]}))
    out = tod.transform(pd.DataFrame({"clock": [6.0, np.nan]}))
    assert_allclose(out[0], [1.0, 0.0, 0.0, -1.0], atol=1e-12)
    assert np.isnan(out[1]).all()
    assert tod.get_feature_names_out().tolist() == [
        "clock_sin1",
        "clock_cos1",
        "clock_sin2",
        "clock_cos2",
    ]
    with pytest.raises(ValueError, match="period"):
        TimeOfDayFeatures(period=0).fit([[1.0]])


def test_log_power_floor_is_relative_to_the_signal_scale():
    rng = np.random.RandomState(0)
    rec = 1e-5 * rng.standard_normal((3, 5000))  # volts: X^2 ~ 1e-10
    logp = log_power_features(rec, sfreq=500.0, window=1.0)
    assert logp.shape == (10, 3)
    # A fixed 1e-6 floor (the original) would swamp the signal; ours does not.
    assert_allclose(logp, np.log(1e-10), atol=0.2)
    scaled = log_power_features(1e3 * rec, sfreq=500.0, window=1.0)
    assert_allclose(scaled - logp, np.log(1e6), atol=1e-6)
    band = log_power_features(rec, sfreq=500.0, window=1.0, band=(8, 12))
    assert np.all(band < logp)


def test_load_panel_npy_memory_maps_and_flags_missing_recordings(tmp_path):
    sim = make_eeg_panel(
        n_subjects=3, n_sessions=2, n_channels=4, n_samples=2000, random_state=0
    )
    data = np.array(sim.data)
    data[1, 0] = 0.0
    data[2, 1, 0, 5] = np.nan
    path = tmp_path / "panel.npy"
    np.save(path, data)
    sim.meta.to_csv(tmp_path / "meta.csv", index=False)
    panel = load_panel_npy(path, meta=tmp_path / "meta.csv")
    assert isinstance(panel.data, np.memmap)
    # One NaN sample does not invalidate a recording; an all-NaN one does.
    assert panel.valid.tolist() == [[True, True], [False, True], [True, True]]
    assert panel.invalid_reason["reason"].tolist() == ["all zero"]
    assert panel.n_nan[2, 1] == 1 and panel.n_nan.sum() == 1
    data[0, 1] = np.nan
    np.save(path, data)
    panel = load_panel_npy(path, meta=tmp_path / "meta.csv")
    assert panel.valid.tolist() == [[True, False], [False, True], [True, True]]
    assert panel.invalid_reason["reason"].tolist() == ["all nan", "all zero"]
    assert panel.meta["subject"].tolist() == ["S00", "S01", "S02"]
    with pytest.raises(ValueError, match="one metadata row per subject"):
        load_panel_npy(path, meta=sim.meta.iloc[:2])
    np.save(tmp_path / "bad.npy", data[0])
    with pytest.raises(ValueError, match="subjects, sessions"):
        load_panel_npy(tmp_path / "bad.npy")
    with pytest.raises(FileNotFoundError):
        load_panel_npy(tmp_path / "absent.npy")


def test_eeg_panel_simulator_plants_rank_and_afternoon_effect(tmp_path):
    sim = make_eeg_panel(
        n_subjects=3,
        n_sessions=4,
        n_channels=12,
        n_samples=60_000,
        sfreq=250.0,
        n_factors=2,
        out=tmp_path / "sim.npy",
        random_state=1,
    )
    panel = load_panel_npy(tmp_path / "sim.npy", meta=sim.meta)
    ys, xs, gs = [], [], []
    for s in range(3):
        for k in range(4):
            lp = log_power_features(panel.data[s, k], 250.0, window=1.0)
            ys.append(lp)
            xs.append(np.full(len(lp), sim.sessions["afternoon"][k], dtype=float))
            gs.append(np.full(len(lp), s))
    model = IFEPanelRegressor().fit(
        np.concatenate(xs)[:, None], np.vstack(ys), groups=np.concatenate(gs)
    )
    assert model.n_factors_.tolist() == [2, 2, 2]
    # The pipeline streams the same recordings; with vMF states fitted on the
    # training sessions only, their posteriors enter as covariates.
    model_s, summary = fit_panel_tensor(
        panel, sfreq=250.0, session_hours=[10, 15, 10, 15], n_states=3, random_state=0
    )
    assert model_s.states_.means_.shape == (3, 12)
    names = ["afternoon", "state0", "state1", "sex", "age"]
    assert list(model_s.feature_names_in_) == names
    assert len(summary) == 3
    # SE of each channel's effect is ~0.03 (factor variance over 1440 windows).
    assert_allclose(model.coef_[:, 0], sim.afternoon_effect, atol=0.12)
    assert np.corrcoef(model.coef_[:, 0], sim.afternoon_effect)[0, 1] > 0.95


def test_panel_simulator_missingness_is_as_requested():
    data = make_panel_factors(
        n_subjects=5,
        n_times=200,
        missing_y=0.1,
        missing_covariates=0.2,
        random_state=2,
    )
    assert 0.07 < np.isnan(data.y).mean() < 0.13
    assert data.X["state"].isna().mean() > 0.1
    assert not np.isnan(data.y_complete).any()
    assert data.coef.shape == (16, 5)
