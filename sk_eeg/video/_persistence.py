"""Saving and loading EEG2VideoGenerator: pipeline directories and checkpoints.

A saved generator is a diffusers pipeline directory (``model_index.json`` and
one folder per component) plus ``sk_eeg_estimator.json`` with the estimator's
settings. Our own loader reads each component with its class's
``from_pretrained`` instead of diffusers' ``DiffusionPipeline.from_pretrained``,
so that

- loading works in a fresh process (diffusers resolves the ``eeg_encoder``
  entry of ``model_index.json`` only when its module is already imported);
- loading never goes through diffusers' low-memory path (used when
  ``accelerate`` is installed), which builds the model on the "meta" device and
  cannot run the shape probes in our encoders' constructors;
- weights saved on any device are mapped to the requested one.

Imports torch and diffusers; loaded only inside ``fit`` / ``load`` / ``save``.
"""

import json
import os
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet3DConditionModel

from ._encoders import EEGConditionEncoder
from ._pipeline import EEG2VideoPipeline, quiet_diffusers

ESTIMATOR_FILE = "sk_eeg_estimator.json"
CHECKPOINT_FILE = "checkpoint.pt"
_COMPONENTS = {
    "unet": UNet3DConditionModel,
    "eeg_encoder": EEGConditionEncoder,
    "vae": AutoencoderKL,
}


def load_pipeline(path, device="cpu"):
    """Load an :class:`EEG2VideoPipeline` saved with ``save_pretrained``.

    Parameters
    ----------
    path : path-like
        The pipeline directory.
    device : torch.device | str
        Where to put the loaded pipeline.

    Returns
    -------
    pipe : EEG2VideoPipeline
        The pipeline, in eval mode, with its progress bar disabled.
    """
    path = Path(path)
    index_file = path / "model_index.json"
    if not index_file.exists():
        raise FileNotFoundError(
            f"{os.fspath(path)!r} is not a pipeline directory (no model_index.json); "
            "create one with EEG2VideoGenerator.save()."
        )
    index = json.loads(index_file.read_text())
    parts = {}
    with quiet_diffusers():
        for name, cls in _COMPONENTS.items():
            entry = index.get(name) or [None, None]
            if entry[1] is None:  # an optional component that is absent (vae)
                parts[name] = None
                continue
            # low_cpu_mem_usage=False: build on the CPU and copy the weights in
            # (the weights are read to the CPU, wherever they were trained).
            model = cls.from_pretrained(
                path / name, low_cpu_mem_usage=False, local_files_only=True
            )
            parts[name] = model.eval()
        parts["scheduler"] = DDIMScheduler.from_pretrained(path / "scheduler")
    pipe = EEG2VideoPipeline(**parts)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def save_generator(est, path):
    """Write ``est.pipeline_`` and the estimator's settings to ``path``."""
    path = Path(path)
    est.pipeline_.save_pretrained(path)
    params = {
        k: (list(v) if isinstance(v, tuple) else v) for k, v in est.get_params().items()
    }
    params["random_state"] = (
        est.random_state if isinstance(est.random_state, int) else None
    )
    params["pretrained_path"] = None
    params["checkpoint_dir"] = None
    state = {
        "params": params,
        "n_features_in_": int(est.n_features_in_),
        "n_times_": int(est.n_times_),
        "video_shape_": list(est.video_shape_),
        "uint8_output_": bool(est.uint8_output_),
        "sample_seed": int(est._sample_seed),
        "loss_curve_": [float(v) for v in est.loss_curve_],
    }
    if hasattr(est, "classes_"):
        state["classes_"] = est.classes_.tolist()
    (path / ESTIMATOR_FILE).write_text(json.dumps(state, indent=2))
    return path


def load_generator(cls, path, device):
    """Rebuild a fitted ``cls`` (EEG2VideoGenerator) from a saved directory."""
    from ._training import resolve_device

    path = Path(path)
    state_file = path / ESTIMATOR_FILE
    if not state_file.exists():
        raise FileNotFoundError(
            f"{os.fspath(path)!r} has no {ESTIMATOR_FILE}; save the generator "
            "with EEG2VideoGenerator.save()."
        )
    state = json.loads(state_file.read_text())
    params = state["params"]
    for key in ("unet_channels", "vae_channels", "bands"):
        if key in params and isinstance(params[key], list):
            value = params[key]
            params[key] = (
                tuple(tuple(v) for v in value) if key == "bands" else tuple(value)
            )
    params = {k: v for k, v in params.items() if k in cls._get_param_names()}
    params["device"] = device
    est = cls(**params)
    est.device_ = resolve_device(device)
    est.pipeline_ = load_pipeline(path, est.device_)
    est.n_features_in_ = state["n_features_in_"]
    est.n_times_ = state["n_times_"]
    est.video_shape_ = tuple(state["video_shape_"])
    est.uint8_output_ = state["uint8_output_"]
    est._sample_seed = state["sample_seed"]
    est.loss_curve_ = state["loss_curve_"]
    if "classes_" in state:
        est.classes_ = np.asarray(state["classes_"])
    return est


# ----------------------------------------------------------------- checkpoints
def _rng_states():
    states = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states):
    torch.set_rng_state(states["cpu"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(directory, fingerprint, progress, modules, optimizer, scaler,
                    generator):  # fmt: skip
    """Write the training state atomically to ``directory/checkpoint.pt``.

    Parameters
    ----------
    directory : path-like
        Checkpoint folder (created if needed).
    fingerprint : dict
        What the run depends on (settings and data); resuming checks it.
    progress : dict
        ``phase`` (index of the training phase), ``epoch`` (epochs done in it)
        and ``loss_curve``.
    modules : dict of str to torch.nn.Module
        The trained modules.
    optimizer : torch.optim.Optimizer
        The current phase's optimizer.
    scaler : torch.amp.GradScaler | None
        The fp16 gradient scaler.
    generator : torch.Generator
        The CPU generator of minibatches, noise and timesteps.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {
        "fingerprint": fingerprint,
        "progress": progress,
        "modules": {name: m.state_dict() for name, m in modules.items()},
        "optimizer": optimizer.state_dict(),
        "scaler": None if scaler is None else scaler.state_dict(),
        "generator": generator.get_state(),
        "rng": _rng_states(),
    }
    tmp = directory / (CHECKPOINT_FILE + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, directory / CHECKPOINT_FILE)


def load_checkpoint(directory, fingerprint):
    """Read the checkpoint in ``directory`` (None if there is none).

    Raises
    ------
    ValueError
        If the checkpoint belongs to another configuration or other data.
    """
    file = Path(directory) / CHECKPOINT_FILE
    if not file.exists():
        return None
    state = torch.load(file, map_location="cpu", weights_only=False)
    if state["fingerprint"] != fingerprint:
        changed = sorted(
            k
            for k in set(fingerprint) | set(state["fingerprint"])
            if fingerprint.get(k) != state["fingerprint"].get(k)
        )
        raise ValueError(
            f"checkpoint_dir={os.fspath(directory)!r} holds a checkpoint of another "
            f"run (differs in: {', '.join(changed)}); delete it or choose another "
            "checkpoint_dir."
        )
    return state


def restore_checkpoint(state, modules, generator):
    """Load the module weights and RNG states of a checkpoint."""
    for name, module in modules.items():
        module.load_state_dict(state["modules"][name])
    generator.set_state(state["generator"])
    _set_rng_states(state["rng"])
