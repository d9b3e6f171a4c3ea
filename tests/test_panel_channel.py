"""Channel-varying regressors (Bai 2009's x_it) in IFEPanelRegressor."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sk_eeg.datasets import make_bai2009_panel
from sk_eeg.panel import IFEPanelRegressor, fit_bai_ife


def test_one_subject_equals_fit_bai_ife_with_unit_effects():
    data = make_bai2009_panel(30, 200, random_state=0)
    ref = fit_bai_ife(data.y, data.X, 2, demean=True, tol=1e-13)
    model = IFEPanelRegressor(n_factors=2, tol=1e-10, chunk_size=37).fit(
        np.zeros((200, 0)), data.y, channel_X=data.X
    )
    assert_allclose(model.channel_coef_, ref.coef, atol=1e-8)
    proj = model.loadings_[0] @ model.loadings_[0].T
    assert_allclose(proj, ref.loadings @ ref.loadings.T, atol=1e-6)
    # The default rank criterion finds the two planted factors on the way
    # (its edge test runs at the 2.5% level: a third factor now and then).
    ranks = []
    for seed in range(3):
        draw = make_bai2009_panel(30, 200, random_state=seed)
        auto = IFEPanelRegressor().fit(np.zeros((200, 0)), draw.y, channel_X=draw.X)
        ranks.append(auto.n_factors_[0])
        if ranks[-1] == 2:
            ref = fit_bai_ife(draw.y, draw.X, 2, demean=True, tol=1e-13)
            assert_allclose(auto.channel_coef_, ref.coef, atol=1e-6)
    assert ranks.count(2) >= 2


def _panel(seed, n_subjects=4, n_times=250, n_channels=20):
    """Subjects with own loadings, a time covariate and Bai-type x_it."""
    rng = np.random.RandomState(seed)
    c = rng.standard_normal(n_channels)
    beta = np.array([1.0, -2.0])
    ys, xs, cxs, gs = [], [], [], []
    for g in range(n_subjects):
        lam = rng.standard_normal((n_channels, 2))
        fac = rng.standard_normal((n_times, 2))
        common = fac @ lam.T
        x_t = rng.standard_normal(n_times)
        cx = np.stack(
            [common + lam.sum(1) + rng.standard_normal((n_times, n_channels))]
            + [rng.standard_normal((n_times, n_channels)) + 0.5 * common],
            axis=2,
        )
        y = 3.0 + np.outer(x_t, c) + cx @ beta + common
        ys.append(y + rng.standard_normal(y.shape))
        xs.append(x_t[:, None])
        cxs.append(cx)
        gs.append(np.full(n_times, g))
    return (np.vstack(xs), np.vstack(ys), np.concatenate(gs), np.vstack(cxs), beta, c)


def test_several_subjects_recover_shared_beta_and_time_effects():
    X, y, groups, cx, beta, c = _panel(1)
    model = IFEPanelRegressor(n_factors=2).fit(X, y, groups=groups, channel_X=cx)
    assert_allclose(model.channel_coef_, beta, atol=0.03)
    assert_allclose(model.coef_[:, 0], c, atol=0.2)
    # Without the factors the regressors, loaded on them, are biased.
    ols = IFEPanelRegressor(n_factors=0).fit(X, y, groups=groups, channel_X=cx)
    assert np.max(np.abs(ols.channel_coef_ - beta)) > 0.1
    pred = model.predict(X, groups, channel_X=cx)
    assert pred.shape == y.shape
    assert model.score(X, y, groups, channel_X=cx) > 0.5
    with pytest.raises(ValueError, match="pass channel_X"):
        model.predict(X, groups)
    with pytest.raises(ValueError, match="shape"):
        IFEPanelRegressor().fit(X, y, groups=groups, channel_X=cx[:10])
    with pytest.raises(ValueError, match="complete"):
        IFEPanelRegressor().fit(X, np.where(y > 5, np.nan, y), channel_X=cx)


def test_partial_fit_with_channel_regressors_equals_fit():
    X, y, groups, cx, beta, _ = _panel(2, n_subjects=3, n_times=120, n_channels=12)
    full = IFEPanelRegressor(n_factors=2, tol=1e-10).fit(
        X, y, groups=groups, channel_X=cx
    )
    stream = IFEPanelRegressor(n_factors=2, tol=1e-10)
    for block in np.array_split(np.arange(len(y)), 7):
        stream.partial_fit(X[block], y[block], groups[block], channel_X=cx[block])
    assert_allclose(stream.channel_coef_, full.channel_coef_, atol=1e-8)
    assert_allclose(stream.coef_, full.coef_, atol=1e-8)
    assert_allclose(stream.group_intercepts_, full.group_intercepts_, atol=1e-8)
    with pytest.raises(ValueError, match="every partial_fit call or in none"):
        stream.partial_fit(X[:5], y[:5], groups[:5])
