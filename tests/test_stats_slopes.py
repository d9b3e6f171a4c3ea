"""Random slopes: exactness against lme4 / lmerTest, FWER, unsupported input.

Under a null with a random hit/miss slope per subject (mean 0), the channels
of a subject share the slope. The nested intercept-only model with
within-channel swaps is then anti-conservative, while subject averages (one
row per subject and condition) and the random-slope model
(``random_slopes=``, whole-subject level swaps) keep the FWER.
"""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.base import clone

from sk_eeg.stats import ClusterLMETest


def _random_slope_null(rng, n_subjects=10, n_channels=4, n_times=20):
    rows, Y = [], []
    for s in range(n_subjects):
        u = rng.normal(0, 1, n_times)
        slope = rng.normal(0, 1, n_times)  # subject's hit - miss, mean 0
        for c in range(n_channels):
            v = rng.normal(0, 0.7, n_times)
            for hit in (0, 1):
                Y.append(u + v + (hit - 0.5) * slope + rng.normal(0, 1, n_times))
                rows.append((f"s{s}", f"c{c}", hit))
    return np.array(Y), pd.DataFrame(rows, columns=["sid", "ch", "hit_miss"])


@pytest.mark.slow
def test_random_slope_null_intercept_only_is_anti_conservative_averages_are_not():
    rng = np.random.default_rng(0)
    n_rep = 60
    kw = dict(n_permutations=99, verbose=False)
    false_nested = false_avg = 0
    for rep in range(n_rep):
        Y, design = _random_slope_null(rng)
        nested = ClusterLMETest(
            "hit_miss", groups="sid", nested="ch", random_state=rep, **kw
        ).fit(Y, design=design)
        false_nested += bool(nested.clusters_["significant"].any())
        cells = design.groupby(["sid", "hit_miss"]).indices
        Y_avg = np.stack([Y[idx].mean(axis=0) for idx in cells.values()])
        design_avg = pd.DataFrame(list(cells), columns=["sid", "hit_miss"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            avg = ClusterLMETest("hit_miss", groups="sid", random_state=rep, **kw)
            avg.fit(Y_avg, design=design_avg)
        false_avg += bool(avg.clusters_["significant"].any())
    # binomial tails at the nominal 5%: P(X >= 12) and P(X >= 9) are < 0.01
    assert sps.binom.sf(11, n_rep, 0.05) < 1e-3
    assert false_nested >= 12
    assert false_avg <= 8


# ---------------------------------------------------------------- random_slopes
DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(
    "data, model",
    [("balanced", "nested"), ("unbalanced", "nested"), ("unbalanced", "subject")],
)
def test_random_slopes_equal_lme4_lmertest(data, model):
    """REML variances, F, Satterthwaite df and p equal lme4 / lmerTest.

    Reference: tests/data/lmertest_slopes_reference.R (lme4 1.1.31, lmerTest
    3.1.3); ``y ~ cond * region + (1 + cond | sid) [+ (1 | sid:ch)]`` at three
    responses. Compared where lme4 converges to a non-singular fit (one
    balanced response is a singular fit, intercept-slope correlation -1).
    """
    ref = pd.read_csv(DATA / "lmertest_slopes_anova.csv")
    ref = ref[(ref["data"] == data) & (ref["model"] == model)]
    assert len(ref) == 9
    ok = (ref.groupby("timepoint")["converged"].all()) & ~(
        ref.groupby("timepoint")["singular"].any()
    )
    assert ok.sum() >= 2
    ok = ok.to_numpy()
    d = pd.read_csv(DATA / f"lmertest_slopes_data_{data}.csv")
    X = d[["y1", "y2", "y3"]].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # few permutations
        test = ClusterLMETest(
            "cond * region",
            groups="sid",
            nested="ch" if model == "nested" else None,
            random_slopes="cond",
            n_permutations=9,
            random_state=0,
            verbose=False,
        ).fit(X, design=d)
    vc = test.variance_components_[ok]
    per_time = ref.groupby("timepoint").first()[ok]
    np.testing.assert_allclose(vc["subject"], per_time["var_intercept"], atol=1e-5)
    np.testing.assert_allclose(
        vc["subject:cond[S.a]"], per_time["var_slope"], atol=1e-5
    )
    np.testing.assert_allclose(
        vc["cov(subject, cond[S.a])"], per_time["cov_intercept_slope"], atol=1e-5
    )
    np.testing.assert_allclose(vc["residual"], per_time["var_residual"], atol=1e-5)
    var_channel = per_time["var_channel"].fillna(0.0)
    np.testing.assert_allclose(vc["channel"], var_channel, atol=1e-5)
    for i, term in enumerate(test.terms_):
        r = ref[ref["term"] == term].sort_values("timepoint")[ok]
        np.testing.assert_allclose(test.stat_[i][ok], r["F"], rtol=1e-5)
        np.testing.assert_allclose(
            test.df_den_[i][ok], r["den_df_satterthwaite"], rtol=1e-4
        )
        np.testing.assert_allclose(
            test.p_uncorrected_[i][ok], r["p_satterthwaite"], rtol=1e-4, atol=1e-6
        )


def test_random_slopes_permutations_swap_whole_subjects():
    """The slope factor's null exchanges its levels in all rows of a subject."""
    rng = np.random.default_rng(1)
    Y, design = _random_slope_null(rng, n_subjects=6, n_channels=2, n_times=4)
    test = ClusterLMETest(
        "hit_miss",
        groups="sid",
        nested="ch",
        random_slopes="hit_miss",
        n_permutations=19,
        random_state=0,
        verbose=False,
    ).fit(Y, design=design)
    # an independent check of one permuted statistic: swapping the labels of
    # every subject gives the observed F again (F is invariant to the sign)
    flipped = design.copy()
    flipped["hit_miss"] = 1 - flipped["hit_miss"]
    again = clone(test).fit(Y, design=flipped)
    np.testing.assert_allclose(again.stat_, test.stat_, rtol=1e-6)
    # the null statistics are all finite and not all equal to the observed one
    assert np.isfinite(test.null_stat_).all()
    assert not np.allclose(test.null_stat_[0], test.stat_[0])
    assert set(test.variance_components_.columns) == {
        "subject",
        "channel",
        "residual",
        "subject:hit_miss[S.0]",
        "cov(subject, hit_miss[S.0])",
    }


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(groups=None, nested=None), "random_slopes needs groups"),
        (dict(random_slopes="region"), "not a main effect"),
        (dict(formula="hit_miss + level3", random_slopes="level3"), "two-level"),
        (dict(formula="hit_miss + cov", random_slopes="cov"), "covariate"),
        (dict(formula="hit_miss + group", random_slopes="group"), "constant within"),
        (dict(df_method="kenward-roger"), "not available with random_slopes"),
        (dict(n_permutations="all"), "not available with random_slopes"),
        (dict(permutation_scheme="freedman-lane"), "not available with random"),
        (dict(random_slopes=3), "must be a factor name"),
    ],
)
def test_random_slopes_unsupported_structures_get_clear_errors(kwargs, match):
    rng = np.random.default_rng(2)
    Y, design = _random_slope_null(rng, n_subjects=4, n_channels=2, n_times=3)
    n = len(design)
    design["level3"] = np.arange(n) % 3
    design["cov"] = rng.normal(size=n)
    design["group"] = design["sid"].isin(["s0", "s1"]).astype(int)
    params = dict(
        formula="hit_miss",
        groups="sid",
        nested="ch",
        random_slopes="hit_miss",
        n_permutations=9,
        verbose=False,
    )
    params.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        ClusterLMETest(**params).fit(Y, design=design)


