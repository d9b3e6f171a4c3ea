"""The batched REML engine against statsmodels MixedLM and closed forms."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from sk_eeg.datasets import make_nested_timeseries
from sk_eeg.stats._design import DesignSpec, parse_formula
from sk_eeg.stats._engine import term_statistics
from sk_eeg.stats._reml import (
    NestedStructure,
    _chol,
    _logdet_rss,
    fit_reml,
    gls_at,
    stack_stats,
    wald_f,
    x_stats,
    xy_stats,
    y_stats,
)


def _fit(X_design, Y, design, groups="sid", nested="ch"):
    subject = pd.factorize(design[groups], sort=True)[0] if groups else None
    channel = (
        pd.factorize(design[groups].astype(str) + ":" + design[nested].astype(str))[0]
        if nested
        else None
    )
    struct = NestedStructure(subject, channel, len(design))
    stats = xy_stats(X_design, Y, x_stats(X_design, struct), y_stats(Y, struct), struct)
    return fit_reml(stack_stats([stats]), struct), struct


def _statsmodels_fits(Y, design):
    from statsmodels.formula.api import mixedlm

    out = []
    for t in range(Y.shape[1]):
        frame = design.copy()
        frame["data"] = Y[:, t]
        frame["sid_ch"] = frame["sid"].astype(str) + ":" + frame["ch"].astype(str)
        model = mixedlm(
            "data ~ C(hit_miss) * C(region)",
            frame,
            groups=frame["sid"],
            re_formula="1",
            vc_formula={"sid_ch": "0 + C(sid_ch)"},
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out.append(model.fit(method="lbfgs", reml=True))
    return out


def _dense_gls_f(X_design, y, design, res, j):
    """Wald F of coefficient j by dense GLS at statsmodels' variance estimates."""
    sid = design["sid"].to_numpy()
    sid_ch = (design["sid"].astype(str) + ":" + design["ch"].astype(str)).to_numpy()
    V = res.scale * np.eye(len(y))
    V += res.cov_re.to_numpy()[0, 0] * (sid[:, None] == sid[None, :])
    V += res.vcomp[0] * (sid_ch[:, None] == sid_ch[None, :])
    Vi = np.linalg.inv(V)
    cov = np.linalg.inv(X_design.T @ Vi @ X_design)
    beta = cov @ X_design.T @ Vi @ y
    return beta[j] ** 2 / cov[j, j]


@pytest.mark.parametrize("seed, n_missing", [(0, 0), (1, 20)])
def test_reml_matches_statsmodels_mixedlm(seed, n_missing):
    # the original layout: 10 subjects, 169 channels, 338 rows (minus n_missing)
    Y, design = make_nested_timeseries(
        n_times=3,
        effect_window=(1, 3),
        hit_miss_effect=1.0,
        region_effect=0.8,
        interaction_effect=0.5,
        sigma_subject=1.2,
        sigma_channel=0.9,
        n_missing=n_missing,
        random_state=seed,
    )
    spec = DesignSpec(parse_formula("hit_miss * region"), design, "treatment")
    X_design = spec.matrix(design)
    fit, struct = _fit(X_design, Y, design)
    contrasts = [np.eye(4)[[j]] for j in (1, 2, 3)]
    F = term_statistics(fit, contrasts, "F")[0]
    checked = 0
    for t, res in enumerate(_statsmodels_fits(Y, design)):
        interior = res.converged and res.vcomp[0] > 1e-3 * res.scale
        interior &= res.cov_re.to_numpy()[0, 0] > 1e-3 * res.scale
        if not interior:
            continue
        checked += 1
        # our optimum is at least as good as statsmodels' (same criterion)
        gamma_sm = np.array([[[res.cov_re.to_numpy()[0, 0], res.vcomp[0]]]]) / res.scale
        stats_t = xy_stats(
            X_design,
            Y[:, t : t + 1],
            x_stats(X_design, struct),
            y_stats(Y[:, t : t + 1], struct),
            struct,
        )
        at_sm = gls_at(gamma_sm, stack_stats([stats_t]), struct)
        assert fit["criterion"][0, t] <= at_sm["criterion"][0, 0] + 1e-8
        np.testing.assert_allclose(fit["beta"][0, t], res.fe_params, rtol=1e-4)
        np.testing.assert_allclose(fit["sigma2"][0, t], res.scale, rtol=1e-4)
        n_params = len(res.params)
        for i, j in enumerate((1, 2, 3)):
            L = np.zeros((1, n_params))
            L[0, j] = 1
            F_sm = float(np.squeeze(res.f_test(L).fvalue))
            if n_missing == 0 and j != 2:
                # within-channel terms: exact agreement in balanced designs
                np.testing.assert_allclose(F[i, t], F_sm, rtol=1e-4)
            else:
                np.testing.assert_allclose(F[i, t], F_sm, rtol=5e-3)
            # exact GLS Wald F at statsmodels' variance components
            F_dense = _dense_gls_f(X_design, Y[:, t], design, res, j)
            np.testing.assert_allclose(F[i, t], F_dense, rtol=2e-4)
    assert checked >= 2


