"""SparseSourceLocalizer on simulated EEG: recovery, MNE agreement, inputs."""

import mne
import numpy as np
import pytest
from joblib import parallel_config
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold

from sk_eeg.datasets import make_sparse_sources
from sk_eeg.inverse import SparseSourceLocalizer

SPACING = 20.0  # mm: a coarse grid keeps the forward cheap (~1 s, cached)


@pytest.fixture(scope="module")
def sim():
    return make_sparse_sources(2, snr=8.0, spacing=SPACING, random_state=1)


def _errors_mm(est, sim):
    pos = est.source_rr_[est.active_set_]
    return np.array(
        [np.min(np.linalg.norm(pos - p, axis=1)) * 1e3 for p in sim.source_pos]
    )


def test_simulation_plants_known_dipoles(sim):
    assert sim.evoked.data.shape == (64, 100)
    assert sim.source_pos.shape == (2, 3)
    assert np.linalg.norm(sim.source_pos[0] - sim.source_pos[1]) >= 0.03
    np.testing.assert_allclose(np.linalg.norm(sim.source_ori, axis=1), 1.0)
    # The forward is computed once per spacing and process.
    again = make_sparse_sources(1, spacing=SPACING, random_state=2)
    assert again.forward is sim.forward


@pytest.mark.parametrize("solver", ["mxne", "irmxne"])
def test_auto_alpha_recovers_planted_dipoles_within_one_grid_cell(sim, solver):
    alphas = None if solver == "mxne" else [0.7, 0.5, 0.35, 0.25]
    est = SparseSourceLocalizer(
        sim.forward, sim.noise_cov, solver=solver, alphas=alphas, random_state=0
    ).fit(sim.evoked)
    # Each true source has an active source in a neighbouring grid cell.
    assert np.all(_errors_mm(est, sim) <= np.sqrt(3) * SPACING + 1e-6)
    assert est.n_active_ <= 2 * len(sim.source_pos)
    n_alphas = 10 if alphas is None else len(alphas)
    assert est.alphas_.shape == (n_alphas,)
    assert est.cv_scores_.shape == (n_alphas, 5)
    assert est.alpha_ in est.alphas_
    assert est.explained_variance_ > 0.8


def test_free_orientation_fit_matches_mne_mixed_norm(sim):
    from mne.inverse_sparse import mixed_norm

    stc_mne = mixed_norm(
        sim.evoked,
        sim.forward,
        sim.noise_cov,
        alpha=30.0,
        loose=1.0,
        depth=0.8,
        debias=False,
        tol=1e-10,
        maxit=20_000,
        pick_ori="vector",
        verbose=False,
    )
    est = SparseSourceLocalizer(
        sim.forward,
        sim.noise_cov,
        solver="mxne",
        alpha=0.3,
        loose=1.0,
        depth=0.8,
        debias=False,
        relocate=False,  # the penalized solution itself, as MNE returns it
        tol=1e-10,
        max_iter=20_000,
    ).fit(sim.evoked)
    atol = 1e-3 * np.abs(stc_mne.data).max()
    vec = est.to_stc(pick_ori="vector")
    assert isinstance(vec, mne.VolVectorSourceEstimate)
    np.testing.assert_array_equal(vec.vertices[0], stc_mne.vertices[0])
    np.testing.assert_allclose(vec.data, stc_mne.data, rtol=1e-3, atol=atol)
    stc = est.to_stc()
    assert isinstance(stc, mne.VolSourceEstimate)
    np.testing.assert_array_equal(stc.vertices[0], stc_mne.vertices[0])
    np.testing.assert_allclose(stc.data, stc_mne.magnitude().data, atol=atol)


def test_fixed_alpha_solvers_give_sparse_lasso_and_dense_mne(sim):
    lasso = SparseSourceLocalizer(sim.forward, sim.noise_cov, "lasso", 0.5).fit(
        sim.evoked
    )
    dense = SparseSourceLocalizer(sim.forward, sim.noise_cov, "mne", 1 / 9).fit(
        sim.evoked
    )
    assert 0 < lasso.n_active_ < sim.forward["nsource"]
    assert dense.n_active_ == sim.forward["nsource"]
    assert lasso.dual_gap_ <= 1e-4


