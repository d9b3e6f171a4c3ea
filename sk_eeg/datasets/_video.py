"""EEG-video pairs: a simulator with planted truth and a SEED-DV style loader."""

import os

import numpy as np
from sklearn.utils import Bunch

from ..utils import check_random_state, check_type

_SHAPES = ("square", "disc", "triangle", "cross", "ring", "diamond", "hbar", "vbar")
_COLORS = np.array(
    [
        [230, 40, 40],  # red
        [40, 200, 60],  # green
        [50, 90, 240],  # blue
        [240, 220, 40],  # yellow
        [220, 60, 220],  # magenta
        [40, 220, 220],  # cyan
    ],
    dtype=np.uint8,
)


def _shape_mask(kind, yy, xx, cy, cx, radius):
    dy, dx = yy - cy, xx - cx
    if kind == "square":
        return (np.abs(dy) <= radius) & (np.abs(dx) <= radius)
    if kind == "disc":
        return dy**2 + dx**2 <= radius**2
    if kind == "triangle":
        return (dy <= radius) & (dy >= -radius) & (np.abs(dx) <= (dy + radius) / 2)
    if kind == "cross":
        thin = radius / 3
        return ((np.abs(dy) <= thin) & (np.abs(dx) <= radius)) | (
            (np.abs(dx) <= thin) & (np.abs(dy) <= radius)
        )
    if kind == "ring":
        r2 = dy**2 + dx**2
        return (r2 <= radius**2) & (r2 >= (radius / 2) ** 2)
    if kind == "diamond":
        return np.abs(dy) + np.abs(dx) <= radius
    if kind == "hbar":
        return (np.abs(dy) <= radius / 2.5) & (np.abs(dx) <= radius * 1.3)
    return (np.abs(dx) <= radius / 2.5) & (np.abs(dy) <= radius * 1.3)


def _render_clip(kind, color, direction, speed, start, n_frames, height, width):
    """Render a shape moving along ``direction`` at ``speed`` pixels per frame."""
    yy, xx = np.mgrid[0:height, 0:width].astype(float)
    radius = max(2.0, min(height, width) / 6)
    video = np.zeros((n_frames, height, width, 3), dtype=np.uint8)
    # Start behind the centre so the motion stays in view; bounce off edges.
    span_y, span_x = height - 2 * radius - 1, width - 2 * radius - 1
    for f in range(n_frames):
        shift = (f - (n_frames - 1) / 2) * speed
        py = start[0] + shift * np.sin(direction)
        px = start[1] + shift * np.cos(direction)
        py = radius + span_y - abs((py - radius) % (2 * span_y) - span_y)
        px = radius + span_x - abs((px - radius) % (2 * span_x) - span_x)
        video[f][_shape_mask(kind, yy, xx, py, px, radius)] = color
    return video


def _pink_noise(rng, n, n_channels, n_times):
    white = rng.standard_normal((n, n_channels, n_times))
    spectrum = np.fft.rfft(white, axis=-1)
    freqs = np.arange(spectrum.shape[-1])
    spectrum /= np.sqrt(np.maximum(freqs, 1.0))
    noise = np.fft.irfft(spectrum, n=n_times, axis=-1)
    return noise / noise.std(axis=-1, keepdims=True)


