"""``sk-eeg classify train|predict`` and the ``deep`` section of ``sk-eeg demo``."""

NAME = "deep"


def add_parser(subparsers):
    """Add ``classify train`` and ``classify predict`` to the ``sk-eeg`` parser.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The subcommand collection of the ``sk-eeg`` parser.
    """
    classify = subparsers.add_parser(
        "classify",
        help="train / apply MelSpecCNNClassifier on HMS-style EEG (parquet + csv)",
    )
    actions = classify.add_subparsers(dest="action", metavar="ACTION")
    train = actions.add_parser("train", help="fit a model and save it (pickle)")
    predict = actions.add_parser("predict", help="write class probabilities to csv")
    for sub in (train, predict):
        sub.add_argument("--csv", required=True, help="csv of windows (HMS layout)")
        sub.add_argument("--eeg-dir", required=True, help="folder of <eeg_id>.parquet")
        sub.add_argument(
            "--window-seconds", type=float, default=50.0, help="window length in s"
        )
        sub.add_argument(
            "--sfreq", type=float, default=200.0, help="sampling rate of the files"
        )
    train.add_argument("--out", required=True, help="path of the pickled model")
    train.add_argument(
        "--plot", default=None, help="figure of the training curve (e.g. .png)"
    )
    train.add_argument(
        "--backbone",
        default="parallel_cnn1d",
        help="'parallel_cnn1d' (1D CNN) or a timm model name on the mel image",
    )
    train.add_argument("--max-epochs", type=int, default=15, help="training epochs")
    train.add_argument("--batch-size", type=int, default=32, help="mini-batch size")
    train.add_argument("--lr", type=float, default=3e-3, help="AdamW learning rate")
    train.add_argument(
        "--min-votes", type=int, default=0, help="keep windows with this many votes"
    )
    train.add_argument("--n-mels", type=int, default=64, help="mel bands (2D nets)")
    train.add_argument("--n-fft", type=int, default=512, help="STFT size (2D nets)")
    train.add_argument(
        "--win-length", type=int, default=128, help="STFT window (2D nets)"
    )
    train.add_argument("--hop-length", type=int, default=32, help="STFT hop (2D nets)")
    train.add_argument("--device", default="auto", help="'auto', 'cpu' or 'cuda'")
    train.add_argument("--random-state", type=int, default=0, help="seed")
    predict.add_argument("--model", required=True, help="pickled model from train")
    predict.add_argument("--out", required=True, help="csv of probabilities")
    predict.add_argument(
        "--plot", default=None, help="figure of the probabilities (e.g. .png)"
    )
    train.set_defaults(func=_train)
    predict.set_defaults(func=_predict)
    classify.set_defaults(func=lambda args: classify.print_help() or 0)


def _train(args):
    import pickle

    from ..datasets import load_hms_eeg
    from ._estimator import MelSpecCNNClassifier

    X, votes, _, ch_names = load_hms_eeg(
        args.csv,
        args.eeg_dir,
        window_seconds=args.window_seconds,
        sfreq=args.sfreq,
        min_votes=args.min_votes,
    )
    clf = MelSpecCNNClassifier(
        backbone=args.backbone,
        ch_names=ch_names,
        sfreq=args.sfreq,
        n_mels=args.n_mels,
        n_fft=args.n_fft,
        win_length=args.win_length,
        hop_length=args.hop_length,
        max_epochs=args.max_epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        device=args.device,
        random_state=args.random_state,
        verbose=True,
    ).fit(X, votes)
    with open(args.out, "wb") as fid:
        pickle.dump(clf, fid)
    loss = clf.net_.history[-1]["train_loss"]
    print(f"trained on {len(X)} windows (final train KL {loss:.4f}); saved {args.out}")
    if args.plot:
        _plot_history(clf).savefig(args.plot, dpi=120)
        print(f"figure: {args.plot}")
    return 0


