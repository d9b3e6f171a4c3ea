"""``sk-eeg cluster-lme`` and the ClusterLMETest section of ``sk-eeg demo``."""

NAME = "cluster-lme"


def add_parser(subparsers):
    """Add the ``cluster-lme`` subcommand.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The ``sk-eeg`` subparsers.
    """
    parser = subparsers.add_parser(
        NAME,
        help="mixed model at every timepoint + cluster permutation test",
        description="Fit y ~ FORMULA + (1|groups) + (1|groups:nested) at every "
        "timepoint of FILE (.mat v5/v7.3, .csv, .tsv or .parquet; long or wide "
        "format) and correct across time with a cluster permutation test.",
    )
    parser.add_argument("file", help="data file")
    parser.add_argument(
        "--formula", default="hit_miss * region", help="fixed effects (R style)"
    )
    parser.add_argument("--groups", default="sid", help="subject column")
    parser.add_argument(
        "--nested", default="ch", help="channel column ('none' for no channels)"
    )
    parser.add_argument(
        "--random-slopes",
        nargs="+",
        default=None,
        metavar="FACTOR",
        help="two-level within-subject factors of --formula that get a random "
        "slope per subject, correlated with its intercept: (1 + FACTOR | groups)",
    )
    parser.add_argument(
        "--coding",
        default="sum",
        choices=["sum", "treatment"],
        help="contrast coding of the factors",
    )
    parser.add_argument(
        "--df-method",
        default="satterthwaite",
        choices=["satterthwaite", "kenward-roger", "between-within", "residual"],
        help="denominator degrees of freedom of the F tests",
    )
    parser.add_argument(
        "--n-permutations", type=int, default=1000, help="number of permutations"
    )
    parser.add_argument(
        "--permutation-scheme",
        default="auto",
        choices=["auto", "labels", "freedman-lane"],
        help="how null data are made for each term",
    )
    parser.add_argument(
        "--threshold",
        default=None,
        type=_threshold,
        help="cluster-forming threshold: a number or 'null-percentile' "
        "(default: parametric F at --cluster-alpha)",
    )
    parser.add_argument(
        "--cluster-alpha",
        type=float,
        default=0.05,
        help="level of the parametric cluster-forming threshold",
    )
    parser.add_argument(
        "--cluster-stat",
        default="mass",
        choices=["mass", "size", "tfce"],
        help="cluster statistic",
    )
    parser.add_argument(
        "--min-cluster-size",
        type=int,
        default=2,
        help="clusters with fewer timepoints are ignored",
    )
    parser.add_argument("--checkpoint", default=None, help="resumable .npz file")
    parser.add_argument(
        "--n-jobs", type=int, default=None, help="parallel jobs (joblib)"
    )
    parser.add_argument(
        "--random-state", type=int, default=0, help="seed of the permutations"
    )
    parser.add_argument(
        "--out",
        default="cluster_lme_results.csv",
        help="tidy per-timepoint results (CSV)",
    )
    parser.add_argument("--clusters-out", default=None, help="cluster table (CSV)")
    parser.add_argument("--plot", default=None, help="figure file (e.g. .png)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=_run)


def _threshold(value):
    """Parse ``--threshold``: a non-negative number or 'null-percentile'."""
    import argparse

    if value == "null-percentile":
        return value
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--threshold must be a number (e.g. 4.5) or 'null-percentile', "
            f"got {value!r}"
        ) from None
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"--threshold must be >= 0, got {value!r}")
    return number


def _read(path):
    from pathlib import Path

    from ..datasets._lme import load_lme_mat, load_lme_table

    if Path(path).suffix == ".mat":
        return load_lme_mat(path)
    return load_lme_table(path)


def _run(args):
    from . import ClusterLMETest

    X, design = _read(args.file)
    threshold = args.threshold
    nested = None if args.nested in (None, "none") else args.nested
    test = ClusterLMETest(
        args.formula,
        groups=None if args.groups == "none" else args.groups,
        nested=nested,
        random_slopes=args.random_slopes,
        coding=args.coding,
        df_method=args.df_method,
        n_permutations=args.n_permutations,
        permutation_scheme=args.permutation_scheme,
        threshold=threshold,
        cluster_alpha=args.cluster_alpha,
        cluster_stat=args.cluster_stat,
        min_cluster_size=args.min_cluster_size,
        checkpoint=args.checkpoint,
        n_jobs=args.n_jobs,
        random_state=args.random_state,
        verbose=not args.quiet,
    ).fit(X, design=design)
    test.to_frame().to_csv(args.out, index=False)
    if args.clusters_out:
        test.clusters_.to_csv(args.clusters_out, index=False)
    if args.plot:
        test.plot().savefig(args.plot, dpi=120)
    print(
        f"{X.shape[0]} observations x {X.shape[1]} timepoints, "
        f"{test.n_permutations_} permutations"
    )
    print(
        test.clusters_.to_string(index=False) if len(test.clusters_) else "no clusters"
    )
    print(f"results written to {args.out}")
    return 0


def demo(args):
    """Plant a hit/miss effect in the 169-channel study layout and recover it.

    Parameters
    ----------
    args : argparse.Namespace
        ``random_state`` and ``out_dir``.
    """
    import time
    from pathlib import Path

    from ..datasets import make_nested_timeseries
    from . import ClusterLMETest

    window = (60, 80)
    X, design = make_nested_timeseries(
        effect_window=window, hit_miss_effect=0.8, random_state=args.random_state
    )
    print(
        f"simulated {X.shape[0]} rows x {X.shape[1]} timepoints, "
        f"{design['sid'].nunique()} subjects, "
        f"{design.groupby(['sid', 'ch']).ngroups} channels; hit/miss effect "
        f"planted at timepoints {window[0]}-{window[1] - 1}"
    )
    start = time.perf_counter()
    test = ClusterLMETest(
        "hit_miss * region",
        groups="sid",
        nested="ch",
        n_permutations=999,
        permutation_scheme="labels",
        random_state=args.random_state,
        verbose=False,
    ).fit(X, design=design)
    elapsed = time.perf_counter() - start
    print(
        f"fit + 999 permutations (REML at {X.shape[1]} timepoints each): "
        f"{elapsed:.1f} s"
    )
    sig = test.clusters_[test.clusters_["significant"]]
    print(sig.to_string(index=False) if len(sig) else "no significant cluster")
    found = sig[sig["term"] == "hit_miss"]
    if len(found):
        row = found.loc[found["statistic"].idxmax()]
        overlap = max(0, min(row["stop"], window[1]) - max(row["start"], window[0]))
        print(
            f"recovered hit_miss window {row['start']}-{row['stop'] - 1} "
            f"(p = {row['p']:.3f}); overlap with the truth: "
            f"{overlap}/{window[1] - window[0]} timepoints"
        )
    vc = test.variance_components_.mean()
    print(
        "mean REML variances: subject {:.2f} (true 1.00), channel {:.2f} (true "
        "0.49), residual {:.2f} (true 1.00)".format(*vc)
    )
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    test.plot().savefig(out_dir / "cluster_lme.png", dpi=100)
    print(f"figure: {out_dir / 'cluster_lme.png'}")
