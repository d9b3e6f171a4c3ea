"""Numerics of the sparse inverse solvers against independent implementations."""

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso, MultiTaskLasso, Ridge

from sk_eeg.inverse._solvers import (
    _alpha_max,
    _block_norms,
    _debias,
    _duality_gap,
    _irmxne_objective,
    _minimum_norm,
    _objective,
    _solve_irmxne,
    _solve_sparse,
    _time_pca,
)


def _problem(n_channels=30, n_sources=80, n_orient=1, n_times=12, seed=0):
    rng = np.random.default_rng(seed)
    gain = rng.standard_normal((n_channels, n_sources * n_orient))
    # Correlated neighbours, as in a real lead field.
    gain[:, n_orient:] += 0.5 * gain[:, :-n_orient]
    X = np.zeros((n_sources * n_orient, n_times))
    for k in (3, 40, 71):
        X[k * n_orient : (k + 1) * n_orient] = rng.standard_normal((n_orient, n_times))
    data = gain @ X + 0.3 * rng.standard_normal((n_channels, n_times))
    return gain, data


def test_fixed_orientation_l21_equals_sklearn_multitask_lasso():
    gain, data = _problem()
    n_channels = gain.shape[0]
    alpha = 0.2 * _alpha_max(gain, data, 1)
    X, gap, _ = _solve_sparse(gain, data, alpha, 1, tol=1e-12)
    ref = MultiTaskLasso(
        alpha=alpha / n_channels, fit_intercept=False, tol=1e-14, max_iter=100_000
    ).fit(gain, data)
    X_ref = ref.coef_.T
    obj, obj_ref = (_objective(gain, data, Z, alpha, 1) for Z in (X, X_ref))
    assert abs(obj - obj_ref) <= 1e-6 * obj_ref
    np.testing.assert_array_equal(_block_norms(X, 1) > 0, _block_norms(X_ref, 1) > 0)
    np.testing.assert_allclose(X, X_ref, atol=1e-5 * np.abs(X_ref).max())


def test_free_orientation_l21_agrees_with_mne_mixed_norm_solver():
    from mne.inverse_sparse.mxne_optim import mixed_norm_solver

    gain, data = _problem(n_orient=3)
    alpha = 0.25 * _alpha_max(gain, data, 3)
    X, _, _ = _solve_sparse(gain, data, alpha, 3, tol=1e-10)
    X_mne, active, _ = mixed_norm_solver(
        data,
        gain,
        alpha,
        maxit=20_000,
        tol=1e-12,
        n_orient=3,
        debias=False,
        verbose=False,
    )
    X_ref = np.zeros_like(X)
    X_ref[active] = X_mne
    np.testing.assert_array_equal(_block_norms(X, 3) > 0, _block_norms(X_ref, 3) > 0)
    obj, obj_ref = (_objective(gain, data, Z, alpha, 3) for Z in (X, X_ref))
    assert abs(obj - obj_ref) <= 1e-4 * obj_ref
    assert obj <= obj_ref * (1 + 1e-8)


def test_lasso_is_solved_to_convergence_like_sklearn_lasso_per_time_sample():
    gain, data = _problem(n_times=4)
    n_channels = gain.shape[0]
    alpha = 0.3 * _alpha_max(gain, data, 1, "l1")
    X, gap, _ = _solve_sparse(gain, data, alpha, 1, "l1", tol=1e-12)
    X_ref = np.column_stack(
        [
            Lasso(
                alpha=alpha / n_channels,
                fit_intercept=False,
                tol=1e-14,
                max_iter=100_000,
            )
            .fit(gain, data[:, t])
            .coef_
            for t in range(data.shape[1])
        ]
    )
    obj, obj_ref = (_objective(gain, data, Z, alpha, 1, "l1") for Z in (X, X_ref))
    assert abs(obj - obj_ref) <= 1e-6 * obj_ref
    assert _duality_gap(gain, data, X, alpha, 1, "l1")[0] <= 1e-8 * np.sum(data**2)
    np.testing.assert_array_equal(X != 0, X_ref != 0)


@pytest.mark.parametrize("n_orient, penalty", [(1, "l21"), (3, "l21"), (1, "l1")])
def test_solution_is_zero_at_alpha_max_and_not_just_below(n_orient, penalty):
    gain, data = _problem(n_orient=n_orient)
    alpha_max = _alpha_max(gain, data, n_orient, penalty)
    X, _, _ = _solve_sparse(gain, data, alpha_max, n_orient, penalty)
    assert not X.any()
    X, _, _ = _solve_sparse(gain, data, 0.99 * alpha_max, n_orient, penalty)
    assert X.any()


def test_support_is_invariant_to_gain_scale_with_relative_alpha():
    gain, data = _problem(n_orient=3)
    supports = []
    for scale in (1.0, 1e-6, 1e4):
        g = gain * scale
        X, _, _ = _solve_sparse(g, data, 0.3 * _alpha_max(g, data, 3), 3, tol=1e-10)
        supports.append(_block_norms(X, 3) > 0)
    for support in supports[1:]:
        np.testing.assert_array_equal(support, supports[0])


