"""ClusterLMETest vs statsmodels MixedLM and lme4 ``refit()`` per timepoint.

Same simulated 338 x 139 dataset (10 subjects, 169 channels, hit/miss within
channel, region between channels). Prints

1. one full pass over the timepoints: statsmodels ``mixedlm(...).fit`` +
   3 ``f_test`` per timepoint, and lme4 ``refit()`` of
   ``y ~ hit_miss * region + (1 | sid) + (1 | sid:ch)`` (run with Rscript when
   R and lme4 are installed, else the stored timing below) vs the batched REML
   engine (a cold fit from a grid start, and the amortised cost per permuted
   dataset inside a permutation run), and the speed-up ratios; plus the cost
   of the Satterthwaite and Kenward-Roger df of the observed pass;
2. agreement of statsmodels and ours on this dataset;
3. the wall time of the whole 1000-permutation test with ``n_jobs``;
4. random slopes (``random_slopes='hit_miss'``): the batched REML of
   ``y ~ hit_miss * region + (1 + hit_miss | sid) + (1 | sid:ch)`` (cold pass
   and per permuted pass) vs an lme4 ``refit()`` pass of the same model.

Usage: ``python benchmarks/bench_stats.py [--quick] [--n-jobs 2] [--slopes-only]``.
"""

import argparse
import os
import shutil
import subprocess
import tempfile
import time
import warnings

import numpy as np
import pandas as pd

from sk_eeg.datasets import make_nested_timeseries
from sk_eeg.stats import ClusterLMETest
from sk_eeg.stats._design import DesignSpec, parse_formula
from sk_eeg.stats._df import kenward_roger, satterthwaite_df
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


# seconds per lme4 refit() pass over the 139 timepoints of this dataset, used
# when R is absent (the figure quoted in issue 16; see the report for the
# measurement with lme4_refit_pass on R 4.2.2 / lme4 1.1-31)
STORED_LME4_PASS = 2.95

_R_REFIT = r"""
suppressPackageStartupMessages(library(lme4))
options(contrasts = c("contr.sum", "contr.poly"))
d <- read.csv(commandArgs(TRUE)[1], stringsAsFactors = TRUE)
d$hit_miss <- factor(d$hit_miss)
ys <- grep("^t[0-9]+$", names(d), value = TRUE)
d$y <- d[[ys[1]]]
fit <- lmer(as.formula(paste("y ~", commandArgs(TRUE)[2])), data = d)
best <- Inf
for (rep in 1:3) {
  t0 <- proc.time()[["elapsed"]]
  for (col in ys) fit2 <- refit(fit, newresp = d[[col]])
  best <- min(best, proc.time()[["elapsed"]] - t0)
}
cat(best, "\n")
"""