def test_formula_random_term_points_to_random_slopes():
    rng = np.random.default_rng(3)
    Y, design = _random_slope_null(rng, n_subjects=3, n_channels=2, n_times=3)
    with pytest.raises(ValueError, match="random_slopes='cond'"):
        ClusterLMETest("hit_miss + (1 + hit_miss | sid)", groups="sid").fit(
            Y, design=design
        )


@pytest.mark.slow
def test_random_slopes_keep_the_fwer_where_intercepts_only_do_not():
    """Null with a random slope per subject: FWER of both models, same data."""
    rng = np.random.default_rng(10)
    n_rep = 60
    kw = dict(n_permutations=39, batch_size=40, verbose=False)
    false_nested = false_slopes = 0
    for rep in range(n_rep):
        Y, design = _random_slope_null(rng, n_channels=4, n_times=10)
        nested = ClusterLMETest(
            "hit_miss", groups="sid", nested="ch", random_state=rep, **kw
        ).fit(Y, design=design)
        false_nested += bool(nested.clusters_["significant"].any())
        slopes = ClusterLMETest(
            "hit_miss",
            groups="sid",
            nested="ch",
            random_slopes="hit_miss",
            random_state=rep,
            **kw,
        ).fit(Y, design=design)
        false_slopes += bool(slopes.clusters_["significant"].any())
    # binomial tails at the nominal 5%: P(X >= 12) < 1e-3, P(X >= 9) < 0.01
    assert sps.binom.sf(8, n_rep, 0.05) < 0.01
    assert false_nested >= 12
    assert false_slopes <= 8


