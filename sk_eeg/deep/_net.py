"""The torch network, its soft-target loss and the skorch training loop.

Imported only from :meth:`MelSpecCNNClassifier.fit` and the inference
methods, so importing :mod:`sk_eeg.deep` does not start torch.
"""

import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.dataset import unpack_data
from torch import nn

from ..utils import logger, progress_bar
from ._augment import chain_drop, cutout, mixup, window_mask
from ._backbones import ParallelGroupedCNN1d, build_timm_backbone
from ._gem import GeM
from ._mel import MelSpectrogram


class MelSpecNet(nn.Module):
    """Derivations -> mel dB image (or raw) -> backbone -> pooling -> linear head.

    The mel spectrograms of the ``n_chans`` derivations are stacked vertically
    into one single-channel image of height ``n_chans * n_mels`` (as in the HMS
    solutions), so the backbone sees where each chain lies.
    """

    def __init__(
        self,
        n_chans,
        n_classes,
        backbone="mixnet_s",
        sfreq=200.0,
        n_fft=512,
        win_length=128,
        hop_length=32,
        n_mels=64,
        fmin=0.5,
        fmax=30.0,
        top_db=80.0,
        pooling="gem",
        drop_rate=0.2,
        checkpoint=None,
        cutout=0.0,
        window_mask=0.0,
        chain_drop=0.0,
    ):
        super().__init__()
        self.raw = backbone == "parallel_cnn1d"
        if self.raw:
            self.mel = None
            self.backbone = ParallelGroupedCNN1d(n_chans)
            num_features = self.backbone.num_features
        else:
            self.mel = MelSpectrogram(
                sfreq=sfreq,
                n_fft=n_fft,
                win_length=win_length,
                hop_length=hop_length,
                n_mels=n_mels,
                fmin=fmin,
                fmax=fmax,
                top_db=top_db,
                normalize=True,
            )
            self.backbone, num_features = build_timm_backbone(
                backbone, in_chans=1, checkpoint=checkpoint
            )
        self.pooling = pooling
        self.pool = GeM() if pooling == "gem" else None
        self.dropout = nn.Dropout(drop_rate)
        self.head = nn.Linear(num_features, n_classes)
        self.num_features = num_features
        self.aug = dict(cutout=cutout, window_mask=window_mask, chain_drop=chain_drop)

    def _augment(self, spec):
        spec = chain_drop(spec, self.aug["chain_drop"])
        spec = cutout(spec, self.aug["cutout"])
        return window_mask(spec, self.aug["window_mask"])

    def front_end(self, x):
        """Return the backbone input (mel dB image, or scaled raw signals)."""
        if self.raw:
            # Per-sample scale: unit-free and independent of the batch.
            scale = x.flatten(1).std(dim=1).clamp(min=1e-8)
            x = x / scale[:, None, None]
            if self.training:
                x = self._augment(x[:, :, None, :])[:, :, 0]
            return x
        spec = self.mel(x)
        if self.training:
            spec = self._augment(spec)
        batch, n_chans, n_mels, n_frames = spec.shape
        return spec.reshape(batch, 1, n_chans * n_mels, n_frames)

    def embed(self, x):
        """Pooled backbone features, shape ``(batch, num_features)``."""
        fmap = self.backbone(self.front_end(x))
        if self.pooling == "gem":
            return self.pool(fmap)
        if self.pooling == "avg":
            return fmap.flatten(2).mean(dim=2)
        return fmap.flatten(2).amax(dim=2)

    def forward(self, x):
        """Class logits, shape ``(batch, n_classes)``."""
        return self.head(self.dropout(self.embed(x)))


class SoftTargetKLLoss(nn.Module):
    """Weighted mean of ``KL(target || softmax(logits))`` over the batch.

    The target tensor carries the sample weights in its last column. With unit
    weights this is ``KLDivLoss(reduction='batchmean')`` on ``log_softmax``;
    on one-hot targets it equals the cross-entropy.
    """

    def forward(self, logits, y):
        """Compute the loss."""
        target, weight = y[:, :-1], y[:, -1]
        if logits.dtype in (torch.float16, torch.bfloat16):
            logits = logits.float()
        log_prob = torch.log_softmax(logits, dim=1)
        kl = (torch.xlogy(target, target) - target * log_prob).sum(dim=1)
        return (weight * kl).sum() / weight.sum().clamp(min=1e-12)


class SoftTargetNet(NeuralNet):
    """skorch ``NeuralNet`` that applies mixup to inputs and soft targets."""

    def __init__(self, *args, mixup_alpha=0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.mixup_alpha = mixup_alpha

    def train_step_single(self, batch, **fit_params):
        """One optimisation step on a (mixed-up) batch."""
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        Xi = Xi.to(self.device)
        yi = yi.to(self.device)
        Xi, yi = mixup(Xi, yi, self.mixup_alpha)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}


class EpochProgress(Callback):
    """Progress bar over epochs and an INFO log line per epoch."""

    def __init__(self, verbose=None):
        self.verbose = verbose

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        """Open the bar."""
        self.bar_ = progress_bar(
            total=net.max_epochs, desc="MelSpecCNN epochs", verbose=self.verbose
        )

    def on_epoch_end(self, net, **kwargs):
        """Advance the bar and log the losses."""
        row = net.history[-1]
        scores = {k: row[k] for k in ("train_loss", "valid_loss") if k in row}
        self.bar_.update(1)
        self.bar_.set_postfix({k: f"{v:.4f}" for k, v in scores.items()})
        text = ", ".join(f"{k}={v:.4f}" for k, v in scores.items())
        logger.info(f"epoch {row['epoch']}: {text} ({row['dur']:.1f} s)")

    def on_train_end(self, net, X=None, y=None, **kwargs):
        """Close the bar (tqdm objects do not pickle)."""
        self.bar_.close()
        self.bar_ = None