def test_transform_predict_score_shapes_for_evoked_epochs_and_arrays(sim):
    est = SparseSourceLocalizer(sim.forward, sim.noise_cov, alpha=0.4).fit(sim.evoked)
    n_rows = est.n_active_ * est.n_orient_
    assert est.transform(sim.evoked).shape == (n_rows, 100)
    assert est.predict(sim.evoked).shape == (64, 100)
    rng = np.random.default_rng(0)
    epochs_data = sim.X[None] + 0.1 * sim.X.std() * rng.standard_normal((4, 64, 100))
    assert est.transform(epochs_data).shape == (4, n_rows, 100)
    assert est.predict(epochs_data).shape == (4, 64, 100)
    epochs = mne.EpochsArray(epochs_data, sim.evoked.info, verbose=False)
    assert est.transform(epochs).shape == (4, n_rows, 100)
    assert 0.5 < est.score(sim.evoked) <= 1.0
    assert est.score(sim.evoked) == pytest.approx(est.score(sim.X))
    assert est.residual_.shape == (64, 100)


def test_to_dipoles_places_dipoles_on_active_sources(sim):
    est = SparseSourceLocalizer(sim.forward, sim.noise_cov, alpha=0.4).fit(sim.evoked)
    dipoles = est.to_dipoles()
    assert len(dipoles) == est.n_active_
    active_pos = est.source_rr_[est.active_set_]
    for dip, pos in zip(dipoles, active_pos):
        np.testing.assert_allclose(dip.pos[0], pos)
        np.testing.assert_allclose(np.linalg.norm(dip.ori, axis=1), 1.0, atol=1e-6)
        assert np.all(dip.amplitude >= 0)


def test_forward_path_and_gain_dict_give_the_same_fit(sim, tmp_path):
    fname = tmp_path / "sim-fwd.fif"
    mne.write_forward_solution(fname, sim.forward, verbose=False)
    est = SparseSourceLocalizer(sim.forward, sim.noise_cov, alpha=0.4).fit(sim.evoked)
    from_path = SparseSourceLocalizer(str(fname), sim.noise_cov, alpha=0.4)
    from_path = clone(from_path).fit(sim.evoked)
    np.testing.assert_allclose(
        from_path.coef_, est.coef_, rtol=1e-5, atol=1e-8 * np.abs(est.coef_).max()
    )
    # A plain gain array with the same (already whitened) problem.
    problem = est._problem
    forward = {"gain": problem.gain, "source_rr": sim.forward["source_rr"]}
    white = problem.whitener @ sim.X
    arr = SparseSourceLocalizer(forward, alpha=0.4, depth=None).fit(white)
    np.testing.assert_array_equal(arr.active_set_, est.active_set_)


def test_grid_search_over_alpha_splits_epochs(sim):
    rng = np.random.default_rng(0)
    epochs = sim.X[None] + 2 * sim.X.std() * rng.standard_normal((6, 64, 100))
    forward = {
        "gain": sim.forward["sol"]["data"],
        "source_rr": sim.forward["source_rr"],
    }
    search = GridSearchCV(
        SparseSourceLocalizer(forward, noise_cov=np.full(64, 1e-12), depth=None),
        {"alpha": [0.2, 0.5]},
        cv=KFold(3),
    ).fit(epochs)
    assert search.best_params_["alpha"] in (0.2, 0.5)
    assert search.best_estimator_.n_features_in_ == 64


def test_sure_alpha_is_reported_on_the_path(sim):
    est = SparseSourceLocalizer(
        sim.forward,
        sim.noise_cov,
        alpha="sure",
        alphas=[0.8, 0.4, 0.2],
        random_state=0,
    ).fit(sim.evoked)
    assert est.cv_scores_.shape == (3, 1)
    assert est.alpha_ in (0.8, 0.4, 0.2)


def test_auto_alpha_is_reproducible_and_independent_of_n_jobs(sim):
    kw = dict(alphas=[0.6, 0.3], cv=3, random_state=0)
    one = SparseSourceLocalizer(sim.forward, sim.noise_cov, n_jobs=1, **kw)
    two = SparseSourceLocalizer(sim.forward, sim.noise_cov, n_jobs=2, **kw)
    one.fit(sim.evoked)
    with parallel_config(backend="threading"):
        two.fit(sim.evoked)
    np.testing.assert_array_equal(one.cv_scores_, two.cv_scores_)
    np.testing.assert_array_equal(one.coef_, two.coef_)


