"""EEG pattern simulator with noisy expert votes, and the HMS-style loader."""

import os
from pathlib import Path

import numpy as np

from ..utils import check_option, check_random_state, check_type

# The six classes of the HMS harmful brain activity task, in the column order
# of its vote columns.
PATTERN_CLASSES = ("seizure", "lpd", "gpd", "lrda", "grda", "other")

HMS_CHANNELS = (
    "Fp1",
    "F3",
    "C3",
    "P3",
    "F7",
    "T3",
    "T5",
    "O1",
    "Fz",
    "Cz",
    "Pz",
    "Fp2",
    "F4",
    "C4",
    "P4",
    "F8",
    "T4",
    "T6",
    "O2",
    "EKG",
)

# Approximate 2D scalp positions (x: left -1 .. right +1, y: back -1 .. front
# +1) of the 19 scalp electrodes above.
_POSITIONS = np.array(
    [
        (-0.3, 0.9),
        (-0.4, 0.45),
        (-0.45, 0.0),
        (-0.4, -0.45),
        (-0.75, 0.55),
        (-0.9, 0.0),
        (-0.75, -0.55),
        (-0.3, -0.9),
        (0.0, 0.45),
        (0.0, 0.0),
        (0.0, -0.45),
        (0.3, 0.9),
        (0.4, 0.45),
        (0.45, 0.0),
        (0.4, -0.45),
        (0.75, 0.55),
        (0.9, 0.0),
        (0.75, -0.55),
        (0.3, -0.9),
    ]
)

# Which classes experts confuse with each class (row: true class).
_CONFUSION = np.array(
    [
        [0.0, 0.35, 0.1, 0.25, 0.1, 0.2],
        [0.25, 0.0, 0.35, 0.15, 0.0, 0.25],
        [0.1, 0.35, 0.0, 0.0, 0.25, 0.3],
        [0.2, 0.2, 0.0, 0.0, 0.35, 0.25],
        [0.1, 0.0, 0.25, 0.3, 0.0, 0.35],
        [0.2, 0.2, 0.15, 0.2, 0.25, 0.0],
    ]
)


def _pink_noise(rng, n_channels, n_times, sfreq):
    white = rng.standard_normal((n_channels, n_times))
    spec = np.fft.rfft(white, axis=-1)
    freqs = np.fft.rfftfreq(n_times, 1.0 / sfreq)
    spec *= 1.0 / np.sqrt(np.maximum(freqs, 0.5))
    noise = np.fft.irfft(spec, n=n_times, axis=-1)
    return noise / noise.std(axis=-1, keepdims=True)


def _field(center, width):
    dist2 = ((_POSITIONS - np.asarray(center)) ** 2).sum(axis=1)
    return np.exp(-dist2 / (2 * width**2))


def _discharges(rng, t, rate, sfreq):
    """Periodic sharp (biphasic) discharges at ``rate`` Hz with small jitter."""
    out = np.zeros_like(t)
    period = 1.0 / rate
    onset = rng.uniform(0, period)
    width = 0.06
    for center in np.arange(onset, t[-1], period):
        center += rng.normal(0, 0.03 * period)
        x = (t - center) / width
        out += -x * np.exp(-0.5 * x**2) * 1.6 + np.exp(-0.5 * ((x - 2.5) / 2) ** 2)
    return out


def _pattern(rng, kind, t, sfreq, side):
    """Return the (19, n_times) pattern of class ``kind`` (without background)."""
    lateral = (0.7 * side, 0.15)
    if kind == "lrda" or kind == "grda":
        freq = rng.uniform(1.0, 2.5)
        phase = rng.uniform(0, 2 * np.pi)
        wave = np.sin(2 * np.pi * freq * t + phase) + 0.3 * np.sin(
            4 * np.pi * freq * t + 2 * phase
        )
        field = _field(lateral, 0.35) if kind == "lrda" else _field((0.0, 0.75), 0.6)
        return field[:, None] * wave[None] * 5.0
    if kind == "lpd" or kind == "gpd":
        wave = _discharges(rng, t, rng.uniform(0.7, 2.0), sfreq)
        field = _field(lateral, 0.35) if kind == "lpd" else _field((0.0, 0.5), 0.7)
        return field[:, None] * wave[None] * 6.0
    if kind == "seizure":
        # Evolving rhythm: frequency and amplitude change over the window.
        f0, f1 = rng.uniform(3.0, 5.0), rng.uniform(6.0, 10.0)
        if rng.random() < 0.5:
            f0, f1 = f1, f0
        phase = 2 * np.pi * np.cumsum(np.linspace(f0, f1, t.size)) / sfreq
        envelope = np.linspace(0.4, 1.0, t.size) ** (1 if rng.random() < 0.5 else -1)
        envelope = envelope / envelope.max()
        field = _field(lateral, 0.45) if rng.random() < 0.6 else _field((0, 0), 0.7)
        return field[:, None] * (np.sin(phase) * envelope)[None] * 5.0
    return np.zeros((_POSITIONS.shape[0], t.size))


