"""Benchmark of SparseSourceLocalizer against MNE mixed_norm and sklearn Lasso.

Three parts, in one run:

1. Recovery: ``--draws`` simulated problems (2-3 dipoles between the grid
   points, 64 EEG channels, sphere model, SNR 2-10, a ``--spacing`` mm grid,
   7 by default; every third draw with correlated waveforms). For ours
   (irMxNE with ``alpha='auto'``, the defaults) on the grid and refined off
   the grid (``to_dipoles(refine=True)``; ``grid0``: ``relocate=False``, the
   penalized support; ``refined0``: with
   ``search=False``), MNE ``mixed_norm`` with its default ``alpha='sure'``,
   ``fit_dipole`` at each true dipole's peak and optionally the course-lab
   recipe (sklearn ``Lasso`` with channels as samples, ``max_iter=100,
   tol=0.01``, alpha picked by R^2 on 33 %% held-out channels): the median
   localization error (true and found dipoles matched one to one), the
   fraction of true dipoles missed (no partner within 20 mm) and the number
   of found sources over the number of true ones.
2. Speed at equal alpha: our fit over MNE ``mixed_norm`` (same whitening,
   depth, free orientation, tolerance and debiasing), MxNE and irMxNE.
3. Lasso on a lab-sized problem (60 EEG x 13113 columns x 85 samples of the
   MNE sample subset when present, else the simulated forward): sklearn
   ``Lasso`` time (best of 3) over ours (best of 5), and both duality gaps.

Usage: ``python benchmarks/bench_inverse.py [--quick] [--spacing MM] [--parts ...]
[--methods grid grid0 refined refined0 mne fit_dipole lab]``.
"""

import argparse
import time
import warnings
from pathlib import Path

import mne
import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso
from sklearn.model_selection import train_test_split

from sk_eeg.datasets import make_sparse_sources
from sk_eeg.inverse import SparseSourceLocalizer
from sk_eeg.inverse._solvers import _alpha_max, _duality_gap, _solve_sparse

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "mne_sample"


def _errors(found, truth):
    """Distance from each true dipole to the nearest found one."""
    if len(found) == 0:
        return np.full(len(truth), np.inf)
    return np.array([np.min(np.linalg.norm(found - p, axis=1)) for p in truth])


def _matched_errors(found, truth):
    """Distance of each true dipole to its found partner (one-to-one).

    Hungarian matching on the distances, so that one found source cannot
    count for two true ones; a true dipole left without a partner (fewer
    found than true) gets ``inf``.
    """
    errors = np.full(len(truth), np.inf)
    if len(found):
        dist = np.linalg.norm(truth[:, None] - found[None], axis=2)
        rows, cols = linear_sum_assignment(dist)
        errors[rows] = dist[rows, cols]
    return errors


def _lab_lasso(sim, seed):
    """The course lab: Lasso on the raw gain, channels as samples."""
    gain = sim.forward["sol"]["data"]
    data = sim.evoked.copy().apply_proj().data
    Xtr, Xts, Ytr, Yts = train_test_split(gain, data, test_size=0.33, random_state=seed)
    alpha_max = np.abs(Xtr.T @ Ytr).max() / len(Xtr)
    best, best_r2 = None, -np.inf
    for alpha in np.logspace(-2, -1, 5) * alpha_max:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            lasso = Lasso(alpha=alpha, max_iter=100, tol=0.01).fit(Xtr, Ytr)
        pred = lasso.predict(Xts)
        r2 = 1 - np.sum((Yts - pred) ** 2) / np.sum((Yts - Yts.mean(0)) ** 2)
        if r2 > best_r2:
            best, best_r2 = lasso, r2
    w_rms = np.sqrt(np.sum(best.coef_.T**2, axis=1)).reshape(-1, 3).sum(axis=1)
    return sim.forward["source_rr"][w_rms > 0]


