"""Torch helpers shared by the classifier and the generator (imported lazily)."""

from contextlib import contextmanager

import numpy as np
import torch

from ..utils._torch import resolve_device  # noqa: F401 (re-exported)


@contextmanager
def torch_threads(n_jobs):
    """Use ``n_jobs`` CPU threads in torch inside the block (None: unchanged)."""
    if n_jobs is None:
        yield
        return
    import os

    old = torch.get_num_threads()
    n_threads = os.cpu_count() or 1 if n_jobs < 0 else n_jobs
    torch.set_num_threads(max(1, n_threads))
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextmanager
def seeded(seed):
    """Run a block with torch's global RNG seeded, restoring it afterwards."""
    devices = (
        list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    )
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        yield


def minibatches(n_samples, batch_size, generator):
    """Shuffled index batches (the last one may be smaller)."""
    order = torch.randperm(n_samples, generator=generator)
    return [order[i : i + batch_size] for i in range(0, n_samples, batch_size)]


def channel_scaler(X):
    """Per-channel mean and standard deviation over epochs and time."""
    mean = X.mean(axis=(0, 2))
    scale = X.std(axis=(0, 2))
    scale = np.where(scale > 0, scale, 1.0)
    return mean, scale


def to_tensor(X, mean, scale, device, dtype=torch.float32):
    """Standardise ``X`` per channel and move it to ``device`` as ``dtype``."""
    X = (X - mean[None, :, None]) / scale[None, :, None]
    return torch.as_tensor(np.ascontiguousarray(X), dtype=dtype, device=device)