def make_eeg_patterns(
    n_epochs=600,
    n_patients=20,
    n_times=2000,
    sfreq=200.0,
    n_voters=(3, 20),
    agreement=0.75,
    class_weights=None,
    random_state=None,
    return_labels=False,
):
    """Simulate ICU EEG windows of six pattern families with noisy expert votes.

    Each epoch holds background activity (pink noise plus a posterior alpha
    rhythm whose frequency, amplitude and electrode gains vary by patient) and
    one pattern, planted with a spatial field so that it survives a bipolar
    montage:

    - ``seizure``: an evolving rhythm (frequency rising or falling between
      3-10 Hz, growing or waning amplitude), focal or widespread;
    - ``lpd`` / ``gpd``: lateralised / generalised periodic sharp discharges
      at 0.7-2 Hz;
    - ``lrda`` / ``grda``: lateralised / generalised (frontal) rhythmic delta
      at 1-2.5 Hz;
    - ``other``: background only.

    Votes: each epoch gets ``n_voters`` votes (drawn per epoch in the range)
    from ``agreement * onehot + (1 - agreement) * confusion``, where the
    agreement shrinks when the pattern is weak and ``confusion`` puts mass on
    the classes experts mix up (LPD-GPD, LRDA-GRDA, seizure-LPD, ...).

    Parameters
    ----------
    n_epochs : int
        Number of windows.
    n_patients : int
        Number of patients; windows are assigned to patients at random.
    n_times : int
        Samples per window.
    sfreq : float
        Sampling frequency in Hz.
    n_voters : tuple of int
        Smallest and largest number of votes per window.
    agreement : float
        Expected share of votes for the true class at full pattern strength.
    class_weights : array-like, shape (6,) | None
        Class frequencies (normalised); default uniform.
    random_state : int | RandomState | None
        Seed.
    return_labels : bool
        Also return the planted class of each window.

    Returns
    -------
    X : ndarray, shape (n_epochs, 20, n_times)
        EEG in µV, channels in the order of the HMS files (19 scalp + EKG).
    votes : ndarray of int, shape (n_epochs, 6)
        Vote counts in the order of :data:`PATTERN_CLASSES`.
    patients : ndarray of int, shape (n_epochs,)
        Patient id of each window (for group splits).
    ch_names : list of str
        Channel names.
    labels : ndarray of int, shape (n_epochs,)
        Planted class (index into the classes); only if ``return_labels``.

    Examples
    --------
    >>> from sk_eeg.datasets import make_eeg_patterns
    >>> X, votes, patients, ch_names = make_eeg_patterns(n_epochs=6, random_state=0)
    >>> X.shape, votes.shape
    ((6, 20, 2000), (6, 6))
    """
    _check_sizes(n_times, n_epochs=n_epochs, n_patients=n_patients)
    lo, hi = n_voters
    if not 1 <= lo <= hi:
        raise ValueError(
            f"n_voters must be (low, high) with 1 <= low <= high: {n_voters}."
        )
    if not 0 < agreement <= 1:
        raise ValueError(f"agreement must lie in (0, 1], got {agreement}.")
    rng = check_random_state(random_state)
    n_classes = len(PATTERN_CLASSES)
    weights = np.ones(n_classes) if class_weights is None else np.asarray(class_weights)
    if weights.shape != (n_classes,) or np.any(weights < 0) or weights.sum() <= 0:
        raise ValueError("class_weights must be 6 non-negative numbers, not all 0.")
    weights = weights / weights.sum()

    n_scalp = _POSITIONS.shape[0]
    t = np.arange(n_times) / sfreq
    # Patient effects: background level, alpha rhythm, electrode gains.
    bg_amp = rng.uniform(12.0, 25.0, n_patients)
    alpha_freq = rng.uniform(7.5, 11.0, n_patients)
    alpha_amp = rng.uniform(0.2, 0.8, n_patients)
    gains = rng.uniform(0.8, 1.2, (n_patients, n_scalp))
    patients = rng.randint(n_patients, size=n_epochs)
    labels = rng.choice(n_classes, size=n_epochs, p=weights)

    X = np.empty((n_epochs, n_scalp + 1, n_times))
    votes = np.zeros((n_epochs, n_classes), dtype=np.int64)
    alpha_field = _field((0.0, -0.8), 0.5)
    for k in range(n_epochs):
        pat, cls = patients[k], labels[k]
        side = 1.0 if rng.random() < 0.5 else -1.0
        strength = rng.uniform(0.35, 1.2)
        background = _pink_noise(rng, n_scalp, n_times, sfreq)
        background += (
            alpha_amp[pat]
            * alpha_field[:, None]
            * np.sin(2 * np.pi * alpha_freq[pat] * t + rng.uniform(0, 2 * np.pi))
        )
        pattern = _pattern(rng, PATTERN_CLASSES[cls], t, sfreq, side)
        scalp = bg_amp[pat] * gains[pat][:, None] * (background + strength * pattern)
        X[k, :n_scalp] = scalp
        ekg = _discharges(rng, t, rng.uniform(1.0, 1.6), sfreq)
        X[k, n_scalp] = 200.0 * ekg + rng.standard_normal(n_times)
        share = agreement * min(1.0, strength) if cls != 5 else agreement
        probs = share * np.eye(n_classes)[cls] + (1 - share) * _CONFUSION[cls]
        votes[k] = rng.multinomial(rng.randint(lo, hi + 1), probs / probs.sum())
    out = (X, votes, patients, list(HMS_CHANNELS))
    return out + (labels,) if return_labels else out


