"""Grouped cross-validation of IFEPanelRegressor: routing, unseen subjects."""

import warnings

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_validate

from sk_eeg.datasets import make_panel_factors
from sk_eeg.panel import IFEPanelRegressor, LeaveChannelsOutScorer


@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


def test_grid_search_group_kfold_finds_planted_rank(routing):
    data = make_panel_factors(n_subjects=6, n_times=300, random_state=0)
    # Subjects 0, 3 are the only sex-0 ones: a training fold of GroupKFold(3)
    # has all sex 1, so sex cannot be estimated there (it used to raise).
    est = IFEPanelRegressor().set_fit_request(groups=True)
    search = GridSearchCV(
        est,
        {"n_factors": [1, 2, 3, 4, 5]},
        cv=GroupKFold(3),
        scoring={"loco": LeaveChannelsOutScorer(), "covariates": "r2"},
        refit="loco",
        error_score="raise",
    )
    with pytest.warns(UserWarning, match=r"\['sex'\] .* absorbed in the population"):
        search.fit(data.X, data.y, groups=data.groups)
    res = search.cv_results_
    for key in ("mean_test_loco", "mean_test_covariates"):
        assert np.all(np.isfinite(res[key]))
    assert search.best_params_ == {"n_factors": data.n_factors}
    assert np.argmax(res["mean_test_loco"]) == data.n_factors - 1
    # The covariate-only score of unseen subjects beats their mean (planted
    # time-varying effects) and does not depend on the rank.
    assert np.all(res["mean_test_covariates"] > 0.05)
    assert np.ptp(res["mean_test_covariates"]) < 1e-12


def test_grid_search_over_rank_criterion_with_routed_groups(routing):
    data = make_panel_factors(n_subjects=6, n_times=300, random_state=1)
    est = IFEPanelRegressor().set_fit_request(groups=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        search = GridSearchCV(
            est,
            {"factor_criterion": ["consensus", "ed", "cv"]},
            cv=GroupKFold(3),
            scoring=LeaveChannelsOutScorer(),
            error_score="raise",
        ).fit(data.X, data.y, groups=data.groups)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_estimator_.n_factors_.tolist() == [3] * 6
    # cross_validate with the estimator's own score (routed groups too).
    est = est.set_score_request(groups=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        cv = cross_validate(
            est, data.X, data.y, params={"groups": data.groups}, cv=GroupKFold(3)
        )
    assert np.all(np.isfinite(cv["test_score"]))


def test_constant_subject_column_in_training_is_absorbed_and_unseen_use_population():
    data = make_panel_factors(n_subjects=8, n_times=150, random_state=2)
    sex = data.X.groupby(data.groups)["sex"].first().to_numpy()
    train = np.isin(data.groups, np.flatnonzero(sex == 1))
    assert 4 <= train.sum() // 150 < 8
    with pytest.warns(UserWarning, match=r"\['sex'\]"):
        model = IFEPanelRegressor().fit(
            data.X[train], data.y[train], groups=data.groups[train]
        )
    assert np.all(model.coef_[:, 0] == 0)
    assert np.all(model.coef_[:, 1] != 0)  # age is still estimated
    Xt, gt = data.X[~train], data.groups[~train]
    pred = model.predict(Xt, groups=gt)
    assert np.all(np.isfinite(pred))
    assert_allclose(pred, model.intercept_ + Xt.to_numpy() @ model.coef_.T)


def test_leave_channels_out_scorer_is_honest_on_noise():
    rng = np.random.RandomState(3)
    y = rng.standard_normal((400, 12))
    X = rng.standard_normal((400, 1))
    groups = np.repeat([0, 1], 200)
    scorer = LeaveChannelsOutScorer()
    for rank in (0, 2, 4):
        model = IFEPanelRegressor(n_factors=rank).fit(X, y, groups=groups)
        score = scorer(model, X, y, groups=groups)
        # No factor structure: the other channels cannot predict a channel.
        assert score <= 0.005 if rank else score == pytest.approx(0.0, abs=1e-12)
    data = make_panel_factors(n_subjects=2, n_times=300, random_state=4)
    model = IFEPanelRegressor(n_factors=3).fit(data.X, data.y, groups=data.groups)
    assert scorer(model, data.X, data.y, groups=data.groups) > 0.5
    with pytest.raises(ValueError, match="NaN"):
        scorer(model, data.X, np.full_like(data.y, np.nan), groups=data.groups)
