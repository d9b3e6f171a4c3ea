"""EEG2VideoGenerator benchmark and acceptance run (CPU; GPU when present).

1. Timing of the UNet of each configuration: one training step (fwd + bwd +
   AdamW on a batch) and DDIM sampling time per clip (all the steps, also
   those that ``init_strength < 1`` skips), on CPU and on CUDA if available.
2. EEG-VP baselines on make_eeg_video with leave-one-block-out CV (top-1 with
   its chance level).
3. Acceptance: the two configurations of ``EEG2VideoGenerator.from_preset``
   (8 frames at 32 x 32; 'cpu', the defaults, and 'gpu' on CUDA) trained on
   blocks 1-6 of the simulator, clips generated from the held-out block 7.
   Reports the class identification of
   the generated clips (n-way and 2-way top-1 with chance) and SSIM / PSNR to
   the true clip beside the mean training clip, the class-mean clip and
   generation from shuffled EEG.

Run:  python benchmarks/bench_video.py            (about 10-15 min on 2 cores)
      python benchmarks/bench_video.py --quick    (lighter EEG-VP baselines)
"""

import argparse
import time

import numpy as np
import torch

from sk_eeg.datasets import make_eeg_video
from sk_eeg.video import (
    DifferentialEntropy,
    EEG2VideoGenerator,
    EEGEncoderClassifier,
    cross_validate_blocks,
    make_video_classifier,
    n_way_identification,
    reconstruction_baselines,
    video_mse,
)


