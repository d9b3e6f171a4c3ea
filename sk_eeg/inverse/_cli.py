"""``sk-eeg localize`` and the ``inverse`` section of ``sk-eeg demo``."""

from pathlib import Path

import numpy as np

NAME = "inverse"


def add_parser(subparsers):
    """Add the ``localize`` subcommand.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The subparsers of the ``sk-eeg`` parser.
    """
    parser = subparsers.add_parser(
        "localize",
        help="sparse source localization of an evoked response (MxNE/irMxNE)",
        description="Localize the sources of an evoked response through a forward "
        "model and write them as an MNE source estimate.",
    )
    parser.add_argument("evoked", metavar="EVOKED", help="-ave.fif file")
    parser.add_argument("forward", metavar="FORWARD", help="-fwd.fif file")
    parser.add_argument("--cov", default=None, help="noise covariance -cov.fif file")
    parser.add_argument(
        "--out",
        required=True,
        help="output stem; MNE appends -vl.stc (volume) or -lh.stc/-rh.stc",
    )
    parser.add_argument(
        "--condition", default=0, help="evoked condition (name or index)"
    )
    parser.add_argument(
        "--solver",
        default="irmxne",
        choices=["mxne", "irmxne", "lasso", "mne"],
        help="inverse solver",
    )
    parser.add_argument(
        "--alpha",
        default="auto",
        help="fraction of alpha_max in (0, 1], 'auto' (CV) or 'sure'",
    )
    parser.add_argument(
        "--depth", type=float, default=0.8, help="depth-weighting exponent"
    )
    parser.add_argument(
        "--loose", default="auto", help="tangential orientation weight or 'auto'"
    )
    parser.add_argument(
        "--baseline",
        default="auto",
        choices=["auto", "none"],
        help="'auto': subtract the pre-stimulus mean when the evoked has "
        "pre-stimulus samples and no baseline yet; 'none': leave the data as is",
    )
    parser.add_argument("--tmin", type=float, default=None, help="crop start (s)")
    parser.add_argument("--tmax", type=float, default=None, help="crop end (s)")
    parser.add_argument(
        "--ch-type", default=None, choices=["eeg", "meg"], help="channels to use"
    )
    parser.add_argument(
        "--no-relocate",
        action="store_true",
        help="keep the penalized solution's support, as MNE's mixed_norm returns "
        "it, instead of re-placing each source on the grid point that explains "
        "its field best (relocate=False)",
    )
    parser.add_argument(
        "--bem",
        default=None,
        help="-bem-sol.fif of the forward: also refine the sources off the grid "
        "as free dipoles and print them",
    )
    parser.add_argument(
        "--plot",
        default=None,
        metavar="FILE",
        help="write a figure: source time courses (and the alpha path for "
        "--alpha auto/sure)",
    )
    parser.add_argument(
        "--random-state",
        type=int,
        default=None,
        help="seed shuffling the CV folds (default: deterministic folds)",
    )
    parser.set_defaults(func=localize)