def test_channel_mismatch_error_lists_missing_channels(sim):
    names = [{"Fp1": "Nope1", "Oz": "Nope2"}.get(ch, ch) for ch in sim.evoked.ch_names]
    info = mne.create_info(names, 250.0, "eeg")
    evoked = mne.EvokedArray(sim.X, info, verbose=False)
    evoked.set_eeg_reference("average", projection=True, verbose=False)
    est = SparseSourceLocalizer(sim.forward, alpha=0.5)
    with pytest.raises(ValueError, match="Nope1, Nope2"):
        est.fit(evoked)


def test_eeg_without_average_reference_is_rejected_with_the_fix(sim):
    evoked = sim.evoked.copy().del_proj()
    with pytest.raises(ValueError, match=r"set_eeg_reference\('average', proj"):
        SparseSourceLocalizer(sim.forward, alpha=0.5).fit(evoked)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda X: np.zeros_like(X), "all zeros"),
        (lambda X: np.where(np.arange(X.shape[1]) == 3, np.nan, X), "NaN"),
        (lambda X: X[:10], "10 channels but the forward has 64"),
    ],
)
def test_bad_arrays_get_clear_errors(sim, make, match):
    with pytest.raises(ValueError, match=match):
        SparseSourceLocalizer(sim.forward, alpha=0.5).fit(make(sim.X))


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(solver="ista"), "Invalid value for solver"),
        (dict(alpha=1.5), "fraction of alpha_max"),
        (dict(alpha="cv"), "'auto' or 'sure'"),
        (dict(loose=0.2), "surface source space"),
        (dict(cv=1), "cv must be"),
    ],
)
def test_bad_parameters_raise_in_fit(sim, params, match):
    est = SparseSourceLocalizer(sim.forward, **params)
    with pytest.raises(ValueError, match=match):
        est.fit(sim.evoked)


@pytest.mark.parametrize("name", ["debias", "relocate"])
def test_non_bool_switches_raise_in_fit(sim, name):
    est = SparseSourceLocalizer(sim.forward, alpha=0.5, **{name: "yes"})
    with pytest.raises(TypeError, match=f"{name} must be True or False"):
        est.fit(sim.evoked)


@pytest.mark.parametrize("solver", ["irmxne", "mxne", "lasso"])
def test_gain_array_without_noise_cov_is_scale_free(sim, solver):
    """Data in volts or in microvolts select the same sources."""
    forward = {
        "gain": sim.forward["sol"]["data"],
        "source_rr": sim.forward["source_rr"],
    }
    fits = [
        SparseSourceLocalizer(forward, solver=solver, alpha=0.4).fit(scale * sim.X)
        for scale in (1.0, 1e6)
    ]
    assert fits[0].n_active_ > 0
    np.testing.assert_array_equal(fits[0].active_set_, fits[1].active_set_)
    np.testing.assert_allclose(1e6 * fits[0].coef_, fits[1].coef_, rtol=1e-5, atol=0)


@pytest.mark.parametrize("solver", ["irmxne", "lasso"])
@pytest.mark.parametrize("with_cov", [True, False])
def test_alpha_max_is_that_of_the_whitened_data(sim, solver, with_cov):
    from sk_eeg.inverse._solvers import _alpha_max

    forward = (
        sim.forward
        if with_cov
        else {"gain": sim.forward["sol"]["data"], "source_rr": sim.forward["source_rr"]}
    )
    X = sim.evoked if with_cov else sim.X
    cov = sim.noise_cov if with_cov else None
    est = SparseSourceLocalizer(forward, cov, solver=solver, alpha=0.5).fit(X)
    penalty = "l1" if solver == "lasso" else "l21"
    expected = _alpha_max(est._problem.gain, est._white, est.n_orient_, penalty)
    np.testing.assert_allclose(est.alpha_max_, expected, rtol=1e-10)


