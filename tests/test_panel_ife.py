"""IFEPanelRegressor numerics: dense references, planted truths, missing data."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from sk_eeg.datasets import make_bai2009_panel, make_panel_factors
from sk_eeg.panel import IFEPanelRegressor, fit_bai_ife
from sk_eeg.panel._ife import _accumulate_moments, _bai_als


def _dense_within_ife(X, Y, groups, rank):
    """Direct dense reference: pooled within OLS, then an SVD per subject."""
    labels = np.unique(groups)
    Xd = np.vstack([X[groups == g] - X[groups == g].mean(0) for g in labels])
    Yd = np.vstack([Y[groups == g] - Y[groups == g].mean(0) for g in labels])
    coef = np.linalg.lstsq(Xd, Yd, rcond=None)[0].T
    out = []
    for g in labels:
        sel = groups == g
        mu = Y[sel].mean(0) - X[sel].mean(0) @ coef.T
        resid = Y[sel] - mu - X[sel] @ coef.T
        _, s, vt = np.linalg.svd(resid, full_matrices=False)
        lam = vt[:rank].T
        out.append((mu, lam, s**2 / sel.sum(), resid @ lam))
    return coef, out


def test_closed_form_matches_dense_svd_reference_to_1e8():
    rng = np.random.RandomState(0)
    n_groups, n_times, p, q, r = 3, 60, 7, 3, 2
    groups = np.repeat(np.arange(n_groups), n_times)
    X = rng.standard_normal((n_groups * n_times, q))
    Y = (
        X @ rng.standard_normal((p, q)).T
        + rng.standard_normal((n_groups * n_times, r)) @ rng.standard_normal((r, p))
        + rng.standard_normal((n_groups * n_times, p))
    )
    model = IFEPanelRegressor(n_factors=r, chunk_size=17).fit(X, Y, groups=groups)
    coef, per_group = _dense_within_ife(X, Y, groups, r)
    assert_allclose(model.coef_, coef, atol=1e-8)
    scores = model.transform(X, Y, groups=groups)
    for g, (mu, lam, eig, fac) in enumerate(per_group):
        assert_allclose(model.group_intercepts_[g], mu, atol=1e-8)
        proj = model.loadings_[g] @ model.loadings_[g].T
        assert_allclose(proj, lam @ lam.T, atol=1e-8)
        assert_allclose(model.eigenvalues_[g], eig, atol=1e-8)
        sign = np.sign(np.sum(model.loadings_[g] * lam, axis=0))
        assert_allclose(scores[groups == g] * sign, fac, atol=1e-8)


def test_streaming_moments_equal_one_shot_moments():
    rng = np.random.RandomState(1)
    Y = rng.standard_normal((101, 4))
    X = rng.standard_normal((101, 2))
    cells = rng.randint(0, 3, 101)
    w = rng.uniform(0.5, 2, 101)
    small = _accumulate_moments(Y, X, cells, 3, w, chunk_size=7)
    big = _accumulate_moments(Y, X, cells, 3, w, chunk_size=10_000)
    for key in small:
        assert_allclose(small[key], big[key], rtol=1e-12, atol=1e-12)
    sel = cells == 1
    assert_allclose(small["syx"][1], (Y[sel] * w[sel, None]).T @ X[sel])


def _dense_bai_als(y, X, r, tol=1e-13):
    """Bai (2009) ALS on the T x N matrix with a full SVD per iteration."""
    n_times, n_units, n_reg = X.shape
    Xf = X.reshape(-1, n_reg)
    beta = np.linalg.lstsq(Xf, y.ravel(), rcond=None)[0]
    for _ in range(20000):
        u, s, vt = np.linalg.svd(y - X @ beta, full_matrices=False)
        low = (u[:, :r] * s[:r]) @ vt[:r]
        new = np.linalg.lstsq(Xf, (y - low).ravel(), rcond=None)[0]
        if np.max(np.abs(new - beta)) < tol:
            return new
        beta = new
    raise AssertionError("dense reference did not converge")


def test_bai_gram_als_matches_dense_svd_als_to_1e8():
    data = make_bai2009_panel(30, 20, random_state=1)
    res = fit_bai_ife(data.y, data.X, 2, demean=False, tol=1e-13)
    beta = _dense_bai_als(data.y, data.X, 2)
    assert_allclose(res.coef, beta, atol=1e-8)
    assert res.loadings.shape == (30, 2)
    assert_allclose(res.loadings.T @ res.loadings, np.eye(2), atol=1e-10)


def test_bai_als_groups_share_beta_and_reduce_to_one_group():
    data = make_bai2009_panel(20, 30, random_state=2)
    Z = np.concatenate([data.y[:, None], np.moveaxis(data.X, 2, 1)], axis=1)
    Z = Z.reshape(30, -1)
    gram = np.transpose((Z.T @ Z).reshape(3, 20, 3, 20), (0, 2, 1, 3))
    one, _, _ = _bai_als(gram[None], 2)
    halves = []
    for part in (Z[:15], Z[15:]):
        g = np.transpose((part.T @ part).reshape(3, 20, 3, 20), (0, 2, 1, 3))
        halves.append(g)
    two, loads, _ = _bai_als(np.stack(halves), 2)
    assert len(loads) == 2
    # Separate loadings per half cannot fit worse than shared ones; both near 1, 3.
    assert_allclose(one, [1, 3], atol=0.2)
    assert_allclose(two, [1, 3], atol=0.3)


@pytest.mark.slow
def test_bai2009_design_coefficients_unbiased_within_monte_carlo_error():
    draws = np.array(
        [
            fit_bai_ife(d.y, d.X, 2, demean=False).coef
            for d in (make_bai2009_panel(100, 100, random_state=s) for s in range(30))
        ]
    )
    mean, se = draws.mean(0), draws.std(0, ddof=1) / np.sqrt(len(draws))
    assert np.all(np.abs(mean - [1.0, 3.0]) < 3.5 * se + 1e-3)
    assert np.all(draws.std(0) < 0.03)  # Bai (2009) Table I: SD ~ 0.016
    # Pooled OLS on the same design is biased (the factors load on X).
    d = make_bai2009_panel(100, 100, random_state=0)
    ols = np.linalg.lstsq(d.X.reshape(-1, 2), d.y.ravel(), rcond=None)[0]
    assert abs(ols[0] - 1.0) > 0.05


def test_planted_covariate_effects_and_rank_are_recovered():
    data = make_panel_factors(
        n_subjects=12, n_times=400, n_channels=12, noise_std=0.5, random_state=3
    )
    model = IFEPanelRegressor().fit(data.X, data.y, groups=data.groups)
    assert model.n_factors_.tolist() == [3] * 12
    assert model.subject_level_.tolist() == [True, True, False, False, False]
    # Time-varying effects (within subjects) and the between-subject effects.
    assert_allclose(model.coef_[:, 4], data.coef[:, 4], atol=0.05)
    assert_allclose(model.coef_[:, 2:4], data.coef[:, 2:4], atol=0.6)
    assert_allclose(model.coef_[:, :2], data.coef[:, :2], atol=0.35)
    assert (
        np.corrcoef(model.coef_[:, :4].ravel(), data.coef[:, :4].ravel())[0, 1] > 0.95
    )
    for g in range(12):
        lam = model.loadings_[g]
        true = np.linalg.qr(data.loadings[g])[0]
        cos = np.linalg.svd(lam.T @ true, compute_uv=False)
        assert cos.min() > 0.98


def test_groups_none_is_one_pooled_subject():
    data = make_panel_factors(n_subjects=1, n_times=300, random_state=4)
    X = data.X[["tod_sin", "tod_cos", "state"]]
    a = IFEPanelRegressor().fit(X, data.y)
    b = IFEPanelRegressor().fit(X, data.y, groups=np.zeros(300))
    assert_allclose(a.coef_, b.coef_)
    assert_allclose(a.predict(X), b.predict(X, groups=np.zeros(300)))
    assert a.n_factors_.tolist() == [3]


def test_predict_never_uses_heldout_y_and_unknown_subjects_get_population():
    data = make_panel_factors(n_subjects=8, n_times=200, random_state=5)
    train = data.groups < 6
    model = IFEPanelRegressor().fit(
        data.X[train], data.y[train], groups=data.groups[train]
    )
    Xt, yt, gt = data.X[~train], data.y[~train], data.groups[~train]
    pred = model.predict(Xt, groups=gt)
    # Unknown subjects: population intercept + subject-level effects.
    expected = model.intercept_ + Xt.to_numpy() @ model.coef_.T
    assert_allclose(pred, expected, atol=1e-10)
    # Changing the held-out responses changes reconstruct, never predict/score's
    # prediction.
    known = data.groups == 0
    Xk, yk, gk = data.X[known], data.y[known], data.groups[known]
    p1 = model.predict(Xk, groups=gk)
    r1 = model.reconstruct(Xk, yk, groups=gk)
    y2 = yk + 5.0
    assert_allclose(model.predict(Xk, groups=gk), p1)
    assert not np.allclose(model.reconstruct(Xk, y2, groups=gk), r1)
    assert model.score(Xk, yk, groups=gk) < model.score(Xk, yk, groups=gk) + 1e-12
    with pytest.raises(ValueError, match="not seen in fit"):
        model.transform(Xt, yt, groups=gt)


def test_em_for_missing_y_recovers_complete_data_fit():
    kw = dict(n_subjects=6, n_times=300, n_channels=10, noise_std=0.3, random_state=6)
    full = make_panel_factors(**kw)
    miss = make_panel_factors(missing_y=0.15, **kw)
    assert np.isnan(miss.y).mean() > 0.1
    ref = IFEPanelRegressor(n_factors=3).fit(full.X, full.y, groups=full.groups)
    em = IFEPanelRegressor(n_factors=3, tol=1e-5, max_iter=300).fit(
        miss.X, miss.y, groups=miss.groups
    )
    assert em.n_iter_ > 1
    # The well-identified effect agrees with the complete-data fit.
    assert_allclose(em.coef_[:, 4], ref.coef_[:, 4], atol=0.03)
    assert_allclose(em.coef_[:, 4], full.coef[:, 4], atol=0.05)
    # The imputed cells are close to the complete values (the factor structure
    # is used: far better than the channel means).
    rec = em.reconstruct(full.X, full.y, groups=full.groups)
    cells = np.isnan(miss.y)
    err_em = np.mean((rec[cells] - full.y[cells]) ** 2)
    err_mean = np.mean(
        (np.nanmean(miss.y, 0)[np.nonzero(cells)[1]] - full.y[cells]) ** 2
    )
    assert err_em < 0.3 * err_mean


def test_em_for_missing_covariates_beats_mean_imputation():
    kw = dict(n_subjects=10, n_times=300, n_channels=10, noise_std=0.5, random_state=7)
    full = make_panel_factors(**kw)
    miss = make_panel_factors(missing_covariates=0.3, **kw)
    assert miss.X["state"].isna().mean() > 0.2
    em = IFEPanelRegressor(n_factors=3, max_iter=200).fit(
        miss.X, miss.y, groups=miss.groups
    )
    naive_X = miss.X.fillna(miss.X.mean())
    naive = IFEPanelRegressor(n_factors=3).fit(naive_X, miss.y, groups=miss.groups)
    err_em = np.abs(em.coef_[:, 4] - full.coef[:, 4]).mean()
    err_naive = np.abs(naive.coef_[:, 4] - full.coef[:, 4]).mean()
    assert err_em < 0.5 * err_naive
    assert err_em < 0.1
    # Subjects whose age is missing get its posterior given their intercepts.
    lost = miss.X.groupby(miss.groups)["age"].apply(lambda a: a.isna().all())
    assert lost.any()
    true_age = full.X.groupby(full.groups)["age"].first().to_numpy()
    imputed = em.subject_covariates_[:, 1]
    err_imputed = np.abs(imputed[lost.to_numpy()] - true_age[lost.to_numpy()])
    err_mean = np.abs(true_age[~lost.to_numpy()].mean() - true_age[lost.to_numpy()])
    assert np.all(err_imputed < 0.5) and err_imputed.mean() < err_mean.mean()


def test_student_t_irls_resists_outlying_time_points():
    rng = np.random.RandomState(8)
    data = make_panel_factors(n_subjects=4, n_times=400, n_channels=10, random_state=8)
    y = data.y.copy()
    bad = rng.rand(len(y)) < 0.05
    y[bad] += (
        30 * rng.standard_normal((bad.sum(), 1)) * data.X["state"].to_numpy()[bad, None]
    )
    ols = IFEPanelRegressor(n_factors=3).fit(data.X, y, groups=data.groups)
    rob = IFEPanelRegressor(n_factors=3, robust="t").fit(data.X, y, groups=data.groups)
    err_ols = np.abs(ols.coef_[:, 4] - data.coef[:, 4]).mean()
    err_rob = np.abs(rob.coef_[:, 4] - data.coef[:, 4]).mean()
    assert err_rob < 0.3 * err_ols
    assert rob.weights_[bad].mean() < 0.3 * rob.weights_[~bad].mean()


def test_clear_errors_for_unidentified_designs():
    data = make_panel_factors(n_subjects=3, n_times=100, random_state=9)
    # Too few subjects for sex and age (3 subjects, 2 per parameter): age is
    # dropped (absorbed in the intercept), sex is kept.
    with pytest.warns(UserWarning, match=r"\['age'\] .* from these 3 subjects"):
        few = IFEPanelRegressor().fit(data.X, data.y, groups=data.groups)
    assert np.all(few.coef_[:, 1] == 0) and np.all(few.coef_[:, 0] != 0)
    X = data.X[["tod_sin", "state"]].copy()
    X["state2"] = 2 * X["state"]
    with pytest.raises(ValueError, match="collinear"):
        IFEPanelRegressor().fit(X, data.y, groups=data.groups)
    with pytest.raises(ValueError, match="factor_criterion"):
        IFEPanelRegressor(factor_criterion="bic").fit(X, data.y)
    with pytest.raises(ValueError, match="n_factors"):
        IFEPanelRegressor(n_factors=99).fit(data.X[["state"]], data.y)
    single = pd.DataFrame({"state": data.X["state"], "const": 1.0})
    with pytest.warns(UserWarning, match="not identified"):
        model = IFEPanelRegressor().fit(single, data.y)
    assert np.all(model.coef_[:, 1] == 0)


def test_partial_fit_over_blocks_equals_fit_on_all_data():
    data = make_panel_factors(n_subjects=5, n_times=240, random_state=10)
    full = IFEPanelRegressor().fit(data.X, data.y, groups=data.groups)
    stream = IFEPanelRegressor()
    for block in np.array_split(np.arange(len(data.y)), 7):
        stream.partial_fit(data.X.iloc[block], data.y[block], groups=data.groups[block])
    assert_allclose(stream.coef_, full.coef_, atol=1e-9)
    assert_allclose(stream.group_intercepts_, full.group_intercepts_, atol=1e-9)
    assert_allclose(stream.eigenvalues_, full.eigenvalues_, atol=1e-9)
    assert stream.n_factors_.tolist() == full.n_factors_.tolist()
    assert_allclose(stream.predict(data.X), full.predict(data.X), atol=1e-9)
    with pytest.raises(ValueError, match="complete"):
        IFEPanelRegressor().partial_fit(data.X, np.where(data.y > 3, np.nan, data.y))
