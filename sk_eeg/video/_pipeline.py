"""The EEG-conditioned video diffusion pipeline (a diffusers ``DiffusionPipeline``).

Every component is a ``ModelMixin`` / ``ConfigMixin`` or a scheduler, so
``save_pretrained`` writes all of them; :mod:`._persistence` loads them back.
"""

from contextlib import contextmanager

import numpy as np
import torch
from diffusers import DiffusionPipeline
from diffusers.utils import logging as diffusers_logging

from . import _encoders  # noqa: F401 (lets diffusers resolve the eeg_encoder)
from ._diffusion import dana_noise


@contextmanager
def quiet_diffusers():
    """Silence diffusers' info messages and loading bars inside the block."""
    verbosity = diffusers_logging.get_verbosity()
    bars = diffusers_logging.is_progress_bar_enabled()
    diffusers_logging.set_verbosity_error()
    diffusers_logging.disable_progress_bar()
    try:
        yield
    finally:
        diffusers_logging.set_verbosity(verbosity)
        if bars:
            diffusers_logging.enable_progress_bar()


class EEG2VideoPipeline(DiffusionPipeline):
    """EEG ``(B, n_channels, n_times)`` -> video ``(B, F, H, W, 3)`` in [0, 1].

    Parameters
    ----------
    unet : UNet3DConditionModel
        Noise predictor, conditioned on EEG tokens via ``encoder_hidden_states``.
    scheduler : DDIMScheduler
        Sampling scheduler.
    eeg_encoder : EEGConditionEncoder
        EEG -> tokens (standardises its input with stored channel statistics).
    vae : AutoencoderKL | None
        Optional latent space (frames folded into the batch).
    """

    _optional_components = ["vae"]

    def __init__(self, unet, scheduler, eeg_encoder, vae=None):
        super().__init__()
        self.register_modules(
            unet=unet, scheduler=scheduler, eeg_encoder=eeg_encoder, vae=vae
        )

    @property
    def patch_size(self):
        """Side of the pixel patches folded into channels (no VAE)."""
        if self.vae is not None:
            return 1
        return int(round((self.unet.config.in_channels / 3) ** 0.5))

    def encode_latents(self, videos):
        """Videos ``(B, 3, F, H, W)`` in [-1, 1] -> diffusion space.

        With a VAE, its latent mean (scaled); without, the pixels with
        ``patch_size`` x ``patch_size`` patches folded into channels (a
        lossless space-to-depth that shrinks the UNet's grid).
        """
        b, c, f, h, w = videos.shape
        frames = videos.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)
        if self.vae is None:
            if self.patch_size == 1:
                return videos
            latents = torch.nn.functional.pixel_unshuffle(frames, self.patch_size)
            return latents.reshape(b, f, *latents.shape[1:]).permute(0, 2, 1, 3, 4)
        latents = self.vae.encode(frames).latent_dist.mean
        latents = latents * self.vae.config.scaling_factor
        return latents.reshape(b, f, *latents.shape[1:]).permute(0, 2, 1, 3, 4)

    def decode_latents(self, latents):
        """Diffusion space -> videos ``(B, 3, F, H, W)`` in [-1, 1]."""
        if self.vae is None and self.patch_size == 1:
            return latents
        b, c, f, h, w = latents.shape
        frames = latents.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)
        if self.vae is None:
            frames = torch.nn.functional.pixel_shuffle(frames, self.patch_size)
        else:
            frames = self.vae.decode(frames / self.vae.config.scaling_factor).sample
        return frames.reshape(b, f, *frames.shape[1:]).permute(0, 2, 1, 3, 4)

    @torch.no_grad()
    def __call__(
        self,
        eeg,
        num_inference_steps=25,
        guidance_scale=1.0,
        generator=None,
        init_strength=1.0,
        dana_beta=None,
    ):
        """Generate videos from EEG.

        Parameters
        ----------
        eeg : tensor, shape (B, n_channels, n_times)
            Raw EEG (standardised inside the encoder).
        num_inference_steps : int
            DDIM steps (from pure noise; fewer when ``init_strength < 1``).
        guidance_scale : float
            Classifier-free guidance weight (1 = conditional model only).
        generator : torch.Generator | list of torch.Generator | None
            CPU generator of the initial noise, or one per clip (then each
            clip's noise depends only on its own generator).
        init_strength : float
            1 starts from noise; below 1, the encoder's latent prediction noised
            to that fraction of the schedule (needs the latent predictor).
        dana_beta : float | tensor | None
            Dynamic-aware noise mixing of the initial noise (None: i.i.d.).

        Returns
        -------
        videos : ndarray, shape (B, F, H, W, 3)
            Float videos in [0, 1].
        """
        device = self._execution_device
        eeg = eeg.to(device)
        cond_enc = self.eeg_encoder
        emb = cond_enc.embed(eeg)
        cond = cond_enc.tokens(emb)
        shape = (len(eeg), *cond_enc.config.latent_shape)
        beta = 0.0 if dana_beta is None else dana_beta
        if isinstance(generator, list):
            if len(generator) != len(eeg):
                raise ValueError(
                    f"generator holds {len(generator)} generators for {len(eeg)} clips."
                )
            betas = torch.as_tensor(beta, dtype=torch.float32).expand(len(eeg))
            noise = torch.cat(
                [
                    dana_noise((1, *shape[1:]), b, g, device=device)
                    for b, g in zip(betas, generator, strict=True)
                ]
            )
        else:
            noise = dana_noise(shape, beta, generator, device=device)
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps
        if init_strength < 1:
            if cond_enc.latent_head is None:
                raise ValueError(
                    "init_strength < 1 needs the latent predictor "
                    "(latent_predictor=True when training)."
                )
            n_skip = int(round(num_inference_steps * (1 - init_strength)))
            timesteps = timesteps[min(n_skip, num_inference_steps - 1) :]
            z0 = cond_enc.predict_latents(emb)
            latents = self.scheduler.add_noise(z0, noise, timesteps[:1])
        else:
            latents = noise * self.scheduler.init_noise_sigma
        use_cfg = guidance_scale != 1.0
        hidden = torch.cat([torch.zeros_like(cond), cond]) if use_cfg else cond
        for t in self.progress_bar(timesteps):
            model_in = torch.cat([latents] * 2) if use_cfg else latents
            model_in = self.scheduler.scale_model_input(model_in, t)
            eps = self.unet(model_in, t, encoder_hidden_states=hidden).sample
            if use_cfg:
                eps_uncond, eps_cond = eps.chunk(2)
                eps = eps_uncond + guidance_scale * (eps_cond - eps_uncond)
            latents = self.scheduler.step(eps, t, latents).prev_sample
        videos = self.decode_latents(latents)
        videos = ((videos.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 4, 1)
        return np.ascontiguousarray(videos.float().cpu().numpy())
