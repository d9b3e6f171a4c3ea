"""EEG encoders as torch modules (the EEG-VP baselines and the video condition).

Every public module here is a diffusers ``ModelMixin`` + ``ConfigMixin`` whose
constructor arguments are recorded with ``register_to_config``, so it saves
and reloads inside a diffusers pipeline directory with nothing dropped. The
flattened sizes are computed from the input shape (EEG2Video's code
hard-codes them for 1-s windows at 200 Hz).

This module imports torch and diffusers; :mod:`sk_eeg.video` imports it only
inside ``fit`` / ``load``.
"""

import math

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn

ENCODERS = ("glmnet", "shallownet", "eegnet", "conformer", "mlp")


def _flat_size(module, n_channels, n_times):
    training = module.training
    module.eval()  # BatchNorm cannot run on one sample in training mode
    with torch.no_grad():
        out = module(torch.zeros(1, 1, n_channels, n_times))
    module.train(training)
    return int(out[0].numel()), tuple(out.shape[1:])


class _ShallowConv(nn.Module):
    """Temporal conv -> spatial conv -> BN -> ELU -> average pool -> dropout.

    The ShallowConvNet front end (Schirrmeister et al. 2017) with kernel and
    pool sizes shrunk to fit short inputs.
    """

    def __init__(self, n_channels, n_times, n_filters=40, dropout=0.25):
        super().__init__()
        kernel = min(25, n_times)
        pool = min(75, n_times - kernel + 1)
        stride = max(1, min(15, pool // 5))
        self.net = nn.Sequential(
            nn.Conv2d(1, n_filters, (1, kernel)),
            nn.Conv2d(n_filters, n_filters, (n_channels, 1)),
            nn.BatchNorm2d(n_filters),
            nn.ELU(),
            nn.AvgPool2d((1, pool), (1, stride)),
            nn.Dropout(dropout),
        )

    def forward(self, x):
        return self.net(x)


class _ShallowNet(nn.Module):
    def __init__(self, n_channels, n_times, emb_dim, n_filters=40, dropout=0.25):
        super().__init__()
        self.features = _ShallowConv(n_channels, n_times, n_filters, dropout)
        n_flat, _ = _flat_size(self.features, n_channels, n_times)
        self.out = nn.Linear(n_flat, emb_dim)

    def forward(self, x):
        return self.out(self.features(x).flatten(1))


class _GLMNet(nn.Module):
    """Global ShallowNet on all channels + local ShallowNet on a channel subset."""

    def __init__(self, n_channels, n_times, emb_dim, local_channels, dropout=0.25):
        super().__init__()
        self.register_buffer(
            "local_index", torch.as_tensor(local_channels, dtype=torch.long)
        )
        self.global_net = _ShallowNet(n_channels, n_times, emb_dim, dropout=dropout)
        self.local_net = _ShallowNet(
            len(local_channels), n_times, emb_dim, dropout=dropout
        )
        self.out = nn.Linear(2 * emb_dim, emb_dim)

    def forward(self, x):
        local = x.index_select(2, self.local_index)
        both = torch.cat([self.global_net(x), self.local_net(local)], dim=1)
        return self.out(nn.functional.gelu(both))


class _EEGNet(nn.Module):
    """EEGNet (Lawhern et al. 2018): temporal, depthwise spatial, separable convs."""

    def __init__(
        self, n_channels, n_times, emb_dim, f1=8, depth=2, f2=16, dropout=0.25
    ):
        super().__init__()
        # Odd kernels: 'same' padding without an extra copy.
        kernel = min(63, n_times) // 2 * 2 + 1
        sep_kernel = min(15, max(1, n_times // min(4, n_times))) // 2 * 2 + 1
        pool1 = min(4, n_times)
        pool2 = max(1, min(8, n_times // pool1))
        self.features = nn.Sequential(
            nn.Conv2d(1, f1, (1, kernel), padding="same", bias=False),
            nn.BatchNorm2d(f1),
            nn.Conv2d(f1, f1 * depth, (n_channels, 1), groups=f1, bias=False),
            nn.BatchNorm2d(f1 * depth),
            nn.ELU(),
            nn.AvgPool2d((1, pool1)),
            nn.Dropout(dropout),
            nn.Conv2d(
                f1 * depth,
                f1 * depth,
                (1, sep_kernel),
                padding="same",
                groups=f1 * depth,
                bias=False,
            ),
            nn.Conv2d(f1 * depth, f2, 1, bias=False),
            nn.BatchNorm2d(f2),
            nn.ELU(),
            nn.AvgPool2d((1, pool2)),
            nn.Dropout(dropout),
        )
        n_flat, _ = _flat_size(self.features, n_channels, n_times)
        self.out = nn.Linear(n_flat, emb_dim)

    def forward(self, x):
        return self.out(self.features(x).flatten(1))


class _Conformer(nn.Module):
    """EEG Conformer (Song et al. 2023): shallow conv patches + transformer."""

    def __init__(
        self, n_channels, n_times, emb_dim, d_model=40, n_layers=2, n_heads=4,
        dropout=0.25,
    ):  # fmt: skip
        super().__init__()
        self.patches = _ShallowConv(n_channels, n_times, d_model, dropout)
        layer = nn.TransformerEncoderLayer(
            d_model, n_heads, 4 * d_model, dropout=dropout, batch_first=True
        )
        self.transformer = nn.TransformerEncoder(
            layer, n_layers, enable_nested_tensor=False
        )
        self.out = nn.Linear(d_model, emb_dim)

    def forward(self, x):
        tokens = self.patches(x).flatten(2).transpose(1, 2)  # (B, L, d_model)
        return self.out(self.transformer(tokens).mean(dim=1))


class _MLP(nn.Module):
    """MLP on the flattened input (raw samples or DE / band-power features)."""

    def __init__(self, n_channels, n_times, emb_dim, hidden=(512, 256), dropout=0.25):
        super().__init__()
        sizes = (n_channels * n_times, *hidden)
        layers = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(n_in, n_out), nn.GELU(), nn.Dropout(dropout)]
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], emb_dim))

    def forward(self, x):
        return self.net(x.flatten(1))


FEATURES = (None, "de", "log_power")


class SpectralFeatures(nn.Module):
    """Band power / differential entropy of EEG in torch (differentiable).

    The same computation as :class:`sk_eeg.video.DifferentialEntropy` and
    :class:`sk_eeg.video.BandPower` (tapered periodogram integrated over
    ``fmin <= f < fmax``), so features live inside a saved pipeline. Output
    ``(B, n_channels, n_windows * n_bands)``.
    """

    def __init__(self, kind, sfreq, bands, n_times, window_length=None):
        super().__init__()
        import numpy as np
        from scipy.signal import get_window

        self.kind = kind
        n_window = n_times if window_length is None else round(window_length * sfreq)
        if not 2 <= n_window <= n_times:
            raise ValueError(
                f"window_length={window_length} s is {n_window} samples; it must "
                f"span 2 to n_times={n_times} samples."
            )
        self.n_window, self.n_windows = n_window, n_times // n_window
        weights = get_window("hann", n_window, fftbins=True)
        freqs = np.fft.rfftfreq(n_window, 1.0 / sfreq)
        onesided = np.full(len(freqs), 2.0)
        onesided[0] = 1.0
        if n_window % 2 == 0:
            onesided[-1] = 1.0
        scale = onesided / (sfreq * np.sum(weights**2)) * (sfreq / n_window)
        masks = np.array([(freqs >= lo) & (freqs < hi) for lo, hi in bands], float)
        if not masks.any(axis=1).all():
            raise ValueError(
                f"A band in {bands} holds no frequency bin at a resolution of "
                f"{sfreq / n_window:.3g} Hz; use a longer window or wider bands."
            )
        self.register_buffer("weights", torch.as_tensor(weights, dtype=torch.float32))
        self.register_buffer(
            "band_matrix",
            torch.as_tensor((masks * scale).T.copy(), dtype=torch.float32),
        )

    def forward(self, x):
        """Features ``(B, C, n_windows * n_bands)`` of EEG ``(B, C, T)``."""
        b, c, _ = x.shape
        seg = x[..., : self.n_windows * self.n_window]
        seg = seg.reshape(b, c, self.n_windows, self.n_window)
        seg = seg - seg.mean(dim=-1, keepdim=True)
        spectrum = torch.fft.rfft(seg * self.weights, dim=-1)
        power = (spectrum.real**2 + spectrum.imag**2) @ self.band_matrix
        power = power.clamp_min(torch.finfo(power.dtype).tiny)
        if self.kind == "de":
            out = 0.5 * torch.log(2 * math.pi * math.e * power)
        else:
            out = torch.log(power)
        return out.reshape(b, c, -1)


def _default_local_channels(n_channels):
    # SEED-DV's occipital channels are the last 12 of the 62.
    n_local = min(12, n_channels)
    return list(range(n_channels - n_local, n_channels))


def build_backbone(architecture, n_channels, n_times, emb_dim, local_channels, dropout):
    """Build the encoder backbone ``(B, 1, C, T) -> (B, emb_dim)``."""
    if architecture == "glmnet":
        local = local_channels or _default_local_channels(n_channels)
        return _GLMNet(n_channels, n_times, emb_dim, local, dropout=dropout)
    if architecture == "shallownet":
        return _ShallowNet(n_channels, n_times, emb_dim, dropout=dropout)
    if architecture == "eegnet":
        return _EEGNet(n_channels, n_times, emb_dim, dropout=dropout)
    if architecture == "conformer":
        return _Conformer(n_channels, n_times, emb_dim, dropout=dropout)
    if architecture == "mlp":
        return _MLP(n_channels, n_times, emb_dim, dropout=dropout)
    raise ValueError(f"Unknown encoder {architecture!r}; use one of {ENCODERS}.")


class EEGEncoder(ModelMixin, ConfigMixin):
    """EEG ``(B, n_channels, n_times)`` -> embedding ``(B, emb_dim)``.

    Parameters
    ----------
    architecture : str
        One of ``'glmnet'``, ``'shallownet'``, ``'eegnet'``, ``'conformer'``,
        ``'mlp'``.
    n_channels, n_times : int
        Input shape.
    emb_dim : int
        Embedding size.
    local_channels : list of int | None
        Channels of GLMNet's local branch; None uses the last 12 (SEED-DV's
        occipital channels).
    dropout : float
        Dropout rate.
    n_classes : int
        If > 0, a linear classification head ``classify`` on the embedding.
    """

    @register_to_config
    def __init__(
        self,
        architecture="glmnet",
        n_channels=62,
        n_times=400,
        emb_dim=64,
        local_channels=None,
        dropout=0.25,
        n_classes=0,
    ):
        super().__init__()
        self.backbone = build_backbone(
            architecture, n_channels, n_times, emb_dim, local_channels, dropout
        )
        self.head = nn.Linear(emb_dim, n_classes) if n_classes > 0 else None

    def forward(self, x):
        """Embed EEG ``(B, C, T)``."""
        return self.backbone(x.unsqueeze(1))

    def classify(self, x):
        """Class logits of EEG ``(B, C, T)``."""
        return self.head(self(x))


class EEGConditionEncoder(ModelMixin, ConfigMixin):
    """EEG -> cross-attention tokens for the UNet (+ optional auxiliary heads).

    The raw EEG is standardised per channel with the stored training
    statistics (buffers ``eeg_mean`` / ``eeg_scale``, saved with the weights).
    ``forward`` returns ``encoder_hidden_states`` of shape
    ``(B, n_tokens, cross_attention_dim)``; ``predict_latents`` a coarse
    prediction of the clean video / latents (EEG2Video's latent predictor);
    ``classify`` class logits (an auxiliary semantic loss).

    Parameters
    ----------
    architecture, n_channels, n_times, emb_dim, local_channels, dropout
        As in :class:`EEGEncoder`.
    n_tokens : int
        Number of condition tokens.
    cross_attention_dim : int
        Token size (the UNet's ``cross_attention_dim``).
    latent_shape : list of int
        ``(C, F, H, W)`` of the diffusion space (pixels or VAE latents).
    latent_predictor : bool
        Add the latent predictor head.
    n_classes : int
        Size of the auxiliary classification head (0: none).
    features : {None, 'de', 'log_power'}
        Feed the encoder spectral features ``(n_channels, n_windows * n_bands)``
        instead of the raw EEG.
    sfreq, bands, window_length
        Of the spectral features.
    """

    @register_to_config
    def __init__(
        self,
        architecture="glmnet",
        n_channels=62,
        n_times=400,
        emb_dim=64,
        local_channels=None,
        dropout=0.25,
        n_tokens=4,
        cross_attention_dim=64,
        latent_shape=(3, 8, 32, 32),
        latent_predictor=True,
        n_classes=0,
        features=None,
        sfreq=200.0,
        bands=((1.0, 4.0), (4.0, 8.0), (8.0, 14.0), (14.0, 31.0), (31.0, 99.0)),
        window_length=None,
    ):
        super().__init__()
        self.register_buffer("eeg_mean", torch.zeros(n_channels))
        self.register_buffer("eeg_scale", torch.ones(n_channels))
        n_inputs = n_times
        if features is not None:
            if features not in FEATURES:
                raise ValueError(f"Unknown features {features!r}; use {FEATURES}.")
            self.spectral = SpectralFeatures(
                features, sfreq, bands, n_times, window_length
            )
            n_inputs = self.spectral.n_windows * len(bands)
        else:
            self.spectral = None
        self.register_buffer("feature_mean", torch.zeros(n_channels, n_inputs))
        self.register_buffer("feature_scale", torch.ones(n_channels, n_inputs))
        self.encoder = EEGEncoder(
            architecture, n_channels, n_inputs, emb_dim, local_channels, dropout
        )
        self.to_tokens = nn.Sequential(
            nn.GELU(), nn.Linear(emb_dim, n_tokens * cross_attention_dim)
        )
        self.norm = nn.LayerNorm(cross_attention_dim)
        self.head = nn.Linear(emb_dim, n_classes) if n_classes > 0 else None
        if latent_predictor:
            self.latent_head = nn.Sequential(
                nn.GELU(), nn.Linear(emb_dim, math.prod(latent_shape))
            )
        else:
            self.latent_head = None

    def encoder_input(self, x):
        """Standardised EEG, or standardised spectral features of it."""
        x = (x - self.eeg_mean[:, None]) / self.eeg_scale[:, None]
        if self.spectral is not None:
            x = (self.spectral(x) - self.feature_mean) / self.feature_scale
        return x

    @torch.no_grad()
    def set_input_stats(self, x):
        """Store the standardisation statistics of training EEG ``(n, C, T)``."""
        self.eeg_mean.copy_(x.mean(dim=(0, 2)))
        self.eeg_scale.copy_(x.std(dim=(0, 2)).clamp_min(1e-12))
        if self.spectral is not None:
            x = (x - self.eeg_mean[:, None]) / self.eeg_scale[:, None]
            feats = torch.cat(
                [self.spectral(x[i : i + 64]) for i in range(0, len(x), 64)]
            )
            self.feature_mean.copy_(feats.mean(dim=0))
            self.feature_scale.copy_(feats.std(dim=0).clamp_min(1e-6))

    def embed(self, x):
        """EEG embedding ``(B, emb_dim)`` of raw EEG ``(B, C, T)``."""
        return self.encoder(self.encoder_input(x))

    def tokens(self, emb):
        """Condition tokens from an embedding."""
        cfg = self.config
        out = self.to_tokens(emb).view(-1, cfg.n_tokens, cfg.cross_attention_dim)
        return self.norm(out)

    def forward(self, x):
        """Condition tokens ``(B, n_tokens, cross_attention_dim)`` of raw EEG."""
        return self.tokens(self.embed(x))

    def predict_latents(self, emb):
        """Predicted clean latents ``(B, C, F, H, W)`` from an embedding."""
        return self.latent_head(emb).view(-1, *self.config.latent_shape)

    def classify(self, emb):
        """Class logits from an embedding."""
        return self.head(emb)
