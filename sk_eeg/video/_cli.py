"""``sk-eeg eeg2video train|generate`` and the ``eeg2video`` demo section."""

NAME = "eeg2video"


_TRAIN_HELP = """\
Train EEG2VideoGenerator and save it as a pipeline directory.

Two configurations (--preset):
  cpu  EEG2VideoGenerator's defaults: MLP on differential entropy, 4 x 4
       pixel patches folded into channels, 60 encoder + 8 joint epochs;
       sampling runs only the last of 10 DDIM steps from the encoder's latent
       prediction (init_strength 0.1), so the clips are mostly that
       regression. train --simulate: 6 to 9 minutes on 2 CPU cores (7
       CPU-minutes; add --n-jobs 1 when the cores are busy with other work).
  gpu  EEG2VideoGenerator.from_preset('gpu'), EEG2Video's model: GLMNet on
       raw EEG, full-resolution UNet, 20 encoder + 50 joint epochs, 25 DDIM
       steps from pure noise: about 100 minutes on 2 CPU cores; a few
       minutes on a data-centre GPU (a training step of batch 8 takes about
       0.1 s on an H200). Add --precision bfloat16 for mixed precision.
'auto' picks 'gpu' when CUDA is available. Options given explicitly override
the preset. Training writes a checkpoint every --checkpoint-every epochs (or
--checkpoint-minutes) into OUT/checkpoint; rerunning an interrupted command
resumes from it.
"""


def add_parser(subparsers):
    """Add ``sk-eeg eeg2video`` with its ``train`` and ``generate`` commands.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The ``sk-eeg`` subcommands.
    """
    import argparse

    parser = subparsers.add_parser(
        "eeg2video", help="train an EEG-to-video diffusion model / generate clips"
    )
    parser.set_defaults(func=lambda args: parser.print_help() or 0)
    commands = parser.add_subparsers(dest="eeg2video_command", metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="train EEG2VideoGenerator and save it as a pipeline directory",
        description=_TRAIN_HELP,
        formatter_class=type(
            "_Formatter",
            (
                argparse.ArgumentDefaultsHelpFormatter,
                argparse.RawDescriptionHelpFormatter,
            ),
            {},
        ),
    )
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--eeg", help=".npy EEG array (n_clips, n_channels, n_times)")
    source.add_argument(
        "--simulate",
        action="store_true",
        help="train on make_eeg_video data (140 clips of 8 frames at 32 x 32, 4 "
        "classes, 7 blocks); the last block is held out for generate --simulate",
    )
    train.add_argument(
        "--videos", help=".npy videos (n_clips, n_frames, height, width, 3)"
    )
    train.add_argument("--labels", help=".npy class labels (optional)")
    train.add_argument(
        "--sfreq", type=float, default=200.0, help="EEG sampling rate (with --eeg)"
    )
    train.add_argument("--out", required=True, help="output pipeline directory")
    train.add_argument(
        "--preset",
        default="auto",
        choices=("auto", "cpu", "gpu"),
        help="training configuration (see above); 'auto': 'gpu' when CUDA is "
        "available, else 'cpu'",
    )
    train.add_argument(
        "--encoder",
        default=None,
        choices=("glmnet", "shallownet", "eegnet", "conformer", "mlp"),
        help="EEG encoder (None: the preset's)",
    )
    train.add_argument(
        "--features",
        default=None,
        choices=("raw", "de", "log_power"),
        help="encoder input: raw EEG, differential entropy or log band power "
        "(None: the preset's)",
    )
    for name, kind, what in (
        ("patch-size", int, "pixel patch side folded into channels"),
        ("max-epochs", int, "joint diffusion training epochs"),
        ("encoder-epochs", int, "encoder warm-up epochs"),
        ("num-inference-steps", int, "DDIM sampling steps"),
        ("init-strength", float, "1: sample from noise; < 1: from the noised "
         "latent prediction"),
        ("batch-size", int, "minibatch size"),
    ):  # fmt: skip
        train.add_argument(
            f"--{name}", type=kind, default=None, help=f"{what} (None: the preset's)"
        )
    train.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate")
    train.add_argument("--frames", type=int, default=None, help="frames generated")
    train.add_argument("--height", type=int, default=None, help="frame height")
    train.add_argument("--width", type=int, default=None, help="frame width")
    train.add_argument(
        "--use-vae", action="store_true", help="diffuse in a tiny VAE latent space"
    )
    train.add_argument(
        "--device", default="auto", help="'auto' (CUDA when available), 'cpu', 'cuda'"
    )
    train.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        help="CPU threads of torch (-1: all cores; None: torch's default). On a "
        "machine busy with other work, 1 can be several times faster",
    )
    train.add_argument(
        "--precision",
        default="float32",
        choices=("float32", "bfloat16", "float16"),
        help="mixed precision (float16: CUDA only)",
    )
    train.add_argument(
        "--checkpoint-every", type=int, default=2, help="epochs between checkpoints"
    )
    train.add_argument(
        "--checkpoint-minutes",
        type=float,
        default=None,
        help="also checkpoint after an epoch ending this many minutes after the "
        "last checkpoint (None: epochs only)",
    )
    train.add_argument(
        "--random-state", type=int, default=0, help="seed of the simulation and model"
    )
    train.add_argument("--plot", help="write the training loss curve to this figure")
    train.set_defaults(func=_train)

    generate = commands.add_parser(
        "generate",
        help="generate clips from EEG with a saved pipeline directory; write them "
        "as .npy, an animated GIF and a frame grid",
    )
    generate.add_argument("--model", required=True, help="pipeline directory")
    source = generate.add_mutually_exclusive_group(required=True)
    source.add_argument("--eeg", help=".npy EEG array")
    source.add_argument(
        "--simulate",
        action="store_true",
        help="generate the held-out block of train --simulate (same --random-state) "
        "and score it against the trivial references",
    )
    generate.add_argument(
        "--videos", help=".npy true videos of --eeg (shown in the GIF and grid)"
    )
    generate.add_argument("--out", required=True, help="output .npy of videos")
    generate.add_argument(
        "--gif", help="animated GIF of the first clips (default: OUT with .gif)"
    )
    generate.add_argument(
        "--plot", help="frame grid PNG, generated vs true (default: OUT with .png)"
    )
    generate.add_argument(
        "--n-show", type=int, default=4, help="clips shown in the GIF and grid"
    )
    generate.add_argument(
        "--num-inference-steps",
        type=int,
        default=None,
        help="DDIM steps (None: as trained)",
    )
    generate.add_argument(
        "--random-state",
        type=int,
        default=None,
        help="noise seed (None: the model's; with --simulate, also the simulation "
        "seed, 0 when None)",
    )
    generate.add_argument(
        "--device", default="auto", help="'auto' (CUDA when available), 'cpu', 'cuda'"
    )
    generate.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        help="CPU threads of torch (-1: all cores; None: torch's default). On a "
        "machine busy with other work, 1 can be several times faster",
    )
    generate.set_defaults(func=_generate)


