"""MelSpecCNNClassifier: throughput beside ShallowFBCSPNet, and held-out KL.

1. Throughput (windows/s) on 50 s x 20-channel windows at 200 Hz, batch 32:
   the front end alone (montage + FIR band-pass + mel, in torch), the whole
   default pipeline (inference and one training epoch), and braindecode's
   ``ShallowFBCSPNet`` on the same input: braindecode's own model when
   braindecode is importable (run this script from an environment that has
   it), and always a plain-torch re-implementation that, like braindecode,
   fuses the temporal (40 x 25) and spatial convolutions into one
   convolution (Schirrmeister et al. 2017: fused conv, BN, square,
   mean-pool 75/15, log, dropout, conv classifier), trained by a plain loop
   (the work braindecode's EEGClassifier does).
2. Held-out KL on both simulators (``make_eeg_patterns`` and
   ``make_hms_like``; train on 15 patients, test on 5 others): the default
   classifier vs a band-power logistic regression and the class prior.

Run ``python benchmarks/bench_deep.py --threads 2`` (``--quick`` for a short
run, ``--device cuda`` for the GPU, ``--seeds 0 1 2`` for the accuracy part).
"""

import argparse
import time

import numpy as np
import torch
from torch import nn

from sk_eeg.datasets import make_eeg_patterns, make_hms_like
from sk_eeg.deep import HMS_CHANNELS, MelSpecCNNClassifier, kl_divergence
from sk_eeg.deep._baseline import band_powers, fit_soft_logistic
from sk_eeg.deep._montage import apply_montage, resolve_montage

SFREQ = 200.0


class FusedShallowFBCSPNet(nn.Module):
    """ShallowFBCSPNet with braindecode's fused temporal + spatial convolution."""

    def __init__(self, n_chans, n_outputs, n_times, n_filters=40):
        super().__init__()
        self.temporal = nn.Conv2d(1, n_filters, (25, 1))
        self.spatial = nn.Conv2d(n_filters, n_filters, (1, n_chans), bias=False)
        self.bn = nn.BatchNorm2d(n_filters)
        self.pool = nn.AvgPool2d((75, 1), stride=(15, 1))
        self.drop = nn.Dropout(0.5)
        n_out = (n_times - 24 - 75) // 15 + 1
        self.classifier = nn.Conv2d(n_filters, n_outputs, (n_out, 1))

    def forward(self, x):
        # one conv of kernel (25, C): w[o, k, c] = sum_f w_s[o, f, c] w_t[f, k]
        w_t, w_s = self.temporal.weight[:, 0, :, 0], self.spatial.weight[:, :, 0]
        weight = torch.einsum("ofc,fk->okc", w_s, w_t)[:, None]
        bias = torch.einsum("ofc,f->o", w_s, self.temporal.bias)
        x = nn.functional.conv2d(x.transpose(1, 2)[:, None], weight, bias)
        x = self.bn(x)
        x = torch.log(torch.clamp(self.pool(x * x), min=1e-6))
        return self.classifier(self.drop(x))[:, :, 0, 0]


def shallow_references(n_chans, n_outputs, n_times):
    """braindecode's ShallowFBCSPNet (if importable) and the fused re-implementation."""
    models = []
    try:
        from braindecode.models import ShallowFBCSPNet
    except ImportError:
        pass
    else:
        model = ShallowFBCSPNet(
            n_chans=n_chans,
            n_outputs=n_outputs,
            n_times=n_times,
            final_conv_length="auto",
        )
        models.append((model, "braindecode"))
    models.append((FusedShallowFBCSPNet(n_chans, n_outputs, n_times), "fused re-impl."))
    return models


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _rate(fn, n_windows, device, repeats=3):
    fn()  # warm-up (allocations, oneDNN / cuDNN kernels)
    _sync(device)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return n_windows / best