def _fit_dipole_from_truth(sim):
    """MNE ``fit_dipole`` of each true dipole at the peak of its waveform."""
    found = []
    for waveform in sim.waveforms:
        t_peak = sim.evoked.times[int(np.argmax(np.abs(waveform)))]
        dip, _ = mne.fit_dipole(
            sim.evoked.copy().crop(t_peak, t_peak),
            sim.noise_cov,
            sim.sphere,
            verbose=False,
        )
        found.append(dip.pos[0])
    return np.array(found)


METHODS = {
    "grid": "ours irMxNE auto, grid",
    "grid0": "ours grid, relocate=False",
    "refined": "ours irMxNE auto, refined",
    "refined0": "ours refined, no grid search",
    "mne": "MNE mixed_norm sure",
    "fit_dipole": "fit_dipole at true peaks",
    "lab": "lab Lasso",
}


def recovery(n_draws, spacing, methods):
    print(
        f"\n== Recovery: {n_draws} draws, {spacing:.0f} mm grid, 64 EEG, off-grid "
        "sources, 2-3 dipoles, SNR 2-10, every third draw correlated =="
    )
    errors = {m: [] for m in methods}
    matched = {m: [] for m in methods}
    ratios = {m: [] for m in methods}
    times = {m: [] for m in methods}
    for draw in range(n_draws):
        rng = np.random.RandomState(1000 + draw)
        n_dip = int(rng.choice([2, 3]))
        snr = float(rng.uniform(2, 10))
        sim = make_sparse_sources(
            n_dip,
            snr=snr,
            spacing=spacing,
            off_grid=True,
            correlated=draw % 3 == 2,
            random_state=draw,
        )
        est = None
        for method in methods:
            start = time.perf_counter()
            if method == "grid0":
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    sparse = SparseSourceLocalizer(
                        sim.forward, sim.noise_cov, relocate=False, verbose=False
                    ).fit(sim.evoked)
                found = sparse.source_rr_[sparse.active_set_]
            elif method == "grid" or (method.startswith("refined") and est is None):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    est = SparseSourceLocalizer(
                        sim.forward, sim.noise_cov, verbose=False
                    ).fit(sim.evoked)
                found = est.source_rr_[est.active_set_]
            if method.startswith("refined"):
                dipoles = est.to_dipoles(
                    refine=True, bem=sim.sphere, search=method == "refined"
                )
                found = np.array([d.pos[0] for d in dipoles]).reshape(-1, 3)
            elif method == "mne":
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    stc = mne.inverse_sparse.mixed_norm(
                        sim.evoked,
                        sim.forward,
                        sim.noise_cov,
                        alpha="sure",
                        random_state=draw,
                        verbose=False,
                    )
                found = sim.forward["source_rr"][
                    np.searchsorted(sim.forward["src"][0]["vertno"], stc.vertices[0])
                ]
            elif method == "fit_dipole":
                found = _fit_dipole_from_truth(sim)
            elif method == "lab":
                found = _lab_lasso(sim, draw)
            times[method].append(time.perf_counter() - start)
            errors[method].extend(_errors(found, sim.source_pos) * 1e3)
            matched[method].extend(_matched_errors(found, sim.source_pos) * 1e3)
            ratios[method].append(len(found) / n_dip)
        print(
            f"  draw {draw}: {n_dip} dipoles, SNR {snr:.1f}"
            + (", correlated" if draw % 3 == 2 else "")
            + ": "
            + ", ".join(
                f"{m} {ratios[m][-1] * n_dip:.0f} act "
                f"{np.median(matched[m][-n_dip:]):.1f} mm"
                for m in methods
            ),
            flush=True,
        )
    print(
        f"\n  {'method':28s} {'median err':>10s} {'nearest':>8s} {'<= 1 step':>10s} "
        f"{'missed':>7s} {'median #act/#true':>18s} {'draws <= 2x':>12s} "
        f"{'time (s)':>9s}"
    )
    for m in methods:
        err, near = np.array(matched[m]), np.array(errors[m])
        print(
            f"  {METHODS[m]:28s} {np.median(err):10.1f} {np.median(near):8.1f} "
            f"{np.mean(err <= spacing):10.2f} {np.mean(err > 20):7.2f}"
            f" {np.median(ratios[m]):18.2f} {np.mean(np.array(ratios[m]) <= 2):12.2f}"
            f" {np.mean(times[m]):9.2f}"
        )
    print(
        f"  (grid step {spacing:.0f} mm; refined time excludes the grid fit; "
        "median err (mm): each true dipole to its found partner, matched one to "
        "one (Hungarian); nearest: to the nearest found one, several true "
        "dipoles may share it; missed: fraction of true dipoles with no partner "
        "within 20 mm)"
    )


