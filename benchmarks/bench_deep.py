"""MelSpecCNNClassifier: throughput and accuracy beside the references.

1. Inference throughput (windows/s) of the whole pipeline on 50 s x 20-channel
   windows at 200 Hz (montage + band-pass + mel + backbone + head), and
   training throughput, beside a ShallowFBCSPNet on the same input.
   braindecode is NOT installed: ``pip install --dry-run braindecode`` pulls
   torchaudio 2.11 (built for another torch) and ~25 other packages into the
   shared environment, so the reference here is a plain-torch re-implementation
   of braindecode's ``ShallowFBCSPNet`` (Schirrmeister et al. 2017: temporal
   conv 40x25, spatial conv, BN, square, mean-pool 75/15, log, dropout, dense
   classifier) trained by a plain torch loop (the work EEGClassifier does).
2. Accuracy on the simulator (6 classes, held-out patients): the network vs a
   multinomial logistic regression on log band powers of the same bipolar
   derivations, both trained on the soft vote targets.

Run ``python benchmarks/bench_deep.py`` (``--quick`` for a short run; ``--gpu``
adds CUDA timings when a device is present).
"""

import argparse
import time

import numpy as np
import torch
from torch import nn

from sk_eeg.datasets import make_eeg_patterns
from sk_eeg.deep import HMS_CHANNELS, MelSpecCNNClassifier, kl_divergence
from sk_eeg.deep._baseline import band_powers, fit_soft_logistic
from sk_eeg.deep._montage import apply_montage, resolve_montage

SFREQ = 200.0


class ShallowFBCSPNet(nn.Module):
    """braindecode-style ShallowFBCSPNet (plain torch re-implementation)."""

    def __init__(self, n_chans, n_outputs, n_times):
        super().__init__()
        self.temporal = nn.Conv2d(1, 40, (1, 25))
        self.spatial = nn.Conv2d(40, 40, (n_chans, 1), bias=False)
        self.bn = nn.BatchNorm2d(40)
        self.pool = nn.AvgPool2d((1, 75), stride=(1, 15))
        self.drop = nn.Dropout(0.5)
        n_out = (n_times - 24 - 75) // 15 + 1
        self.classifier = nn.Linear(40 * n_out, n_outputs)

    def forward(self, x):
        x = self.bn(self.spatial(self.temporal(x[:, None])))
        x = torch.log(torch.clamp(self.pool(x * x), min=1e-6))
        return self.classifier(self.drop(x.flatten(1)))


def _rate(fn, n_windows, repeats=2):
    fn()  # warm-up (allocations, oneDNN kernels)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return n_windows / best


def throughput(args, device):
    rng = np.random.default_rng(0)
    n_inf, n_train = args.n_infer, args.n_train
    X = (rng.standard_normal((max(n_inf, n_train), 20, 10000)) * 20).astype(np.float32)
    y = rng.dirichlet(np.ones(6), size=X.shape[0])
    rows = []
    for backbone in args.backbones:
        clf = MelSpecCNNClassifier(
            backbone=backbone,
            ch_names=list(HMS_CHANNELS),
            max_epochs=1,
            batch_size=16,
            device=device,
            n_jobs=args.threads,
            random_state=0,
        ).fit(X[:32], y[:32])
        infer = _rate(lambda clf=clf: clf.predict_proba(X[:n_inf]), n_inf)
        train = _rate(
            lambda clf=clf: clf.fit(X[:n_train], y[:n_train]), n_train, repeats=1
        )
        n_params = sum(p.numel() for p in clf.net_.module_.parameters())
        rows.append((f"MelSpecCNN[{backbone}]", n_params, infer, train))

    net = ShallowFBCSPNet(20, 6, 10000).to(device)
    optim = torch.optim.AdamW(net.parameters(), lr=1e-3)
    Xt = torch.from_numpy(X)
    yt = torch.from_numpy(y.astype(np.float32))

    def infer_shallow():
        net.eval()
        with torch.inference_mode():
            for start in range(0, n_inf, 16):
                batch = Xt[start : start + 16].to(device)
                torch.softmax(net(batch), 1).cpu()

    def train_shallow():
        net.train()
        for start in range(0, n_train, 16):
            batch, target = Xt[start : start + 16].to(device), yt[start : start + 16]
            log_p = torch.log_softmax(net(batch), 1)
            loss = nn.functional.kl_div(log_p, target.to(device), reduction="batchmean")
            optim.zero_grad()
            loss.backward()
            optim.step()
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()  # nothing reads the loss: wait for the GPU

    n_params = sum(p.numel() for p in net.parameters())
    rows.append(
        (
            "ShallowFBCSPNet (torch)",
            n_params,
            _rate(infer_shallow, n_inf),
            _rate(train_shallow, n_train, repeats=1),
        )
    )
    print(f"\nThroughput on {device} ({torch.get_num_threads()} threads), windows of")
    print("50 s x 20 channels at 200 Hz, batch 16 (MelSpecCNN: whole pipeline)")
    print(f"{'model':<32s}{'params':>10s}{'infer win/s':>13s}{'train win/s':>13s}")
    ref = rows[-1]
    for name, n_params, infer, train in rows:
        print(f"{name:<32s}{n_params:>10d}{infer:>13.1f}{train:>13.1f}")
    for name, _, infer, train in rows[:-1]:
        print(
            f"ratio {name} / ShallowFBCSPNet: inference {infer / ref[2]:.2f}x, "
            f"training {train / ref[3]:.2f}x"
        )


