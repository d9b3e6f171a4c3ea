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
from ._augment import (
    chain_drop,
    cutout,
    lr_flip,
    mixup,
    random_crop,
    time_shift,
    window_mask,
)
from ._backbones import ParallelGroupedCNN1d, build_timm_backbone
from ._frontend import FrontEnd
from ._gem import GeM
from ._mel import MelSpectrogram

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class MelSpecNet(nn.Module):
    """Raw EEG -> montage -> band-pass -> mel dB image (or raw) -> backbone -> head.

    The whole front end runs on the module's device. The mel spectrograms of
    the ``n_chans`` derivations are stacked vertically into one
    single-channel image of height ``n_chans * n_mels`` (as in the HMS
    solutions), so the backbone sees where each chain lies.
    """

    def __init__(
        self,
        n_chans,
        n_classes,
        anodes=None,
        cathodes=None,
        fir=None,
        flip_perm=None,
        flip=0.0,
        time_shift=0.0,
        crop=None,
        decim=1,
        amp=None,
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
        if anodes is None:
            anodes, cathodes = list(range(n_chans)), [-1] * n_chans
        self.frontend = FrontEnd(anodes, cathodes, fir, decim)
        n_chans = len(anodes)
        perm = range(n_chans) if flip_perm is None else flip_perm
        self.register_buffer("flip_perm", torch.as_tensor(list(perm), dtype=torch.long))
        self.amp = amp
        self.crop = crop
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
        self.aug = dict(
            cutout=cutout,
            window_mask=window_mask,
            chain_drop=chain_drop,
            flip=flip,
            time_shift=time_shift,
        )

    def _augment(self, spec):
        spec = chain_drop(spec, self.aug["chain_drop"])
        spec = cutout(spec, self.aug["cutout"])
        return window_mask(spec, self.aug["window_mask"])

    def front_end(self, x):
        """Return the backbone input (mel dB image, or scaled raw signals)."""
        x = self.frontend(x)
        if self.training:
            x = lr_flip(x, self.flip_perm, self.aug["flip"])
            x = time_shift(x, self.aug["time_shift"])
        if self.crop is not None:
            x = random_crop(x, self.crop, centre=not self.training)
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
        image = self.front_end(x)
        dtype = AMP_DTYPES.get(self.amp)
        if dtype is None:
            fmap = self.backbone(image)
        else:
            with torch.autocast(x.device.type, dtype=dtype):
                fmap = self.backbone(image)
        fmap = fmap.float()
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
    """skorch ``NeuralNet`` with mixup of inputs and soft targets.

    With ``amp='fp16'`` the loss is scaled by a :class:`torch.amp.GradScaler`
    (gradients are unscaled before the ``on_grad_computed`` callbacks, so
    gradient clipping sees true norms).
    """

    def __init__(self, *args, mixup_alpha=0.0, amp=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.mixup_alpha = mixup_alpha
        self.amp = amp

    def initialize(self):
        """Initialise the module, optimiser and, for fp16, the gradient scaler."""
        super().initialize()
        device_type = torch.device(self.device).type
        use_scaler = self.amp == "fp16" and device_type in ("cuda", "cpu")
        self.scaler_ = torch.amp.GradScaler(device_type) if use_scaler else None
        return self

    def train_step_single(self, batch, **fit_params):
        """One forward / backward pass on a (mixed-up) batch."""
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        Xi = Xi.to(self.device, non_blocking=True)
        yi = yi.to(self.device, non_blocking=True)
        Xi, yi = mixup(Xi, yi, self.mixup_alpha)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        scaler = getattr(self, "scaler_", None)
        (scaler.scale(loss) if scaler is not None else loss).backward()
        return {"loss": loss, "y_pred": y_pred}

    def train_step(self, batch, **fit_params):
        """Optimisation step; with fp16, through the gradient scaler."""
        scaler = getattr(self, "scaler_", None)
        if scaler is None:
            return super().train_step(batch, **fit_params)
        from skorch.utils import TeeGenerator

        self._zero_grad_optimizer()
        step = self.train_step_single(batch, **fit_params)
        for optimizer in self._get_optimizers():
            scaler.unscale_(optimizer)
        self.notify(
            "on_grad_computed",
            named_parameters=TeeGenerator(self.get_all_learnable_params()),
            batch=batch,
        )
        for optimizer in self._get_optimizers():
            scaler.step(optimizer)
        scaler.update()
        return step

    def _get_optimizers(self):
        return [getattr(self, name + "_") for name in self._optimizers]


class EpochProgress(Callback):
    """A progress bar over the batches of each epoch and a log line per epoch.

    The log line (INFO) gives the mean training loss and, with a validation
    split, the validation KL divergence.
    """

    def __init__(self, verbose=None, n_batches=None):
        self.verbose = verbose
        self.n_batches = n_batches

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        """Open the bar of this epoch."""
        epoch = len(net.history)
        self.bar_ = progress_bar(
            total=self.n_batches,
            desc=f"epoch {epoch}/{net.max_epochs}",
            verbose=self.verbose,
            leave=False,
        )

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        """Advance the bar after each training batch."""
        if training and self.bar_ is not None:
            self.bar_.update(1)
            loss = net.history[-1, "batches", -1, "train_loss"]
            self.bar_.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def on_epoch_end(self, net, **kwargs):
        """Close the bar and log the losses."""
        self._close()
        row = net.history[-1]
        text = f"train_loss={row['train_loss']:.4f}"
        if "valid_loss" in row:
            text += f", valid_kl={row['valid_loss']:.4f}"
        logger.info(
            f"MelSpecCNN epoch {row['epoch']}/{net.max_epochs}: {text} "
            f"({row['dur']:.1f} s)"
        )

    def on_train_end(self, net, X=None, y=None, **kwargs):
        """Close the bar (tqdm objects do not pickle)."""
        self._close()

    def _close(self):
        if getattr(self, "bar_", None) is not None:
            self.bar_.close()
        self.bar_ = None
