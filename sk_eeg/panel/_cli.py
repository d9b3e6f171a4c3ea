"""``sk-eeg panel DATA.npy`` and the ``panel`` demo section."""

from pathlib import Path

import numpy as np

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
        ".npy tensor (per-subject rank and held-out scores) or on MNE recordings "
        "(.fif, .edf, ...: rank per subject and covariate effects with 95%% CIs)",
    )
    parser.add_argument(
        "data",
        nargs="+",
        help="one .npy tensor (subjects, sessions, channels, samples), or MNE "
        "recordings (Raw files, or Epochs files named *-epo.fif), one per session",
    )
    parser.add_argument(
        "--meta",
        default=None,
        help="CSV with one row per subject: tensor order, its 'sex' and 'age' "
        "columns used; with MNE files a 'subject' column matching --subjects and "
        "all other columns used. Subject-level covariates (sex may be M/F; "
        "missing values imputed by EM)",
    )
    parser.add_argument(
        "--subjects",
        nargs="+",
        default=None,
        help="subject of each MNE file (none: each file its own subject)",
    )
    parser.add_argument(
        "--out",
        default="summary.csv",
        help="output CSV (tensor: per-subject scores; MNE: covariate effects)",
    )
    parser.add_argument("--plot", default=None, help="write the scree figure here")
    parser.add_argument(
        "--sfreq", type=float, default=500.0, help="sampling rate of the tensor (Hz)"
    )
    parser.add_argument(
        "--window", type=float, default=1.0, help="log-power window (s)"
    )
    parser.add_argument(
        "--fmin", type=float, default=1.0, help="MNE files: band low edge (Hz)"
    )
    parser.add_argument(
        "--fmax", type=float, default=40.0, help="MNE files: band high edge (Hz)"
    )
    parser.add_argument(
        "--session-hours",
        type=float,
        nargs="+",
        default=None,
        help="tensor: clock hour of each session (default: 10 15 10 15 ...)",
    )
    parser.add_argument(
        "--test-session", type=int, default=-1, help="tensor: held-out session index"
    )
    parser.add_argument(
        "--criterion", default="consensus", help="factor_criterion of the model"
    )
    parser.add_argument(
        "--max-factors", type=int, default=8, help="largest rank considered"
    )
    parser.add_argument(
        "--states",
        type=int,
        default=0,
        help="tensor: vMF spectral states of the previous window used as "
        "covariates (fitted on training data)",
    )
    parser.add_argument("--verbose", action="store_true", help="show progress")
    parser.set_defaults(func=_run)