def test_duality_gap_is_below_tol_at_return():
    gain, data = _problem(n_orient=3)
    alpha = 0.1 * _alpha_max(gain, data, 3)
    X, gap, _ = _solve_sparse(gain, data, alpha, 3, tol=1e-7)
    true_gap = _duality_gap(gain, data, X, alpha, 3)[0]
    assert true_gap <= 1e-7 * np.sum(data**2)
    assert gap <= 1e-7 * np.sum(data**2)


def test_solver_warns_when_max_iter_stops_it_early():
    gain, data = _problem(n_orient=3)
    alpha = 0.05 * _alpha_max(gain, data, 3)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        _solve_sparse(gain, data, alpha, 3, tol=1e-14, max_iter=2)


def test_irmxne_is_sparser_than_mxne_and_lowers_its_objective():
    gain, data = _problem(n_orient=3)
    alpha = 0.1 * _alpha_max(gain, data, 3)
    X_mxne, _, _ = _solve_sparse(gain, data, alpha, 3, tol=1e-10)
    X_ir, _, n_rw = _solve_irmxne(gain, data, alpha, 3, n_reweightings=10, tol=1e-10)
    assert n_rw > 1
    n_mxne = (_block_norms(X_mxne, 3) > 0).sum()
    n_ir = (_block_norms(X_ir, 3) > 0).sum()
    assert 0 < n_ir <= n_mxne
    assert _irmxne_objective(gain, data, X_ir, alpha, 3) < _irmxne_objective(
        gain, data, X_mxne, alpha, 3
    )
    # The planted sources survive the reweighting.
    assert set(np.flatnonzero(_block_norms(X_ir, 3) > 0)) >= {3, 40, 71}


def test_time_pca_leaves_the_l21_solution_unchanged():
    gain, data = _problem(n_channels=10, n_orient=3, n_times=40)
    alpha = 0.2 * _alpha_max(gain, data, 3)
    X_full, _, _ = _solve_sparse(gain, data, alpha, 3, tol=1e-12)
    reduced, Vh = _time_pca(data, 3)
    assert reduced.shape[1] <= 10
    X_red, _, _ = _solve_sparse(gain, reduced, alpha, 3, tol=1e-12)
    np.testing.assert_allclose(X_red @ Vh, X_full, atol=1e-6 * np.abs(X_full).max())


def test_minimum_norm_equals_ridge_closed_form():
    gain, data = _problem()
    lambda2 = 0.1
    X = _minimum_norm(gain, data, lambda2)
    scale = np.trace(gain @ gain.T) / gain.shape[0]
    ridge = Ridge(alpha=lambda2 * scale, fit_intercept=False).fit(gain, data)
    np.testing.assert_allclose(X, ridge.coef_.T, rtol=1e-6, atol=1e-10)


def test_debias_undoes_shrinkage_without_moving_the_support():
    gain, data = _problem(n_orient=3)
    alpha = 0.3 * _alpha_max(gain, data, 3)
    X, _, _ = _solve_sparse(gain, data, alpha, 3, tol=1e-10)
    X_db = _debias(gain, data, X, 3)
    np.testing.assert_array_equal(_block_norms(X_db, 3) > 0, _block_norms(X, 3) > 0)
    assert np.all(_block_norms(X_db, 3) >= _block_norms(X, 3) - 1e-12)
    assert np.sum((data - gain @ X_db) ** 2) < np.sum((data - gain @ X) ** 2)


@pytest.mark.parametrize("n_orient", [1, 3])
def test_warm_start_from_the_solution_stops_at_once_with_the_same_answer(n_orient):
    """MNE's test_mxne_inverse property: warm starts reuse a solution."""
    gain, data = _problem(n_orient=n_orient)
    alpha = 0.3 * _alpha_max(gain, data, n_orient)
    X, gap, n_iter = _solve_sparse(gain, data, alpha, n_orient, tol=1e-10)
    X_warm, gap_warm, n_warm = _solve_sparse(
        gain, data, alpha, n_orient, tol=1e-10, X_init=X
    )
    assert n_warm <= max(1, n_iter // 5)
    np.testing.assert_allclose(X_warm, X, atol=1e-8 * np.abs(X).max())
    assert gap_warm <= 1e-10 * np.sum(data**2)


@pytest.mark.parametrize("ws_size", [5, 20, 200])
def test_working_set_size_does_not_change_the_solution(ws_size):
    """MNE checks that active-set sizes give the same MxNE solution."""
    gain, data = _problem(n_orient=3)
    alpha = 0.2 * _alpha_max(gain, data, 3)
    ref = _solve_sparse(gain, data, alpha, 3, tol=1e-12)[0]
    X = _solve_sparse(gain, data, alpha, 3, tol=1e-12, ws_size=ws_size)[0]
    np.testing.assert_array_equal(_block_norms(X, 3) > 0, _block_norms(ref, 3) > 0)
    np.testing.assert_allclose(X, ref, atol=1e-6 * np.abs(ref).max())
