"""Tensor pipeline: subject order, missing metadata, NaN samples, state leak."""

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from sk_eeg.datasets import load_panel_npy, make_eeg_panel, make_panel_factors
from sk_eeg.panel import IFEPanelRegressor, fit_panel_tensor
from sk_eeg.panel._pipeline import _code_subject_columns, _recording_design


def test_partial_fit_does_not_depend_on_subject_order():
    data = make_panel_factors(n_subjects=6, n_times=150, random_state=0)
    sex = np.array([1, 1, 1, 1, 0, 0], dtype=float)
    X = data.X.copy()
    X["sex"] = sex[data.groups]
    full = IFEPanelRegressor().fit(X, data.y, groups=data.groups)
    for order in ([0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0]):
        stream = IFEPanelRegressor()
        for g in order:
            sel = data.groups == g
            # The first four subjects share a sex: partial_fit must not fail.
            stream.partial_fit(X[sel], data.y[sel], groups=data.groups[sel])
        idx = np.argsort(stream.groups_)
        assert_allclose(stream.coef_, full.coef_, atol=1e-9)
        assert_allclose(stream.intercept_, full.intercept_, atol=1e-9)
        assert_allclose(stream.group_intercepts_[idx], full.group_intercepts_, 1e-9)


def test_partial_fit_imputes_a_subject_missing_sex_like_fit():
    data = make_panel_factors(n_subjects=8, n_times=150, random_state=1)
    X = data.X.copy()
    X.loc[data.groups == 2, "sex"] = np.nan
    full = IFEPanelRegressor().fit(X, data.y, groups=data.groups)
    stream = IFEPanelRegressor()
    for g in range(8):
        sel = data.groups == g
        stream.partial_fit(X[sel], data.y[sel], groups=data.groups[sel])
    assert_allclose(stream.coef_, full.coef_, atol=1e-8)
    assert_allclose(stream.subject_covariates_, full.subject_covariates_, atol=1e-8)
    assert stream.subject_covariates_[2, 0] == pytest.approx(0.0, abs=0.25)  # truth 0
    bad = X.copy()
    bad.loc[np.flatnonzero(data.groups == 3)[:5], "state"] = np.nan
    with pytest.raises(ValueError, match="subject-level columns missing"):
        IFEPanelRegressor().partial_fit(bad, data.y, groups=data.groups)


def _panel_with_sex_effect(tmp_path, sex, seed=0):
    """Six subjects; the log power of 'sex 1' subjects is shifted per channel."""
    sim = make_eeg_panel(
        n_subjects=len(sex),
        n_sessions=3,
        n_channels=8,
        n_samples=8000,
        sfreq=100.0,
        n_factors=2,
        random_state=seed,
    )
    effect = np.where(np.arange(8) % 2, 1.5, -1.5)
    data = np.array(sim.data)
    data *= np.exp(0.5 * np.outer(sex, effect))[:, None, :, None]
    np.save(tmp_path / "eeg.npy", data.astype(np.float32))
    return sim, effect, data


def test_tensor_pipeline_with_one_sex_first_nan_sex_and_nan_sample(tmp_path):
    true_sex = [1, 1, 1, 1, 0, 0]
    sim, effect, data = _panel_with_sex_effect(tmp_path, true_sex)
    data[1, 0, 3, 100] = np.nan  # one NaN sample in a training recording
    data[4, 2, 0, 50] = np.nan  # and one in a held-out recording
    np.save(tmp_path / "eeg.npy", data)
    meta = sim.meta.copy()
    meta["sex"] = [1.0, 1.0, np.nan, 1.0, 0.0, 0.0]  # subject 2 unknown
    panel = load_panel_npy(tmp_path / "eeg.npy", meta=meta)
    assert panel.valid.all() and panel.n_nan.sum() == 2
    model, summary = fit_panel_tensor(
        panel, sfreq=100.0, session_hours=[10, 15, 10], subject_columns=("sex",)
    )
    assert len(summary) == 6
    assert np.all(np.isfinite(summary[["covariate_r2"]].to_numpy()))
    sex_col = list(model.feature_names_in_).index("sex")
    # Between-subject SD 0.2 per channel over 6 subjects: SE ~0.17.
    assert_allclose(model.coef_[:, sex_col], effect, atol=0.7)
    assert np.all(np.sign(model.coef_[:, sex_col]) == np.sign(effect))
    # Subject 2's sex is imputed from its intercepts: close to the true 1.
    assert model.subject_covariates_[2, 0] == pytest.approx(1.0, abs=0.25)
    # Sex coded with letters gives the same fit; other text raises clearly.
    meta_mf = meta.assign(sex=["M", "male", None, "m", "F", "female"])
    panel_mf = load_panel_npy(tmp_path / "eeg.npy", meta=meta_mf)
    model_mf, _ = fit_panel_tensor(
        panel_mf, sfreq=100.0, session_hours=[10, 15, 10], subject_columns=("sex",)
    )
    assert_allclose(model_mf.coef_, model.coef_, atol=1e-10)
    with pytest.raises(ValueError, match="'sex' has non-numeric values"):
        _code_subject_columns(meta.assign(sex=["M", "F", "x", "M", "F", "F"]), ["sex"])