def test_one_factor_f_equals_squared_paired_t():
    Y, design = make_nested_timeseries(
        n_subjects=5,
        n_channels=6,
        n_times=12,
        effect_window=(3, 9),
        hit_miss_effect=0.8,
        sigma_channel=1.0,
        random_state=3,
    )
    spec = DesignSpec(parse_formula("hit_miss"), design, "treatment")
    fit, _ = _fit(spec.matrix(design), Y, design)
    t_lmm = term_statistics(fit, [spec.contrast("hit_miss")], "t")[0, 0]
    key = design["sid"] + ":" + design["ch"]
    hit = pd.DataFrame(Y[design["hit_miss"].to_numpy() == 1]).set_index(
        key[design["hit_miss"] == 1].to_numpy()
    )
    miss = pd.DataFrame(Y[design["hit_miss"].to_numpy() == 0]).set_index(
        key[design["hit_miss"] == 0].to_numpy()
    )
    diff = (hit - miss.loc[hit.index]).to_numpy()
    t_paired = sps.ttest_1samp(diff, 0).statistic
    interior = fit["gamma"][0, :, 1] > 1e-6
    assert interior.sum() >= 8
    np.testing.assert_allclose(t_lmm[interior], t_paired[interior], rtol=1e-6)


def test_boundary_fit_with_zero_channel_variance_is_finite_and_at_bound():
    Y, design = make_nested_timeseries(
        n_subjects=6,
        n_channels=8,
        n_times=6,
        effect_window=(1, 3),
        sigma_channel=0.0,
        sigma_subject=2.0,
        ar=0.0,
        random_state=0,
    )
    spec = DesignSpec(parse_formula("hit_miss * region"), design, "sum")
    X_design = spec.matrix(design)
    fit, struct = _fit(X_design, Y, design)
    assert np.isfinite(fit["beta"]).all()
    at_bound = fit["gamma"][0, :, 1] == 0
    assert at_bound.any()
    assert (fit["gamma"][0, :, 0] > 0.5).all()
    # the boundary is a true constrained minimum: moving inside increases it
    stats = stack_stats(
        [xy_stats(X_design, Y, x_stats(X_design, struct), y_stats(Y, struct), struct)]
    )
    inside = fit["gamma"].copy()
    inside[..., 1] += 1e-3
    assert (
        gls_at(inside, stats, struct)["criterion"][0, at_bound]
        > fit["criterion"][0, at_bound]
    ).all()


def test_ols_fallback_without_groups_matches_lstsq():
    rng = np.random.default_rng(0)
    X_design = np.column_stack([np.ones(30), rng.normal(size=(30, 2))])
    Y = rng.normal(size=(30, 5))
    struct = NestedStructure(None, None, 30)
    stats = xy_stats(X_design, Y, x_stats(X_design, struct), y_stats(Y, struct), struct)
    fit = fit_reml(stack_stats([stats]), struct)
    coef, *_ = np.linalg.lstsq(X_design, Y, rcond=None)
    np.testing.assert_allclose(fit["beta"][0].T, coef, rtol=1e-10)
    F = wald_f(fit["beta"][0], fit["cov_unscaled"][0], fit["sigma2"][0], np.eye(3)[[1]])
    resid = Y - X_design @ coef
    s2 = (resid**2).sum(0) / 27
    cov = np.linalg.inv(X_design.T @ X_design)
    np.testing.assert_allclose(F, coef[1] ** 2 / (s2 * cov[1, 1]), rtol=1e-10)


