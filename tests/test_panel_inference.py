"""Standard errors and confidence intervals: references and coverage."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sk_eeg.datasets import make_bai2009_panel, make_panel_factors
from sk_eeg.panel import IFEPanelRegressor, fit_bai_ife


def test_without_factors_se_are_the_classical_ols_ones():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((300, 2))
    Y = X @ rng.standard_normal((2, 4)) + rng.standard_normal((300, 4))
    model = IFEPanelRegressor(n_factors=0).fit(X, Y)
    design = np.column_stack([np.ones(300), X])
    beta, rss, *_ = np.linalg.lstsq(design, Y, rcond=None)
    s2 = rss / (300 - 3)
    ref = np.sqrt(np.outer(s2, np.diag(np.linalg.inv(design.T @ design))[1:]))
    assert_allclose(model.coef_, beta[1:].T, atol=1e-10)
    assert_allclose(model.coef_se_, ref, rtol=1e-8)
    lower, upper = model.conf_int(0.9)
    assert_allclose(upper - model.coef_, 1.6448536 * ref, rtol=1e-6)
    with pytest.raises(ValueError, match="level"):
        model.conf_int(1.5)


def test_bai_se_without_factors_is_the_white_sandwich():
    rng = np.random.RandomState(1)
    X = rng.standard_normal((60, 20, 2))
    y = X @ np.array([1.0, -2.0]) + rng.standard_normal((60, 20)) * rng.uniform(
        0.5, 2, 20
    )
    res = fit_bai_ife(y, X, 0)
    Xf, e = X.reshape(-1, 2), (y - X @ res.coef).ravel()
    bread = np.linalg.inv(Xf.T @ Xf)
    cov = bread @ (Xf.T * e**2) @ Xf @ bread * 1200 / (1200 - 2)
    assert_allclose(res.cov, cov, rtol=1e-8)
    assert_allclose(res.conf_int[:, 1] - res.coef, 1.959964 * np.sqrt(np.diag(cov)))


def _heteroskedastic_bai_panel(n_units, n_times, design, seed):
    """Bai's design, noise SD 1 on average, variance following F_t or lambda_i."""
    data = make_bai2009_panel(n_units, n_times, random_state=seed)
    if design == "times":
        sd = np.exp(data.factors.sum(1) / np.sqrt(8))[:, None] * np.ones(n_units)
    else:
        sd = np.ones(n_times)[:, None] * np.exp(data.loadings.sum(1) / np.sqrt(8))
    sd /= np.sqrt(np.mean(sd**2))
    noise = sd * np.random.RandomState(seed + 1000).standard_normal(sd.shape)
    data.y = data.X @ data.beta + data.factors @ data.loadings.T + noise
    return data


@pytest.mark.parametrize(
    "n_units, n_times, design, n_draws",
    [(100, 20, "times", 30), (20, 200, "units", 60)],
)
def test_bai_bias_correction_removes_most_of_the_heteroskedasticity_bias(
    n_units, n_times, design, n_draws
):
    # Variances that follow the factors (over time) give Bai's C / T bias,
    # variances that follow the loadings (over units) his B / N: about one
    # standard error here, of known sign (negative) in this design.
    err_ls, err_bc, bias_units, bias_times, se = [], [], [], [], []
    for seed in range(n_draws):
        data = _heteroskedastic_bai_panel(n_units, n_times, design, seed)
        res = fit_bai_ife(data.y, data.X, 2, bias_correction=True, tol=1e-9)
        assert res.bias_corrected
        assert_allclose(res.coef, res.coef_ls - res.bias_units - res.bias_times)
        err_ls.append(res.coef_ls - data.beta)
        err_bc.append(res.coef - data.beta)
        bias_units.append(res.bias_units)
        bias_times.append(res.bias_times)
        se.append(res.se)
    se = np.mean(se, axis=0)
    bias_ls = np.mean(err_ls, axis=0) / se
    bias_bc = np.mean(err_bc, axis=0) / se
    estimated = np.mean(bias_units if design == "units" else bias_times, 0) / se
    other = np.mean(bias_times if design == "units" else bias_units, 0) / se
    assert np.all(bias_ls < -0.5), bias_ls
    # The estimate has the sign of the bias, comes from the right term, and
    # removes a good part of it without overshooting.
    assert np.all((estimated < -0.3) & (estimated > 1.3 * bias_ls)), estimated
    assert np.all(np.abs(other) < 0.25 * np.abs(estimated)), other
    assert np.all(np.abs(bias_bc) < 0.6 * np.abs(bias_ls)), (bias_ls, bias_bc)


def test_bai_bias_correction_is_nil_for_homoskedastic_errors():
    for seed in range(8):
        data = make_bai2009_panel(50, 50, random_state=seed)
        plain = fit_bai_ife(data.y, data.X, 2)
        res = fit_bai_ife(data.y, data.X, 2, bias_correction=True)
        assert not plain.bias_corrected
        assert_allclose(plain.coef, plain.coef_ls)
        assert_allclose(res.coef_ls, plain.coef_ls)
        assert_allclose(res.bias, plain.bias)
        assert np.all(np.abs(res.bias) < 0.15 * res.se), res.bias / res.se
        assert_allclose(res.conf_int.mean(1), res.coef)


def test_bai_bias_terms_vanish_without_factors_and_bad_option_raises():
    data = make_bai2009_panel(20, 30, random_state=0)
    res = fit_bai_ife(data.y, data.X, 0, bias_correction=True)
    assert_allclose(res.bias, 0.0)
    assert_allclose(res.coef, res.coef_ls)
    with pytest.raises(ValueError, match="bias_correction"):
        fit_bai_ife(data.y, data.X, 2, bias_correction="yes")


@pytest.mark.slow
def test_bai2009_intervals_cover_the_truth_in_95_percent_of_panels():
    hits = []
    for seed in range(200):
        data = make_bai2009_panel(100, 100, random_state=seed)
        res = fit_bai_ife(data.y, data.X, 2, tol=1e-8)
        hits.append(
            (res.conf_int[:, 0] <= data.beta) & (data.beta <= res.conf_int[:, 1])
        )
    coverage = np.mean(hits, axis=0)
    assert np.all((coverage >= 0.93) & (coverage <= 0.97)), coverage


@pytest.mark.slow
def test_covariate_effect_intervals_cover_the_truth_in_95_percent_of_panels():
    hits = []
    for seed in range(200):
        data = make_panel_factors(
            n_subjects=12, n_times=200, n_channels=8, random_state=seed
        )
        model = IFEPanelRegressor(n_factors=3).fit(data.X, data.y, groups=data.groups)
        lower, upper = model.conf_int()
        hits.append((lower <= data.coef) & (data.coef <= upper))
    # 1600 intervals per column: time-varying (normal) and subject-level (t).
    coverage = np.mean(hits, axis=(0, 1))
    assert np.all((coverage >= 0.93) & (coverage <= 0.97)), coverage
    assert np.isinf(model.coef_dof_[2:]).all() and np.all(model.coef_dof_[:2] == 9)