def accuracy(args):
    X, votes, patients, ch_names = make_eeg_patterns(
        n_epochs=args.n_sim, n_patients=20, n_times=2000, random_state=0
    )
    test = patients >= 15
    anodes, cathodes, _ = resolve_montage("double_banana", ch_names, X.shape[1])
    feats = band_powers(apply_montage(X, anodes, cathodes), SFREQ)
    start = time.perf_counter()
    base = fit_soft_logistic(feats[~test], votes[~test])
    results = [("band-power logistic", base.predict_proba(feats[test]))]
    t_base = time.perf_counter() - start
    print(
        f"\nSimulator: {len(X)} windows of 10 s, 6 classes, train on 15 patients "
        f"({(~test).sum()} windows), test on 5 held-out patients ({test.sum()})"
    )
    print(f"  band-power logistic fitted in {t_base:.1f} s")
    configs = {
        "parallel_cnn1d": dict(backbone="parallel_cnn1d", lr=3e-3, max_epochs=10),
        "mel+test_efficientnet": dict(
            backbone="test_efficientnet",
            n_mels=32,
            n_fft=256,
            hop_length=32,
            top_db=40.0,
            max_epochs=15,
            batch_size=16,
            lr=3e-3,
            mixup_alpha=0.4,
            cutout=0.5,
            window_mask=0.5,
            chain_drop=0.3,
        ),
    }
    for name in args.models:
        start = time.perf_counter()
        clf = MelSpecCNNClassifier(
            ch_names=ch_names,
            random_state=0,
            n_jobs=args.threads,
            **configs[name],
        ).fit(X[~test], votes[~test])
        print(f"  MelSpecCNN[{name}] trained in {time.perf_counter() - start:.1f} s")
        results.append((f"MelSpecCNN[{name}]", clf.predict_proba(X[test])))
    truth = votes[test].argmax(1)
    print(f"{'model':<34s}{'KL (held-out)':>15s}{'accuracy':>10s}")
    for name, proba in results:
        kl = kl_divergence(votes[test], proba)
        acc = np.mean(proba.argmax(1) == truth)
        print(f"{name:<34s}{kl:>15.3f}{acc:>10.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument(
        "--threads", type=int, default=2, help="torch CPU threads (default 2)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.n_infer, args.n_train = (16, 16) if args.quick else (32, 16)
    args.backbones = ["mixnet_s", "parallel_cnn1d"]
    if not args.quick:
        args.backbones.insert(1, "efficientnet_b0")
    args.n_sim = 400
    args.models = ["parallel_cnn1d"]
    if not args.quick:
        args.models.append("mel+test_efficientnet")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    if not args.skip_throughput:
        throughput(args, "cpu")
        if args.gpu and torch.cuda.is_available():
            args.n_infer, args.n_train = 256, 128
            throughput(args, "cuda")
    if not args.skip_accuracy:
        accuracy(args)


if __name__ == "__main__":
    main()