def test_unfitted_and_array_forward_errors(sim):
    est = SparseSourceLocalizer(sim.forward)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        est.transform(sim.X)
    with pytest.raises(TypeError, match="forward must be"):
        SparseSourceLocalizer(42).fit(sim.X)
    arr = SparseSourceLocalizer(
        {"gain": sim.forward["sol"]["data"], "source_rr": sim.forward["source_rr"]},
        alpha=0.5,
    ).fit(sim.X)
    with pytest.raises(ValueError, match="needs an MNE forward"):
        arr.to_stc()
    with pytest.raises(ValueError, match="pick_ori"):
        arr.to_stc(pick_ori="normal")
    fixed = SparseSourceLocalizer(
        {
            "gain": sim.forward["sol"]["data"][:, ::3],
            "source_rr": sim.forward["source_rr"],
            "n_orient": 1,
        },
        alpha=0.5,
    ).fit(sim.X)
    with pytest.raises(ValueError, match="fixed orientation"):
        fixed.to_stc(pick_ori="vector")


def test_3d_suite_pickle_idempotence_params_and_n_features(sim):
    """The fit-based sklearn checks, on data the forward can explain."""
    import pickle

    from joblib import hash as joblib_hash

    rng = np.random.default_rng(0)
    epochs = sim.X[None] + sim.X.std() * rng.standard_normal((3, 64, 100))
    est = SparseSourceLocalizer(sim.forward, sim.noise_cov, alpha=0.4)
    params = joblib_hash(est.get_params())
    assert est.fit(epochs) is est
    assert joblib_hash(est.get_params()) == params  # parameters untouched
    assert est.n_features_in_ == 64
    first = est.coef_.copy()
    np.testing.assert_array_equal(est.fit(epochs).coef_, first)  # idempotent
    readonly = epochs.copy()
    readonly.flags.writeable = False
    np.testing.assert_array_equal(est.fit(readonly).coef_, first)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.transform(epochs), est.transform(epochs))
    # Epoch order does not change the fit of the average.
    np.testing.assert_allclose(
        est.fit(epochs[::-1]).coef_, first, rtol=1e-5, atol=1e-5 * np.abs(first).max()
    )
    with pytest.raises(ValueError, match="64"):
        est.transform(epochs[:, :10])


@pytest.mark.parametrize("relocate", [True, False])
def test_cli_localize_writes_a_source_estimate(sim, tmp_path, capsys, relocate):
    from sk_eeg.cli import main

    evoked_fname = tmp_path / "sim-ave.fif"
    fwd_fname = tmp_path / "sim-fwd.fif"
    cov_fname = tmp_path / "sim-cov.fif"
    sim.evoked.save(evoked_fname, verbose=False)
    mne.write_forward_solution(fwd_fname, sim.forward, verbose=False)
    sim.noise_cov.save(cov_fname, verbose=False)
    out = tmp_path / "sources"
    status = main(
        [
            "localize",
            str(evoked_fname),
            str(fwd_fname),
            "--cov",
            str(cov_fname),
            "--out",
            str(out),
            "--alpha",
            "0.4",
            "--solver",
            "mxne",
        ]
        + ([] if relocate else ["--no-relocate"])
    )
    assert status == 0
    assert "active source(s)" in capsys.readouterr().out
    stc = mne.read_source_estimate(str(out) + "-vl.stc")
    assert stc.data.shape[1] == 100
    est = SparseSourceLocalizer(
        sim.forward, sim.noise_cov, "mxne", 0.4, relocate=relocate, verbose=False
    ).fit(sim.evoked)
    np.testing.assert_array_equal(stc.vertices[0], est.to_stc().vertices[0])


def test_minimum_norm_transform_reproduces_its_fit(sim):
    est = SparseSourceLocalizer(sim.forward, sim.noise_cov, "mne", 1 / 9)
    est.fit(sim.evoked)
    np.testing.assert_allclose(
        est.transform(sim.evoked),
        est.coef_,
        rtol=1e-6,
        atol=1e-9 * np.abs(est.coef_).max(),
    )
    assert 0 < est.score(sim.evoked) < 1


def test_empty_model_at_alpha_max_warns_and_reports_zero_sources(sim):
    est = SparseSourceLocalizer(sim.forward, sim.noise_cov, alpha=1.0)
    with pytest.warns(UserWarning, match="No active source"):
        est.fit(sim.evoked)
    assert est.n_active_ == 0 and not est.coef_.any()
    assert est.to_stc().data.shape == (0, 100)
    assert est.to_dipoles() == []