def test_cli_random_slopes_option(tmp_path):
    from sk_eeg.cli import main

    rng = np.random.default_rng(4)
    Y, design = _random_slope_null(rng, n_subjects=5, n_channels=2, n_times=6)
    wide = pd.concat(
        [design, pd.DataFrame(Y, columns=[f"t{i}" for i in range(Y.shape[1])])],
        axis=1,
    )
    src = tmp_path / "data.csv"
    wide.to_csv(src, index=False)
    out = tmp_path / "res.csv"
    args = ["cluster-lme", str(src), "--formula", "hit_miss", "--random-slopes"]
    args += ["hit_miss", "--n-permutations", "19", "--quiet", "--out", str(out)]
    assert main(args + ["--plot", str(tmp_path / "fig.png")]) == 0
    frame = pd.read_csv(out)
    direct = ClusterLMETest(
        "hit_miss",
        groups="sid",
        nested="ch",
        random_slopes="hit_miss",
        n_permutations=19,
        verbose=False,
    ).fit(Y, design=design)
    np.testing.assert_allclose(frame["F"], direct.stat_[0], rtol=1e-6)
    assert (tmp_path / "fig.png").exists()


def test_slope_criterion_equals_dense_algebra_and_chunks_equal_one_call(
    monkeypatch,
):
    """The per-(subject, size) sums equal dense ``H`` at arbitrary ``theta``."""
    from sk_eeg.stats import _slopes
    from sk_eeg.stats._design import DesignSpec, parse_formula
    from sk_eeg.stats._input import grouping
    from sk_eeg.stats._reml import NestedStructure

    d = pd.read_csv(DATA / "lmertest_slopes_data_unbalanced.csv")
    spec = DesignSpec(parse_formula("cond * region"), d, "sum")
    X = spec.matrix(d)
    subject, channel = grouping(d, "sid", "ch")
    sm = _slopes.SlopeModel(NestedStructure(subject, channel, len(d)), [1])
    Y = d[["y1", "y2", "y3"]].to_numpy()
    P = _slopes.slope_stats(X, sm.z(X), Y, sm.ss)
    rng = np.random.default_rng(0)
    theta = rng.normal(size=(3, 4))
    crit = _slopes._criterion(theta[None], P, sm.ss)[0]
    n, p = X.shape
    Z = sm.z(X)
    Zc = np.eye(channel.max() + 1)[channel]
    for t in range(3):
        T = np.array([[theta[t, 0], 0], [theta[t, 1], theta[t, 2]]])
        G = T @ T.T
        same = subject[:, None] == subject[None, :]
        H = np.eye(n) + theta[t, 3] ** 2 * Zc @ Zc.T + same * (Z @ G @ Z.T)
        Hi = np.linalg.inv(H)
        M = X.T @ Hi @ X
        beta = np.linalg.solve(M, X.T @ Hi @ Y[:, t])
        e = Y[:, t] - X @ beta
        dense = (
            np.linalg.slogdet(H)[1]
            + np.linalg.slogdet(M)[1]
            + (n - p) * np.log(e @ Hi @ e)
        )
        np.testing.assert_allclose(crit[t], dense, rtol=1e-10)
    # fits in memory-bounded chunks equal one call
    Ys = [Y, Y[::-1]]
    whole, _ = _slopes.fit_batch([X, X], Ys, sm)
    monkeypatch.setattr(_slopes, "_MAX_ELEMENTS", 1)
    parts, _ = _slopes.fit_batch([X, X], Ys, sm)
    np.testing.assert_allclose(parts["beta"], whole["beta"], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(parts["sigma2"], whole["sigma2"], rtol=1e-7)


@pytest.mark.parametrize("coding", ["sum", "treatment"])
def test_swapped_subject_sums_equal_sums_of_swapped_designs(coding):
    """Level swaps as linear maps of per-subject sums: same stats, same null."""
    from sk_eeg.stats import _slopes
    from sk_eeg.stats._design import DesignSpec, parse_formula
    from sk_eeg.stats._input import grouping
    from sk_eeg.stats._reml import NestedStructure

    d = pd.read_csv(DATA / "lmertest_slopes_data_unbalanced.csv")
    spec = DesignSpec(parse_formula("cond * region"), d, coding)
    X = spec.matrix(d)
    subject, channel = grouping(d, "sid", "ch")
    sm = _slopes.SlopeModel(NestedStructure(subject, channel, len(d)), [1])
    Y = d[["y1", "y2", "y3"]].to_numpy()
    cols = {f: d[f].to_numpy() for f in d.columns}
    lv = spec.levels["cond"]
    other = np.where(cols["cond"] == lv[0], lv[1], lv[0])
    X_sw = spec.matrix(d, {**cols, "cond": other})
    maps = _slopes.swap_maps(X, X_sw, sm.z(X), sm.z(X_sw))
    assert maps is not None
    flips = np.random.default_rng(0).random((4, subject.max() + 1)) < 0.5
    designs = [
        spec.matrix(d, {**cols, "cond": np.where(f[subject], other, cols["cond"])})
        for f in flips
    ]
    direct = _slopes.stack_slope_stats(
        [_slopes.slope_stats(x, sm.z(x), Y, sm.ss) for x in designs]
    )
    sub = _slopes.subject_slope_stats(X, sm.z(X), Y, sm.ss)
    derived = _slopes.swapped_slope_stats(sub, *maps, flips)
    assert set(derived) == set(direct)
    for key in direct:
        np.testing.assert_allclose(derived[key], direct[key], atol=1e-9, err_msg=key)
    # the null chunk (derived sums, started at the observed fit and Hessian)
    # equals fits of the permuted designs from a grid start
    from sk_eeg.stats._engine import term_statistics

    fit, _ = _slopes.fit_batch([X], [Y], sm)
    L = [np.eye(X.shape[1])[[j]] for j in range(1, X.shape[1])]
    job = {"kind": "swap", "idx": {"cond": flips}}
    null = _slopes.slope_null_chunk(job, Y, d, spec, sm, L, "F", start=fit["gamma"][0])
    cold, _ = _slopes.fit_batch(designs, [Y] * len(designs), sm)
    np.testing.assert_allclose(null, term_statistics(cold, L, "F"), rtol=1e-5)
    # a map that is not exact is refused (the rows are then refitted directly)
    assert _slopes.swap_maps(X, X_sw[::-1], sm.z(X), sm.z(X_sw)) is None


def test_permuted_fits_started_at_a_singular_observed_fit_reach_the_optimum():
    """A zero slope variance in the observed fit is a saddle of the criterion.

    The permuted fits start at the observed ``theta``; where its slope
    standard deviation is 0 the gradient vanishes by symmetry. They must
    still reach the REML optimum of a cold fit (they stopped there before,
    with F off by up to 45% and -2 log-lik 0.3 too high).
    """
    from sk_eeg.stats import _slopes
    from sk_eeg.stats._design import DesignSpec, parse_formula
    from sk_eeg.stats._engine import term_statistics
    from sk_eeg.stats._input import grouping
    from sk_eeg.stats._reml import NestedStructure

    rng = np.random.default_rng(0)
    rows, Y = [], []
    for s in range(8):  # no random slope: many singular observed fits
        u = rng.normal(0, 1, 30)
        for c in range(4):
            v = rng.normal(0, 0.7, 30)
            for hit in (0, 1):
                Y.append(u + v + 0.3 * hit + rng.normal(0, 1, 30))
                rows.append((f"s{s}", f"c{c}", hit))
    Y, d = np.array(Y), pd.DataFrame(rows, columns=["sid", "ch", "hit_miss"])
    spec = DesignSpec(parse_formula("hit_miss"), d, "sum")
    X = spec.matrix(d)
    subject, channel = grouping(d, "sid", "ch")
    sm = _slopes.SlopeModel(NestedStructure(subject, channel, len(d)), [1])
    fit, _ = _slopes.fit_batch([X], [Y], sm)
    assert (np.abs(fit["theta"][0][:, 2]) < 1e-3).sum() >= 5
    flips = rng.random((10, 8)) < 0.5
    hit = d["hit_miss"].to_numpy()
    designs = [
        spec.matrix(d, {**d, "hit_miss": np.where(f[subject], 1 - hit, hit)})
        for f in flips
    ]
    warm, _ = _slopes.fit_batch(designs, [Y] * 10, sm, fit["gamma"][0])
    cold, _ = _slopes.fit_batch(designs, [Y] * 10, sm)
    assert (warm["criterion"] - cold["criterion"]).max() < 1e-8
    L = [np.eye(2)[[1]]]
    F_warm, F_cold = term_statistics(warm, L, "F"), term_statistics(cold, L, "F")
    np.testing.assert_allclose(F_warm, F_cold, rtol=1e-5)


@pytest.mark.parametrize("nested", [True, False])
def test_slope_derivatives_equal_finite_differences_of_the_criterion(nested):
    """The analytic gradient and Hessian of the compiled kernel are exact."""
    from sk_eeg.stats import _slopes
    from sk_eeg.stats._design import DesignSpec, parse_formula
    from sk_eeg.stats._input import grouping
    from sk_eeg.stats._reml import NestedStructure

    d = pd.read_csv(DATA / "lmertest_slopes_data_unbalanced.csv")
    spec = DesignSpec(parse_formula("cond * region"), d, "sum")
    X = spec.matrix(d)
    subject, channel = grouping(d, "sid", "ch")
    struct = NestedStructure(subject, channel if nested else None, len(d))
    sm = _slopes.SlopeModel(struct, [1])
    Y = d[["y1", "y2", "y3"]].to_numpy()
    P = _slopes.slope_stats(X, sm.z(X), Y, sm.ss)
    theta = np.random.default_rng(1).normal(size=(3, sm.ss.n_theta))
    idx = np.arange(3)
    f, grad, hess = _slopes._derivatives(theta, P, sm.ss, idx)
    np.testing.assert_allclose(f, _slopes._criterion(theta[None], P, sm.ss)[0])
    h = 1e-5
    for i in range(theta.shape[1]):
        e = np.zeros(theta.shape[1])
        e[i] = h
        up = _slopes._criterion((theta + e)[None], P, sm.ss)[0]
        down = _slopes._criterion((theta - e)[None], P, sm.ss)[0]
        np.testing.assert_allclose(grad[:, i], (up - down) / (2 * h), rtol=1e-6)
        g_up = _slopes._derivatives(theta + e, P, sm.ss, idx)[1]
        g_down = _slopes._derivatives(theta - e, P, sm.ss, idx)[1]
        np.testing.assert_allclose(
            hess[:, :, i], (g_up - g_down) / (2 * h), rtol=1e-6, atol=1e-6
        )
