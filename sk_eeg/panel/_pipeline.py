"""From a (subjects, sessions, channels, samples) tensor to per-subject scores."""

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ..utils import check_random_state, logger, progress_bar, use_log_level
from ._distributed import _recording_block, _store_source
from ._estimator import IFEPanelRegressor
from ._evaluation import evaluate_heldout
from ._features import log_power_features
from ._vmf import VonMisesFisherMixture


def _directions(log_power):
    """Relative-power topography of each window (global power removed)."""
    return log_power - log_power.mean(1, keepdims=True)


def _lagged_states(states, log_power):
    """State posteriors of the *previous* window (causal covariates).

    Row ``w`` holds the posterior of window ``w - 1`` (the mixture weights
    for the first window and after a window with missing power), so the
    covariates of a window never depend on that window's own EEG.
    """
    post = np.tile(states.weights_, (len(log_power), 1))
    ok = np.flatnonzero(~np.isnan(log_power).any(1))
    post[ok] = states.predict_proba(_directions(log_power[ok]))
    return np.vstack([states.weights_[None], post[:-1]])


_SEX_CODES = {"f": 0.0, "female": 0.0, "w": 0.0, "m": 1.0, "male": 1.0}


def _code_subject_columns(meta, subject_columns):
    """Numeric subject-level columns of ``meta`` (NaN where missing).

    Numeric columns are used as they are; a ``sex`` column coded with
    letters (``M``/``F``, ``male``/``female``, any case) becomes 1 for male
    and 0 for female. Any other non-numeric value raises.
    """
    coded = pd.DataFrame(index=meta.index)
    for col in subject_columns:
        if col not in meta.columns:
            continue
        raw = meta[col]
        values = pd.to_numeric(raw, errors="coerce")
        bad = raw.notna() & values.isna()
        if bad.any() and col == "sex":
            text = raw.astype(str).str.strip().str.lower()
            mapped = text.map(_SEX_CODES)
            values = values.where(~bad, mapped)
            bad = raw.notna() & values.isna()
        if bad.any():
            raise ValueError(
                f"meta column {col!r} has non-numeric values "
                f"{sorted(set(raw[bad].astype(str)))[:5]}; code it as numbers "
                "(sex may be M/F), or leave it out of subject_columns."
            )
        if values.isna().any():
            logger.info(
                "Subject column %r missing for subjects %s: imputed by EM.",
                col,
                meta.index[values.isna()].tolist(),
            )
        coded[col] = values.astype(float)
    return coded


def _recording_design(rec, sfreq, window, scale, hour, subject_row, states):
    """Covariates and log-power responses of one recording.

    Windows whose power is undefined (all their samples NaN, or a NaN
    sample with ``band``) are dropped; other NaN samples are skipped by the
    window's mean square.
    """
    y = log_power_features(rec, sfreq, window=window, scale=scale)
    post = None if states is None else _lagged_states(states, y)
    X = _session_covariates(len(y), hour, subject_row, post)
    ok = ~np.isnan(y).any(1)
    if not ok.all():
        logger.info("Dropped %d windows without any observed sample.", (~ok).sum())
    return X[ok].reset_index(drop=True), y[ok]


def _session_covariates(n_rows, hour, subject_row, states=None):
    data = {"afternoon": np.full(n_rows, float(hour >= 12))}
    if states is not None:
        # Posteriors sum to one: the last is implied by the intercept.
        for j in range(states.shape[1] - 1):
            data[f"state{j}"] = states[:, j]
    for col, value in subject_row.items():
        data[col] = np.full(n_rows, float(value))
    return pd.DataFrame(data)


def fit_panel_tensor(
    panel,
    *,
    sfreq,
    session_hours,
    window=1.0,
    test_session=-1,
    subject_columns=("sex", "age"),
    n_states=0,
    estimator=None,
    client=None,
    random_state=None,
    verbose=None,
):
    """Fit :class:`IFEPanelRegressor` on a panel tensor and score held-out sessions.

    Every valid recording except ``test_session`` is turned into windowed log
    power (``log_power_features``) and streamed into
    :meth:`IFEPanelRegressor.partial_fit`, one recording at a time, so memory
    does not grow with the number of recordings; the between-subject
    regression of the subject-level columns (with its EM for missing values)
    runs once, after all recordings, so the order of the subjects does not
    matter. Covariates: an afternoon
    indicator from ``session_hours`` (with two clock times per subject,
    ``sin``/``cos`` of the clock carry one contrast) and the subject-level
    columns of ``panel.meta`` (estimated across subjects) and, with
    ``n_states > 0``, the posteriors of an axial
    :class:`VonMisesFisherMixture` of the windows' relative-power topographies,
    fitted on the training recordings only (never on the held-out session),
    taken from the previous window (a causal lag of one window), so that no
    covariate of a window depends on that window's own EEG. Each subject's
    ``test_session`` is then scored with :func:`evaluate_heldout`.

    Missing data: a NaN in a subject-level column (e.g. sex unknown) is
    imputed by the EM of the between-subject regression; ``sex`` coded with
    letters (``M``/``F``, ``male``/``female``) is coded 1 for male, 0 for
    female; other non-numeric values raise. NaN samples of a recording are
    skipped by the windows' mean square (a window is dropped only when none
    of its samples is observed), so one NaN sample costs no recording.

    Parameters
    ----------
    panel : Bunch
        From :func:`sk_eeg.datasets.load_panel_npy`.
    sfreq : float
        Sampling frequency (Hz).
    session_hours : sequence of float
        Clock hour of each session.
    window : float
        Log-power window (s); ``1 / sfreq`` gives one value per sample.
    test_session : int
        Held-out session index.
    subject_columns : sequence of str
        Columns of ``panel.meta`` used as subject-level covariates (those
        absent are skipped; effects that the subjects cannot identify are
        set to 0 with a warning).
    n_states : int
        Number of vMF spectral states (0: none). The covariates of window
        ``w`` are the state posteriors of window ``w - 1`` (the mixture
        weights for the first window), in training and held-out sessions
        alike: ``covariate_r2`` stays a one-window-ahead forecast that never
        uses the window it predicts.
    estimator : IFEPanelRegressor | None
        Unfitted estimator to use; None uses the defaults.
    client : dask.distributed.Client | None
        With a client, each training recording is read, turned into log
        power and reduced to its Gram moments on the cluster's workers (they
        open ``panel.data`` themselves: a ``.npy`` memory map from
        :func:`~sk_eeg.datasets.load_panel_npy` or an ``h5py`` dataset); the
        moments are added here in recording order, so the fit equals the
        in-process one up to floating-point summation order. The vMF states
        and the held-out scores are computed in this process.
    random_state : int | RandomState | None
        Seed of the vMF mixture and of its training subsample.
    verbose : bool | str | int | None
        Progress bar over recordings.

    Returns
    -------
    model : IFEPanelRegressor
        The fitted model (``model.states_`` holds the vMF mixture or None).
    summary : DataFrame
        Per subject: rank and the three held-out scores.
    """
    # Streaming, memory-bound work on skinny arrays: one BLAS thread.
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit_panel_tensor(
            panel,
            sfreq=sfreq,
            session_hours=session_hours,
            window=window,
            test_session=test_session,
            subject_columns=subject_columns,
            n_states=n_states,
            estimator=estimator,
            client=client,
            random_state=random_state,
            verbose=verbose,
        )