def test_augmented_cholesky_gives_logdet_and_residual_sum_of_squares():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(7, 6, 6))
    A = A @ np.swapaxes(A, -1, -2) + 5 * np.eye(6)
    M, r, c = A[:, :5, :5], A[:, :5, 5], A[:, 5, 5]
    rss_ref = c - np.einsum("np,np->n", r, np.linalg.solve(M, r[..., None])[..., 0])
    for logdet, rss in (
        _logdet_rss(A, 5),
        _logdet_rss(A * 0 + _chol(A) @ np.swapaxes(_chol(A), -1, -2), 5),
    ):
        np.testing.assert_allclose(logdet, np.linalg.slogdet(M)[1])
        np.testing.assert_allclose(rss, rss_ref)
    # a degenerate problem in the batch (y in the span of X, rss = 0) takes
    # the slow path for the whole batch: the other problems are unchanged
    B = rng.normal(size=(8, 6))
    B[:, 5] = B[:, :5] @ np.ones(5)
    A_deg = np.concatenate([A, (B.T @ B)[None]])
    logdet, rss = _logdet_rss(A_deg, 5)
    np.testing.assert_allclose(logdet[:-1], np.linalg.slogdet(M)[1], rtol=1e-12)
    np.testing.assert_allclose(rss[:-1], rss_ref, rtol=1e-10)
    assert rss[-1] < 1e-12 * np.abs(B).max() ** 2


def test_fits_in_time_chunks_equal_one_call(monkeypatch):
    import sk_eeg.stats._reml as reml

    X, design = make_nested_timeseries(
        n_subjects=3,
        n_channels=[2, 3, 4],
        n_times=7,
        effect_window=(2, 5),
        random_state=3,
    )
    spec = DesignSpec(parse_formula("hit_miss * region"), design, "sum")
    X_design = spec.matrix(design)
    whole, struct = _fit(X_design, X, design)
    start = whole["gamma"][0] * 1.5
    stats = stack_stats(
        [xy_stats(X_design, X, x_stats(X_design, struct), y_stats(X, struct), struct)]
        * 2
    )
    ref = fit_reml(stats, struct, start=start)
    monkeypatch.setattr(reml, "_MAX_ELEMENTS", 1)  # one timepoint per call
    chunked = fit_reml(stats, struct, start=start)
    for key in ("beta", "sigma2", "gamma", "criterion"):
        np.testing.assert_allclose(chunked[key], ref[key], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(chunked["gamma"][0], whole["gamma"][0], atol=1e-6)


def test_compiled_criterion_equals_the_numpy_reference(monkeypatch):
    import sk_eeg.stats._reml as reml

    # unbalanced channel sizes (several sizes), one flat (degenerate) timepoint
    X, design = make_nested_timeseries(
        n_subjects=4,
        n_channels=[2, 3, 4, 2],
        n_times=6,
        effect_window=(1, 4),
        n_missing=5,
        random_state=4,
    )
    X[:, 2] = 0.0
    spec = DesignSpec(parse_formula("hit_miss * region"), design, "sum")
    X_design = spec.matrix(design)
    _, struct = _fit(X_design, X, design)
    assert len(struct.sizes) > 1
    stats = stack_stats(
        [xy_stats(X_design, X, x_stats(X_design, struct), y_stats(X, struct), struct)]
    )
    P = reml._flatten(stats)
    rng = np.random.default_rng(0)
    gamma = np.concatenate(
        [rng.exponential(size=(3, len(P["A0"]), 2)), np.zeros((1, len(P["A0"]), 2))]
    )
    compiled = reml._criterion(gamma, P, struct)
    idx = np.array([4, 1, 2])  # a subset of the problems, in any order
    compiled_idx = reml._criterion(gamma[:, idx], P, struct, idx)
    monkeypatch.setattr(reml, "_COMPILED", False)
    reference = reml._criterion(gamma, P, struct)
    np.testing.assert_allclose(compiled, reference, rtol=1e-10)
    np.testing.assert_allclose(compiled_idx, reference[:, idx], rtol=1e-10)
    np.testing.assert_allclose(
        reml._criterion(gamma[:, idx], P, struct, idx), reference[:, idx]
    )