def lme4_refit_pass(X, design, rhs="hit_miss * region + (1 | sid) + (1 | sid:ch)"):
    """Seconds for one lme4 refit() pass over every timepoint (None without R)."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    check = subprocess.run(
        [rscript, "-e", "library(lme4)"], capture_output=True, text=True
    )
    if check.returncode != 0:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        frame = pd.concat(
            [
                design[["sid", "ch", "hit_miss", "region"]],
                pd.DataFrame(X, columns=[f"t{t}" for t in range(X.shape[1])]),
            ],
            axis=1,
        )
        path = os.path.join(tmp, "data.csv")
        frame.to_csv(path, index=False)
        script = os.path.join(tmp, "refit.R")
        with open(script, "w") as f:
            f.write(_R_REFIT)
        out = subprocess.run(
            [rscript, script, path, rhs], capture_output=True, text=True, check=True
        )
    return float(out.stdout.split()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="statsmodels on 20 timepoints (extrapolated), 200 permutations",
    )
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument(
        "--slopes-only", action="store_true", help="only section 4 (random slopes)"
    )
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
    if args.slopes_only:
        return slope_pass(X, design, struct)
    stats = stack_stats(
        [xy_stats(X_design, X, x_stats(X_design, struct), y_stats(X, struct), struct)]
    )
    fit_reml(stats, struct)  # compiles the numba kernel (cached on disk)
    ours_cold = np.inf  # best of 5
    for _ in range(5):
        start = time.perf_counter()
        fit = fit_reml(stats, struct)
        ours_cold = min(ours_cold, time.perf_counter() - start)
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
    ours_perm = np.inf  # best of 3, as the lme4 timing
    for _ in range(3):
        start = time.perf_counter()
        fit_reml(batch, struct, start=fit["gamma"][0])
        ours_perm = min(ours_perm, (time.perf_counter() - start) / 50)

    lme4_pass = lme4_refit_pass(X, design)
    lme4_source = "Rscript, best of 3"
    if lme4_pass is None:
        lme4_pass, lme4_source = STORED_LME4_PASS, "stored timing, R not found"

    # degrees of freedom of the observed pass
    contrasts = [spec.test_contrast(n) for n in ("hit_miss", "region")]
    contrasts.append(spec.test_contrast("hit_miss:region"))
    start = time.perf_counter()
    satterthwaite_df(stats, fit, struct, contrasts)
    satt_time = time.perf_counter() - start
    start = time.perf_counter()
    kenward_roger(X_design, X, struct, fit, contrasts)
    kr_time = time.perf_counter() - start

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
    print(f"   lme4 refit() loop        : {lme4_pass:8.2f} s ({lme4_source})")
    print(
        f"   ratio to lme4 refit      : cold {lme4_pass / ours_cold:6.0f}x, "
        f"per permuted pass {lme4_pass / ours_perm:6.0f}x"
    )
    print(
        f"   df of the observed pass  : Satterthwaite {satt_time * 1e3:.0f} ms, "
        f"Kenward-Roger {kr_time:.2f} s (3 terms)"
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
    slope_pass(X, design, struct)


def slope_pass(X, design, struct):
    """Section 4: random slopes, batched REML vs lme4 refit()."""
    from sk_eeg.stats._slopes import SlopeModel, fit_batch, slope_null_chunk

    spec = DesignSpec(parse_formula("hit_miss * region"), design, "sum")
    X_design = spec.matrix(design)
    model = SlopeModel(struct, [spec.term_slices["hit_miss"].start])
    cold = np.inf
    for _ in range(3):
        start = time.perf_counter()
        fit, _ = fit_batch([X_design], [X], model)
        cold = min(cold, time.perf_counter() - start)
    # a chunk of 20 whole-subject hit/miss swaps, as the permutation run
    # makes them (the permuted sums are derived from the observed ones)
    rng = np.random.RandomState(1)
    n_subjects = design["sid"].nunique()
    job = {"kind": "swap", "idx": {"hit_miss": rng.rand(20, n_subjects) < 0.5}}
    contrasts = [np.eye(X_design.shape[1])[[j]] for j in (1, 2, 3)]
    per_perm = np.inf
    for _ in range(3):
        start = time.perf_counter()
        slope_null_chunk(job, X, design, spec, model, contrasts, "F", fit["gamma"][0])
        per_perm = min(per_perm, (time.perf_counter() - start) / 20)
    rhs = "hit_miss * region + (1 + hit_miss | sid) + (1 | sid:ch)"
    lme4_pass = lme4_refit_pass(X, design, rhs)
    print("\n4. Random slopes, one pass over the 139 timepoints")
    print(f"   batched REML, cold       : {cold * 1e3:8.1f} ms")
    print(f"   batched REML, per perm.  : {per_perm * 1e3:8.1f} ms")
    if lme4_pass is None:
        print("   lme4 refit() loop        : R / lme4 not found")
    else:
        print(
            f"   lme4 refit() loop        : {lme4_pass:8.2f} s (Rscript, best of 3); "
            f"ratio cold {lme4_pass / cold:.0f}x, per permuted pass "
            f"{lme4_pass / per_perm:.0f}x"
        )


if __name__ == "__main__":
    main()
