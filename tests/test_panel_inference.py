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