def _check_sizes(n_times, **counts):
    """Check the positive integer ``counts`` (in order) and ``n_times >= 16``."""
    for name, value in counts.items():
        check_type(value, "int", name)
        if value < 1:
            raise ValueError(f"{name} must be positive, got {value}.")
    check_type(n_times, "int", "n_times")
    if n_times < 16:
        raise ValueError(f"n_times must be at least 16, got {n_times}.")


def load_hms_eeg(
    csv_path,
    eeg_dir,
    *,
    window_seconds=50.0,
    sfreq=200.0,
    min_votes=0,
    deduplicate=False,
    channels=None,
    nan_policy="zero",
    require_votes=True,
    return_frame=False,
):
    """Load HMS-style EEG windows (parquet) and expert votes (csv).

    The layout of the Kaggle "HMS - Harmful Brain Activity Classification"
    data: a csv with one row per labelled window (``eeg_id``,
    ``eeg_label_offset_seconds``, ``patient_id`` and the six ``*_vote``
    columns) and one parquet file per recording, ``<eeg_dir>/<eeg_id>.parquet``,
    with one column per channel and one row per sample.

    Parameters
    ----------
    csv_path : path-like
        The labels csv.
    eeg_dir : path-like
        Folder of the ``<eeg_id>.parquet`` files.
    window_seconds : float
        Window length from ``eeg_label_offset_seconds``.
    sfreq : float
        Sampling frequency of the parquet files in Hz.
    min_votes : int
        Keep rows with at least this many votes (the HMS test set holds only
        high-vote windows; the solutions train on >= 8 or > 8).
    deduplicate : bool
        Keep one row per ``eeg_id`` and identical vote vector (the middle
        one), as overlapping sub-windows with the same votes are near copies.
    channels : list of str | None
        Columns to read (default: all columns of the first file, in order).
    nan_policy : {'zero', 'raise'}
        Missing samples (NaN) are set to 0 or raise an error.
    require_votes : bool
        If False, a csv without vote columns is accepted (windows to
        predict): ``votes`` is then None, a missing
        ``eeg_label_offset_seconds`` means 0 and a missing ``patient_id``
        gives None.
    return_frame : bool
        Also return the kept csv rows as a :class:`pandas.DataFrame`.

    Returns
    -------
    X : ndarray of float32, shape (n_windows, n_channels, n_times)
        The windows (in the files' unit, µV for HMS).
    votes : ndarray of int, shape (n_windows, 6) | None
        Vote counts in the order of :data:`PATTERN_CLASSES`.
    patients : ndarray, shape (n_windows,) | None
        ``patient_id`` of each window.
    ch_names : list of str
        The channels.
    frame : pandas.DataFrame
        The kept rows; only if ``return_frame``.
    """
    import pandas as pd

    check_option("nan_policy", nan_policy, ("zero", "raise"))
    csv_path, eeg_dir = Path(csv_path), Path(eeg_dir)
    if not csv_path.is_file():
        raise FileNotFoundError(f"csv_path={os.fspath(csv_path)!r} does not exist.")
    if not eeg_dir.is_dir():
        raise FileNotFoundError(f"eeg_dir={os.fspath(eeg_dir)!r} is not a folder.")
    frame = pd.read_csv(csv_path)
    vote_cols = [f"{name}_vote" for name in PATTERN_CLASSES]
    has_votes = all(col in frame.columns for col in vote_cols)
    if not require_votes:
        if "eeg_id" not in frame.columns:
            raise ValueError("The csv lacks the column 'eeg_id'.")
        if "eeg_label_offset_seconds" not in frame.columns:
            frame["eeg_label_offset_seconds"] = 0.0
    else:
        needed = ["eeg_id", "eeg_label_offset_seconds", "patient_id", *vote_cols]
        missing = [col for col in needed if col not in frame.columns]
        if missing:
            raise ValueError(
                f"The csv lacks the columns {missing}; expected {needed} (or pass "
                "require_votes=False for windows without votes)."
            )
    if has_votes:
        frame = frame[frame[vote_cols].sum(axis=1) >= max(min_votes, 1)]
    if deduplicate and has_votes:
        groups = frame.groupby(["eeg_id", *vote_cols], sort=False)
        size = groups["eeg_id"].transform("size")
        frame = frame[groups.cumcount() == size // 2]
    frame = frame.reset_index(drop=True)
    n_times = int(round(window_seconds * sfreq))
    windows = []
    for eeg_id, rows in frame.groupby("eeg_id", sort=False):
        path = eeg_dir / f"{eeg_id}.parquet"
        if not path.is_file():
            raise FileNotFoundError(
                f"No EEG file {os.fspath(path)!r} for eeg_id {eeg_id}."
            )
        data = pd.read_parquet(path)
        if channels is None:
            channels = list(data.columns)
        absent = [ch for ch in channels if ch not in data.columns]
        if absent:
            raise ValueError(f"{path.name} lacks the channels {absent}.")
        values = data[list(channels)].to_numpy(dtype=np.float32).T
        for index, offset in zip(rows.index, rows["eeg_label_offset_seconds"]):
            start = int(round(offset * sfreq))
            if start < 0 or start + n_times > values.shape[1]:
                raise ValueError(
                    f"Window of eeg_id {eeg_id} at {offset} s needs samples "
                    f"{start}..{start + n_times} but the file has {values.shape[1]}."
                )
            windows.append((index, values[:, start : start + n_times]))
    windows.sort(key=lambda item: item[0])
    if not windows:
        raise ValueError(f"No rows left with at least {min_votes} votes.")
    X = np.stack([w for _, w in windows])
    nan = np.isnan(X)
    if nan.any():
        if nan_policy == "raise":
            raise ValueError(
                f"{int(nan.sum())} samples are NaN; pass nan_policy='zero' to set "
                "them to 0."
            )
        X[nan] = 0.0
    votes = frame[vote_cols].to_numpy(dtype=np.int64) if has_votes else None
    patients = frame["patient_id"].to_numpy() if "patient_id" in frame.columns else None
    out = (X, votes, patients, list(channels))
    return out + (frame,) if return_frame else out
