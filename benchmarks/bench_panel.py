"""IFEPanelRegressor benchmark: rank selection, coefficient bias, scale.

1. Rank selection on the Bai & Ng (2002) design (r = 3, theta = 3, kmax = 8):
   mean selected rank and hit rate per criterion, N, T in {32, 40, 100, 200}
   and N = 32, T = 10000, i.i.d. and cross-channel correlated (Toeplitz 0.5)
   noise; then fixed p = 32, T = 10000 with three weak factors explaining
   23/13/9% or 6/4/3% of every channel (i.i.d., Toeplitz 0.5 across channels,
   AR(1) 0.9 in time).
2. Coefficients on the Bai (2009) design (N = T = 100): mean, SD and Monte
   Carlo standard error of the Gram-based ALS, next to pooled OLS.
3. Scale: a simulated memory-mapped (12, 4, 32, 90000) float32 tensor, all
   subjects fitted with rank selection (per-sample log power, as the original
   response; 3 training sessions per subject), time and peak memory, beside the
   original approach (an SVD of the 32 x T residual at every ALS iteration,
   ranks {1, 2, 3}) on one subject.

4. Dask: a (200, 4, 32, 20000) float32 store (``--dask-subjects``) fitted on a
   2-worker LocalCluster and in-process: time, peak memory, largest difference.

Usage: ``python benchmarks/bench_panel.py [--quick] [--skip rank bai ...]``.
"""

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from sk_eeg.datasets import (
    load_panel_npy,
    make_bai2009_panel,
    make_bai_ng_factors,
    make_eeg_panel,
)
from sk_eeg.panel import fit_bai_ife, log_power_features
from sk_eeg.panel._rank import _criteria_table, _select

CRITERIA = [
    "consensus",
    "ed",
    "edge",
    "white",
    "gr",
    "er",
    "ic1",
    "ic2",
    "ic3",
    "pc1",
    "pc2",
    "pc3",
]
WEAK_SHARES = {"23/13/9%": (0.23, 0.13, 0.09), "6/4/3%": (0.06, 0.04, 0.03)}
SHAPE = (12, 4, 32, 90000)
SFREQ = 500.0


def _picks(y, kmax=8):
    n_times, n_units = y.shape
    gram = y.T @ y
    table = _criteria_table(np.linalg.eigvalsh(gram), n_units, n_times, kmax, gram)
    return {c: _select(table, c) for c in CRITERIA}


def weak_factors(n_channels, n_times, shares, *, rho=0.0, ar=0.0, random_state=0):
    """Fixed-p factors, each explaining ``shares[j]`` of every channel.

    Loadings are ``+-sqrt(share)``, factors and noise unit-variance (noise
    Toeplitz ``rho^|i-j|`` across channels and AR(1) ``ar`` in time, both
    factors and noise, when given).
    """
    from scipy.signal import lfilter

    rng = np.random.RandomState(random_state)
    shares = np.asarray(shares)
    lam = np.sqrt(shares) * np.sign(rng.standard_normal((n_channels, shares.size)))
    fac = rng.standard_normal((n_times, shares.size))
    noise = rng.standard_normal((n_times, n_channels))
    if rho:
        idx = np.arange(n_channels)
        noise = noise @ np.linalg.cholesky(rho ** np.abs(idx[:, None] - idx)).T
    if ar:
        b, a = [np.sqrt(1 - ar**2)], [1.0, -ar]
        fac, noise = lfilter(b, a, fac, axis=0), lfilter(b, a, noise, axis=0)
    y = fac @ lam.T + np.sqrt(1 - shares.sum()) * noise
    return y - y.mean(0)


