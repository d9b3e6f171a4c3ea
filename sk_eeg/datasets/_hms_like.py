"""A second ICU EEG pattern simulator, built differently from make_eeg_patterns.

Where :func:`make_eeg_patterns` uses a pink background, biphasic discharges,
sinusoidal delta and votes from one confusion matrix, this one uses a
``1 / f**beta`` background whose exponent varies by patient plus sedation
spindles, eye blinks and muscle bursts; triphasic waves, spike-and-slow-wave
complexes and saw-tooth delta; and votes from a pool of annotators with
their own skill and biases, with HMS-like vote counts (mostly few votes, some
windows with many).
"""

import numpy as np

from ..utils import check_random_state
from ._patterns import _POSITIONS, HMS_CHANNELS, PATTERN_CLASSES, _check_sizes


def _colored_noise(rng, n_channels, n_times, sfreq, beta):
    white = rng.standard_normal((n_channels, n_times))
    freqs = np.fft.rfftfreq(n_times, 1.0 / sfreq)
    spec = np.fft.rfft(white, axis=-1) / np.maximum(freqs, 0.3) ** (beta / 2)
    noise = np.fft.irfft(spec, n=n_times, axis=-1)
    return noise / noise.std(axis=-1, keepdims=True)


def _field(center, width):
    dist2 = ((_POSITIONS - np.asarray(center)) ** 2).sum(axis=1)
    return np.exp(-dist2 / (2 * width**2))


def _train(t, rate, jitter, rng, shape):
    """Sum of ``shape(t - onset)`` over a jittered periodic train of onsets."""
    out = np.zeros_like(t)
    period = 1.0 / rate
    for onset in np.arange(rng.uniform(0, period), t[-1], period):
        out += shape(t - onset - rng.normal(0, jitter * period))
    return out


def _triphasic(u):
    # small negative, large positive, slow negative phase (~0.5 s in all)
    return (
        -0.4 * np.exp(-0.5 * (u / 0.03) ** 2)
        + 1.0 * np.exp(-0.5 * ((u - 0.09) / 0.05) ** 2)
        - 0.6 * np.exp(-0.5 * ((u - 0.3) / 0.1) ** 2)
    )


def _spike_wave(u):
    # a 70 ms spike followed by a 250 ms slow wave
    return -1.2 * np.exp(-0.5 * (u / 0.018) ** 2) + 0.7 * np.exp(
        -0.5 * ((u - 0.2) / 0.08) ** 2
    )


def _sawtooth(phase, asym):
    """Periodic wave rising over ``asym`` of the cycle and falling over the rest."""
    frac = (phase / (2 * np.pi)) % 1.0
    return np.where(frac < asym, frac / asym, (1 - frac) / (1 - asym)) * 2 - 1


def _pattern(rng, kind, t, sfreq, side):
    lateral = (0.65 * side, rng.uniform(-0.3, 0.5))
    if kind in ("lpd", "gpd"):
        shape = _triphasic if rng.random() < 0.5 else _spike_wave
        wave = _train(t, rng.uniform(0.5, 2.5), 0.08, rng, shape)
        field = _field(lateral, 0.3) if kind == "lpd" else _field((0.0, 0.3), 0.8)
        return field[:, None] * wave[None] * 7.0
    if kind in ("lrda", "grda"):
        freq = rng.uniform(0.8, 3.0)
        phase = 2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi)
        wave = _sawtooth(phase, rng.uniform(0.2, 0.5))
        field = _field(lateral, 0.3) if kind == "lrda" else _field((0.0, 0.8), 0.7)
        return field[:, None] * wave[None] * 4.0
    if kind == "seizure":
        # evolving spike-wave or evolving fast rhythm with a spreading field
        if rng.random() < 0.5:
            rate = np.linspace(rng.uniform(2.0, 3.5), rng.uniform(1.0, 2.0), t.size)
            onsets = np.flatnonzero(np.diff(np.floor(np.cumsum(rate) / sfreq)) > 0)
            wave = np.zeros_like(t)
            for k in onsets:
                wave += _spike_wave(t - t[k])
        else:
            freq = np.linspace(rng.uniform(8.0, 13.0), rng.uniform(3.0, 6.0), t.size)
            wave = np.sin(2 * np.pi * np.cumsum(freq) / sfreq)
        start = rng.uniform(0, 0.5)
        envelope = np.clip((t / t[-1] - start) / 0.2, 0, 1)
        spread = np.linspace(0.25, 0.8, t.size)
        dist = np.sqrt(((_POSITIONS - np.asarray(lateral)) ** 2).sum(axis=1))
        field = np.exp(-(dist[:, None] ** 2) / (2 * spread[None] ** 2))
        return field * (wave * envelope)[None] * 6.0
    return np.zeros((_POSITIONS.shape[0], t.size))