def make_eeg_video(
    n_blocks=7,
    n_classes=4,
    n_clips=5,
    *,
    n_frames=8,
    height=32,
    width=32,
    n_channels=62,
    sfreq=200.0,
    duration=2.0,
    n_colors=3,
    snr=1.0,
    block_shift=0.5,
    random_state=None,
):
    """Simulate SEED-DV-like EEG recorded while watching clips of moving shapes.

    Each block shows every class (concept) once in a random order, ``n_clips``
    clips per concept, like SEED-DV (7 blocks x 40 concepts x 5 clips of 2 s
    at 200 Hz). A clip shows one shape (the class) in one colour moving along a
    class-specific direction, fast or slow. The EEG of a clip is 1/f noise plus
    three planted sources, each with its own spatial pattern (weighted towards
    the last 12, "occipital", channels):

    - class: a 10 Hz (alpha) response with a class-specific pattern and phase;
    - colour: a 6 Hz (theta) response with a colour-specific pattern;
    - speed: 40 Hz (gamma) power, 3x larger in amplitude for fast clips;

    plus a per-block channel offset and gain (``block_shift``) that punishes
    evaluation across blocks with transductive scaling.

    Parameters
    ----------
    n_blocks : int
        Recording blocks.
    n_classes : int
        Concepts (shapes: square, disc, triangle, cross, ring, diamond, bars,
        then repeated with a smaller size).
    n_clips : int
        Clips per concept and block.
    n_frames, height, width : int
        Video size.
    n_channels : int
        EEG channels (at least 2).
    sfreq : float
        EEG sampling frequency in Hz (at least 100 for the 40 Hz source).
    duration : float
        Clip length in seconds.
    n_colors : int
        Number of colours (1-6), drawn at random per clip.
    snr : float
        Amplitude of the planted sources relative to the per-channel noise.
    block_shift : float
        Size of the per-block offsets and gains.
    random_state : int | RandomState | None
        Seed.

    Returns
    -------
    data : Bunch
        ``X`` (n_clips_total, n_channels, n_times) EEG; ``videos``
        (n_clips_total, n_frames, height, width, 3) uint8; ``y`` class;
        ``color`` and ``speed`` (0 slow, 1 fast) per clip; ``blocks``; ``clips``
        (a unique clip id); ``sfreq``; ``ch_names``; ``class_patterns``
        (n_classes, n_channels), ``color_patterns``, ``speed_pattern``; ``shapes``
        and ``palette``.

    Examples
    --------
    >>> from sk_eeg.datasets import make_eeg_video
    >>> data = make_eeg_video(n_blocks=2, n_classes=3, n_clips=2, random_state=0)
    >>> data.X.shape, data.videos.shape
    ((12, 62, 400), (12, 8, 32, 32, 3))
    """
    for name in ("n_blocks", "n_classes", "n_clips", "n_frames", "height", "width"):
        value = check_type(locals()[name], "int", name)
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}.")
    check_type(n_channels, "int", "n_channels")
    if n_channels < 2:
        raise ValueError(f"n_channels must be >= 2, got {n_channels}.")
    if not 1 <= n_colors <= len(_COLORS):
        raise ValueError(f"n_colors must be in [1, {len(_COLORS)}], got {n_colors}.")
    if sfreq < 100:
        raise ValueError(f"sfreq must be >= 100 Hz (40 Hz source), got {sfreq}.")
    if min(height, width) < 8:
        raise ValueError(f"height and width must be >= 8, got {height}x{width}.")
    rng = check_random_state(random_state)
    n_times = int(round(duration * sfreq))
    times = np.arange(n_times) / sfreq

    n_local = min(12, n_channels)
    weight = np.ones(n_channels)
    weight[-n_local:] = 2.0

    def patterns(k):
        p = rng.standard_normal((k, n_channels)) * weight
        return p / np.linalg.norm(p, axis=1, keepdims=True) * np.sqrt(n_channels)

    class_patterns = patterns(n_classes)
    class_phase = rng.uniform(0, 2 * np.pi, n_classes)
    color_patterns = patterns(n_colors)
    speed_pattern = patterns(1)[0]
    directions = 2 * np.pi * np.arange(n_classes) / n_classes + rng.uniform(0, 0.3)
    envelope = np.sin(np.pi * times / duration) ** 2

    y, blocks, color, speed = [], [], [], []
    for b in range(n_blocks):
        order = rng.permutation(n_classes)
        for c in order:
            y += [c] * n_clips
            blocks += [b] * n_clips
            color += list(rng.randint(n_colors, size=n_clips))
            speed += list(rng.randint(2, size=n_clips))
    y, blocks = np.array(y), np.array(blocks)
    color, speed = np.array(color), np.array(speed)
    n = len(y)

    jitter = rng.uniform(-0.4, 0.4, n)
    alpha = np.sin(
        2 * np.pi * 10 * times[None] + class_phase[y][:, None] + jitter[:, None]
    )
    theta = np.sin(2 * np.pi * 6 * times[None] + rng.uniform(0, 2 * np.pi, (n, 1)))
    gamma = np.sin(2 * np.pi * 40 * times[None] + rng.uniform(0, 2 * np.pi, (n, 1)))
    gamma *= np.where(speed == 1, 1.0, 1.0 / 3)[:, None]
    X = snr * (
        class_patterns[y][:, :, None] * (alpha * envelope)[:, None, :]
        + color_patterns[color][:, :, None] * (0.7 * theta * envelope)[:, None, :]
        + speed_pattern[None, :, None] * gamma[:, None, :]
    )
    X += _pink_noise(rng, n, n_channels, n_times)
    offsets = block_shift * rng.standard_normal((n_blocks, n_channels))
    gains = np.exp(0.3 * block_shift * rng.standard_normal((n_blocks, n_channels)))
    X = X * gains[blocks][:, :, None] + offsets[blocks][:, :, None]

    videos = np.empty((n, n_frames, height, width, 3), dtype=np.uint8)
    base_speed = max(height, width) / 32.0
    for i in range(n):
        kind = _SHAPES[y[i] % len(_SHAPES)]
        start = (height / 2 + rng.uniform(-1, 1), width / 2 + rng.uniform(-1, 1))
        step = base_speed * (3.0 if speed[i] else 1.0)
        videos[i] = _render_clip(
            kind, _COLORS[color[i]], directions[y[i]], step, start, n_frames,
            height, width,
        )  # fmt: skip
    return Bunch(
        X=X,
        videos=videos,
        y=y,
        color=color,
        speed=speed,
        blocks=blocks,
        clips=np.arange(n),
        sfreq=float(sfreq),
        ch_names=[f"EEG{i:03d}" for i in range(n_channels)],
        class_patterns=class_patterns,
        color_patterns=color_patterns,
        speed_pattern=speed_pattern,
        shapes=[_SHAPES[c % len(_SHAPES)] for c in range(n_classes)],
        palette=_COLORS[:n_colors].copy(),
    )


