"""Panel simulators with planted factors and the memory-mapped panel loader."""

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ..utils import check_random_state, check_type


def _toeplitz_chol(n_units, rho):
    idx = np.arange(n_units)
    corr = rho ** np.abs(idx[:, None] - idx[None, :])
    return np.linalg.cholesky(corr)


def make_bai_ng_factors(
    n_units, n_times, n_factors=3, *, theta=None, rho=0.0, random_state=None
):
    """Simulate the Bai & Ng (2002) approximate factor model.

    ``X_it = sum_j lambda_ij F_tj + sqrt(theta) e_it`` with standard normal
    loadings and factors; the noise is i.i.d. over time and, with ``rho > 0``,
    correlated across units as ``rho^|i - j|`` (a stand-in for volume
    conduction). Each series is then demeaned and standardised, as in the paper.

    Parameters
    ----------
    n_units : int
        Cross-section size ``N`` (channels).
    n_times : int
        Number of time points ``T``.
    n_factors : int
        True number of factors ``r``.
    theta : float | None
        Noise variance; None uses ``r`` (the paper's base case).
    rho : float
        Cross-unit noise correlation, in ``[0, 1)``.
    random_state : int | RandomState | None
        Seed.

    Returns
    -------
    data : Bunch
        ``y`` (n_times, n_units), ``factors`` (n_times, r), ``loadings``
        (n_units, r), ``n_factors``.
    """
    rng = check_random_state(random_state)
    check_type(n_factors, "int", "n_factors")
    if not 0 <= rho < 1:
        raise ValueError(f"rho must be in [0, 1), got {rho}.")
    theta = float(n_factors if theta is None else theta)
    factors = rng.standard_normal((n_times, n_factors))
    loadings = rng.standard_normal((n_units, n_factors))
    noise = rng.standard_normal((n_times, n_units))
    if rho > 0:
        noise = noise @ _toeplitz_chol(n_units, rho).T
    y = factors @ loadings.T + np.sqrt(theta) * noise
    y = (y - y.mean(0)) / y.std(0)
    return Bunch(y=y, factors=factors, loadings=loadings, n_factors=n_factors)


def make_bai2009_panel(
    n_units=100, n_times=100, *, beta=(1.0, 3.0), n_factors=2, random_state=None
):
    """Simulate the Bai (2009) design with regressors correlated with factors.

    ``Y_it = beta_1 X_it1 + beta_2 X_it2 + lambda_i' F_t + eps_it`` with
    ``X_itk = 1 + lambda_i' F_t + iota' lambda_i + iota' F_t + eta_itk``,
    ``lambda_i, F_t ~ N(0, I_r)``, ``eta ~ N(0, 1)`` and ``eps ~ N(0, 4)``, so
    pooled OLS is biased and interactive fixed effects are needed.

    Parameters
    ----------
    n_units : int
        Number of units ``N``.
    n_times : int
        Number of time points ``T``.
    beta : sequence of float
        True coefficients.
    n_factors : int
        Number of factors.
    random_state : int | RandomState | None
        Seed.

    Returns
    -------
    data : Bunch
        ``y`` (n_times, n_units), ``X`` (n_times, n_units, n_regressors),
        ``beta``, ``factors``, ``loadings``.
    """
    rng = check_random_state(random_state)
    beta = np.asarray(beta, dtype=float)
    lam = rng.standard_normal((n_units, n_factors))
    fac = rng.standard_normal((n_times, n_factors))
    common = fac @ lam.T
    shift = lam.sum(1)[None, :] + fac.sum(1)[:, None]
    X = np.stack(
        [1 + common + shift + rng.standard_normal((n_times, n_units)) for _ in beta],
        axis=2,
    )
    y = X @ beta + common + 2.0 * rng.standard_normal((n_times, n_units))
    return Bunch(y=y, X=X, beta=beta, factors=fac, loadings=lam)


