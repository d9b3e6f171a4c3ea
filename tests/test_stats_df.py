"""Denominator degrees of freedom of ClusterLMETest against lmerTest (stored R output).

tests/data/lmertest_reference.R simulated the designs, fitted ``lmer`` at three
timepoints and stored lmerTest's ``anova(type = 3)`` with sum contrasts; R is
not needed here.
"""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sk_eeg.stats import ClusterLMETest
from sk_eeg.stats._df import _combine_df

DATA = Path(__file__).parent / "data"
REFERENCE = pd.read_csv(DATA / "lmertest_anova.csv")
MODELS = sorted(
    REFERENCE.groupby(["data", "model", "rhs"]).groups, key=lambda k: (k[0], k[1])
)


def _fit(data, model, rhs, **kwargs):
    design = pd.read_csv(DATA / f"lmertest_data_{data}.csv")
    X = design[["y1", "y2", "y3"]].to_numpy()
    test = ClusterLMETest(
        rhs.split("+ (")[0],
        groups="sid",
        nested="ch" if model == "nested" else None,
        n_permutations=1,
        verbose=False,
        **kwargs,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 1 permutation
        return test.fit(X, design=design)


@pytest.mark.parametrize("data, model, rhs", MODELS)
def test_satterthwaite_df_and_p_equal_lmertest(data, model, rhs):
    test = _fit(data, model, rhs)
    ref = REFERENCE[
        (REFERENCE["data"] == data)
        & (REFERENCE["model"] == model)
        & (REFERENCE["rhs"] == rhs)
    ]
    assert not ref["singular"].any()
    assert set(ref["term"]) == set(test.terms_)
    for _, row in ref.iterrows():
        i = test.terms_.index(row["term"])
        t = row["timepoint"] - 1
        np.testing.assert_allclose(test.stat_[i, t], row["F"], rtol=1e-4)
        assert test.df_num_[i] == row["num_df"]
        np.testing.assert_allclose(
            test.df_den_[i, t], row["den_df_satterthwaite"], rtol=1e-4
        )
        np.testing.assert_allclose(
            test.p_uncorrected_[i, t], row["p_satterthwaite"], rtol=1e-4
        )
    stated = _fit(data, model, rhs, df_method="between-within")
    if data == "balanced":
        # balanced nested design: Satterthwaite gives the containment df
        np.testing.assert_allclose(test.df_den_, stated.df_den_, rtol=1e-4)
    elif model == "nested":
        assert not np.allclose(stated.df_den_, test.df_den_, rtol=1e-2)


@pytest.mark.parametrize("data, model, rhs", MODELS)
def test_kenward_roger_f_df_and_p_equal_pbkrtest(data, model, rhs):
    test = _fit(data, model, rhs, df_method="kenward-roger")
    ref = REFERENCE[
        (REFERENCE["data"] == data)
        & (REFERENCE["model"] == model)
        & (REFERENCE["rhs"] == rhs)
    ]
    for _, row in ref.iterrows():
        i = test.terms_.index(row["term"])
        t = row["timepoint"] - 1
        np.testing.assert_allclose(
            test.stat_kenward_roger_[i, t], row["F_kr"], rtol=1e-3
        )
        np.testing.assert_allclose(
            test.df_den_[i, t], row["den_df_kenward_roger"], rtol=1e-3
        )
        np.testing.assert_allclose(
            test.p_uncorrected_[i, t], row["p_kenward_roger"], rtol=1e-3
        )
    # the clusters still form on the REML Wald F
    np.testing.assert_allclose(test.stat_, _fit(data, model, rhs).stat_)


def test_satterthwaite_in_time_chunks_equals_one_call(monkeypatch):
    import sk_eeg.stats._reml as reml

    rhs = "cond * region + group + (1 | sid) + (1 | sid:ch)"
    whole = _fit("unbalanced", "nested", rhs)
    monkeypatch.setattr(reml, "_MAX_ELEMENTS", 1)  # one timepoint per call
    chunked = _fit("unbalanced", "nested", rhs)
    # equal up to the rounding of the finite differences (~1e-6)
    np.testing.assert_allclose(chunked.df_den_, whole.df_den_, rtol=2e-5)


def test_satterthwaite_without_grouping_is_the_residual_df():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    y = np.repeat(["a", "b", "c"], 10)
    for method in ("satterthwaite", "kenward-roger"):
        test = ClusterLMETest(
            n_permutations=19, df_method=method, random_state=0, verbose=False
        ).fit(X, y)
        np.testing.assert_allclose(test.df_den_, 30 - 3, rtol=1e-6)
    # without random effects the adjusted F is the F
    np.testing.assert_allclose(test.stat_kenward_roger_, test.stat_, rtol=1e-8)


def test_f_test_df_combines_directions_as_lmertest():
    # lmerTest's get_Fstat_ddf: equal nu -> nu; any nu <= 2 -> 2; else 2E/(E-q)
    np.testing.assert_allclose(_combine_df(np.array([[10.0, 10.0]])), [10.0])
    np.testing.assert_allclose(_combine_df(np.array([[1.5, 30.0]])), [2.0])
    nu = np.array([8.0, 20.0, 50.0])
    e = (nu / (nu - 2)).sum()
    np.testing.assert_allclose(_combine_df(nu[None]), [2 * e / (e - 3)])