def _load_npy(path, name):
    import os

    import numpy as np

    if path is None:
        raise ValueError(f"--{name} is required with --eeg.")
    if not os.path.exists(path):
        raise FileNotFoundError(f"--{name}: no such file {path!r}.")
    return np.load(path, allow_pickle=False)


def _simulated_split(random_state):
    from sk_eeg.datasets import make_eeg_video

    data = make_eeg_video(random_state=random_state)
    train = data.blocks < data.blocks.max()
    return data, train, ~train


def _resolve_preset(preset, device):
    if preset == "auto":
        from sk_eeg.utils._torch import resolve_device

        preset = "gpu" if resolve_device(device).type == "cuda" else "cpu"
    return preset


def _train(args):
    import shutil
    import time
    from pathlib import Path

    from sk_eeg.video import EEG2VIDEO_PRESETS, EEG2VideoGenerator

    if args.simulate:
        data, train, _ = _simulated_split(args.random_state)
        X, videos, labels = data.X[train], data.videos[train], data.y[train]
        sfreq = data.sfreq
    else:
        X = _load_npy(args.eeg, "eeg")
        videos = _load_npy(args.videos, "videos")
        labels = None if args.labels is None else _load_npy(args.labels, "labels")
        sfreq = args.sfreq
    preset = _resolve_preset(args.preset, args.device)
    overrides = {}
    for key in EEG2VIDEO_PRESETS[preset]:
        value = getattr(args, key, None)
        if value is not None:
            overrides[key] = None if value == "raw" else value
    out = Path(args.out)
    gen = EEG2VideoGenerator.from_preset(
        preset,
        **overrides,
        sfreq=sfreq,
        frames=args.frames,
        height=args.height,
        width=args.width,
        use_vae=args.use_vae,
        lr=args.lr,
        device=args.device,
        precision=args.precision,
        checkpoint_dir=out / "checkpoint",
        checkpoint_every=args.checkpoint_every,
        checkpoint_minutes=args.checkpoint_minutes,
        n_jobs=args.n_jobs,
        random_state=args.random_state,
        verbose=True,
    )
    print(f"preset {preset!r}: {gen!r}")
    start = time.perf_counter()
    gen.fit(X, videos, labels=labels)
    path = gen.save(out)
    shutil.rmtree(out / "checkpoint", ignore_errors=True)
    print(
        f"trained on {len(X)} clips in {time.perf_counter() - start:.0f} s on "
        f"{gen.device_}; final loss {gen.loss_curve_[-1]:.4f}"
    )
    print(f"saved pipeline to {path}")
    if args.plot:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4, 3))
        ax.plot(range(1, len(gen.loss_curve_) + 1), gen.loss_curve_, marker="o")
        ax.set(xlabel="epoch", ylabel="training loss", title="EEG2VideoGenerator")
        fig.tight_layout()
        fig.savefig(args.plot)
        plt.close(fig)
        print(f"loss curve -> {args.plot}")
    return 0