def weak_rank_table(n_draws):
    """Hit rates at p = 32, T = 10000 with weak factors (fixed small p)."""
    rows = []
    for label, shares in WEAK_SHARES.items():
        for rho, ar in ((0.0, 0.0), (0.5, 0.0), (0.0, 0.9), (0.5, 0.9)):
            picks = {c: [] for c in CRITERIA}
            for seed in range(n_draws):
                y = weak_factors(32, 10000, shares, rho=rho, ar=ar, random_state=seed)
                for c, k in _picks(y).items():
                    picks[c].append(k)
            rows.append(
                {"shares": label, "rho": rho, "ar": ar}
                | {c: np.mean(np.array(v) == 3) for c, v in picks.items()}
            )
    df = pd.DataFrame(rows).set_index(["shares", "rho", "ar"])
    print(
        f"\n[rank] p = 32, T = 10000, 3 factors explaining the given shares of "
        f"each channel: hit rate per criterion ({n_draws} draws per cell)"
    )
    print(df.to_string(float_format=lambda v: f"{v:.2f}"))
    worst = df["consensus"].groupby(level=["shares", "rho"]).min()
    print("[rank] default (consensus) worst hit rate per shares and rho:")
    print(worst.to_string(float_format=lambda v: f"{v:.2f}"))


def rank_table(n_draws):
    cells = [(n, t) for n in (32, 40, 100, 200) for t in (32, 40, 100, 200)]
    cells += [(32, 10000)]
    rows = []
    for rho in (0.0, 0.5):
        for n_units, n_times in cells:
            picks = {c: [] for c in CRITERIA}
            for seed in range(n_draws):
                y = make_bai_ng_factors(
                    n_units, n_times, 3, rho=rho, random_state=seed
                ).y
                for c, k in _picks(y).items():
                    picks[c].append(k)
            for c in CRITERIA:
                k = np.array(picks[c])
                rows.append((rho, n_units, n_times, c, k.mean(), np.mean(k == 3)))
    df = pd.DataFrame(rows, columns=["rho", "N", "T", "criterion", "mean", "hit"])
    for stat in ("hit", "mean"):
        wide = df.pivot_table(
            index=["rho", "N", "T"], columns="criterion", values=stat
        )[CRITERIA]
        print(f"\n[rank] {stat} per criterion ({n_draws} draws per cell)")
        print(wide.to_string(float_format=lambda v: f"{v:.2f}"))
    iid = df[(df.rho == 0) & (df.criterion == "consensus")]
    print(f"\n[rank] default (consensus) worst i.i.d. hit rate: {iid.hit.min():.2f}")
    big = iid[(iid["N"] >= 40) & (iid["T"] >= 40)]
    print(
        f"[rank] default (consensus) worst i.i.d. hit rate, N, T >= 40: "
        f"{big.hit.min():.2f}; i.i.d. cells >= 95%: {(iid.hit >= 0.95).mean():.0%}"
    )
    corr = df[df.rho == 0.5].pivot_table(
        index=["N", "T"], columns="criterion", values="hit"
    )
    better = (corr["consensus"] >= corr["ic1"]).mean()
    print(
        f"[rank] correlated cells where consensus >= ic1: {better:.0%}; mean hit "
        f"consensus {corr['consensus'].mean():.2f} vs ic1 {corr['ic1'].mean():.2f}"
    )


def bai_bias(n_draws):
    draws, ols = [], []
    start = time.perf_counter()
    for seed in range(n_draws):
        d = make_bai2009_panel(100, 100, random_state=seed)
        draws.append(fit_bai_ife(d.y, d.X, 2).coef)
        ols.append(np.linalg.lstsq(d.X.reshape(-1, 2), d.y.ravel(), rcond=None)[0])
    draws, ols = np.array(draws), np.array(ols)
    se = draws.std(0, ddof=1) / np.sqrt(n_draws)
    print(
        f"\n[bai2009] N = T = 100, {n_draws} draws, {time.perf_counter() - start:.1f} s"
    )
    for j, true in enumerate((1.0, 3.0)):
        print(
            f"  beta{j + 1}: IFE mean {draws[:, j].mean():.4f} "
            f"(SD {draws[:, j].std():.4f}, MC SE {se[j]:.4f}, "
            f"bias/SE {(draws[:, j].mean() - true) / se[j]:+.2f});"
            f" pooled OLS {ols[:, j].mean():.4f}"
        )