def _fit_panel_tensor(
    panel,
    *,
    sfreq,
    session_hours,
    window,
    test_session,
    subject_columns,
    n_states,
    estimator,
    client,
    random_state,
    verbose,
):
    data, meta, valid = panel.data, panel.meta, panel.valid
    n_subjects, n_sessions = data.shape[:2]
    if len(session_hours) != n_sessions:
        raise ValueError(
            f"session_hours has {len(session_hours)} values for {n_sessions} "
            "sessions; give one clock hour per session."
        )
    test_session = range(n_sessions)[test_session]
    coded = _code_subject_columns(meta, subject_columns)
    model = IFEPanelRegressor() if estimator is None else estimator
    if hasattr(model, "_stream"):
        del model._stream
    scale = {}
    jobs = [
        (s, k)
        for s in range(n_subjects)
        for k in range(n_sessions)
        if valid[s, k] and k != test_session
    ]
    for s, k in jobs:
        if s not in scale:
            # Floor scale: median power of the subject's first training minute.
            head = np.asarray(data[s, k][:, : int(60 * sfreq)], dtype=np.float64)
            scale[s] = float(np.nanmedian(head**2))
    states = None
    if n_states > 0:
        rng = check_random_state(random_state)
        per_rec = max(1, 20000 // max(len(jobs), 1))
        sample = []
        for s, k in jobs:
            lp = log_power_features(data[s, k], sfreq, window=window, scale=scale[s])
            lp = lp[~np.isnan(lp).any(1)]
            pick = rng.choice(len(lp), min(per_rec, len(lp)), replace=False)
            sample.append(_directions(lp[pick]))
        states = VonMisesFisherMixture(
            n_components=n_states, axial=True, random_state=rng
        ).fit(np.vstack(sample))
    if client is None:
        for s, k in progress_bar(jobs, desc="panel recordings", verbose=verbose):
            X, y = _recording_design(
                data[s, k],
                sfreq,
                window,
                scale[s],
                session_hours[k],
                coded.iloc[s],
                states,
            )
            model._accumulate(X, y, groups=np.full(len(y), s))
    else:
        source = _store_source(data)
        futures = [
            client.submit(
                _recording_block,
                source,
                s,
                k,
                {
                    "sfreq": sfreq,
                    "window": window,
                    "scale": scale[s],
                    "hour": session_hours[k],
                    "subject_row": coded.iloc[s],
                    "states": states,
                },
                model.chunk_size,
                pure=False,
            )
            for s, k in jobs
        ]
        # Merged in recording order: the same sums as the in-process loop.
        for (s, _), future in progress_bar(
            list(zip(jobs, futures)), desc="panel recordings", verbose=verbose
        ):
            block = future.result()
            model._merge_block(block["mom"], s, block["names"], block["missing"])
            future.release()
    # The between-subject regression (and its EM) runs once, on all subjects.
    with use_log_level(model.verbose):
        model._finish_stream(strict=True)
    model.states_ = states
    rows = []
    for s in range(n_subjects):
        if not valid[s, test_session] or s not in scale:
            logger.warning("Subject %d: no valid held-out or training session.", s)
            continue
        X, y = _recording_design(
            data[s, test_session],
            sfreq,
            window,
            scale[s],
            session_hours[test_session],
            coded.iloc[s],
            states,
        )
        pooled, _ = evaluate_heldout(model, X, y, np.full(len(y), s))
        row = pooled.iloc[0].to_dict()
        row["subject"] = meta.iloc[s].get("subject", s)
        row["n_factors"] = int(row["n_factors"])
        row["n_samples"] = int(row["n_samples"])
        rows.append(row)
    summary = pd.DataFrame(rows)
    if len(summary):
        summary = summary[
            ["subject", "n_factors", "covariate_r2", "reconstruction_r2"]
            + ["leave_channels_out_r2", "n_samples"]
        ]
    return model, summary
