"""Benchmark of SparseSourceLocalizer against MNE mixed_norm and sklearn Lasso.

Four parts, in one run:

1. Recovery: ``--draws`` simulated problems (2-3 dipoles between the grid
   points, 64 EEG channels, sphere model, SNR 2-10, a ``--spacing`` mm grid,
   7 by default; every third draw with correlated waveforms). For ours
   (irMxNE with ``alpha='auto'``, the defaults) on the grid and refined off
   the grid (``to_dipoles(refine=True)``; ``grid0``: ``relocate=False``, the
   penalized support; ``refined0``: with
   ``search=False``), MNE ``mixed_norm`` with its default ``alpha='sure'``,
   ``fit_dipole`` at each true dipole's peak (``fit_dipole``: on the data
   as they are, where the other dipoles' fields bias a one-dipole fit by
   centimetres; ``fit_dipole_iso``: with the others' exact fields removed,
   an oracle giving the noise-limited accuracy) and optionally the course-lab
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
4. Real data (``sample``, when ``../shared/mne_sample`` is present): the
   README / gallery recipe on the auditory EEG (Left Auditory, 3 trials; Left
   + Right Auditory, 9 trials; baseline, 50-150 ms): runtime, grid and
   refined sources in MNI coordinates and their distances to MNE
   ``fit_dipole`` references (EEG at the N100 peak sample, with how far one
   more noise draw moves it, a second dipole on its residual and a fit of the
   right-half electrodes; EEG on the mean of 70-100 ms; MEG gradiometers of
   each hemisphere), the power explained by the pair found against a
   left + right auditory pair, and the evidence for one more source against
   the same scan of noise-only baseline windows.

Usage: ``python benchmarks/bench_inverse.py [--quick] [--spacing MM] [--parts ...]
[--methods grid grid0 refined refined0 mne fit_dipole fit_dipole_iso lab]``.
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


def _fit_dipole_isolated(sim):
    """``fit_dipole`` of each true dipole alone: the others' exact fields removed.

    ``fit_dipole`` fits one dipole to one time sample: on data holding 2-3
    dipoles at once (always so with correlated waveforms, which peak together)
    the others' fields bias it by centimetres, a model error, not noise. With
    the other dipoles' noiseless fields subtracted (an oracle), what is left is
    the noise-limited accuracy of a single-sample dipole fit.
    """
    from sk_eeg.datasets._sources import _point_gain

    gain = _point_gain(sim.evoked.info, sim.sphere, sim.source_pos)
    fields = [
        gain[:, 3 * i : 3 * i + 3] @ (sim.source_ori[i][:, None] * waveform)
        for i, waveform in enumerate(sim.waveforms)
    ]
    found = []
    for i, waveform in enumerate(sim.waveforms):
        t_peak = sim.evoked.times[int(np.argmax(np.abs(waveform)))]
        alone = sim.evoked.copy()
        others = sum(f for j, f in enumerate(fields) if j != i)
        alone.data = alone.data - (others - others.mean(axis=0))
        dip, _ = mne.fit_dipole(
            alone.crop(t_peak, t_peak), sim.noise_cov, sim.sphere, verbose=False
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
    "fit_dipole_iso": "fit_dipole, others removed",
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
            elif method == "fit_dipole_iso":
                found = _fit_dipole_isolated(sim)
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
                    relocate=False,  # the penalized solution: MNE's objective
                    verbose=False,
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


def _sample_references(evoked_all, cov, bem, trans):
    """MNE ``fit_dipole`` references for the auditory N100 (head frame, metres).

    EEG at the global-field-power peak (one time sample, the issue's
    reference) and on the mean of 70-100 ms; MEG gradiometers of each
    hemisphere at their own peaks (the left and right auditory cortices, which
    MEG separates and EEG of 9 trials does not).
    """
    refs = {}
    eeg = evoked_all.copy().pick("eeg").crop(0.05, 0.15)
    peak = int(np.argmax(eeg.data.std(axis=0)))
    t_peak = eeg.times[peak]
    at_peak = eeg.copy().crop(t_peak, t_peak)
    dip, _ = mne.fit_dipole(at_peak, cov, bem, trans)
    refs[f"EEG {t_peak * 1e3:.0f} ms"] = (dip.pos[0], dip.gof[0])
    # A right-hemisphere EEG reference, if the data hold one: a second dipole
    # on the residual of the first, and one on the right-half electrodes
    # (re-referenced to their own average).
    _, residual = mne.fit_dipole(at_peak, cov, bem, trans)
    second, _ = mne.fit_dipole(residual, cov, bem, trans)
    refs["EEG residual, 2nd"] = (second.pos[0], second.gof[0])
    x = np.array([ch["loc"][0] for ch in at_peak.info["chs"]])
    half = at_peak.copy().pick(np.flatnonzero(x > 0))
    with half.info._unlock():
        half.info["projs"] = []
    half = mne.EvokedArray(half.data, half.info, tmin=half.times[0], nave=half.nave)
    half.set_eeg_reference("average", projection=True)
    right_eeg, _ = mne.fit_dipole(half, cov, bem, trans)
    refs["EEG right half"] = (right_eeg.pos[0], right_eeg.gof[0])
    # How well one sample pins the reference down: refit with one more noise
    # draw of the average's noise level (noise covariance / nave) added.
    rng = np.random.default_rng(0)
    picks = mne.pick_channels(cov.ch_names, eeg.ch_names, ordered=True)
    eig, vec = np.linalg.eigh(cov.data[np.ix_(picks, picks)] / eeg.nave)
    moved = []
    for _ in range(30):
        noisy = at_peak.copy()
        noise = (vec * np.sqrt(eig.clip(0))) @ rng.standard_normal((len(eig), 1))
        noisy.data += noise - noise.mean()
        boot, _ = mne.fit_dipole(noisy, cov, bem, trans)
        moved.append(np.linalg.norm(boot.pos[0] - dip.pos[0]) * 1e3)
    print(
        f"    fit_dipole at {t_peak * 1e3:.0f} ms with one more noise draw added: "
        f"moves a median {np.median(moved):.0f} mm (90 % {np.percentile(moved, 90):.0f}"
        " mm, 30 draws)"
    )
    window = eeg.copy().crop(0.07, 0.1)
    mean = mne.EvokedArray(
        window.data.mean(axis=1, keepdims=True), window.info, nave=window.nave
    )
    dip, _ = mne.fit_dipole(mean, cov, bem, trans)
    refs["EEG mean 70-100 ms"] = (dip.pos[0], dip.gof[0])
    grad = evoked_all.copy().pick("grad").crop(0.05, 0.15)
    x = np.array([ch["loc"][0] for ch in grad.info["chs"]])
    for side, picks in (("left", x < 0), ("right", x > 0)):
        half = grad.copy().pick(np.flatnonzero(picks))
        t_half = half.times[int(np.argmax(half.data.std(axis=0)))]
        dip, _ = mne.fit_dipole(half.crop(t_half, t_half), cov, bem, trans)
        refs[f"MEG {side} {t_half * 1e3:.0f} ms"] = (dip.pos[0], dip.gof[0])
    return refs


def real_data():
    """The README / gallery recipe on the MNE sample subset, against fit_dipole."""
    from sk_eeg.inverse._refine import (
        _FieldComputer,
        _refine_positions,
        _residual_power,
        _scan_grid,
    )

    print("\n== MNE sample auditory EEG (README / gallery recipe) ==")
    if not (SAMPLE / "test-ave.fif.gz").exists():
        print(f"  {SAMPLE} not found; skipped")
        return
    bem = SAMPLE / "sample-320-320-320-bem-sol.fif"
    trans = mne.read_trans(SAMPLE / "sample_audvis_trunc-trans.fif")
    cov = mne.read_cov(SAMPLE / "test-cov.fif")

    def mni(pos):
        out = mne.head_to_mni(pos, "sample", trans, subjects_dir=SAMPLE / "subjects")
        return np.round(np.atleast_2d(out)[0]).astype(int).tolist()

    for conditions in (["Left Auditory"], ["Left Auditory", "Right Auditory"]):
        evokeds = mne.read_evokeds(SAMPLE / "test-ave.fif.gz", condition=conditions)
        evoked_all = mne.combine_evoked(evokeds, weights="nave")
        evoked_all.apply_baseline((None, 0))
        evoked = evoked_all.copy().pick("eeg").crop(0.05, 0.15)
        print(f"\n  {' + '.join(conditions)} ({evoked.nave:.0f} trials), 60 EEG")
        refs = _sample_references(evoked_all, cov, bem, trans)
        for name, (pos, gof) in refs.items():
            print(f"    fit_dipole {name:19s} MNI {mni(pos)} GOF {gof:4.1f} %")
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loc = SparseSourceLocalizer(
                str(SAMPLE / "sample-vol7mm-eeg-fwd.fif"), cov, verbose=False
            ).fit(evoked)
        t_fit = time.perf_counter() - start
        start = time.perf_counter()
        refined = loc.to_dipoles(refine=True, bem=bem)
        t_refine = time.perf_counter() - start
        print(
            f"    fit {t_fit:.1f} s + refine {t_refine:.1f} s; alpha "
            f"{loc.alpha_:.2f}, {loc.n_active_} active, explained variance "
            f"{loc.explained_variance_:.2f}; warnings: "
            f"{[str(w.message)[:40] for w in caught] or 'none'}"
        )
        print(f"    distances (mm) to: {' / '.join(refs)}")
        for label, dipoles in (("grid", loc.to_dipoles()), ("refined", refined)):
            # strongest first: the largest share of the goodness of fit
            for dip in sorted(dipoles, key=lambda d: -np.sum(d.gof.clip(0))):
                dist = [
                    np.linalg.norm(dip.pos[0] - pos) * 1e3 for pos, _ in refs.values()
                ]
                print(
                    f"    {label:8s} MNI {str(mni(dip.pos[0])):15s} mean GOF "
                    f"{dip.gof.mean():4.1f} %, distances "
                    + " / ".join(f"{d:.0f}" for d in dist)
                )
        problem = loc._problem
        field = _FieldComputer(problem.info, bem, trans, problem.whitener)
        data = loc._white
        n_times = data.shape[1]
        total = float(np.sum(data**2))
        found = field.gain(np.array([d.pos[0] for d in refined]))
        # The pair found against the pair a user expects: the strongest
        # refined dipole and one refined from MEG's right auditory dipole.
        right = [pos for name, (pos, _) in refs.items() if "MEG right" in name][0]
        pair = _refine_positions(field, data, np.array([refined[0].pos[0], right]))
        print(
            f"    whitened power {total:.0f} (noise {59 * n_times / loc._nave:.0f}; "
            f"a free dipole fits {3 * n_times / loc._nave:.0f} of noise); "
            "explained by the refined dipoles "
            f"{total - _residual_power(found, data):.0f}, by the strongest + one "
            "refined from MEG's right auditory dipole "
            f"{total - _residual_power(field.gain(pair), data):.0f} (it ends at MNI "
            f"{mni(pair[1])}, {np.linalg.norm(pair[1] - right) * 1e3:.0f} mm from "
            "MEG's)"
        )
        # Evidence for one more source: the power the best grid dipole explains
        # on top of the refined ones, against the same scan of noise-only
        # windows of the baseline (same length, same whitening).
        white_gain = problem.whitener @ problem.sensor_gain
        blocks = white_gain.reshape(len(white_gain), -1, 3)
        power = _scan_grid(blocks, data @ data.T, found)
        best = int(np.argmax(power))
        base = problem.whitener @ evoked_all.copy().pick("eeg").crop(None, 0).data
        noise = [
            _scan_grid(blocks, w @ w.T, found).max()
            for w in (base[:, :n_times], base[:, -n_times:])
        ]
        print(
            f"    one more dipole: best grid point MNI {mni(loc.source_rr_[best])} "
            f"explains {power[best]:.0f} on top of the refined ones; in two "
            f"baseline (noise) windows {noise[0]:.0f} and {noise[1]:.0f}; "
            f"threshold of fit / refine {4 * 3 * n_times / loc._nave:.0f}"
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
        default=["grid", "refined", "mne", "fit_dipole", "fit_dipole_iso"],
        choices=list(METHODS),
        help="methods of the recovery part",
    )
    parser.add_argument(
        "--parts",
        nargs="+",
        default=["lasso", "speed", "recovery", "sample"],
        choices=["lasso", "speed", "recovery", "sample"],
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
    if "sample" in args.parts:
        real_data()


if __name__ == "__main__":
    main()