def _original_ife(y, design, ranks=(1, 2, 3), max_iter=30, em_iters=2):
    """The original ``ife_ic_bai_ng``: full SVD of the p x T residual per step."""
    n_channels, n_times = y.shape
    n_svd = 0
    best = None
    for _ in range(em_iters):
        for r in ranks:
            beta = np.linalg.pinv(design) @ y.mean(0)
            resid = y - (design @ beta)[None, :]
            u, s, vt = np.linalg.svd(resid, full_matrices=False)
            n_svd += 1
            lam = u[:, :r] * s[:r] / np.sqrt(n_times)
            fac = np.sqrt(n_times) * vt[:r].T
            loss_old = np.inf
            for _ in range(max_iter):
                target = (y - lam @ fac.T).sum(0)
                beta = np.linalg.pinv(n_channels * design.T @ design) @ (
                    design.T @ target
                )
                resid = y - (design @ beta)[None, :]
                u, s, vt = np.linalg.svd(resid, full_matrices=False)
                n_svd += 1
                lam = u[:, :r] * s[:r] / np.sqrt(n_times)
                fac = np.sqrt(n_times) * vt[:r].T
                loss = np.mean(resid**2)
                if abs(loss - loss_old) <= 1e-6 * (1 + loss):
                    break
                loss_old = loss
            mse = np.mean((resid - lam @ fac.T) ** 2)
            nt = n_channels * n_times
            ic = np.log(mse) + r * (n_channels + n_times) / nt * np.log(
                nt / (n_channels + n_times)
            )
            if best is None or ic < best[0]:
                best = (ic, r)
    return best[1], n_svd


def scale_child(path):
    """Run in a fresh process so that its peak RSS is the fit's alone."""
    from sk_eeg.panel import IFEPanelRegressor
    from sk_eeg.panel._pipeline import fit_panel_tensor

    panel = load_panel_npy(path)
    start = time.perf_counter()
    model, summary = fit_panel_tensor(
        panel,
        sfreq=SFREQ,
        session_hours=[10, 15, 10, 15],
        window=1.0 / SFREQ,
        estimator=IFEPanelRegressor(chunk_size=32768),
    )
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"CHILD {elapsed:.3f} {peak:.1f}")
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print("rank selection, subject 0:", model.rank_selection_.iloc[0].to_dict())
    # The planted factors live in 1 s log power; per-sample log power of white
    # noise is dominated by chi-square noise, so the rank shows at 1 s windows.
    start = time.perf_counter()
    model, summary = fit_panel_tensor(
        panel, sfreq=SFREQ, session_hours=[10, 15, 10, 15], window=1.0
    )
    print(
        f"1 s windows: ranks {model.n_factors_.tolist()} (planted 3), "
        f"{time.perf_counter() - start:.1f} s; mean held-out scores:"
    )
    print(summary.drop(columns="subject").mean().round(3).to_string())