def _generate(args):
    from pathlib import Path

    import matplotlib.pyplot as plt
    import numpy as np

    from sk_eeg.video import (
        EEG2VideoGenerator,
        plot_video_frames,
        reconstruction_baselines,
        save_video_gif,
    )

    gen = EEG2VideoGenerator.load(args.model, device=args.device)
    gen.set_params(verbose=True, n_jobs=args.n_jobs)
    if args.num_inference_steps is not None:
        gen.set_params(num_inference_steps=args.num_inference_steps)
    truth = None
    if args.simulate:
        seed = 0 if args.random_state is None else args.random_state
        data, train, test = _simulated_split(seed)
        X, truth = data.X[test], data.videos[test]
    else:
        X = _load_npy(args.eeg, "eeg")
        if args.videos is not None:
            truth = _load_npy(args.videos, "videos")
    videos = gen.predict(X, random_state=args.random_state)
    out = Path(args.out)
    np.save(out, videos)
    out = out if out.suffix == ".npy" else out.with_name(out.name + ".npy")
    print(f"generated {videos.shape} -> {out}")
    if truth is not None and truth.shape != videos.shape:
        print(f"true videos {truth.shape} differ in size from the generated ones; "
              "they are not shown")  # fmt: skip
        truth = None
    gif = save_video_gif(
        args.gif or out.with_suffix(".gif"), videos, truth, n_clips=args.n_show
    )
    what = "true above generated" if truth is not None else "generated"
    print(f"animation ({what}) -> {gif}")
    fig = plot_video_frames(videos, truth, n_clips=args.n_show)
    grid = Path(args.plot or out.with_suffix(".png"))
    fig.savefig(grid, dpi=120)
    plt.close(fig)
    print(f"frame grid -> {grid}")
    if args.simulate:
        rng = np.random.default_rng(0)
        shuffled = gen.predict(
            X[rng.permutation(len(X))], random_state=args.random_state
        )
        _print_scores(
            reconstruction_baselines(
                truth, videos, data.videos[train], train_labels=data.y[train],
                labels=data.y[test], y_shuffled=shuffled,
            )
        )  # fmt: skip
        _print_identification(data, train, test, videos)
    return 0


def _print_scores(scores):
    names = {
        "generated": "generated from EEG",
        "shuffled_eeg": "generated from shuffled EEG",
        "mean_clip": "mean training clip",
        "class_mean_clip": "class-mean clip (class known)",
    }
    for key, label in names.items():
        if key in scores:
            s = scores[key]
            print(f"  {label:<31s} SSIM {s['ssim']:.3f}  PSNR {s['psnr']:.2f} dB")


def _print_identification(data, train, test, generated):
    import numpy as np

    from sk_eeg.video import make_video_classifier, n_way_identification

    n_classes = len(np.unique(data.y))
    clf = make_video_classifier(0).fit(data.videos[train], data.y[train])
    score = n_way_identification(
        clf.predict_proba(generated), data.y[test], n_way=n_classes, random_state=0
    )
    print(
        f"  generated clips identified ({n_classes}-way top-1): {score.accuracy:.2f} "
        f"(chance {score.chance:.2f})"
    )


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
        plot_video_frames,
        reconstruction_baselines,
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
    # The default (CPU) configuration, with a smaller UNet and fewer epochs.
    gen = EEG2VideoGenerator(
        sfreq=data.sfreq, bands=((4, 8), (8, 14), (31, 49)),
        unet_channels=(16, 32), max_epochs=1, encoder_epochs=40, device="cpu",
        random_state=seed,
    )  # fmt: skip
    gen.fit(data.X[train], data.videos[train], labels=data.y[train])
    generated = gen.predict(data.X[test])
    rng = np.random.default_rng(seed)
    shuffled = gen.predict(data.X[test][rng.permutation(test.sum())])
    truth = data.videos[test]
    print("generator, SSIM / PSNR to the true held-out clips:")
    _print_scores(
        reconstruction_baselines(
            truth, generated, data.videos[train], train_labels=data.y[train],
            labels=data.y[test], y_shuffled=shuffled,
        )
    )  # fmt: skip
    video_clf = make_video_classifier(seed).fit(data.videos[train], data.y[train])
    score = n_way_identification(
        video_clf.predict_proba(generated), data.y[test], n_way=3, random_state=seed
    )
    print(
        f"generated clips identified (3-way top-1): {score.accuracy:.2f} "
        f"(chance {score.chance:.2f})"
    )
    out_dir = getattr(args, "out_dir", None)
    if out_dir is not None:
        import os

        import matplotlib.pyplot as plt

        os.makedirs(out_dir, exist_ok=True)
        fig = plot_video_frames(generated, truth, n_clips=3)
        path = os.path.join(out_dir, "eeg2video_frames.png")
        fig.savefig(path, dpi=120)
        plt.close(fig)
        print(f"true vs generated frames -> {path}")
