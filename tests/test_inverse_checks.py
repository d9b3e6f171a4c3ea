"""SparseSourceLocalizer: warnings and errors for data a user gets wrong."""

import warnings

import mne
import numpy as np
import pytest

from sk_eeg.datasets import make_sparse_sources
from sk_eeg.inverse import SparseSourceLocalizer

SPACING = 20.0


@pytest.fixture(scope="module")
def sim():
    return make_sparse_sources(2, snr=8.0, spacing=SPACING, random_state=1)


@pytest.mark.parametrize(
    "alphas, match",
    [
        ([], "non-empty"),
        ([0.5, 1.5], r"alphas must lie in \(0, 1\]"),
        ([0.0], r"\(0, 1\]"),
    ],
)
def test_bad_alpha_grids_are_rejected_by_name(sim, alphas, match):
    est = SparseSourceLocalizer(sim.forward, sim.noise_cov, alphas=alphas)
    with pytest.raises(ValueError, match=match):
        est.fit(sim.evoked)


def test_dc_offset_larger_than_the_response_warns_with_the_fix(sim):
    evoked = sim.evoked.copy()
    offset = (
        20
        * np.abs(evoked.data).max()
        * np.random.default_rng(0).standard_normal((len(evoked.ch_names), 1))
    )
    evoked.data += offset
    with pytest.warns(UserWarning, match=r"DC offset.*apply_baseline"):
        SparseSourceLocalizer(sim.forward, sim.noise_cov, alpha=0.5, verbose=False).fit(
            evoked
        )
    # the baseline-corrected response does not warn
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SparseSourceLocalizer(sim.forward, sim.noise_cov, alpha=0.5, verbose=False).fit(
            sim.evoked
        )


def test_data_a_million_times_off_the_covariance_scale_is_rejected(sim):
    evoked = sim.evoked.copy()
    evoked.data *= 1e6  # microvolts against a covariance in volts^2
    with pytest.raises(ValueError, match="different units"):
        SparseSourceLocalizer(sim.forward, sim.noise_cov, alpha=0.5).fit(evoked)


def test_source_positions_in_millimetres_are_rejected(sim):
    forward = {
        "gain": sim.forward["sol"]["data"],
        "source_rr": sim.forward["source_rr"] * 1e3,
    }
    with pytest.raises(ValueError, match="metres"):
        SparseSourceLocalizer(forward, alpha=0.5).fit(sim.X)


def test_forward_from_another_montage_is_rejected(sim):
    evoked = sim.evoked.copy()
    montage = mne.channels.make_standard_montage("biosemi64")
    pos = montage.get_positions()["ch_pos"]
    # the same channel names on electrodes 90 degrees around the head
    rot = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    moved = mne.channels.make_dig_montage(
        ch_pos={ch: rot @ xyz for ch, xyz in pos.items()},
        nasion=montage.get_positions()["nasion"],
        lpa=montage.get_positions()["lpa"],
        rpa=montage.get_positions()["rpa"],
        coord_frame="head",
    )
    evoked.set_montage(moved)
    with pytest.raises(ValueError, match="another montage"):
        SparseSourceLocalizer(sim.forward, sim.noise_cov, alpha=0.5).fit(evoked)


def test_noise_only_data_warn_that_no_alpha_predicts_held_out_sensors(sim):
    rng = np.random.default_rng(0)
    noise = mne.EvokedArray(
        sim.evoked.data.std() * 0.1 * rng.standard_normal(sim.evoked.data.shape),
        sim.evoked.info,
        verbose=False,
    )
    cov = mne.make_ad_hoc_cov(
        sim.evoked.info, std=dict(eeg=sim.evoked.data.std() * 0.1)
    )
    with pytest.warns(UserWarning) as record:
        est = SparseSourceLocalizer(
            sim.forward, cov, alphas=[0.9, 0.7, 0.5], cv=3, verbose=False
        ).fit(noise)
    messages = " ".join(str(w.message) for w in record)
    assert "held-out-sensor score <= 0" in messages
    assert est.n_active_ > 0  # a model is still returned, with the warning


def test_alpha_at_the_edge_of_its_grid_warns(sim):
    # on a two-value grid every choice is an edge
    with pytest.warns(UserWarning, match=r"(largest|smallest) value of the alphas"):
        est = SparseSourceLocalizer(
            sim.forward, sim.noise_cov, alphas=[0.9, 0.8], cv=3, verbose=False
        ).fit(sim.evoked)
    assert est.alpha_ in (0.9, 0.8)