def _artifacts(rng, t, sfreq, n_scalp):
    out = np.zeros((n_scalp, t.size))
    frontal = _field((0.0, 1.0), 0.35)
    for _ in range(rng.poisson(1.5 * t[-1] / 10)):  # eye blinks
        u = t - rng.uniform(0, t[-1])
        out += frontal[:, None] * (80 * np.exp(-0.5 * (u / 0.12) ** 2))[None]
    if rng.random() < 0.3:  # a muscle burst on temporal electrodes
        temporal = _field((rng.choice([-0.9, 0.9]), 0.0), 0.3)
        u = t - rng.uniform(0, t[-1])
        burst = rng.standard_normal(t.size) * (np.abs(u) < rng.uniform(0.5, 2))
        out += temporal[:, None] * 15 * burst[None]
    return out


def _annotators(rng, n_annotators, n_classes, skill):
    """Per-annotator confusion matrices (rows: true class) and a bias to 'other'."""
    mats = np.empty((n_annotators, n_classes, n_classes))
    for a in range(n_annotators):
        own = np.clip(rng.normal(skill, 0.12), 0.25, 0.95)
        bias = rng.dirichlet(np.full(n_classes, 0.7))
        bias[-1] += rng.uniform(0, 0.6)  # some call everything unclear "other"
        bias /= bias.sum()
        mats[a] = own * np.eye(n_classes) + (1 - own) * bias[None]
    return mats


