"""Torch helpers shared by the classifier and the generator (imported lazily)."""

import time
from contextlib import contextmanager

import numpy as np
import torch

from ..utils import logger, progress_bar
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


@contextmanager
def autocast(device, precision):
    """Mixed precision in the block: ``precision`` is a dtype name or 'float32'."""
    if precision == "float32":
        yield
        return
    with torch.autocast(device.type, dtype=getattr(torch, precision)):
        yield


class Phase:
    """One stage of training: ``n_epochs`` passes of ``step`` over shuffled batches.

    Parameters
    ----------
    name : str
        Label of the progress bar.
    n_epochs : int
        Number of epochs.
    params : list of torch.nn.Parameter
        What the phase's AdamW optimizer updates.
    step : callable
        ``step(index) -> loss`` for a tensor of sample indices.
    n_samples : int
        Number of training samples.
    batch_size : int
        Minibatch size.
    train_modes : callable
        Called at the start of each epoch to put modules in training mode.
    skip_singletons : bool
        Skip batches of one sample (BatchNorm needs two).
    record : bool
        Whether the mean epoch loss goes into the estimator's loss curve.
    """

    def __init__(self, name, n_epochs, params, step, n_samples, batch_size,
                 train_modes, skip_singletons=True, record=False):  # fmt: skip
        self.name = name
        self.n_epochs = n_epochs
        self.params = params
        self.step = step
        self.n_samples = n_samples
        self.batch_size = batch_size
        self.train_modes = train_modes
        self.skip_singletons = skip_singletons and n_samples > 1
        self.record = record


def run_phases(phases, *, lr, generator, device, precision="float32", verbose=None,
               checkpoint=None, weight_decay=0.01):  # fmt: skip
    """Train phase after phase with AdamW, checkpointing and resuming.

    Parameters
    ----------
    phases : list of callable
        Each returns a :class:`Phase` when its turn comes (so a phase can use
        what the previous ones trained).
    lr : float
        AdamW learning rate.
    generator : torch.Generator
        CPU generator of the minibatch order (and of the steps' randomness).
    device : torch.device
        Training device (for mixed precision).
    precision : str
        ``'float32'``, ``'bfloat16'`` or ``'float16'`` (autocast; float16 with
        a gradient scaler).
    verbose : bool | str | int | None
        Progress bars (epoch, loss, time left).
    checkpoint : dict | None
        ``directory``, ``every`` (epochs), ``minutes`` (optional: also after
        the first epoch that ends this many minutes after the last write),
        ``fingerprint`` and ``modules`` (name -> module): write the training
        state every ``every`` epochs and at the end of each phase, and resume
        from the one in ``directory``.
    weight_decay : float
        AdamW weight decay.

    Returns
    -------
    loss_curve : list of float
        Mean loss per epoch of the phases with ``record=True``.
    """
    from ._persistence import load_checkpoint, restore_checkpoint

    progress = {"phase": 0, "epoch": 0, "loss_curve": []}
    state = None
    if checkpoint is not None:
        state = load_checkpoint(checkpoint["directory"], checkpoint["fingerprint"])
        if state is not None:
            restore_checkpoint(state, checkpoint["modules"], generator)
            progress = state["progress"]
            logger.info(
                "Resuming from %s: phase %d, epoch %d",
                checkpoint["directory"],
                progress["phase"] + 1,
                progress["epoch"],
            )
    loss_curve = list(progress["loss_curve"])
    if checkpoint is not None:
        checkpoint = {**checkpoint, "last_write": time.monotonic()}
    try:
        for index, make_phase in enumerate(phases):
            phase = make_phase()
            if index < progress["phase"] or phase.n_epochs == 0 or not phase.params:
                continue
            start = progress["epoch"] if index == progress["phase"] else 0
            if start >= phase.n_epochs:
                continue
            optimizer = torch.optim.AdamW(
                phase.params, lr=lr, weight_decay=weight_decay
            )
            scaler = None
            if precision == "float16":
                scaler = torch.amp.GradScaler(device.type)
            if state is not None and index == progress["phase"]:
                optimizer.load_state_dict(state["optimizer"])
                if scaler is not None and state["scaler"] is not None:
                    scaler.load_state_dict(state["scaler"])
            _train_phase(
                index, phase, optimizer, scaler, start, generator, device,
                precision, verbose, checkpoint, loss_curve,
            )  # fmt: skip
    except KeyboardInterrupt:
        if checkpoint is not None:
            logger.warning(
                "Training interrupted; run fit again with checkpoint_dir=%r to "
                "resume from the last checkpoint.",
                str(checkpoint["directory"]),
            )
        raise
    return loss_curve


def _train_phase(index, phase, optimizer, scaler, start, generator, device,
                 precision, verbose, checkpoint, loss_curve):  # fmt: skip
    """Run the epochs ``start..n_epochs`` of one phase (see ``run_phases``)."""
    from . import _persistence

    bar = progress_bar(
        range(start, phase.n_epochs),
        total=phase.n_epochs,
        initial=start,
        desc=phase.name,
        unit="epoch",
        verbose=verbose,
    )
    for epoch in bar:
        phase.train_modes()
        total, count = 0.0, 0
        for batch in minibatches(phase.n_samples, phase.batch_size, generator):
            if len(batch) < 2 and phase.skip_singletons:
                continue
            with autocast(device, precision):
                loss = phase.step(batch)
            optimizer.zero_grad()
            if scaler is None:
                loss.backward()
                optimizer.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            total += loss.item() * len(batch)
            count += len(batch)
        mean = total / max(count, 1)
        if phase.record:
            loss_curve.append(mean)
        bar.set_postfix(loss=f"{mean:.4f}")
        done = epoch + 1
        if checkpoint is not None and (
            done % checkpoint["every"] == 0
            or done == phase.n_epochs
            or _minutes_since(checkpoint["last_write"]) >= _minutes(checkpoint)
        ):
            _persistence.save_checkpoint(
                checkpoint["directory"],
                checkpoint["fingerprint"],
                {"phase": index, "epoch": done, "loss_curve": loss_curve},
                checkpoint["modules"],
                optimizer,
                scaler,
                generator,
            )
            checkpoint["last_write"] = time.monotonic()
    bar.close()


def _minutes(checkpoint):
    minutes = checkpoint.get("minutes")
    return float("inf") if minutes is None else minutes


def _minutes_since(start):
    return (time.monotonic() - start) / 60