def scale(quick, skip_original=False):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "panel.npy"
        start = time.perf_counter()
        make_eeg_panel(
            *SHAPE, sfreq=SFREQ, window=1.0, n_factors=3, out=path, random_state=0
        )
        print(
            f"\n[scale] simulated {SHAPE} float32 memmap "
            f"({path.stat().st_size / 2**20:.0f} MiB) in "
            f"{time.perf_counter() - start:.1f} s"
        )
        out = subprocess.run(
            [sys.executable, __file__, "--scale-child", str(path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        child = [line for line in out.splitlines() if line.startswith("CHILD")][0]
        ours_time, ours_peak = map(float, child.split()[1:])
        print(out.replace(child + "\n", ""))
        print(
            f"[scale] sk_eeg, all 12 subjects (270 000 training samples each, rank "
            f"selection): {ours_time:.1f} s, peak RSS {ours_peak:.0f} MiB"
        )
        if skip_original:
            return
        # The original approach on one subject.
        panel = load_panel_npy(path)
        ys = [
            log_power_features(panel.data[0, k], SFREQ, window=1 / SFREQ)
            for k in range(3)
        ]
        y = np.vstack(ys).T  # (32, T)
        hours = np.repeat([10.0, 15.0, 10.0], [len(v) for v in ys])
        design = np.column_stack(
            [
                np.ones(y.shape[1]),
                np.sin(2 * np.pi * hours / 24),
                np.cos(2 * np.pi * hours / 24),
            ]
        )
        max_iter = 2 if quick else 30
        em_iters = 1 if quick else 2
        start = time.perf_counter()
        rank, n_svd = _original_ife(y, design, max_iter=max_iter, em_iters=em_iters)
        orig_time = time.perf_counter() - start
        per_svd = orig_time / n_svd
        full_svd = 2 * 3 * 31
        print(
            f"[scale] original (SVD per iteration), ONE subject: {orig_time:.1f} s for "
            f"{n_svd} SVDs ({per_svd:.2f} s each), chose r = {rank}"
            + (
                f"; at its full budget (up to {full_svd} SVDs) "
                f"~{per_svd * full_svd:.0f} s"
                if quick
                else ""
            )
        )
        per_subject_ours = ours_time / SHAPE[0]
        if quick:
            print(
                "[scale] ratio per subject: original (extrapolated to its full "
                f"budget) / sk_eeg = {per_svd * full_svd / per_subject_ours:.0f}x"
            )
        else:
            print(
                f"[scale] ratio per subject: original / sk_eeg = "
                f"{orig_time / per_subject_ours:.0f}x (both measured)"
            )


def dask_case(n_subjects):
    """(n_subjects, 4, 32, 20000) float32 store: 2-worker LocalCluster vs here."""
    from dask.distributed import Client, LocalCluster

    from sk_eeg.panel import fit_panel_tensor

    shape = (n_subjects, 4, 32, 20000)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "panel.npy"
        start = time.perf_counter()
        sim = make_eeg_panel(
            *shape, sfreq=SFREQ, window=1.0, n_factors=3, out=path, random_state=1
        )
        meta = sim.meta
        del sim
        print(
            f"\n[dask] simulated {shape} float32 memmap "
            f"({path.stat().st_size / 2**20:.0f} MiB) in "
            f"{time.perf_counter() - start:.1f} s"
        )
        panel = load_panel_npy(path, meta=meta)
        kw = dict(sfreq=SFREQ, session_hours=[10, 15, 10, 15], window=1.0)
        start = time.perf_counter()
        local, _ = fit_panel_tensor(panel, **kw)
        t_local = time.perf_counter() - start
        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            start = time.perf_counter()
            remote, _ = fit_panel_tensor(panel, client=client, **kw)
            t_dask = time.perf_counter() - start
            worker_peak = client.run(
                lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            )
        diffs = {
            name: float(np.max(np.abs(getattr(local, name) - getattr(remote, name))))
            for name in ("coef_", "group_intercepts_", "eigenvalues_")
        }
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"[dask] in-process {t_local:.1f} s; 2-worker LocalCluster {t_dask:.1f} s "
            f"(peak RSS here {peak:.0f} MiB, workers "
            f"{max(worker_peak.values()):.0f} MiB); max |difference| "
            + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items())
        )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer draws")
    parser.add_argument("--scale-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--skip", nargs="*", default=[], help="rank bai scale original dask"
    )
    parser.add_argument(
        "--dask-subjects", type=int, default=200, help="subjects of the dask case"
    )
    args = parser.parse_args()
    if args.scale_child:
        scale_child(args.scale_child)
        return
    # Small-matrix loops: BLAS threads only add contention there.
    with threadpool_limits(limits=1, user_api="blas"):
        if "rank" not in args.skip:
            rank_table(20 if args.quick else 100)
            weak_rank_table(10 if args.quick else 50)
        if "bai" not in args.skip:
            bai_bias(30 if args.quick else 200)
    if "scale" not in args.skip:
        scale(args.quick, skip_original="original" in args.skip)
    if "dask" not in args.skip:
        dask_case(24 if args.quick else args.dask_subjects)


if __name__ == "__main__":
    main()