def _best_time(func, repeat):
    best = np.inf
    out = None
    for _ in range(repeat):
        start = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - start)
    return best, out


def speed_vs_mne(spacing, repeat):
    print("\n== Speed at equal alpha: ours / MNE mixed_norm (same tol 1e-4) ==")
    problems = [
        ("simulated", make_sparse_sources(3, snr=5.0, spacing=spacing, random_state=0))
    ]
    if (SAMPLE / "test-ave.fif.gz").exists():
        evokeds = mne.read_evokeds(
            SAMPLE / "test-ave.fif.gz",
            condition=["Left Auditory", "Right Auditory"],
            baseline=(None, 0),
            verbose=False,
        )
        evoked = mne.combine_evoked(evokeds, weights="nave")
        evoked.pick("eeg").crop(0.05, 0.15)
        sample = dict(
            evoked=evoked,
            forward=mne.read_forward_solution(
                SAMPLE / "sample-vol7mm-eeg-fwd.fif", verbose=False
            ),
            noise_cov=mne.read_cov(SAMPLE / "test-cov.fif", verbose=False),
        )
        problems.append(("mne_sample EEG", type("P", (), sample)))
    for name, prob in problems:
        for solver, n_iter, alpha in (
            ("mxne", 1, 0.3),
            ("mxne", 1, 0.1),
            ("irmxne", 10, 0.5),
        ):
            t_ours, est = _best_time(
                lambda: SparseSourceLocalizer(
                    prob.forward,
                    prob.noise_cov,
                    solver=solver,
                    alpha=alpha,
                    depth=0.8,
                    loose=1.0,
                    tol=1e-4,
                    n_reweightings=n_iter,
                ).fit(prob.evoked),
                repeat,
            )
            t_mne, stc = _best_time(
                lambda: mne.inverse_sparse.mixed_norm(
                    prob.evoked,
                    prob.forward,
                    prob.noise_cov,
                    alpha=100 * alpha,
                    depth=0.8,
                    loose=1.0,
                    tol=1e-4,
                    n_mxne_iter=n_iter,
                    verbose=False,
                ),
                repeat,
            )
            print(
                f"  {name:15s} {solver:6s} alpha={alpha:.1f}: ours {t_ours:6.2f} s "
                f"({est.n_active_} src), MNE {t_mne:6.2f} s "
                f"({len(stc.vertices[0])} src), ratio ours/MNE "
                f"{t_ours / t_mne:.2f}"
            )


