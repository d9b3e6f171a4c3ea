"""EEG2VideoGenerator's training: VAE, encoder warm-up, then joint diffusion.

The three phases run on the one loop of :func:`._training.run_phases`
(checkpoints, resume, mixed precision, progress). Imports torch and diffusers;
loaded only inside ``fit``.
"""

import hashlib

import numpy as np
import torch
import torch.nn.functional as F

from ._diffusion import build_schedulers, training_target
from ._training import Phase, run_phases

# Settings that do not change the trained weights (resuming ignores them).
_NOT_IN_FINGERPRINT = (
    "verbose", "n_jobs", "checkpoint_dir", "checkpoint_every", "checkpoint_minutes",
)  # fmt: skip


def fingerprint(est, *arrays):
    """Describe what a training run depends on: settings and a data hash."""
    params = {
        k: repr(v) for k, v in est.get_params().items() if k not in _NOT_IN_FINGERPRINT
    }
    digest = hashlib.sha256()
    for array in arrays:
        if array is not None:
            array = np.ascontiguousarray(array)
            digest.update(repr((array.shape, array.dtype.str)).encode())
            digest.update(array.tobytes())
    params["data"] = digest.hexdigest()
    params["device_type"] = est.device_.type
    return params


def resize_videos(videos, video_shape):
    """Map float videos (n, F, H, W, 3) in [0, 1] to (n, 3, F', H', W') in [-1, 1]."""
    clips = torch.as_tensor(videos).permute(0, 4, 1, 2, 3) * 2 - 1
    if tuple(clips.shape[2:]) != tuple(video_shape):
        clips = F.interpolate(
            clips, size=tuple(video_shape), mode="trilinear", align_corners=False
        )
    return clips.contiguous()


def train_generator(est, pipe, X, videos, label_index, generator, checkpoint):
    """Train ``pipe`` in place; return the joint phase's loss per epoch.

    Parameters
    ----------
    est : EEG2VideoGenerator
        Provides the settings (epochs, lr, batch size, weights, device).
    pipe : EEG2VideoPipeline
        The pipeline to train (on ``est.device_``).
    X : ndarray, shape (n_clips, n_channels, n_times)
        EEG.
    videos : ndarray, shape (n_clips, F, H, W, 3)
        Float videos in [0, 1].
    label_index : ndarray of int | None
        Class indices for the auxiliary loss.
    generator : torch.Generator
        CPU generator of minibatches, condition dropout, noise and timesteps.
    checkpoint : dict | None
        ``directory``, ``every``, ``minutes`` and ``fingerprint`` (see
        ``run_phases``).

    Returns
    -------
    loss_curve : list of float
        Mean joint training loss per epoch.
    """
    device = est.device_
    clips = resize_videos(videos, est.video_shape_).to(device)
    eeg = torch.as_tensor(X, dtype=torch.float32, device=device)
    labels = None
    if label_index is not None:
        labels = torch.as_tensor(label_index, dtype=torch.long, device=device)
    enc, unet, vae = pipe.eeg_encoder, pipe.unet, pipe.vae
    config = pipe.scheduler.config
    ddpm, _ = build_schedulers(
        config.num_train_timesteps, config.beta_schedule, config.prediction_type
    )
    cache = {}

    def latents():
        if "z0" not in cache:
            if vae is not None:
                vae.eval()
            with torch.no_grad():
                parts = [
                    pipe.encode_latents(clips[i : i + 16])
                    for i in range(0, len(clips), 16)
                ]
            cache["z0"] = torch.cat(parts)
        return cache["z0"]

    def encoder_losses(emb, index, z0, latent_weight=1.0):
        loss = torch.zeros((), device=device)
        if enc.latent_head is not None:
            pred = enc.predict_latents(emb).float()
            loss = loss + latent_weight * F.mse_loss(pred, z0)
        if labels is not None and enc.head is not None:
            loss = loss + F.cross_entropy(enc.classify(emb).float(), labels[index])
        return loss

    def vae_phase():
        if vae is None or est.pretrained_path is not None:
            return Phase("AutoencoderKL", 0, [], None, 0, 1, None)
        frames = clips.permute(0, 2, 1, 3, 4).reshape(-1, 3, *clips.shape[3:])

        def step(index):
            posterior = vae.encode(frames[index]).latent_dist
            recon = vae.decode(posterior.mean).sample.float()
            return F.mse_loss(recon, frames[index]) + 1e-6 * posterior.kl().mean()

        return Phase(
            "AutoencoderKL", est.vae_epochs, list(vae.parameters()), step,
            len(frames), 4 * est.batch_size, vae.train, skip_singletons=False,
        )  # fmt: skip

    def encoder_phase():
        useful = enc.latent_head is not None or labels is not None

        def step(index):
            return encoder_losses(enc.embed(eeg[index]), index, latents()[index])

        return Phase(
            "EEG encoder", est.encoder_epochs if useful else 0, list(enc.parameters()),
            step, len(X), est.batch_size, lambda: enc.train(len(X) > 1),
        )  # fmt: skip

    def joint_phase():
        n_train_t = ddpm.config.num_train_timesteps

        def step(index):
            z0 = latents()[index]
            emb = enc.embed(eeg[index])
            cond = enc.tokens(emb)
            keep = torch.rand(len(index), generator=generator) >= est.cond_dropout
            cond = cond * keep.to(device=device, dtype=cond.dtype)[:, None, None]
            noise = torch.randn(z0.shape, generator=generator).to(device)
            t = torch.randint(0, n_train_t, (len(index),), generator=generator)
            t = t.to(device)
            noisy = ddpm.add_noise(z0, noise, t)
            eps = unet(noisy, t, encoder_hidden_states=cond).sample
            loss = F.mse_loss(eps.float(), training_target(ddpm, z0, noise, t))
            return loss + encoder_losses(emb, index, z0, est.latent_weight)

        def modes():
            unet.train()
            enc.train(len(X) > 1)

        return Phase(
            "EEG2VideoGenerator", est.max_epochs,
            list(unet.parameters()) + list(enc.parameters()), step, len(X),
            est.batch_size, modes, record=True,
        )  # fmt: skip

    if checkpoint is not None:
        modules = {"unet": unet, "eeg_encoder": enc}
        if vae is not None:
            modules["vae"] = vae
        checkpoint = {**checkpoint, "modules": modules}
    loss_curve = run_phases(
        [vae_phase, encoder_phase, joint_phase],
        lr=est.lr,
        generator=generator,
        device=device,
        precision=est.precision,
        verbose=est.verbose,
        checkpoint=checkpoint,
    )
    for module in (unet, enc, vae):
        if module is not None:
            module.eval()
    return loss_curve
