"""``sk-eeg eeg2video train|generate`` and the ``eeg2video`` demo section."""

NAME = "eeg2video"


def add_parser(subparsers):
    """Add ``sk-eeg eeg2video`` with its ``train`` and ``generate`` commands.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The ``sk-eeg`` subcommands.
    """
    parser = subparsers.add_parser(
        "eeg2video", help="train an EEG-to-video diffusion model / generate clips"
    )
    parser.set_defaults(func=lambda args: parser.print_help() or 0)
    commands = parser.add_subparsers(dest="eeg2video_command", metavar="COMMAND")

    train = commands.add_parser(
        "train", help="train EEG2VideoGenerator and save it as a pipeline directory"
    )
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--eeg", help=".npy EEG array (n_clips, n_channels, n_times)")
    source.add_argument(
        "--simulate",
        action="store_true",
        help="train on make_eeg_video data (4 classes, 8 frames at 32 x 32)",
    )
    train.add_argument(
        "--videos", help=".npy videos (n_clips, n_frames, height, width, 3)"
    )
    train.add_argument("--labels", help=".npy class labels (optional)")
    train.add_argument("--out", required=True, help="output pipeline directory")
    train.add_argument("--encoder", default="glmnet")
    train.add_argument("--max-epochs", type=int, default=20)
    train.add_argument("--encoder-epochs", type=int, default=20)
    train.add_argument("--batch-size", type=int, default=8)
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--frames", type=int, default=None)
    train.add_argument("--height", type=int, default=None)
    train.add_argument("--width", type=int, default=None)
    train.add_argument("--use-vae", action="store_true")
    train.add_argument("--device", default="auto")
    train.add_argument("--random-state", type=int, default=0)
    train.set_defaults(func=_train)

    generate = commands.add_parser(
        "generate", help="generate clips from EEG with a saved pipeline directory"
    )
    generate.add_argument("--model", required=True, help="pipeline directory")
    generate.add_argument("--eeg", required=True, help=".npy EEG array")
    generate.add_argument("--out", required=True, help="output .npy of videos")
    generate.add_argument("--num-inference-steps", type=int, default=None)
    generate.add_argument("--random-state", type=int, default=None)
    generate.add_argument("--device", default="auto")
    generate.set_defaults(func=_generate)


def _load_npy(path, name):
    import os

    import numpy as np

    if path is None:
        raise ValueError(f"--{name} is required with --eeg.")
    if not os.path.exists(path):
        raise FileNotFoundError(f"--{name}: no such file {path!r}.")
    return np.load(path, allow_pickle=False)


def _train(args):
    from sk_eeg.video import EEG2VideoGenerator

    if args.simulate:
        from sk_eeg.datasets import make_eeg_video

        data = make_eeg_video(random_state=args.random_state)
        X, videos, labels = data.X, data.videos, data.y
    else:
        X = _load_npy(args.eeg, "eeg")
        videos = _load_npy(args.videos, "videos")
        labels = None if args.labels is None else _load_npy(args.labels, "labels")
    gen = EEG2VideoGenerator(
        encoder=args.encoder,
        frames=args.frames,
        height=args.height,
        width=args.width,
        use_vae=args.use_vae,
        max_epochs=args.max_epochs,
        encoder_epochs=args.encoder_epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        device=args.device,
        random_state=args.random_state,
        verbose=True,
    )
    gen.fit(X, videos, labels=labels)
    path = gen.save(args.out)
    print(f"trained on {len(X)} clips; final loss {gen.loss_curve_[-1]:.4f}")
    print(f"saved pipeline to {path}")
    return 0


def _generate(args):
    import numpy as np

    from sk_eeg.video import EEG2VideoGenerator

    gen = EEG2VideoGenerator.load(args.model, device=args.device)
    if args.num_inference_steps is not None:
        gen.set_params(num_inference_steps=args.num_inference_steps)
    X = _load_npy(args.eeg, "eeg")
    videos = gen.predict(X, random_state=args.random_state)
    np.save(args.out, videos)
    print(f"generated {videos.shape} -> {args.out}")
    return 0


def demo(args):
    """Run the eeg2video section of ``sk-eeg demo`` (tiny, CPU, well under 1 min).

    Parameters
    ----------
    args : argparse.Namespace
        Provides ``random_state``.
    """
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sk_eeg.datasets import make_eeg_video
    from sk_eeg.video import (
        DifferentialEntropy,
        EEG2VideoGenerator,
        EEGEncoderClassifier,
        cross_validate_blocks,
        make_video_classifier,
        n_way_identification,
        video_ssim,
    )

    seed = args.random_state
    data = make_eeg_video(
        n_blocks=3, n_classes=3, n_clips=4, n_frames=4, height=16, width=16,
        n_channels=16, sfreq=100.0, random_state=seed,
    )  # fmt: skip
    print(
        f"simulated {len(data.y)} clips: {data.X.shape[1]} channels, 3 blocks, "
        f"classes {data.shapes}"
    )
    de_lr = make_pipeline(
        DifferentialEntropy(sfreq=data.sfreq, bands=((4, 8), (8, 14), (31, 49))),
        StandardScaler(),
        LogisticRegression(max_iter=500),
    )
    res = cross_validate_blocks(de_lr, data.X, data.y, data.blocks, top_k=(1,))
    print(
        f"DE + logistic regression, leave-one-block-out top-1: "
        f"{res['top1_mean']:.2f} (chance {res['chance_top1']:.2f})"
    )
    clf = make_pipeline(
        DifferentialEntropy(sfreq=data.sfreq, bands=((4, 8), (8, 14), (31, 49))),
        EEGEncoderClassifier(
            encoder="mlp", max_epochs=30, batch_size=8, device="cpu",
            random_state=seed,
        ),
    )  # fmt: skip
    res = cross_validate_blocks(clf, data.X, data.y, data.blocks, top_k=(1,))
    print(
        f"DE + MLP EEGEncoderClassifier, leave-one-block-out top-1: "
        f"{res['top1_mean']:.2f} (chance {res['chance_top1']:.2f})"
    )
    train, test = data.blocks < 2, data.blocks == 2
    gen = EEG2VideoGenerator(
        encoder="mlp", features="de", sfreq=data.sfreq,
        bands=((4, 8), (8, 14), (31, 49)), unet_channels=(16, 32), max_epochs=1,
        encoder_epochs=40, num_inference_steps=4, init_strength=0.3,
        device="cpu", random_state=seed,
    )  # fmt: skip
    gen.fit(data.X[train], data.videos[train], labels=data.y[train])
    generated = gen.predict(data.X[test])
    rng = np.random.default_rng(seed)
    shuffled = gen.predict(data.X[test][rng.permutation(test.sum())])
    truth = data.videos[test]
    print(
        f"generator: SSIM to the true clip {video_ssim(truth, generated):.3f}, "
        f"from shuffled EEG {video_ssim(truth, shuffled):.3f}"
    )
    video_clf = make_video_classifier(seed).fit(data.videos[train], data.y[train])
    score = n_way_identification(
        video_clf.predict_proba(generated), data.y[test], n_way=3, random_state=seed
    )
    print(
        f"generated clips identified (3-way top-1): {score.accuracy:.2f} "
        f"(chance {score.chance:.2f})"
    )