def lasso_speed(spacing, repeat):
    print("\n== Lasso (L1 per time sample) on a lab-sized problem ==")
    if (SAMPLE / "test-ave.fif.gz").exists():
        evokeds = mne.read_evokeds(
            SAMPLE / "test-ave.fif.gz",
            condition=["Left Auditory", "Right Auditory"],
            baseline=(None, 0),
            verbose=False,
        )
        evoked = mne.combine_evoked(evokeds, weights="nave").pick("eeg")
        evoked.crop(0.04, 0.04 + 84 / evoked.info["sfreq"])
        fwd = str(SAMPLE / "sample-vol7mm-eeg-fwd.fif")
        cov = mne.read_cov(SAMPLE / "test-cov.fif", verbose=False)
        label = "mne_sample EEG"
    else:
        sim = make_sparse_sources(
            3, snr=5.0, n_times=85, spacing=spacing, random_state=0
        )
        evoked, fwd, cov, label = sim.evoked, sim.forward, sim.noise_cov, "simulated"
    est = SparseSourceLocalizer(
        fwd, cov, solver="lasso", alpha=0.5, depth=None, loose=1.0
    ).fit(evoked)
    gain, data = est._problem.gain, est._white
    n = gain.shape[0]
    print(
        f"  {label}: gain {gain.shape[0]} x {gain.shape[1]}, {data.shape[1]} "
        "samples (whitened, loose=1, depth=0 as in the lab)"
    )
    # The first call compiles the numba kernels (or loads them from the disk
    # cache): report it apart from the steady-state times.
    alpha = 0.5 * _alpha_max(gain, data, 1, "l1")
    start = time.perf_counter()
    _solve_sparse(gain, data, alpha, 1, "l1", tol=1e-4)
    print(
        f"  first call (kernel compilation or cache load): "
        f"{time.perf_counter() - start:.2f} s"
    )
    for fraction in (0.5, 0.2, 0.1):
        alpha = fraction * _alpha_max(gain, data, 1, "l1")
        t_sk, sk = _best_time(
            lambda: Lasso(
                alpha=alpha / n, fit_intercept=False, tol=1e-4, max_iter=1000
            ).fit(gain, data),
            repeat,
        )
        gap_sk = _duality_gap(gain, data, sk.coef_.T, alpha, 1, "l1")[0]
        rel_sk = gap_sk / np.sum(data**2)
        tol = rel_sk / 2  # ours must end at a smaller duality gap
        t_ours, (X, _, _) = _best_time(
            lambda: _solve_sparse(
                gain, data, alpha, 1, "l1", tol=tol, max_iter=100_000
            ),
            max(repeat, 5),
        )
        gap = _duality_gap(gain, data, X, alpha, 1, "l1")[0] / np.sum(data**2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            t_lab, lab = _best_time(
                lambda: Lasso(
                    alpha=alpha / n, fit_intercept=False, tol=0.01, max_iter=100
                ).fit(gain, data),
                1,
            )
        gap_lab = _duality_gap(gain, data, lab.coef_.T, alpha, 1, "l1")[0]
        print(
            f"  alpha={fraction} alpha_max: sklearn Lasso {t_sk:.2f} s (rel. gap "
            f"{rel_sk:.1e}), ours {t_ours:.3f} s (rel. gap {gap:.1e}): "
            f"{t_sk / t_ours:.1f}x faster; lab settings {t_lab:.2f} s (rel. gap "
            f"{gap_lab / np.sum(data**2):.1e}), {int((X != 0).any(1).sum())} vs "
            f"{int((lab.coef_ != 0).any(0).sum())} non-zero rows"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 draws, 1 repeat")
    parser.add_argument("--draws", type=int, default=20, help="simulated problems")
    parser.add_argument(
        "--spacing", type=float, default=7.0, help="source grid step (mm)"
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["grid", "refined", "mne", "fit_dipole"],
        choices=list(METHODS),
        help="methods of the recovery part",
    )
    parser.add_argument(
        "--parts",
        nargs="+",
        default=["lasso", "speed", "recovery"],
        choices=["lasso", "speed", "recovery"],
    )
    args = parser.parse_args()
    n_draws = 5 if args.quick else args.draws
    mne.set_log_level("ERROR")
    if "lasso" in args.parts:
        lasso_speed(args.spacing, 1 if args.quick else 3)
    if "speed" in args.parts:
        speed_vs_mne(args.spacing, 1 if args.quick else 3)
    if "recovery" in args.parts:
        recovery(n_draws, args.spacing, args.methods)


if __name__ == "__main__":
    main()
