"""From a (subjects, sessions, channels, samples) tensor to per-subject scores."""

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ..utils import check_random_state, logger, progress_bar
from ._estimator import IFEPanelRegressor
from ._evaluation import evaluate_heldout
from ._features import log_power_features
from ._vmf import VonMisesFisherMixture


def _directions(log_power):
    """Relative-power topography of each window (global power removed)."""
    return log_power - log_power.mean(1, keepdims=True)


def _session_covariates(n_rows, hour, subject_row, subject_columns, states=None):
    data = {"afternoon": np.full(n_rows, float(hour >= 12))}
    if states is not None:
        # Posteriors sum to one: the last is implied by the intercept.
        for j in range(states.shape[1] - 1):
            data[f"state{j}"] = states[:, j]
    for col in subject_columns:
        data[col] = np.full(n_rows, float(subject_row[col]))
    return pd.DataFrame(data)


def _identifiable_subject_columns(meta, valid, subject_columns):
    """Subject columns that vary across subjects and that enough subjects fit."""
    have = valid.any(1)
    columns = []
    for col in subject_columns:
        if col not in meta.columns:
            continue
        values = pd.to_numeric(meta[col], errors="coerce")[have]
        if values.nunique() < 2:
            logger.warning("Subject column %r does not vary: not used.", col)
            continue
        columns.append(col)
    if columns and int(have.sum()) < len(columns) + 3:
        logger.warning(
            "Only %d subjects: subject-level columns %s are not used (their effects "
            "need at least %d subjects).",
            int(have.sum()),
            columns,
            len(columns) + 3,
        )
        return []
    return columns


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
    random_state=None,
    verbose=None,
):
    """Fit :class:`IFEPanelRegressor` on a panel tensor and score held-out sessions.

    Every valid recording except ``test_session`` is turned into windowed log
    power (``log_power_features``) and streamed into
    :meth:`IFEPanelRegressor.partial_fit`, one recording at a time, so memory
    does not grow with the number of recordings. Covariates: an afternoon
    indicator from ``session_hours`` (with two clock times per subject,
    ``sin``/``cos`` of the clock carry one contrast) and the subject-level
    columns of ``panel.meta`` (estimated across subjects) and, with
    ``n_states > 0``, the posteriors of an axial
    :class:`VonMisesFisherMixture` of the windows' relative-power topographies,
    fitted on the training recordings only (never on the held-out session).
    Each subject's ``test_session`` is then scored with
    :func:`evaluate_heldout`.

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
        absent are skipped).
    n_states : int
        Number of vMF spectral states (0: none). The states of a held-out
        window are computed from that window's own EEG (with the mixture
        fitted on training data): with states, ``covariate_r2`` describes the
        session given its spectral states, it is not a forecast.
    estimator : IFEPanelRegressor | None
        Unfitted estimator to use; None uses the defaults.
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
    columns = _identifiable_subject_columns(meta, valid, subject_columns)
    model = IFEPanelRegressor() if estimator is None else estimator
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
            scale[s] = float(np.median(head**2))
    states = None
    if n_states > 0:
        rng = check_random_state(random_state)
        per_rec = max(1, 20000 // max(len(jobs), 1))
        sample = []
        for s, k in jobs:
            lp = log_power_features(data[s, k], sfreq, window=window, scale=scale[s])
            pick = rng.choice(len(lp), min(per_rec, len(lp)), replace=False)
            sample.append(_directions(lp[pick]))
        states = VonMisesFisherMixture(
            n_components=n_states, axial=True, random_state=rng
        ).fit(np.vstack(sample))
    for s, k in progress_bar(jobs, desc="panel recordings", verbose=verbose):
        y = log_power_features(data[s, k], sfreq, window=window, scale=scale[s])
        post = None if states is None else states.predict_proba(_directions(y))
        X = _session_covariates(len(y), session_hours[k], meta.iloc[s], columns, post)
        model.partial_fit(X, y, groups=np.full(len(y), s))
    model.states_ = states
    rows = []
    for s in range(n_subjects):
        if not valid[s, test_session] or s not in scale:
            logger.warning("Subject %d: no valid held-out or training session.", s)
            continue
        rec = data[s, test_session]
        y = log_power_features(rec, sfreq, window=window, scale=scale[s])
        post = None if states is None else states.predict_proba(_directions(y))
        X = _session_covariates(
            len(y), session_hours[test_session], meta.iloc[s], columns, post
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
