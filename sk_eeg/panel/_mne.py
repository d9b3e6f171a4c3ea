"""MNE recordings (Raw, Epochs, lists of them) into the panel layout."""

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ..utils import logger


def _as_epochs(inst, window, index):
    import mne

    if isinstance(inst, mne.io.BaseRaw):
        if inst.times[-1] < window:
            raise ValueError(
                f"recordings[{index}] lasts {inst.times[-1]:.2f} s, shorter than "
                f"window={window} s; shorten window."
            )
        return mne.make_fixed_length_epochs(
            inst, duration=window, reject_by_annotation=True, verbose=False
        )
    if isinstance(inst, mne.BaseEpochs):
        return inst
    raise TypeError(
        f"recordings[{index}] must be an mne.io.Raw or mne.Epochs, got "
        f"{type(inst).__name__}."
    )


def _clock_hours(inst, epochs):
    """UTC clock hour of each window's start (NaN without ``meas_date``)."""
    meas_date = inst.info["meas_date"]
    n_rows = len(epochs.events)
    if meas_date is None:
        return np.full(n_rows, np.nan)
    start = meas_date.hour + meas_date.minute / 60 + meas_date.second / 3600
    offset = epochs.events[:, 0] / inst.info["sfreq"] / 3600.0
    return (start + offset) % 24.0


def panel_from_mne(
    recordings,
    subjects=None,
    *,
    covariates=None,
    window=2.0,
    fmin=1.0,
    fmax=40.0,
    picks="eeg",
    time_of_day="auto",
    verbose=None,
):
    """Log-power panel ``(X, y, groups)`` from MNE recordings.

    Each :class:`mne.io.Raw` is cut into consecutive windows of ``window``
    seconds (:func:`mne.make_fixed_length_epochs`, windows overlapping
    ``BAD_`` annotations dropped); each :class:`mne.Epochs` keeps its epochs.
    The response of a window is the log of its mean power spectral density
    between ``fmin`` and ``fmax`` per channel (``compute_psd``, Welch with
    1 Hz resolution). Covariates are the clock time of each window (from
    ``info['meas_date']``, in UTC, as ``sin``/``cos`` of the 24 h cycle) and
    any recording-level values given in ``covariates``.

    Parameters
    ----------
    recordings : Raw | Epochs | list of Raw or Epochs
        One recording or a list (several per subject for sessions).
    subjects : list | None
        Subject of each recording; None uses ``info['subject_info']['his_id']``
        when set, else each recording is its own subject.
    covariates : list of dict | DataFrame | None
        Recording-level covariates (e.g. ``{"sex": 1, "age": 24}``), one
        entry (dict or row) per recording; NaN for unknown values (imputed by
        the estimator's EM).
    window : float
        Window length in seconds (Raw only).
    fmin, fmax : float
        Frequency band of the log power (Hz).
    picks : str | list
        Channels (MNE ``picks``); every recording must give the same names.
    time_of_day : 'auto' | bool
        Add the ``tod_sin``/``tod_cos`` columns. ``'auto'`` adds them when the
        recordings start at three or more distinct clock times (with fewer,
        they are collinear with the subjects' intercepts) and
        ``meas_date`` is set.
    verbose : bool | str | int | None
        MNE-style verbosity.

    Returns
    -------
    panel : Bunch
        ``X`` (DataFrame; an ``(n_windows, 0)`` array without covariates),
        ``y`` (n_windows, n_channels), ``groups``
        (n_windows,), ``ch_names``, ``hours`` (clock hour of each window),
        ``recording`` (index of each window's recording).

    Examples
    --------
    >>> import mne, numpy as np
    >>> from sk_eeg.panel import IFEPanelRegressor, panel_from_mne
    >>> info = mne.create_info(8, 100.0, "eeg")
    >>> raw = mne.io.RawArray(np.random.RandomState(0).randn(8, 6000), info,
    ...                       verbose=False)
    >>> panel = panel_from_mne(raw, window=2.0)
    >>> panel.y.shape
    (30, 8)
    >>> model = IFEPanelRegressor().fit(panel.X, panel.y, groups=panel.groups)
    """
    import mne

    insts = list(recordings) if isinstance(recordings, (list, tuple)) else [recordings]
    if not insts:
        raise ValueError("recordings is empty; pass at least one Raw or Epochs.")
    if subjects is not None and len(subjects) != len(insts):
        raise ValueError(
            f"subjects has {len(subjects)} entries for {len(insts)} recordings; "
            "give one subject per recording."
        )
    if covariates is not None:
        covariates = pd.DataFrame(covariates).reset_index(drop=True)
        if len(covariates) != len(insts):
            raise ValueError(
                f"covariates has {len(covariates)} rows for {len(insts)} "
                "recordings; give one row per recording."
            )
    ys, hours, groups, rec_index, names = [], [], [], [], None
    first_hours = []
    for i, inst in enumerate(insts):
        epochs = _as_epochs(inst, window, i)
        sfreq = epochs.info["sfreq"]
        n_fft = min(len(epochs.times), int(round(sfreq)))
        with mne.utils.use_log_level(verbose if verbose is not None else "WARNING"):
            spec = epochs.compute_psd(
                method="welch", fmin=fmin, fmax=fmax, picks=picks, n_fft=n_fft
            )
        if spec.freqs.size == 0:
            raise ValueError(
                f"no frequency between fmin={fmin} and fmax={fmax} Hz at "
                f"{n_fft / sfreq:.2f} s resolution; widen the band."
            )
        if names is None:
            names = spec.ch_names
        elif spec.ch_names != names:
            raise ValueError(
                f"recordings[{i}] has channels {spec.ch_names[:5]}..., recordings[0] "
                f"{names[:5]}...; pick the same channels in the same order."
            )
        power = spec.get_data().mean(-1)
        ys.append(np.log(np.maximum(power, np.finfo(float).tiny)))
        hours.append(_clock_hours(inst, epochs))
        if len(power):
            first_hours.append(hours[-1][0])
        if subjects is not None:
            label = subjects[i]
        else:
            his_id = (inst.info.get("subject_info") or {}).get("his_id")
            label = his_id if his_id is not None else i
        groups.append(np.full(len(power), label, dtype=object))
        rec_index.append(np.full(len(power), i))
    hours = np.concatenate(hours)
    rec_index = np.concatenate(rec_index)
    starts = {round(float(h) * 4) / 4 for h in first_hours if np.isfinite(h)}
    if time_of_day == "auto":
        time_of_day = len(starts) >= 3
        if not time_of_day:
            logger.info(
                "Recordings start at %d distinct clock time(s): no time-of-day "
                "covariate.",
                len(starts),
            )
    X = pd.DataFrame(index=np.arange(len(hours)))
    if time_of_day:
        angle = 2 * np.pi * hours / 24.0
        X["tod_sin"], X["tod_cos"] = np.sin(angle), np.cos(angle)
    if covariates is not None:
        for col in covariates.columns:
            X[str(col)] = pd.to_numeric(covariates[col], errors="raise").to_numpy(
                dtype=float
            )[rec_index]
    if X.shape[1] == 0:
        X = np.zeros((len(hours), 0))  # a pure factor model
    groups = np.concatenate(groups)
    if all(isinstance(g, (int, np.integer)) for g in groups):
        groups = groups.astype(int)
    else:
        groups = groups.astype(str)
    return Bunch(
        X=X,
        y=np.vstack(ys),
        groups=groups,
        ch_names=list(names),
        hours=hours,
        recording=rec_index,
    )