def timing(device, preset, n_steps=2):
    from sk_eeg.video._diffusion import build_unet

    gen = EEG2VideoGenerator.from_preset(preset, device=device, random_state=0)
    patch_size = gen.patch_size
    batch, side = gen.batch_size, 32 // patch_size
    channels = 3 * patch_size**2
    unet = build_unet(
        channels, gen.unet_channels, gen.layers_per_block, gen.cross_attention_dim,
        gen.attention_head_dim, side,
    ).to(device)  # fmt: skip
    opt = torch.optim.AdamW(unet.parameters(), lr=1e-3)
    x = torch.randn(batch, channels, 8, side, side, device=device)
    cond = torch.randn(batch, gen.n_tokens, gen.cross_attention_dim, device=device)
    t = torch.randint(0, 1000, (batch,), device=device)
    times = []
    for _ in range(n_steps + 1):
        start = time.perf_counter()
        loss = (unet(x, t, encoder_hidden_states=cond).sample - x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device != "cpu":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    step = np.median(times[1:])
    unet.eval()
    with torch.inference_mode():
        start = time.perf_counter()
        for _ in range(n_steps):
            unet(x[:1], t[:1], encoder_hidden_states=cond[:1])
        if device != "cpu":
            torch.cuda.synchronize()
    per_step = (time.perf_counter() - start) / n_steps
    n_params = sum(p.numel() for p in unet.parameters()) / 1e6
    print(
        f"[{device}, {preset!r}] UNet {gen.unet_channels} ({n_params:.2f} M "
        f"params), 8 frames x 32 x 32, patch_size={patch_size}: train step "
        f"(batch {batch}) {step:.2f} s; "
        f"one denoising step per clip {per_step:.3f} s -> "
        f"{gen.num_inference_steps} DDIM steps {per_step * gen.num_inference_steps:.1f}"
        " s per clip"
    )


def baselines(data, quick):
    from sklearn.pipeline import make_pipeline

    print("\nEEG-VP baselines, leave-one-block-out (7 folds), 4 classes:")
    epochs = 15 if quick else 40

    def raw(encoder):
        return lambda: EEGEncoderClassifier(
            encoder=encoder,
            max_epochs=epochs,
            lr=3e-3,
            batch_size=16,
            n_jobs=1,
            random_state=0,
        )

    models = {
        "DE + MLP": lambda: make_pipeline(
            DifferentialEntropy(sfreq=data.sfreq, window_length=1.0),
            EEGEncoderClassifier(
                encoder="mlp", max_epochs=60, n_jobs=1, random_state=0
            ),
        ),
        "ShallowNet (raw)": raw("shallownet"),
    }
    if not quick:
        models["GLMNet (raw)"] = raw("glmnet")
    for name, make in models.items():
        start = time.perf_counter()
        res = cross_validate_blocks(make(), data.X, data.y, data.blocks, top_k=(1, 2))
        print(
            f"  {name:<18s} top-1 {res['top1_mean']:.3f} (chance "
            f"{res['chance_top1']:.3f}), top-2 {res['top2_mean']:.3f} (chance "
            f"{res['chance_top2']:.3f})  [{time.perf_counter() - start:.0f} s]",
            flush=True,
        )


def acceptance(data, preset):
    train, test = data.blocks < 6, data.blocks == 6
    gen = EEG2VideoGenerator.from_preset(
        preset,
        sfreq=data.sfreq,
        device="cuda" if preset == "gpu" else "cpu",
        random_state=0,
        verbose=True,
    )
    print(f"\nAcceptance (EEG2VideoGenerator.from_preset({preset!r})): {gen!r}")
    start = time.perf_counter()
    gen.fit(data.X[train], data.videos[train], labels=data.y[train])
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    generated = gen.predict(data.X[test])
    sample_s = (time.perf_counter() - start) / test.sum()
    rng = np.random.default_rng(0)
    shuffled = gen.predict(data.X[test][rng.permutation(test.sum())])
    truth = data.videos[test]
    n_classes = len(np.unique(data.y))
    video_clf = make_video_classifier(0).fit(data.videos[train], data.y[train])
    scores = video_clf.predict_proba(generated)
    scores_shuffled = video_clf.predict_proba(shuffled)
    top1 = n_way_identification(scores, data.y[test], n_way=n_classes, random_state=0)
    top1_sh = n_way_identification(
        scores_shuffled, data.y[test], n_way=n_classes, random_state=0
    )
    two_way = n_way_identification(scores, data.y[test], n_way=2, random_state=0)
    true_acc = video_clf.score(truth, data.y[test])
    print(
        f"trained on {train.sum()} clips in {fit_s:.0f} s on {gen.device_}; sampling "
        f"{sample_s:.2f} s per clip; video classifier on the held-out true clips "
        f"{true_acc:.2f}"
    )
    print(
        f"identification of generated clips: {n_classes}-way top-1 "
        f"{top1.accuracy:.3f} (chance {top1.chance:.3f}); from shuffled EEG "
        f"{top1_sh.accuracy:.3f}; 2-way top-1 {two_way.accuracy:.3f} (chance "
        f"{two_way.chance:.3f})"
    )
    res = reconstruction_baselines(
        truth, generated, data.videos[train], train_labels=data.y[train],
        labels=data.y[test], y_shuffled=shuffled,
    )  # fmt: skip
    for name, label in (
        ("generated", "generated from EEG"),
        ("shuffled_eeg", "generated from shuffled EEG"),
        ("mean_clip", "mean training clip"),
        ("class_mean_clip", "class-mean clip (class known)"),
    ):
        print(
            f"  {label:<31s} SSIM {res[name]['ssim']:.3f}  PSNR "
            f"{res[name]['psnr']:.2f} dB"
        )
    print(f"  MSE generated {video_mse(truth, generated):.4f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer baseline epochs and no GLMNet baseline",
    )
    parser.add_argument(
        "--preset",
        default="all",
        choices=("all", "cpu", "gpu"),
        help="training configuration of the acceptance run (all: cpu, and gpu "
        "when CUDA is available)",
    )
    parser.add_argument("--skip-baselines", action="store_true")
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--skip-acceptance", action="store_true")
    parser.add_argument(
        "--n-jobs", type=int, default=None, help="torch CPU threads for the timing"
    )
    args = parser.parse_args()
    if args.n_jobs is not None:
        torch.set_num_threads(args.n_jobs)
    if not args.skip_timing:
        for device in ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",):
            for preset in ("gpu", "cpu"):
                timing(device, preset)
    data = make_eeg_video(n_blocks=7, n_classes=4, n_clips=5, random_state=0)
    print(
        f"\nsimulated SEED-DV-like data: {data.X.shape[0]} clips, EEG "
        f"{data.X.shape[1:]} at {data.sfreq:g} Hz, videos {data.videos.shape[1:]}"
    )
    if not args.skip_baselines:
        baselines(data, args.quick)
    if not args.skip_acceptance:
        presets = ["cpu"] + (["gpu"] if torch.cuda.is_available() else [])
        for preset in presets if args.preset == "all" else [args.preset]:
            acceptance(data, preset)


if __name__ == "__main__":
    main()
