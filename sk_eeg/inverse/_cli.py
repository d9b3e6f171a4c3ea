"""``sk-eeg localize`` and the ``inverse`` section of ``sk-eeg demo``."""

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
    parser.add_argument("--out", required=True, help="output stc file name (stem)")
    parser.add_argument(
        "--condition", default=0, help="evoked condition (name or index; default 0)"
    )
    parser.add_argument(
        "--solver", default="irmxne", choices=["mxne", "irmxne", "lasso", "mne"]
    )
    parser.add_argument(
        "--alpha",
        default="auto",
        help="fraction of alpha_max in (0, 1], 'auto' (CV) or 'sure'",
    )
    parser.add_argument("--depth", type=float, default=0.8)
    parser.add_argument("--loose", default="auto")
    parser.add_argument("--tmin", type=float, default=None, help="crop start (s)")
    parser.add_argument("--tmax", type=float, default=None, help="crop end (s)")
    parser.add_argument(
        "--ch-type", default=None, choices=["eeg", "meg"], help="channels to use"
    )
    parser.add_argument("--random-state", type=int, default=0)
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
    import numpy as np

    from ._estimator import SparseSourceLocalizer

    condition = args.condition
    if isinstance(condition, str) and condition.isdigit():
        condition = int(condition)
    evoked = mne.read_evokeds(args.evoked, condition=condition, verbose=False)
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
        random_state=args.random_state,
    ).fit(evoked)
    stc = est.to_stc()
    stc.save(args.out, overwrite=True, verbose=False)
    print(
        f"{est.n_active_} active source(s) at alpha={est.alpha_:.3g} "
        f"(explained variance {est.explained_variance_:.2f}); wrote {args.out}"
    )
    amplitude = np.linalg.norm(stc.data, axis=1)
    rr = est.source_rr_[est.active_set_]
    for k in np.argsort(amplitude)[::-1][:5]:
        x, y, z = 1e3 * rr[k]
        print(f"  ({x:6.1f}, {y:6.1f}, {z:6.1f}) mm  peak {amplitude[k]:.3g} A m")
    return 0


def demo(args):
    """Localize two simulated dipoles and print the recovered positions.

    Parameters
    ----------
    args : argparse.Namespace
        ``random_state`` and ``out_dir`` of ``sk-eeg demo``.
    """
    import numpy as np

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
