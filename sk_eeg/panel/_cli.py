"""``sk-eeg panel DATA.npy`` and the ``panel`` demo section."""

NAME = "panel"


def add_parser(subparsers):
    """Add ``sk-eeg panel``.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The ``sk-eeg`` subcommands.
    """
    parser = subparsers.add_parser(
        "panel",
        help="fit IFEPanelRegressor on a (subjects, sessions, channels, samples) "
        ".npy tensor; write per-subject rank and held-out scores",
    )
    parser.add_argument(
        "data", help=".npy tensor (subjects, sessions, channels, samples)"
    )
    parser.add_argument("--meta", default=None, help="CSV with one row per subject")
    parser.add_argument("--out", default="summary.csv", help="output CSV")
    parser.add_argument("--sfreq", type=float, default=500.0, help="sampling rate (Hz)")
    parser.add_argument(
        "--window", type=float, default=1.0, help="log-power window (s)"
    )
    parser.add_argument(
        "--session-hours",
        type=float,
        nargs="+",
        default=None,
        help="clock hour of each session (default: 10 15 10 15 ...)",
    )
    parser.add_argument(
        "--test-session", type=int, default=-1, help="held-out session index"
    )
    parser.add_argument(
        "--criterion", default="consensus", help="factor_criterion of the model"
    )
    parser.add_argument("--max-factors", type=int, default=8)
    parser.add_argument(
        "--states",
        type=int,
        default=0,
        help="vMF spectral states used as covariates (fitted on training data)",
    )
    parser.add_argument("--verbose", action="store_true")
    parser.set_defaults(func=_run)


def _run(args):
    from sk_eeg.datasets import load_panel_npy

    from ._estimator import IFEPanelRegressor
    from ._pipeline import fit_panel_tensor

    panel = load_panel_npy(args.data, meta=args.meta)
    n_sessions = panel.data.shape[1]
    hours = args.session_hours or [
        10.0 if k % 2 == 0 else 15.0 for k in range(n_sessions)
    ]
    if len(panel.invalid_reason):
        print("Skipped recordings:\n" + panel.invalid_reason.to_string(index=False))
    if panel.n_nan.any():
        print(
            f"{int((panel.n_nan > 0).sum())} recording(s) have NaN samples "
            f"({int(panel.n_nan.sum())} in all): skipped within their windows."
        )
    model = IFEPanelRegressor(
        factor_criterion=args.criterion, max_factors=args.max_factors
    )
    model, summary = fit_panel_tensor(
        panel,
        sfreq=args.sfreq,
        session_hours=hours,
        window=args.window,
        test_session=args.test_session,
        n_states=args.states,
        estimator=model,
        verbose=args.verbose,
    )
    summary.to_csv(args.out, index=False)
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"Wrote {args.out}")
    return 0


def demo(args):
    """Run the panel section: planted rank and effect, criteria, three scores.

    Parameters
    ----------
    args : argparse.Namespace
        ``random_state`` and ``out_dir``.
    """
    from pathlib import Path

    import numpy as np
    from scipy.stats import vonmises_fisher

    from sk_eeg.datasets import load_panel_npy, make_eeg_panel, make_panel_factors

    from ._estimator import IFEPanelRegressor
    from ._pipeline import fit_panel_tensor
    from ._vmf import VonMisesFisherMixture

    seed = args.random_state
    data = make_panel_factors(n_subjects=8, n_times=400, random_state=seed)
    model = IFEPanelRegressor().fit(data.X, data.y, groups=data.groups)
    err = np.abs(model.coef_ - data.coef).mean(0)
    print(
        f"make_panel_factors: planted rank {data.n_factors}, chosen per subject "
        f"{model.n_factors_.tolist()}"
    )
    print(
        "rank chosen by each criterion (subject 0): "
        + ", ".join(f"{k}={v}" for k, v in model.rank_selection_.iloc[0].items())
    )
    print(
        "mean |coef error| per covariate: "
        + ", ".join(f"{n}={e:.3f}" for n, e in zip(data.X.columns, err))
    )

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sim = make_eeg_panel(
        n_subjects=6,
        n_sessions=4,
        n_channels=16,
        n_samples=30_000,
        sfreq=250.0,
        n_factors=2,
        out=out / "panel_demo.npy",
        random_state=seed,
    )
    panel = load_panel_npy(out / "panel_demo.npy", meta=sim.meta)
    model, summary = fit_panel_tensor(panel, sfreq=250.0, session_hours=[10, 15] * 2)
    print(f"make_eeg_panel (planted rank {sim.n_factors}), held-out session scores:")
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    corr = np.corrcoef(model.coef_[:, 0], sim.afternoon_effect)[0, 1]
    print(f"afternoon effect: correlation with the planted one {corr:.3f}")

    rng = np.random.RandomState(seed)
    means = np.linalg.qr(rng.standard_normal((16, 3)))[0].T
    X = np.vstack(
        [
            vonmises_fisher(m, k).rvs(1000, random_state=seed + i)
            for i, (m, k) in enumerate(zip(means, (20.0, 50.0, 150.0)))
        ]
    )
    vmf = VonMisesFisherMixture(n_components=3, random_state=seed).fit(X)
    order = np.argmax(vmf.means_ @ means.T, axis=0)
    print(
        "vMF mixture: planted kappas 20/50/150, recovered "
        + "/".join(f"{k:.1f}" for k in vmf.kappas_[order])
        + f"; min cos(mean, planted) {np.min(np.sum(vmf.means_[order] * means, 1)):.4f}"
    )