def test_auto_alpha_is_deterministic_by_default(sim):
    fits = [
        SparseSourceLocalizer(
            sim.forward, sim.noise_cov, alphas=[0.7, 0.5, 0.35, 0.25], verbose=False
        ).fit(sim.evoked)
        for _ in range(2)
    ]
    np.testing.assert_array_equal(fits[0].cv_scores_, fits[1].cv_scores_)
    assert fits[0].alpha_ == fits[1].alpha_


def test_folds_hold_out_every_channel_once_spread_over_the_montage():
    from sk_eeg.inverse._alpha import _sensor_folds

    folds = _sensor_folds(10, 3)
    np.testing.assert_array_equal(np.sort(np.concatenate(folds)), np.arange(10))
    np.testing.assert_array_equal(folds[0], [0, 3, 6, 9])
    shuffled = _sensor_folds(10, 3, np.random.RandomState(0))
    np.testing.assert_array_equal(np.sort(np.concatenate(shuffled)), np.arange(10))


def test_progress_is_shown_by_default_and_silenced_by_verbose_false(
    sim, capsys, monkeypatch
):
    # progress bars are hidden on CI; a user's shell has no CI variable
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("SK_EEG_LOGGING_LEVEL", raising=False)
    kw = dict(alphas=[0.7, 0.4], cv=2)
    with mne.utils.use_log_level("INFO"):
        SparseSourceLocalizer(sim.forward, sim.noise_cov, **kw).fit(sim.evoked)
    assert "alpha path" in capsys.readouterr().err
    SparseSourceLocalizer(sim.forward, sim.noise_cov, verbose=False, **kw).fit(
        sim.evoked
    )
    assert "alpha path" not in capsys.readouterr().err


def test_conditions_fitted_jointly_share_one_support_and_split_back(sim):
    second = sim.evoked.copy().shift_time(0.5)
    single = SparseSourceLocalizer(
        sim.forward, sim.noise_cov, solver="mxne", alpha=0.5, verbose=False
    ).fit(sim.evoked)
    joint = SparseSourceLocalizer(
        sim.forward, sim.noise_cov, solver="mxne", alpha=0.5, verbose=False
    ).fit([sim.evoked, second])
    # the same data twice: the same L21 problem at the same relative alpha
    np.testing.assert_array_equal(joint.active_set_, single.active_set_)
    n_times = len(sim.evoked.times)
    np.testing.assert_allclose(
        joint.coef_[:, :n_times],
        single.coef_,
        rtol=1e-3,
        atol=1e-3 * abs(single.coef_).max(),
    )
    stcs = joint.to_stc()
    assert len(stcs) == 2
    assert stcs[1].tmin == pytest.approx(second.times[0])
    np.testing.assert_allclose(stcs[0].data, stcs[1].data)
    dipoles = joint.to_dipoles()
    assert len(dipoles) == 2 and len(dipoles[0]) == joint.n_active_
    np.testing.assert_allclose(dipoles[1][0].times, second.times)
    with pytest.raises(ValueError, match="other channels"):
        joint.fit([sim.evoked, sim.evoked.copy().pick(sim.evoked.ch_names[:10])])


def test_plot_alpha_path_marks_the_chosen_alpha(sim):
    est = SparseSourceLocalizer(
        sim.forward, sim.noise_cov, alphas=[0.7, 0.5, 0.35], cv=3, verbose=False
    ).fit(sim.evoked)
    fig = est.plot_alpha_path()
    ax = fig.axes[0]
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_xdata(), est.alphas_)
    np.testing.assert_allclose(line.get_ydata(), est.cv_scores_.mean(axis=1))
    fixed = SparseSourceLocalizer(
        sim.forward, sim.noise_cov, alpha=0.5, verbose=False
    ).fit(sim.evoked)
    with pytest.raises(ValueError, match="alpha='auto' or 'sure'"):
        fixed.plot_alpha_path()


def test_volume_estimate_saves_and_loads_in_another_process(sim, tmp_path):
    import subprocess
    import sys

    pytest.importorskip("h5io")
    est = SparseSourceLocalizer(
        sim.forward, sim.noise_cov, alpha=0.5, verbose=False
    ).fit(sim.evoked)
    stc = est.to_stc()
    stc.save(tmp_path / "sources-stc.h5", ftype="h5", overwrite=True, verbose=False)
    (fname,) = tmp_path.glob("sources*")
    code = (
        "import mne, numpy as np, sys; "
        f"stc = mne.read_source_estimate(r'{fname}'); "
        "print(type(stc).__name__, stc.data.shape[0], float(np.abs(stc.data).max()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "VolSourceEstimate"
    assert int(out[1]) == est.n_active_
    np.testing.assert_allclose(float(out[2]), np.abs(stc.data).max(), rtol=1e-6)
