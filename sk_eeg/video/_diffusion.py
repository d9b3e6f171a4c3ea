"""Tiny diffusers models built from config, DANA noise and the training loss.

Imports torch and diffusers; loaded only inside ``fit`` / ``load``.
"""

import torch
from diffusers import AutoencoderKL, DDIMScheduler, DDPMScheduler, UNet3DConditionModel


def build_unet(in_channels, block_out_channels, layers_per_block, cross_attention_dim,
               attention_head_dim=8, sample_size=None):  # fmt: skip
    """Build a ``UNet3DConditionModel`` from config (no download).

    Every level but the deepest has cross-attention to the EEG tokens (the mid
    block always has it).
    """
    n_levels = len(block_out_channels)
    down = ("CrossAttnDownBlock3D",) * (n_levels - 1) + ("DownBlock3D",)
    up = ("UpBlock3D",) + ("CrossAttnUpBlock3D",) * (n_levels - 1)
    groups = min(32, min(block_out_channels))
    while min(block_out_channels) % groups:
        groups -= 1
    return UNet3DConditionModel(
        sample_size=sample_size,
        in_channels=in_channels,
        out_channels=in_channels,
        down_block_types=down,
        up_block_types=up,
        block_out_channels=tuple(block_out_channels),
        layers_per_block=layers_per_block,
        norm_num_groups=groups,
        cross_attention_dim=cross_attention_dim,
        attention_head_dim=attention_head_dim,
    )


def build_vae(block_out_channels=(32, 64), latent_channels=4, sample_size=32):
    """Build a tiny ``AutoencoderKL`` (2x downsampling per extra level)."""
    n = len(block_out_channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=tuple(block_out_channels),
        layers_per_block=1,
        latent_channels=latent_channels,
        norm_num_groups=min(32, min(block_out_channels)),
        sample_size=sample_size,
    )


def build_schedulers(num_train_timesteps, beta_schedule, prediction_type="epsilon"):
    """DDPM scheduler for training and a DDIM scheduler with the same betas."""
    ddim = DDIMScheduler(
        num_train_timesteps=num_train_timesteps,
        beta_schedule=beta_schedule,
        prediction_type=prediction_type,
        clip_sample=False,
        set_alpha_to_one=False,
    )
    return DDPMScheduler.from_config(ddim.config), ddim


def training_target(scheduler, z0, noise, t):
    """Return what the UNet learns to predict: the noise, clean sample or ``v``."""
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return noise
    if kind == "sample":
        return z0
    return scheduler.get_velocity(z0, noise, t)


def dana_noise(shape, beta, generator=None, device="cpu", dtype=torch.float32):
    """Dynamic-aware noise: ``sqrt(1 - beta) * eps_diverse + sqrt(beta) * eps_shared``.

    ``eps_shared`` is one noise frame repeated over all frames, so ``beta=0``
    gives i.i.d. noise and ``beta=1`` identical noise in every frame; the
    variance stays 1 for any ``beta``. EEG2Video uses 0.3 for fast and 0.2 for
    slow clips (its author states the opposite, issue #8).

    Parameters
    ----------
    shape : tuple
        ``(B, C, F, H, W)``.
    beta : float | tensor, shape (B,)
        Shared fraction of the variance in [0, 1].
    generator : torch.Generator | None
        Source of randomness (on CPU; the noise is then moved to ``device``).

    Returns
    -------
    noise : tensor, shape ``shape``
        The mixed noise.
    """
    batch, channels, _, height, width = shape
    diverse = torch.randn(shape, generator=generator, dtype=dtype)
    shared = torch.randn((batch, channels, 1, height, width), generator=generator,
                         dtype=dtype)  # fmt: skip
    beta = torch.as_tensor(beta, dtype=dtype).reshape(-1, 1, 1, 1, 1)
    if torch.any((beta < 0) | (beta > 1)):
        raise ValueError(f"dana_beta must be in [0, 1]; got {beta.flatten().tolist()}.")
    noise = torch.sqrt(1 - beta) * diverse + torch.sqrt(beta) * shared
    return noise.to(device)