def _number_or_name(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def localize(args):
    """Run ``sk-eeg localize``.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed arguments.

    Returns
    -------
    status : int
        0 on success.
    """
    import mne

    from ._estimator import SparseSourceLocalizer

    condition = args.condition
    if isinstance(condition, str) and condition.isdigit():
        condition = int(condition)
    evoked = mne.read_evokeds(args.evoked, condition=condition, verbose=False)
    if args.baseline == "auto" and evoked.baseline is None and evoked.times[0] < 0:
        evoked.apply_baseline((None, 0), verbose=False)
        print("Baseline-corrected (pre-stimulus mean subtracted).")
    if args.tmin is not None or args.tmax is not None:
        evoked.crop(args.tmin, args.tmax)
    if args.ch_type is not None:
        evoked.pick(args.ch_type)
    if "eeg" in evoked and not any(
        "Average EEG" in p["desc"] for p in evoked.info["projs"]
    ):
        evoked.set_eeg_reference("average", projection=True, verbose=False)
        print("Added the EEG average-reference projector.")
    loose = _number_or_name(args.loose)
    est = SparseSourceLocalizer(
        args.forward,
        args.cov,
        solver=args.solver,
        alpha=_number_or_name(args.alpha),
        loose=loose,
        depth=args.depth,
        relocate=not args.no_relocate,
        random_state=args.random_state,
    ).fit(evoked)
    stc = est.to_stc()
    out = Path(args.out)
    before = set(out.parent.glob(out.name + "*"))
    stc.save(out, overwrite=True, verbose=False)
    written = sorted(set(out.parent.glob(out.name + "*")) - before) or sorted(
        out.parent.glob(out.name + "-*.stc")
    )
    print(
        f"{est.n_active_} active source(s) at alpha={est.alpha_:.3g} "
        f"(explained variance {est.explained_variance_:.2f}); wrote "
        + ", ".join(map(str, written))
    )
    amplitude = np.linalg.norm(stc.data, axis=1)
    rr = est.source_rr_[est.active_set_]
    for k in np.argsort(amplitude)[::-1][:5]:
        x, y, z = 1e3 * rr[k]
        print(f"  ({x:6.1f}, {y:6.1f}, {z:6.1f}) mm  peak {amplitude[k]:.3g} A m")
    if args.bem is not None:
        print("Refined dipoles (head coordinates, GOF at the strongest sample):")
        for dip in est.to_dipoles(refine=True, bem=args.bem):
            t = int(np.argmax(dip.gof))
            x, y, z = 1e3 * dip.pos[t]
            print(f"  ({x:6.1f}, {y:6.1f}, {z:6.1f}) mm  GOF {dip.gof[t]:.1f} %")
    if args.plot is not None:
        _plot(est, stc, args.plot)
        print(f"Wrote {args.plot}")
    return 0


def _plot(est, stc, fname):
    """Source time courses, beside the alpha path when alpha was chosen."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with_path = est.cv_scores_ is not None
    fig, axes = plt.subplots(
        1, 2 if with_path else 1, figsize=(10 if with_path else 5, 3.2)
    )
    axes = list(np.atleast_1d(axes))
    for amp in stc.data:
        axes[0].plot(stc.times * 1e3, amp * 1e9)
    axes[0].set_xlabel("time (ms)")
    axes[0].set_ylabel("amplitude (nA m)")
    axes[0].set_title(f"{est.n_active_} active source(s)")
    if with_path:
        est.plot_alpha_path(ax=axes[1])
    fig.tight_layout()
    fig.savefig(fname)
    plt.close(fig)


def demo(args):
    """Localize two simulated dipoles and print the recovered positions.

    Parameters
    ----------
    args : argparse.Namespace
        ``random_state`` and ``out_dir`` of ``sk-eeg demo``.
    """
    from ..datasets import make_sparse_sources
    from ._estimator import SparseSourceLocalizer

    sim = make_sparse_sources(2, snr=5.0, spacing=15.0, random_state=args.random_state)
    print(
        f"Simulated 2 dipoles, 64 EEG channels, {sim.forward['nsource']} "
        "candidate sources (15 mm grid), SNR 5."
    )
    for solver in ("mxne", "irmxne"):
        est = SparseSourceLocalizer(
            sim.forward,
            sim.noise_cov,
            solver=solver,
            alpha="auto",
            random_state=args.random_state,
        ).fit(sim.evoked)
        found = est.source_rr_[est.active_set_]
        errors = [
            np.min(np.linalg.norm(found - p, axis=1)) * 1e3 for p in sim.source_pos
        ]
        print(
            f"  {solver:7s} alpha={est.alpha_:.3f}: {est.n_active_} active "
            f"source(s), error to each true dipole "
            f"{', '.join(f'{e:.0f}' for e in errors)} mm, explained variance "
            f"{est.explained_variance_:.2f}"
        )
    for k, pos in enumerate(sim.source_pos):
        x, y, z = 1e3 * pos
        print(f"  true dipole {k}: ({x:.0f}, {y:.0f}, {z:.0f}) mm")
    out_dir = getattr(args, "out_dir", None)
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        fname = Path(out_dir) / "inverse_sources.png"
        _plot(est, est.to_stc(), fname)
        print(f"Wrote {fname}")
