"""Training-time augmentations: mixup, cutout and window / chain masking.

All random draws come from torch's default generator, which the estimator
seeds from ``random_state`` inside :func:`torch.random.fork_rng`, so a fit is
reproducible and the caller's global random state is untouched. The masks run
only when the module is in training mode.
"""

import torch


def mixup(x, y, alpha):
    """Mix each sample with a random partner (per-sample ``lam ~ Beta(a, a)``).

    Parameters
    ----------
    x : Tensor, shape (batch, ...)
        Inputs.
    y : Tensor, shape (batch, n_targets)
        Soft targets (and any extra columns such as sample weights).
    alpha : float
        Beta parameter; 0 returns the inputs unchanged.

    Returns
    -------
    x_mix, y_mix : Tensor
        ``lam * a + (1 - lam) * a[perm]`` for both.
    """
    if alpha <= 0 or x.shape[0] < 2:
        return x, y
    beta = torch.distributions.Beta(float(alpha), float(alpha))
    lam = beta.sample((x.shape[0],)).to(device=x.device, dtype=x.dtype)
    perm = torch.randperm(x.shape[0]).to(x.device)
    lam_x = lam.reshape(-1, *([1] * (x.ndim - 1)))
    lam_y = lam.reshape(-1, *([1] * (y.ndim - 1))).to(y.dtype)
    return lam_x * x + (1 - lam_x) * x[perm], lam_y * y + (1 - lam_y) * y[perm]


def _random_spans(n, length, max_frac, device):
    width = (torch.rand(n) * max_frac * length).long().clamp(min=1)
    start = (torch.rand(n) * (length - width + 1).float()).long()
    pos = torch.arange(length)
    mask = (pos >= start[:, None]) & (pos < (start + width)[:, None])
    return mask.to(device)


def cutout(spec, prob, max_frac=0.2):
    """Zero one random time-frequency rectangle per chain image, per sample.

    Parameters
    ----------
    spec : Tensor, shape (batch, n_chains, n_mels, n_frames)
        Spectrograms.
    prob : float
        Probability that a sample gets a rectangle.
    max_frac : float
        Largest rectangle side, as a fraction of each axis.

    Returns
    -------
    spec : Tensor
        The masked spectrograms (a new tensor).
    """
    if prob <= 0:
        return spec
    batch, _, n_mels, n_frames = spec.shape
    apply = (torch.rand(batch) < prob).to(spec.device)
    freq = _random_spans(batch, n_mels, max_frac, spec.device)
    time = _random_spans(batch, n_frames, max_frac, spec.device)
    rect = freq[:, :, None] & time[:, None, :] & apply[:, None, None]
    return spec.masked_fill(rect[:, None], 0.0)


def window_mask(spec, prob, max_frac=0.2):
    """Zero one random time window across all chains, per sample."""
    if prob <= 0:
        return spec
    batch, _, _, n_frames = spec.shape
    apply = (torch.rand(batch) < prob).to(spec.device)
    time = _random_spans(batch, n_frames, max_frac, spec.device) & apply[:, None]
    return spec.masked_fill(time[:, None, None, :], 0.0)


def chain_drop(spec, prob, max_frac=0.25):
    """Zero random whole chains (derivations), per sample."""
    if prob <= 0:
        return spec
    batch, n_chains = spec.shape[:2]
    apply = torch.rand(batch) < prob
    drop = (torch.rand(batch, n_chains) < max_frac) & apply[:, None]
    return spec.masked_fill(drop.to(spec.device)[:, :, None, None], 0.0)


def lr_flip(x, perm, prob):
    """Swap left and right derivations of random samples.

    Parameters
    ----------
    x : Tensor, shape (batch, n_derivations, n_times)
        Derivations.
    perm : Tensor of long, shape (n_derivations,)
        ``x[:, perm]`` is the mirrored montage.
    prob : float
        Probability per sample of being mirrored.

    Returns
    -------
    x : Tensor
        The (partly) mirrored derivations.
    """
    if prob <= 0:
        return x
    flip = (torch.rand(x.shape[0]) < prob).to(x.device)
    return torch.where(flip[:, None, None], x.index_select(1, perm), x)


def time_shift(x, max_frac):
    """Roll each sample in time by a random number of samples.

    Parameters
    ----------
    x : Tensor, shape (batch, n_derivations, n_times)
        Signals.
    max_frac : float
        Largest shift, as a fraction of the window, in either direction.

    Returns
    -------
    x : Tensor
        Circularly shifted signals (a new tensor).
    """
    if max_frac <= 0:
        return x
    batch, _, n_times = x.shape
    limit = int(max_frac * n_times)
    if limit < 1:
        return x
    shift = torch.randint(-limit, limit + 1, (batch,)).to(x.device)
    index = (torch.arange(n_times, device=x.device)[None] - shift[:, None]) % n_times
    return torch.gather(x, 2, index[:, None, :].expand_as(x))


def random_crop(x, length, centre=False):
    """Cut ``length`` samples from each sample, at random or at the centre.

    Parameters
    ----------
    x : Tensor, shape (batch, n_derivations, n_times)
        Signals (already filtered over the whole window).
    length : int
        Crop length in samples; windows not longer than it are returned
        unchanged.
    centre : bool
        Take the central crop (prediction) instead of a random one per
        sample (training).

    Returns
    -------
    x : Tensor, shape (batch, n_derivations, min(length, n_times))
        The crops.
    """
    n_times = x.shape[-1]
    if n_times <= length:
        return x
    if centre:
        start = (n_times - length) // 2
        return x[..., start : start + length]
    start = torch.randint(0, n_times - length + 1, (x.shape[0],)).to(x.device)
    index = start[:, None] + torch.arange(length, device=x.device)[None]
    return torch.gather(x, 2, index[:, None, :].expand(-1, x.shape[1], -1))