def make_hms_like(
    n_epochs=600,
    n_patients=20,
    n_times=2000,
    sfreq=200.0,
    n_annotators=20,
    skill=0.65,
    random_state=None,
    return_labels=False,
):
    """Simulate ICU EEG windows unlike :func:`make_eeg_patterns`, with annotator votes.

    Each window holds a background with a ``1 / f**beta`` spectrum (``beta``
    between 1 and 2.2 per patient), sedation spindles (12-15 Hz bursts)
    for some patients, eye blinks and temporal muscle bursts, plus one
    pattern:

    - ``seizure``: an evolving spike-and-wave (slowing from 2-3.5 Hz) or an
      evolving fast rhythm (8-13 Hz slowing to 3-6 Hz) with a growing field;
    - ``lpd`` / ``gpd``: lateralised / generalised periodic triphasic waves
      or spike-and-slow-wave complexes at 0.5-2.5 Hz;
    - ``lrda`` / ``grda``: lateralised / generalised saw-tooth delta at
      0.8-3 Hz;
    - ``other``: background only.

    Votes: a window is read by a random subset of a pool of ``n_annotators``
    annotators, each with their own skill (around ``skill``) and bias
    towards some classes (often ``other``); weak patterns are read as
    ``other`` more often. The number of readers follows the HMS shape: most
    windows get 1-3 votes, a quarter get 10-20.

    Parameters
    ----------
    n_epochs : int
        Number of windows.
    n_patients : int
        Number of patients (windows are assigned at random).
    n_times : int
        Samples per window.
    sfreq : float
        Sampling frequency in Hz.
    n_annotators : int
        Size of the annotator pool.
    skill : float
        Mean probability that an annotator reports the planted class of a
        strong pattern.
    random_state : int | RandomState | None
        Seed.
    return_labels : bool
        Also return the planted classes.

    Returns
    -------
    X : ndarray, shape (n_epochs, 20, n_times)
        EEG in µV, channels in the order of the HMS files (19 scalp + EKG).
    votes : ndarray of int, shape (n_epochs, 6)
        Vote counts in the order of the six HMS classes.
    patients : ndarray of int, shape (n_epochs,)
        Patient of each window.
    ch_names : list of str
        Channel names.
    labels : ndarray of int, shape (n_epochs,)
        Planted classes; only if ``return_labels``.

    See Also
    --------
    make_eeg_patterns : The first simulator (other background, shapes, votes).

    Examples
    --------
    >>> from sk_eeg.datasets import make_hms_like
    >>> X, votes, patients, ch_names = make_hms_like(n_epochs=4, random_state=0)
    >>> X.shape, votes.shape
    ((4, 20, 2000), (4, 6))
    """
    _check_sizes(
        n_times, n_epochs=n_epochs, n_patients=n_patients, n_annotators=n_annotators
    )
    if not 0 < skill <= 1:
        raise ValueError(f"skill must lie in (0, 1], got {skill}.")
    rng = check_random_state(random_state)
    n_classes, n_scalp = len(PATTERN_CLASSES), _POSITIONS.shape[0]
    t = np.arange(n_times) / sfreq
    beta = rng.uniform(1.0, 2.2, n_patients)
    bg_amp = rng.uniform(8.0, 30.0, n_patients)
    spindles = rng.random(n_patients) < 0.4
    gains = rng.uniform(0.7, 1.3, (n_patients, n_scalp))
    annotators = _annotators(rng, n_annotators, n_classes, skill)
    patients = rng.randint(n_patients, size=n_epochs)
    # HMS is dominated by 'other' and seizure windows
    labels = rng.choice(n_classes, size=n_epochs, p=[0.2, 0.15, 0.15, 0.1, 0.1, 0.3])
    central = _field((0.0, 0.1), 0.6)

    X = np.empty((n_epochs, n_scalp + 1, n_times))
    votes = np.zeros((n_epochs, n_classes), dtype=np.int64)
    for k in range(n_epochs):
        pat, cls = patients[k], labels[k]
        side = 1.0 if rng.random() < 0.5 else -1.0
        strength = rng.uniform(0.3, 1.3)
        background = _colored_noise(rng, n_scalp, n_times, sfreq, beta[pat])
        if spindles[pat]:
            freq = rng.uniform(12.0, 15.0)
            env = np.exp(-0.5 * ((t - rng.uniform(0, t[-1])) / 0.4) ** 2)
            background += central[:, None] * (env * np.sin(2 * np.pi * freq * t))[None]
        pattern = _pattern(rng, PATTERN_CLASSES[cls], t, sfreq, side)
        scalp = bg_amp[pat] * gains[pat][:, None] * (background + strength * pattern)
        X[k, :n_scalp] = scalp + _artifacts(rng, t, sfreq, n_scalp)
        heart = _train(t, rng.uniform(0.9, 1.7), 0.02, rng, _spike_wave)
        X[k, n_scalp] = 150.0 * heart + rng.standard_normal(n_times) * 3
        n_votes = rng.randint(1, 4) if rng.random() < 0.75 else rng.randint(10, 21)
        readers = rng.choice(n_annotators, size=n_votes, replace=n_votes > n_annotators)
        seen = min(1.0, strength)  # weak patterns drift to 'other'
        for a in readers:
            row = seen * annotators[a, cls] + (1 - seen) * annotators[a, -1]
            votes[k, rng.choice(n_classes, p=row / row.sum())] += 1
    out = (X, votes, patients, list(HMS_CHANNELS))
    return out + (labels,) if return_labels else out