def test_tensor_pipeline_complete_sex_in_any_subject_order(tmp_path):
    sim, effect, data = _panel_with_sex_effect(tmp_path, [1, 1, 1, 1, 0, 0], seed=1)
    fits = []
    for order in ([0, 1, 2, 3, 4, 5], [4, 0, 5, 1, 2, 3]):
        np.save(tmp_path / "perm.npy", data[order])
        meta = sim.meta.iloc[order].reset_index(drop=True)
        meta["sex"] = np.array([1, 1, 1, 1, 0, 0])[order]
        panel = load_panel_npy(tmp_path / "perm.npy", meta=meta)
        model, _ = fit_panel_tensor(
            panel, sfreq=100.0, session_hours=[10, 15, 10], subject_columns=("sex",)
        )
        fits.append(model)
    assert_allclose(fits[0].coef_, fits[1].coef_, atol=1e-8)
    assert_allclose(fits[0].coef_[:, -1], effect, atol=0.7)


def _state_gain(model, X, y, subject):
    """R^2 gained on y by the state columns of X over their mixture weights."""
    groups = np.full(len(y), subject)
    cols = [c for c in X.columns if c.startswith("state")]
    X0 = X.copy()
    X0[cols] = model.states_.weights_[: len(cols)]
    sse = np.sum((y - model.predict(X, groups)) ** 2)
    sse0 = np.sum((y - model.predict(X0, groups)) ** 2)
    return 1.0 - sse / sse0


def test_heldout_state_covariates_never_use_the_window_they_predict(tmp_path):
    sim = make_eeg_panel(
        n_subjects=3,
        n_sessions=3,
        n_channels=8,
        n_samples=20000,
        sfreq=100.0,
        n_factors=2,
        out=tmp_path / "eeg.npy",
        random_state=2,
    )
    panel = load_panel_npy(tmp_path / "eeg.npy", meta=sim.meta)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model, _ = fit_panel_tensor(
            panel, sfreq=100.0, session_hours=[10, 15, 10], n_states=3, random_state=0
        )
    states = model.states_
    coded = _code_subject_columns(sim.meta, ("sex", "age"))
    row = coded.iloc[0]
    rec = np.array(panel.data[0, 2], dtype=np.float64)
    X, y = _recording_design(rec, 100.0, 1.0, 1e-10, 10, row, states)
    # Change the EEG of window 50 only: no covariate of windows <= 50 moves.
    rec2 = rec.copy()
    rec2[::2, 5000:5100] *= 20.0
    X2, y2 = _recording_design(rec2, 100.0, 1.0, 1e-10, 10, row, states)
    assert not np.allclose(y2[50], y[50])
    pd.testing.assert_frame_equal(X2.iloc[:51], X.iloc[:51])
    assert not np.allclose(X2.iloc[51], X.iloc[51])  # the lag is one window
    # Held-out EEG replaced by noise: its windows in random order, so that no
    # window depends on the one before. The lagged states then add nothing (a
    # same-window state would, by reading the window it predicts).
    rng = np.random.RandomState(0)
    blocks = rec.reshape(rec.shape[0], -1, 100)
    noise = blocks[:, rng.permutation(blocks.shape[1])].reshape(rec.shape)
    Xn, yn = _recording_design(noise, 100.0, 1.0, 1e-10, 10, row, states)
    gain = _state_gain(model, Xn, yn, 0)
    assert abs(gain) < 0.01
    # The same check catches the leak: a model whose states are those of the
    # window itself "predicts" the noise through them.
    leaky = IFEPanelRegressor()
    for s in range(3):
        for k in range(2):
            rec_k = np.asarray(panel.data[s, k], dtype=np.float64)
            row_s = coded.iloc[s]
            Xk, yk = _recording_design(
                rec_k, 100.0, 1.0, 1e-10, 10 + 5 * k, row_s, states
            )
            post = states.predict_proba(yk - yk.mean(1, keepdims=True))
            Xk[["state0", "state1"]] = post[:, :2]
            leaky._accumulate(Xk, yk, np.full(len(yk), s))
    leaky._finish_stream(strict=False)
    leaky.states_ = states
    Xl = Xn.copy()
    Xl[["state0", "state1"]] = states.predict_proba(yn - yn.mean(1, keepdims=True))[
        :, :2
    ]
    assert _state_gain(leaky, Xl, yn, 0) > 0.1  # measured 0.32 (lagged: -0.001)