def _plot_history(clf):
    """Training loss (and validation KL) per epoch."""
    import matplotlib.pyplot as plt

    history = clf.net_.history
    fig, ax = plt.subplots(figsize=(5, 3.5))
    epochs = history[:, "epoch"]
    ax.plot(epochs, history[:, "train_loss"], "o-", label="train KL")
    if "valid_loss" in history[-1]:
        ax.plot(epochs, history[:, "valid_loss"], "s-", label="validation KL")
    ax.set(xlabel="epoch", ylabel="KL divergence", title="MelSpecCNNClassifier")
    ax.legend()
    fig.tight_layout()
    return fig


def _plot_proba(proba, classes, title):
    """Predicted class probabilities, one row per window."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 0.5 + min(0.25 * len(proba), 8)))
    image = ax.imshow(proba, aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), [str(c) for c in classes], rotation=30)
    ax.set(ylabel="window", title=title)
    fig.colorbar(image, ax=ax, label="probability")
    fig.tight_layout()
    return fig


def _predict(args):
    import pickle

    from ..datasets import load_hms_eeg
    from ..datasets._patterns import PATTERN_CLASSES

    with open(args.model, "rb") as fid:
        clf = pickle.load(fid)
    fitted_sfreq = getattr(clf, "sfreq_", args.sfreq)
    if abs(fitted_sfreq - args.sfreq) > 1e-6:
        raise ValueError(
            f"--sfreq {args.sfreq} differs from the {fitted_sfreq} Hz the model was "
            "trained at; resample the recordings or pass the right --sfreq."
        )
    X, _, _, _, frame = load_hms_eeg(
        args.csv,
        args.eeg_dir,
        window_seconds=args.window_seconds,
        sfreq=args.sfreq,
        channels=getattr(clf, "ch_names_", None) or clf.ch_names,
        return_frame=True,
        require_votes=False,
    )
    proba = clf.predict_proba(X)
    names = [f"{c}_vote" for c in PATTERN_CLASSES]
    if len(clf.classes_) != len(names):
        names = [f"p_{c}" for c in clf.classes_]
    out = frame[["eeg_id", "eeg_label_offset_seconds"]].copy()
    out[names] = proba
    out.to_csv(args.out, index=False)
    print(f"wrote probabilities of {len(out)} windows to {args.out}")
    if args.plot:
        _plot_proba(proba, clf.classes_, "predicted probabilities").savefig(
            args.plot, dpi=120
        )
        print(f"figure: {args.plot}")
    return 0


def demo(args):
    """Simulate six EEG pattern families, train a small CNN, compare to a baseline.

    Parameters
    ----------
    args : argparse.Namespace
        ``random_state`` and ``out_dir`` are used.
    """
    from ..datasets import make_eeg_patterns
    from ._baseline import band_powers, fit_soft_logistic
    from ._estimator import MelSpecCNNClassifier
    from ._montage import apply_montage, resolve_montage
    from ._scoring import kl_divergence

    X, votes, patients, ch_names = make_eeg_patterns(
        n_epochs=400, n_patients=20, n_times=2000, random_state=args.random_state
    )
    test = patients >= 15
    print(
        f"simulated {len(X)} windows (10 s, 20 channels, 6 classes) of 20 "
        f"patients; testing on {test.sum()} windows of 5 held-out patients"
    )
    anodes, cathodes, _ = resolve_montage("double_banana", ch_names, X.shape[1])
    features = band_powers(apply_montage(X, anodes, cathodes), 200.0)
    baseline = fit_soft_logistic(features[~test], votes[~test])
    p_base = baseline.predict_proba(features[test])
    clf = MelSpecCNNClassifier(ch_names=ch_names, random_state=args.random_state).fit(
        X[~test], votes[~test]
    )
    p_cnn = clf.predict_proba(X[test])
    truth = votes[test].argmax(1)
    for name, proba in (("band-power logistic", p_base), ("MelSpecCNN (1D)", p_cnn)):
        print(
            f"  {name:<20s} KL {kl_divergence(votes[test], proba):.3f}  "
            f"accuracy {(proba.argmax(1) == truth).mean():.3f}"
        )
    out_dir = getattr(args, "out_dir", None)
    if out_dir is not None:
        from pathlib import Path

        Path(out_dir).mkdir(parents=True, exist_ok=True)
        path = Path(out_dir) / "deep_melspec.png"
        _plot_history(clf).savefig(path, dpi=100)
        print(f"figure: {path}")