def _load_array(obj, name, mmap):
    if isinstance(obj, str | os.PathLike):
        if not os.path.exists(obj):
            raise FileNotFoundError(f"{name} file not found: {os.fspath(obj)!r}.")
        return np.load(obj, mmap_mode="r" if mmap else None, allow_pickle=False)
    return np.asarray(obj)


def load_seed_dv(
    eeg,
    labels=None,
    *,
    sfreq=200.0,
    n_clips=5,
    clip_duration=2.0,
    hint_duration=3.0,
    mmap=True,
):
    """Load one SEED-DV subject's EEG as clips with concept, block and clip ids.

    Two layouts of the released ``.npy`` files are read:

    - raw, ``(n_blocks, n_channels, n_samples)`` (SEED-DV: ``(7, 62, 104000)``
      at 200 Hz): each block holds the concepts one after the other, each as a
      ``hint_duration`` hint followed by ``n_clips`` clips of
      ``clip_duration``; the hint is skipped, as in EEG2Video's
      ``segment_raw_signals_200Hz.py``;
    - segmented, ``(n_blocks, n_concepts, n_clips, n_channels, n_times)``
      (``(7, 40, 5, 62, 400)``).

    Parameters
    ----------
    eeg : path-like | array
        The ``.npy`` file (memory-mapped when ``mmap``) or the array.
    labels : path-like | array, shape (n_blocks, n_concepts) | None
        Concept shown at each position of each block (SEED-DV's ``GT_label`` /
        ``All_video_label``, 1-based values are detected and shifted to 0).
        None: the concept is the position in the block.
    sfreq : float
        Sampling frequency in Hz.
    n_clips : int
        Clips per concept.
    clip_duration, hint_duration : float
        Clip and hint lengths in seconds (raw layout only).
    mmap : bool
        Memory-map the file instead of reading it.

    Returns
    -------
    data : Bunch
        ``X`` (n_blocks * n_concepts * n_clips, n_channels, n_times); ``y``
        concept (0-based); ``blocks``; ``clip_index`` (position 0..n_clips-1 in
        its concept); ``clips`` (a unique clip id); ``sfreq``.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_eeg.datasets import load_seed_dv
    >>> raw = np.zeros((2, 4, 3 * (3 + 5 * 2) * 200))  # 2 blocks, 3 concepts
    >>> load_seed_dv(raw).X.shape
    (30, 4, 400)
    """
    data = _load_array(eeg, "eeg", mmap)
    clip_len = int(round(clip_duration * sfreq))
    if data.ndim == 3:
        n_blocks, n_channels, n_samples = data.shape
        hint_len = int(round(hint_duration * sfreq))
        concept_len = hint_len + n_clips * clip_len
        if n_samples % concept_len:
            raise ValueError(
                f"eeg has {n_samples} samples per block, not a multiple of one "
                f"concept ({hint_duration} s hint + {n_clips} x {clip_duration} s = "
                f"{concept_len} samples at {sfreq} Hz). Check sfreq, n_clips and "
                "the durations."
            )
        n_concepts = n_samples // concept_len
        starts = [
            k * concept_len + hint_len + j * clip_len
            for k in range(n_concepts)
            for j in range(n_clips)
        ]
        X = np.stack(
            [data[b, :, s : s + clip_len] for b in range(n_blocks) for s in starts]
        )
    elif data.ndim == 5:
        n_blocks, n_concepts, n_clips_file, n_channels, n_times = data.shape
        n_clips = n_clips_file
        X = data.reshape(n_blocks * n_concepts * n_clips, n_channels, n_times)
    else:
        raise ValueError(
            "eeg must be (n_blocks, n_channels, n_samples) raw or (n_blocks, "
            f"n_concepts, n_clips, n_channels, n_times) segmented; got {data.shape}."
        )
    if labels is None:
        order = np.tile(np.arange(n_concepts), (n_blocks, 1))
    else:
        order = np.asarray(_load_array(labels, "labels", False), dtype=int)
        if order.shape != (n_blocks, n_concepts):
            raise ValueError(
                f"labels must have shape (n_blocks, n_concepts) = ({n_blocks}, "
                f"{n_concepts}); got {order.shape}."
            )
        if order.min() == 1:
            order = order - 1
    y = np.repeat(order.ravel(), n_clips)
    blocks = np.repeat(np.arange(n_blocks), n_concepts * n_clips)
    clip_index = np.tile(np.arange(n_clips), n_blocks * n_concepts)
    return Bunch(
        X=X,
        y=y,
        blocks=blocks,
        clip_index=clip_index,
        clips=np.arange(len(y)),
        sfreq=float(sfreq),
    )