def make_panel_factors(
    n_subjects=6,
    n_times=400,
    n_channels=16,
    n_factors=3,
    *,
    noise_std=1.0,
    factor_std=2.0,
    missing_y=0.0,
    missing_covariates=0.0,
    random_state=None,
):
    """Simulate a multichannel panel with covariate effects and latent factors.

    For subject ``g`` and time ``t``::

        y_t = mu_0 + C_a a_g + u_g + C_b b_t + L_g f_t + e_t

    with subject covariates ``a_g = (sex, age)``, time-varying covariates
    ``b_t = (sin, cos)`` of a clock time that drifts over the recording and
    differs between subjects, a spectral-state covariate ``state``, per-subject
    loadings ``L_g`` and factors ``f_t`` (drawn orthogonal to the covariates
    within each subject, the normalisation the estimator uses), and i.i.d.
    noise.

    Parameters
    ----------
    n_subjects : int
        Number of subjects.
    n_times : int
        Samples per subject.
    n_channels : int
        Number of channels.
    n_factors : int
        Rank of the latent factors (the planted truth).
    noise_std : float
        Standard deviation of the idiosyncratic noise.
    factor_std : float
        Standard deviation of the factors.
    missing_y : float
        Fraction of response cells set to NaN at random.
    missing_covariates : float
        Fraction of time-varying covariate rows whose ``state`` is set to
        NaN, and fraction of subjects whose ``age`` is set to NaN.
    random_state : int | RandomState | None
        Seed.

    Returns
    -------
    data : Bunch
        ``X`` (DataFrame: sex, age, tod_sin, tod_cos, state), ``y``
        (n_samples, n_channels), ``groups``, ``coef`` (n_channels, 5),
        ``intercept`` (population), ``group_intercepts``, ``loadings`` (list),
        ``factors``, ``n_factors``, ``y_complete`` (before missingness),
        ``X_complete``.
    """
    rng = check_random_state(random_state)
    n = n_subjects * n_times
    groups = np.repeat(np.arange(n_subjects), n_times)
    sex = rng.randint(0, 2, n_subjects).astype(float)
    if n_subjects >= 2:
        sex[:2] = [0.0, 1.0]
    age = rng.uniform(-5, 5, n_subjects)
    start = rng.uniform(8, 16, n_subjects)
    clock = start[groups] + np.tile(np.linspace(0, 3, n_times), n_subjects)
    omega = 2 * np.pi / 24
    state = rng.standard_normal(n)
    X = np.column_stack(
        [
            sex[groups],
            age[groups],
            np.sin(omega * clock),
            np.cos(omega * clock),
            state,
        ]
    )
    coef = rng.standard_normal((n_channels, X.shape[1]))
    coef[:, 2:4] *= 2.0
    intercept = rng.standard_normal(n_channels)
    u = 0.1 * rng.standard_normal((n_subjects, n_channels))
    group_intercepts = intercept + np.column_stack([sex, age]) @ coef[:, :2].T + u
    y = group_intercepts[groups] + X[:, 2:] @ coef[:, 2:].T
    loadings, factors = [], np.zeros((n, n_factors))
    for g in range(n_subjects):
        sel = groups == g
        lam = rng.standard_normal((n_channels, n_factors))
        f = factor_std * rng.standard_normal((n_times, n_factors))
        design = np.column_stack([np.ones(n_times), X[sel, 2:]])
        f -= design @ np.linalg.lstsq(design, f, rcond=None)[0]
        factors[sel] = f
        loadings.append(lam)
        y[sel] += f @ lam.T
    y += noise_std * rng.standard_normal(y.shape)
    y_complete = y.copy()
    X_complete = X.copy()
    if missing_y > 0:
        y[rng.random_sample(y.shape) < missing_y] = np.nan
    if missing_covariates > 0:
        X[rng.random_sample(n) < missing_covariates, 4] = np.nan
        lost = rng.random_sample(n_subjects) < missing_covariates
        X[np.isin(groups, np.flatnonzero(lost)), 1] = np.nan
    names = ["sex", "age", "tod_sin", "tod_cos", "state"]
    return Bunch(
        X=pd.DataFrame(X, columns=names),
        y=y,
        groups=groups,
        coef=coef,
        intercept=intercept,
        group_intercepts=group_intercepts,
        loadings=loadings,
        factors=factors,
        n_factors=n_factors,
        y_complete=y_complete,
        X_complete=pd.DataFrame(X_complete, columns=names),
    )