def throughput(args):
    device, batch = args.device, 32
    rng = np.random.default_rng(0)
    n_inf, n_train = args.n_infer, args.n_train
    X = (rng.standard_normal((max(n_inf, n_train), 20, 10000)) * 20).astype(np.float32)
    y = rng.dirichlet(np.ones(6), size=X.shape[0])
    clf = MelSpecCNNClassifier(
        ch_names=list(HMS_CHANNELS),
        max_epochs=1,
        batch_size=batch,
        device=device,
        n_jobs=args.threads,
        random_state=0,
        verbose=False,
    ).fit(X[:batch], y[:batch])
    module = clf.net_.module_.eval()
    Xt = torch.from_numpy(X[:n_inf])

    def front_end():
        with torch.inference_mode():
            for start in range(0, n_inf, batch):
                module.front_end(Xt[start : start + batch].to(device))

    steps = "montage, FIR, decim" if module.raw else "montage, FIR, mel"
    rows = [(f"front end alone ({steps})", 0, _rate(front_end, n_inf, device), 0)]
    infer = _rate(lambda: clf.predict_proba(X[:n_inf]), n_inf, device)
    train = _rate(lambda: clf.fit(X[:n_train], y[:n_train]), n_train, device, 2)
    n_params = sum(p.numel() for p in module.parameters())
    rows.append((f"MelSpecCNN default [{clf.backbone}]", n_params, infer, train))

    Xd = torch.from_numpy(X)
    yd = torch.from_numpy(y.astype(np.float32))
    for net, kind in shallow_references(20, 6, 10000):
        rows.append(_time_shallow(net.to(device), kind, Xd, yd, args, batch))
    threads = torch.get_num_threads()
    print(f"\nThroughput on {device} ({threads} CPU threads), 50 s x 20 ch at 200 Hz")
    print(f"{'model':<40s}{'params':>9s}{'infer win/s':>13s}{'train win/s':>13s}")
    for name, n_params, infer, train in rows:
        print(f"{name:<40s}{n_params:>9d}{infer:>13.1f}{train:>13.1f}")
    _, _, infer, train = rows[1]
    for name, _, infer_ref, train_ref in rows[2:]:
        print(
            f"ratio default / {name}: inference {infer / infer_ref:.2f}x, "
            f"training {train / train_ref:.2f}x"
        )


def _time_shallow(net, kind, Xd, yd, args, batch):
    device, n_inf, n_train = args.device, args.n_infer, args.n_train
    optim = torch.optim.AdamW(net.parameters(), lr=1e-3)

    def infer_shallow():
        net.eval()
        with torch.inference_mode():
            for start in range(0, n_inf, batch):
                out = net(Xd[start : start + batch].to(device))
                torch.softmax(out, 1).cpu()

    def train_shallow():
        net.train()
        for start in range(0, n_train - batch + 1, batch):
            xb, yb = Xd[start : start + batch].to(device), yd[start : start + batch]
            log_p = torch.log_softmax(net(xb), 1)
            loss = nn.functional.kl_div(log_p, yb.to(device), reduction="batchmean")
            optim.zero_grad()
            loss.backward()
            optim.step()

    n_params = sum(p.numel() for p in net.parameters())
    infer = _rate(infer_shallow, n_inf, device)
    train = _rate(train_shallow, n_train, device, 2)
    return (f"ShallowFBCSPNet ({kind})", n_params, infer, train)


def accuracy(args):
    print(
        "\nHeld-out KL (train 15 patients, test 5 others; 600 windows of 10 s): "
        "default MelSpecCNNClassifier vs band-power logistic and class prior"
    )
    print(f"{'simulator':<20s}{'seed':>5s}{'prior':>8s}{'logistic':>10s}"
          f"{'default':>9s}{'rel. gain':>10s}{'train s':>9s}")  # fmt: skip
    for name, make in (("make_eeg_patterns", make_eeg_patterns),
                       ("make_hms_like", make_hms_like)):  # fmt: skip
        for seed in args.seeds:
            X, votes, patients, ch_names = make(
                n_epochs=args.n_sim, n_patients=20, n_times=2000, random_state=seed
            )
            X = X.astype(np.float32)
            test = patients >= 15
            anodes, cathodes, _ = resolve_montage("double_banana", ch_names, 20)
            feats = band_powers(apply_montage(X, anodes, cathodes), SFREQ)
            base = fit_soft_logistic(feats[~test], votes[~test])
            kl_base = kl_divergence(votes[test], base.predict_proba(feats[test]))
            q = votes[~test] / votes[~test].sum(1, keepdims=True)
            prior = np.tile(q.mean(0), (test.sum(), 1))
            kl_prior = kl_divergence(votes[test], prior)
            start = time.perf_counter()
            clf = MelSpecCNNClassifier(
                ch_names=ch_names, random_state=seed, n_jobs=args.threads,
                device="cpu", verbose=False,
            ).fit(X[~test], votes[~test], groups=patients[~test])  # fmt: skip
            seconds = time.perf_counter() - start
            kl = kl_divergence(votes[test], clf.predict_proba(X[test]))
            print(
                f"{name:<20s}{seed:>5d}{kl_prior:>8.3f}{kl_base:>10.3f}{kl:>9.3f}"
                f"{1 - kl / kl_base:>10.1%}{seconds:>9.0f}"
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer windows")
    parser.add_argument("--device", default="cpu", help="torch device")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.n_infer, args.n_train = (64, 64) if args.quick else (128, 128)
    if torch.device(args.device).type == "cuda":
        args.n_infer, args.n_train = 1024, 512
    args.n_sim = 600
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    if not args.skip_throughput:
        throughput(args)
    if not args.skip_accuracy:
        accuracy(args)


if __name__ == "__main__":
    main()
