"""Nested channel-in-subject time series: a simulator and loaders of real formats.

The layout is the one of the iEEG memory study behind ``ClusterLMETest``: one
row per channel and condition (``hit_miss`` within channel), a between-channel
factor (``region``), channels nested in subjects (``sid``, ``ch``), and one
column per timepoint.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from ..utils import check_random_state

_DEFAULT_CHANNELS = (13, 25, 9, 20, 15, 18, 22, 11, 19, 17)  # 169 channels


def _ar1(rng, shape, ar):
    """Unit-variance AR(1) noise along the last axis."""
    noise = rng.standard_normal(shape)
    out = np.empty(shape)
    out[..., 0] = noise[..., 0]
    scale = np.sqrt(1 - ar**2)
    for t in range(1, shape[-1]):
        out[..., t] = ar * out[..., t - 1] + scale * noise[..., t]
    return out


def make_nested_timeseries(
    n_subjects=10,
    n_channels=None,
    n_times=139,
    *,
    effect_window=(60, 80),
    hit_miss_effect=1.0,
    region_effect=0.0,
    interaction_effect=0.0,
    sigma_subject=1.0,
    sigma_channel=0.7,
    sigma_noise=1.0,
    ar=0.6,
    region_prob=0.4,
    n_missing=0,
    random_state=None,
):
    """Simulate channel time series nested in subjects with a planted effect.

    Each channel has two rows (``hit_miss`` 0 = miss, 1 = hit) and a region
    label (``'hc'`` or ``'phrc'``, drawn per channel). The data are

    ``y = effect(t) + u_subject(t) + u_channel(t) + e(t)``

    with AR(1) random effects and noise over time. Inside ``effect_window`` a
    Hann-shaped bump of height ``hit_miss_effect`` is added to hit rows,
    ``region_effect`` to 'phrc' channels and ``interaction_effect`` to hit rows
    of 'phrc' channels; outside it, every null hypothesis is true.

    Parameters
    ----------
    n_subjects : int
        Number of subjects.
    n_channels : int | sequence of int | None
        Channels per subject (an int for all, or one count per subject). None
        uses the 169-channel layout of the 10-subject iEEG hit/miss study
        (needs 10 subjects).
    n_times : int
        Number of timepoints.
    effect_window : tuple of int
        ``(start, stop)`` timepoints of the planted effects (stop exclusive).
    hit_miss_effect, region_effect, interaction_effect : float
        Peak sizes of the planted effects.
    sigma_subject, sigma_channel, sigma_noise : float
        Standard deviations of the subject and channel random intercepts and
        of the residual noise.
    ar : float
        AR(1) coefficient over time of the random effects and the noise.
    region_prob : float
        Probability that a channel is in region ``'hc'``.
    n_missing : int
        Rows dropped at random (an unbalanced design).
    random_state : int | RandomState | None
        Seed.

    Returns
    -------
    X : ndarray, shape (n_obs, n_times)
        The data, one row per channel and condition.
    design : DataFrame
        Columns ``sid``, ``ch``, ``hit_miss`` (int 0/1) and ``region``.

    Examples
    --------
    >>> from sk_eeg.datasets import make_nested_timeseries
    >>> X, design = make_nested_timeseries(random_state=0)
    >>> X.shape
    (338, 139)
    """
    rng = check_random_state(random_state)
    if n_channels is None:
        if n_subjects != len(_DEFAULT_CHANNELS):
            raise ValueError(
                "n_channels=None uses the 10-subject study layout; give "
                "n_channels (an int or one count per subject) for other n_subjects."
            )
        n_channels = _DEFAULT_CHANNELS
    counts = np.broadcast_to(np.asarray(n_channels, int), (n_subjects,))
    if (counts < 1).any():
        raise ValueError(f"n_channels must be >= 1, got {n_channels}.")
    start, stop = effect_window
    if not 0 <= start < stop <= n_times:
        raise ValueError(
            f"effect_window must satisfy 0 <= start < stop <= n_times={n_times}, "
            f"got {effect_window}."
        )
    rows = []
    for s, n_ch in enumerate(counts):
        for c in range(n_ch):
            region = "hc" if rng.random_sample() < region_prob else "phrc"
            for hit in (0, 1):
                rows.append((f"S{s:02d}", f"ch{c:02d}", hit, region))
    design = pd.DataFrame(rows, columns=["sid", "ch", "hit_miss", "region"])
    n_obs = len(design)
    sid = pd.factorize(design["sid"])[0]
    chan = pd.factorize(design["sid"] + ":" + design["ch"])[0]
    u_subject = sigma_subject * _ar1(rng, (n_subjects, n_times), ar)
    u_channel = sigma_channel * _ar1(rng, (chan.max() + 1, n_times), ar)
    noise = sigma_noise * _ar1(rng, (n_obs, n_times), ar)
    bump = np.zeros(n_times)
    bump[start:stop] = np.hanning(stop - start + 2)[1:-1]
    hit = design["hit_miss"].to_numpy()[:, None]
    phrc = (design["region"] == "phrc").to_numpy()[:, None]
    effect = bump * (
        hit_miss_effect * hit + region_effect * phrc + interaction_effect * hit * phrc
    )
    X = effect + u_subject[sid] + u_channel[chan] + noise
    if n_missing:
        keep = np.sort(rng.choice(n_obs, n_obs - n_missing, replace=False))
        X, design = X[keep], design.iloc[keep].reset_index(drop=True)
    return X, design


def _decode_matlab_strings(h5file, dataset):
    """MATLAB v7.3 cell array of char -> list of str."""
    out = []
    for ref in np.asarray(dataset).ravel():
        codes = np.asarray(h5file[ref]).ravel()
        out.append("".join(chr(int(c)) for c in codes))
    return out


def _read_v73(fname):
    import h5py

    with h5py.File(fname, "r") as f:
        keys = set(f.keys())
        missing = {"sid", "ch", "hit_miss", "data"} - keys
        if missing:
            raise ValueError(
                f"{fname} lacks the variables {sorted(missing)}; expected sid, ch, "
                "hit_miss, data (and optionally region)."
            )
        out = {
            "sid": _decode_matlab_strings(f, f["sid"]),
            "ch": _decode_matlab_strings(f, f["ch"]),
            "hit_miss": np.asarray(f["hit_miss"]).ravel(),
            # MATLAB is column-major: (n_rows, n_times) is stored transposed
            "data": np.asarray(f["data"]).T,
        }
        if "region" in keys:
            out["region"] = _decode_matlab_strings(f, f["region"])
    return out


def _read_v5(fname):
    from scipy.io import loadmat

    raw = loadmat(fname, squeeze_me=True)
    missing = {"sid", "ch", "hit_miss", "data"} - set(raw)
    if missing:
        raise ValueError(
            f"{fname} lacks the variables {sorted(missing)}; expected sid, ch, "
            "hit_miss, data (and optionally region)."
        )
    out = {}
    for key in ("sid", "ch", "region"):
        if key in raw:
            out[key] = [str(np.asarray(v).squeeze()) for v in np.atleast_1d(raw[key])]
    out["hit_miss"] = np.atleast_1d(raw["hit_miss"]).ravel()
    out["data"] = np.atleast_2d(raw["data"])
    return out


def load_lme_mat(fname, *, require_region=False):
    """Read a hit/miss study's MATLAB file (v7.3 / HDF5 or v5).

    Variables: ``sid``, ``ch`` (and optionally ``region``) as cell arrays of
    strings, ``hit_miss`` numeric, ``data`` (n_rows, n_times), one row per
    channel and condition.

    Parameters
    ----------
    fname : path-like
        The ``.mat`` file.
    require_region : bool
        Raise if ``region`` is absent (a 2-way analysis); otherwise the design
        simply has no ``region`` column (a 1-way design), never silently.

    Returns
    -------
    X : ndarray, shape (n_rows, n_times)
        The data.
    design : DataFrame
        Columns ``sid``, ``ch``, ``hit_miss`` (int) and ``region`` when present.
    """
    from scipy.io.matlab import MatReadError

    fname = Path(fname)
    if not fname.exists():
        raise FileNotFoundError(f"No such file: {fname}")
    try:
        raw = _read_v5(fname)
    except (NotImplementedError, MatReadError, ValueError) as err:
        if isinstance(err, ValueError) and "lacks the variables" in str(err):
            raise
        raw = _read_v73(fname)
    if "region" not in raw and require_region:
        raise ValueError(
            f"{fname} has no 'region' variable; it holds a 1-way design. Use "
            "formula='hit_miss' or require_region=False."
        )
    X = np.asarray(raw["data"], dtype=float)
    n_rows = X.shape[0]
    design = pd.DataFrame(
        {
            "sid": raw["sid"],
            "ch": raw["ch"],
            "hit_miss": np.asarray(raw["hit_miss"]).astype(int),
        }
    )
    if "region" in raw:
        design["region"] = raw["region"]
    if len(design) != n_rows:
        raise ValueError(
            f"{fname}: data has {n_rows} rows but the labels have {len(design)}."
        )
    return X, design


def load_lme_table(source, *, time_col="time", value_col="data", id_cols=None):
    """Read long- or wide-format tables into ``(X, design)``.

    Parameters
    ----------
    source : path-like | DataFrame
        A ``.csv`` or ``.parquet`` file, or a DataFrame. Long format has one row
        per observation and timepoint with ``time_col`` and ``value_col``; wide
        format has one column per timepoint named ``t0``, ``t1``, ... (as the
        original ``create_df``).
    time_col, value_col : str
        Columns of the long format.
    id_cols : list of str | None
        Design columns identifying an observation; None uses every other
        column.

    Returns
    -------
    X : ndarray, shape (n_obs, n_times)
        The data, timepoints sorted.
    design : DataFrame
        One row per observation.
    """
    if isinstance(source, pd.DataFrame):
        frame = source
    else:
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"No such file: {path}")
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif path.suffix in (".csv", ".txt", ".tsv"):
            frame = pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",")
        else:
            raise ValueError(
                f"Unknown table format {path.suffix!r}; use .csv, .tsv or .parquet."
            )
    if time_col in frame.columns:
        if value_col not in frame.columns:
            raise ValueError(
                f"long-format table needs a value column {value_col!r}; columns are "
                f"{list(frame.columns)}."
            )
        if id_cols is None:
            id_cols = [c for c in frame.columns if c not in (time_col, value_col)]
        if frame.duplicated(id_cols + [time_col]).any():
            raise ValueError(
                f"Rows are not unique per {id_cols + [time_col]}; give id_cols that "
                "identify one observation."
            )
        wide = frame.pivot_table(
            index=id_cols,
            columns=time_col,
            values=value_col,
            aggfunc="first",
            sort=False,
        )
        wide = wide[sorted(wide.columns)]
        design = wide.index.to_frame(index=False)
        return wide.to_numpy(float), design
    time_cols = [c for c in frame.columns if str(c)[:1] == "t" and str(c)[1:].isdigit()]
    if not time_cols:
        raise ValueError(
            f"No {time_col!r} column (long format) and no t0, t1, ... columns (wide "
            "format) found."
        )
    time_cols = sorted(time_cols, key=lambda c: int(str(c)[1:]))
    design_cols = id_cols or [c for c in frame.columns if c not in time_cols]
    return frame[time_cols].to_numpy(float), frame[design_cols].reset_index(drop=True)