def make_eeg_panel(
    n_subjects=4,
    n_sessions=4,
    n_channels=32,
    n_samples=20000,
    *,
    sfreq=500.0,
    window=1.0,
    n_factors=2,
    missing_sessions=0,
    dtype=np.float32,
    out=None,
    random_state=None,
):
    """Simulate raw EEG whose windowed log-power follows a factor panel model.

    Per window ``w`` the log-power of channel ``i`` is
    ``mu_gi + c_i * afternoon + (L_g f_w)_i + e_wi``; the raw samples are white
    noise scaled by ``exp(log_power / 2)`` (volts, around 10 uV). The sessions
    alternate morning and afternoon, so ``c`` (the afternoon effect) is the
    planted covariate effect and ``n_factors`` the planted rank.

    Parameters
    ----------
    n_subjects, n_sessions, n_channels, n_samples : int
        Tensor shape ``(subjects, sessions, channels, samples)``.
    sfreq : float
        Sampling frequency (Hz).
    window : float
        Window length (s) of the planted log-power.
    n_factors : int
        Planted number of factors.
    missing_sessions : int
        Number of (subject, session) recordings stored as zeros (as the
        original data mark missing recordings).
    dtype : dtype
        Storage type.
    out : path-like | None
        If given, the tensor is written to this ``.npy`` file chunk by chunk
        (memory stays small) and a memory map is returned.
    random_state : int | RandomState | None
        Seed.

    Returns
    -------
    data : Bunch
        ``data`` (array or memory map), ``meta`` (DataFrame per subject:
        subject, sex, age), ``sessions`` (DataFrame: session, clock_hour,
        afternoon), ``afternoon_effect`` (n_channels,), ``loadings`` (list),
        ``n_factors``, ``sfreq``, ``window``.
    """
    rng = check_random_state(random_state)
    win = int(round(window * sfreq))
    n_windows = n_samples // win
    if n_windows < 2:
        raise ValueError(
            f"n_samples={n_samples} holds fewer than 2 windows of {window} s."
        )
    shape = (n_subjects, n_sessions, n_channels, n_samples)
    if out is not None:
        data = np.lib.format.open_memmap(Path(out), mode="w+", dtype=dtype, shape=shape)
    else:
        data = np.zeros(shape, dtype=dtype)
    effect = 0.3 * rng.standard_normal(n_channels)
    base = np.log(1e-10) + 0.5 * rng.standard_normal(n_channels)
    afternoon = np.arange(n_sessions) % 2
    clock = np.where(afternoon == 1, 15.0, 10.0)
    loadings = []
    missing = set()
    if missing_sessions:
        flat = rng.choice(n_subjects * n_sessions, missing_sessions, replace=False)
        missing = {(int(f) // n_sessions, int(f) % n_sessions) for f in flat}
    for s in range(n_subjects):
        mu = base + 0.2 * rng.standard_normal(n_channels)
        lam = 0.5 * rng.standard_normal((n_channels, n_factors))
        loadings.append(lam)
        for k in range(n_sessions):
            if (s, k) in missing:
                continue
            fac = rng.standard_normal((n_windows, n_factors))
            logp = (
                mu
                + effect * afternoon[k]
                + fac @ lam.T
                + 0.2 * rng.standard_normal((n_windows, n_channels))
            )
            amp = np.exp(0.5 * logp).T  # (channels, windows)
            raw = rng.standard_normal((n_channels, n_windows * win))
            raw *= np.repeat(amp, win, axis=1)
            data[s, k, :, : n_windows * win] = raw.astype(dtype)
    if out is not None:
        data.flush()
    meta = pd.DataFrame(
        {
            "subject": [f"S{s:02d}" for s in range(n_subjects)],
            "sex": rng.randint(0, 2, n_subjects),
            "age": rng.randint(20, 27, n_subjects),
        }
    )
    sessions = pd.DataFrame(
        {"session": np.arange(n_sessions), "clock_hour": clock, "afternoon": afternoon}
    )
    return Bunch(
        data=data,
        meta=meta,
        sessions=sessions,
        afternoon_effect=effect,
        loadings=loadings,
        n_factors=n_factors,
        sfreq=sfreq,
        window=window,
    )


def load_panel_npy(path, meta=None, *, mmap_mode="r"):
    """Load a ``(subjects, sessions, channels, samples)`` tensor memory-mapped.

    Recordings that are all zero or all NaN are flagged (the study's data
    store missing recordings that way) and never read again by the feature
    extraction. Recordings with some NaN samples stay valid (the feature
    extraction skips those samples); their count is in ``n_nan``.

    Parameters
    ----------
    path : path-like
        ``.npy`` file.
    meta : path-like | DataFrame | None
        Per-subject metadata (CSV path or DataFrame), one row per subject in
        tensor order; None makes a table with a ``subject`` column only.
    mmap_mode : str | None
        Passed to :func:`numpy.load`; ``'r'`` (default) reads lazily.

    Returns
    -------
    panel : Bunch
        ``data`` (memory map), ``meta`` (DataFrame), ``valid`` (bool array,
        shape (subjects, sessions)), ``invalid_reason`` (DataFrame of the
        flagged recordings), ``n_nan`` (int array, shape (subjects,
        sessions): NaN samples per recording).
    """
    check_type(path, "path-like", "path")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"path {str(path)!r} does not exist.")
    data = np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    if data.ndim != 4:
        raise ValueError(
            f"{path.name} must hold a (subjects, sessions, channels, samples) "
            f"array, got shape {data.shape}."
        )
    n_subjects, n_sessions = data.shape[:2]
    if meta is None:
        meta = pd.DataFrame({"subject": [f"S{s:02d}" for s in range(n_subjects)]})
    elif not isinstance(meta, pd.DataFrame):
        meta = pd.read_csv(meta)
    if len(meta) != n_subjects:
        raise ValueError(
            f"meta has {len(meta)} rows but the tensor has {n_subjects} subjects; "
            "give one metadata row per subject, in tensor order."
        )
    valid = np.ones((n_subjects, n_sessions), dtype=bool)
    n_nan = np.zeros((n_subjects, n_sessions), dtype=np.int64)
    reasons = []
    for s in range(n_subjects):
        for k in range(n_sessions):
            rec = data[s, k]
            all_zero = True
            for start in range(0, rec.shape[-1], 65536):
                chunk = np.asarray(rec[:, start : start + 65536])
                nan = np.isnan(chunk)
                n_nan[s, k] += int(nan.sum())
                all_zero &= not bool(np.any(np.where(nan, 0, chunk)))
            if n_nan[s, k] == rec.size or all_zero:
                valid[s, k] = False
                reasons.append((s, k, "all nan" if n_nan[s, k] else "all zero"))
    return Bunch(
        data=data,
        meta=meta.reset_index(drop=True),
        valid=valid,
        invalid_reason=pd.DataFrame(reasons, columns=["subject", "session", "reason"]),
        n_nan=n_nan,
    )
