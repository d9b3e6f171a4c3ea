"""ClusterLMETest vs the per-timepoint statsmodels MixedLM loop of the original.

Same simulated 338 x 139 dataset (10 subjects, 169 channels, hit/miss within
channel, region between channels). Prints

1. one full pass over the timepoints: statsmodels ``mixedlm(...).fit`` +
   3 ``f_test`` per timepoint (the original loop) vs the batched REML engine
   (a cold fit from a grid start, and the amortised cost per permuted dataset
   inside a permutation run), and the speed-up ratios;
2. agreement of the two on this dataset;
3. the wall time of the whole 1000-permutation test with ``n_jobs``.

Usage: ``python benchmarks/bench_stats.py [--quick] [--n-jobs 2]``.
"""

import argparse
import time
import warnings

import numpy as np

from sk_eeg.datasets import make_nested_timeseries
from sk_eeg.stats import ClusterLMETest
from sk_eeg.stats._design import DesignSpec, parse_formula
from sk_eeg.stats._engine import term_statistics
from sk_eeg.stats._reml import (
    NestedStructure,
    fit_reml,
    gls_at,
    stack_stats,
    x_stats,
    xy_stats,
    y_stats,
)


def statsmodels_pass(X, design, times):
    from statsmodels.formula.api import mixedlm

    F = np.zeros((3, len(times)))
    gamma = np.zeros((len(times), 2))
    converged = np.zeros(len(times), bool)
    frame = design.copy()
    frame["sid_ch"] = frame["sid"] + ":" + frame["ch"]
    for i, t in enumerate(times):
        frame["data"] = X[:, t]
        model = mixedlm(
            "data ~ C(hit_miss) * C(region)",
            frame,
            groups=frame["sid"],
            re_formula="1",
            vc_formula={"sid_ch": "0 + C(sid_ch)"},
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = model.fit(method="lbfgs", reml=True)
            gamma[i] = [
                res.cov_re.to_numpy()[0, 0] / res.scale,
                res.vcomp[0] / res.scale,
            ]
            converged[i] = res.converged
            for j in range(3):
                L = np.zeros((1, len(res.params)))
                L[0, j + 1] = 1
                F[j, i] = np.squeeze(res.f_test(L).fvalue)
    return F, gamma, converged


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="statsmodels on 20 timepoints (extrapolated), 200 permutations",
    )
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()

    X, design = make_nested_timeseries(hit_miss_effect=0.8, random_state=0)
    n_obs, n_times = X.shape
    print(
        f"data: {n_obs} rows x {n_times} timepoints, "
        f"{design.groupby(['sid', 'ch']).ngroups} channels, "
        f"{design['sid'].nunique()} subjects"
    )

    sm_times = np.arange(0, n_times, 7) if args.quick else np.arange(n_times)
    start = time.perf_counter()
    F_sm, gamma_sm, converged = statsmodels_pass(X, design, sm_times)
    sm_per_tp = (time.perf_counter() - start) / len(sm_times)
    sm_pass = sm_per_tp * n_times

    spec = DesignSpec(parse_formula("hit_miss * region"), design, "treatment")
    X_design = spec.matrix(design)
    sid = design["sid"].factorize(sort=True)[0]
    chan = (design["sid"] + ":" + design["ch"]).factorize(sort=True)[0]
    struct = NestedStructure(sid, chan, n_obs)
    stats = stack_stats(
        [xy_stats(X_design, X, x_stats(X_design, struct), y_stats(X, struct), struct)]
    )
    repeats = 5
    start = time.perf_counter()
    for _ in range(repeats):
        fit = fit_reml(stats, struct)
    ours_cold = (time.perf_counter() - start) / repeats
    F_ours = term_statistics(fit, [np.eye(4)[[j]] for j in (1, 2, 3)], "F")[0]
    rel = np.abs(F_ours[:, sm_times] / F_sm - 1)
    # REML criterion of statsmodels' estimates, evaluated by our engine
    sub = {k: (v[:, sm_times] if k in ("XY", "YY") else v) for k, v in stats.items()}
    sub["GXY"] = stats["GXY"][:, :, sm_times]
    sub["GYY"] = stats["GYY"][:, :, sm_times]
    sub["Ysk"] = stats["Ysk"][..., sm_times]
    crit_sm = gls_at(gamma_sm[None], sub, struct)["criterion"][0]
    crit_gap = crit_sm - fit["criterion"][0, sm_times]

    # amortised: 50 relabelled datasets fitted in one batched call (warm start)
    rng = np.random.RandomState(0)
    batch = []
    for _ in range(50):
        hit = design["hit_miss"].to_numpy().copy()
        flip = rng.rand(len(hit) // 2) < 0.5
        pairs = hit.reshape(-1, 2)
        pairs[flip] = pairs[flip, ::-1]
        Xb = spec.matrix(
            design, {"hit_miss": pairs.ravel(), "region": design["region"].to_numpy()}
        )
        batch.append(xy_stats(Xb, X, x_stats(Xb, struct), y_stats(X, struct), struct))
    batch = stack_stats(batch)
    start = time.perf_counter()
    fit_reml(batch, struct, start=fit["gamma"][0])
    ours_perm = (time.perf_counter() - start) / 50

    print("\n1. One full pass over the 139 timepoints")
    print(
        f"   statsmodels MixedLM loop : {sm_pass:8.2f} s "
        f"({sm_per_tp * 1e3:.0f} ms per timepoint"
        f"{', extrapolated from 20' if args.quick else ''})"
    )
    print(
        f"   batched REML, cold       : {ours_cold * 1e3:8.2f} ms   "
        f"ratio {sm_pass / ours_cold:8.0f}x"
    )
    print(
        f"   batched REML, per perm.  : {ours_perm * 1e3:8.2f} ms   "
        f"ratio {sm_pass / ours_perm:8.0f}x"
    )
    print("\n2. Agreement with statsmodels f_test (treatment coding)")
    print(
        f"   statsmodels converged at {converged.sum()}/{len(sm_times)} timepoints; "
        f"our REML criterion (-2 log-lik) is lower by up to {crit_gap.max():.2e} "
        f"(never higher by more than {max(0.0, -crit_gap.min()):.1e})"
    )
    for j, name in enumerate(["hit_miss", "region", "hit_miss:region"]):
        print(
            f"   {name:<16s} F: median rel. diff {np.median(rel[j]):.1e}, "
            f"max {np.max(rel[j]):.1e}"
        )

    n_perm = 200 if args.quick else 1000
    print(f"\n3. Whole test, {n_perm} permutations, n_jobs={args.n_jobs}")
    for scheme in ("labels", "auto"):
        start = time.perf_counter()
        test = ClusterLMETest(
            "hit_miss * region",
            groups="sid",
            nested="ch",
            n_permutations=n_perm,
            permutation_scheme=scheme,
            n_jobs=args.n_jobs,
            random_state=0,
            verbose=False,
        ).fit(X, design=design)
        wall = time.perf_counter() - start
        n_fits = n_perm * (1 if scheme == "labels" else 3)
        sig = test.clusters_[test.clusters_["significant"]]
        found = ", ".join(
            f"{r.term} {r.start}-{r.stop - 1} p={r.p:.3f}" for r in sig.itertuples()
        )
        print(
            f"   scheme={scheme:<6s} ({n_fits} REML passes): {wall:6.1f} s; "
            f"significant clusters: {found}"
        )
    print(
        f"   original estimate for {n_perm} permutations: "
        f"{sm_pass * (n_perm + 1) / 3600:.1f} CPU-hours"
    )


if __name__ == "__main__":
    main()