def _plot_scree(model, path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ranks = np.arange(1, model.eigenvalues_.shape[1] + 1)
    for label, vals, r in zip(model.groups_, model.eigenvalues_, model.n_factors_):
        line = ax.semilogy(ranks, np.maximum(vals, 1e-300), marker=".", lw=1)[0]
        ax.plot(r, vals[r - 1] if r else vals[0], "o", mfc="none", c=line.get_color())
    ax.set(xlabel="eigenvalue index", ylabel="residual eigenvalue / T")
    ax.set_title("Scree per subject (circle: chosen rank)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _run(args):
    if len(args.data) == 1 and str(args.data[0]).endswith(".npy"):
        return _run_tensor(args)
    return _run_mne(args)


def _run_tensor(args):
    from sk_eeg.datasets import load_panel_npy

    from ._estimator import IFEPanelRegressor
    from ._pipeline import fit_panel_tensor

    panel = load_panel_npy(args.data[0], meta=args.meta)
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
    if args.plot:
        _plot_scree(model, args.plot)
        print(f"Wrote {args.plot}")
    return 0


def _read_mne(path):
    import mne

    name = str(path)
    if name.endswith(("-epo.fif", "-epo.fif.gz", "_epo.fif", "_epo.fif.gz")):
        return mne.read_epochs(name, preload=True, verbose=False)
    return mne.io.read_raw(name, preload=True, verbose=False)


def _run_mne(args):
    import pandas as pd

    from ._estimator import IFEPanelRegressor
    from ._mne import panel_from_mne
    from ._pipeline import _code_subject_columns

    for path in args.data:
        if not Path(path).exists():
            raise FileNotFoundError(f"path {str(path)!r} does not exist.")
    subjects = args.subjects or [Path(p).name for p in args.data]
    if len(subjects) != len(args.data):
        raise ValueError(
            f"--subjects has {len(subjects)} names for {len(args.data)} files; "
            "give one subject per file."
        )
    covariates = None
    if args.meta:
        meta = pd.read_csv(args.meta)
        if "subject" not in meta.columns:
            raise ValueError("--meta needs a 'subject' column with MNE files.")
        meta["subject"] = meta["subject"].astype(str)
        missing = sorted(set(subjects) - set(meta["subject"]))
        if missing:
            raise ValueError(f"--meta has no row for subjects {missing}.")
        columns = [c for c in meta.columns if c != "subject"]
        coded = _code_subject_columns(meta.set_index("subject"), columns)
        covariates = coded.loc[subjects].reset_index(drop=True)
    recordings = [_read_mne(p) for p in args.data]
    panel = panel_from_mne(
        recordings,
        subjects,
        covariates=covariates,
        window=args.window,
        fmin=args.fmin,
        fmax=args.fmax,
    )
    model = IFEPanelRegressor(
        factor_criterion=args.criterion, max_factors=args.max_factors
    ).fit(panel.X, panel.y, groups=panel.groups)
    lower, upper = model.conf_int()
    names = [str(n) for n in getattr(model, "feature_names_in_", [])]
    rows = [
        {
            "covariate": name,
            "channel": ch,
            "coef": model.coef_[c, j],
            "se": model.coef_se_[c, j],
            "ci_low": lower[c, j],
            "ci_high": upper[c, j],
        }
        for j, name in enumerate(names)
        for c, ch in enumerate(panel.ch_names)
    ]
    table = pd.DataFrame(
        rows, columns=["covariate", "channel", "coef", "se", "ci_low", "ci_high"]
    )
    table.to_csv(args.out, index=False)
    print(
        f"{len(recordings)} recordings, {len(panel.y)} windows of {args.window} s, "
        f"{len(panel.ch_names)} channels, log power {args.fmin}-{args.fmax} Hz"
    )
    print(
        "ranks per subject: "
        + ", ".join(f"{g}={r}" for g, r in zip(model.groups_, model.n_factors_))
    )
    if len(table):
        share = table.groupby("covariate", sort=False).apply(
            lambda t: np.mean((t.ci_low > 0) | (t.ci_high < 0)), include_groups=False
        )
        print(
            "channels whose 95% CI excludes 0: "
            + ", ".join(f"{k} {v:.0%}" for k, v in share.items())
        )
    print(f"Wrote {args.out}")
    if args.plot:
        _plot_scree(model, args.plot)
        print(f"Wrote {args.plot}")
    return 0


def demo(args):
    """Run the panel section: planted rank and effect, criteria, three scores.

    Parameters
    ----------
    args : argparse.Namespace
        ``random_state`` and ``out_dir``.
    """
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

    import tempfile

    out_dir = getattr(args, "out_dir", None)
    with tempfile.TemporaryDirectory() as tmp:
        sim = make_eeg_panel(
            n_subjects=6,
            n_sessions=4,
            n_channels=16,
            n_samples=30_000,
            sfreq=250.0,
            n_factors=2,
            out=Path(tmp) / "panel_demo.npy",
            random_state=seed,
        )
        panel = load_panel_npy(Path(tmp) / "panel_demo.npy", meta=sim.meta)
        model, summary = fit_panel_tensor(
            panel, sfreq=250.0, session_hours=[10, 15] * 2
        )
        del panel
        sim.data = None
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        _plot_scree(model, Path(out_dir) / "panel_scree.png")
        print(f"Wrote {Path(out_dir) / 'panel_scree.png'}")
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
