"""Exact REML with a correlated random intercept and slope(s) per subject.

The model at every timepoint is

    y = X beta + Z_s b_s + Z_c u_c + e,   b_s ~ N(0, s2 T T'),
    u_c ~ N(0, g_c s2),   e ~ N(0, s2),

with ``Z_s`` the rows of subject ``s`` of ``[1, x_1, ..., x_{r-1}]`` (the
slope columns of the fixed-effects design), channels nested in subjects (an
optional random intercept) and ``T`` lower triangular (lme4's relative
covariance factor). With ``W = (I + g_c Z_c Z_c')^-1`` (one Sherman-Morrison
step per channel: ``W = I - sum_c a_c 1_c 1_c'``, ``a_c = g_c / (1 + g_c k_c)``)
and ``M_s = I + T' Z_s' W Z_s T`` (r x r), Woodbury gives, for ``R = [X | y]``,

    R' H^-1 R = R' W R - sum_s (T' Z_s' W R)' M_s^-1 (T' Z_s' W R),
    log|H| = sum_c log(1 + g_c k_c) + sum_s log|M_s|,

so one evaluation needs only sums per (subject, channel size). ``beta`` and
``s2`` are profiled out; the remaining ``theta`` (the entries of ``T`` and
``sqrt(g_c)``) is unconstrained (the criterion depends on ``T T'`` and
``g_c`` only), and is minimised by a vectorised Newton method for all
timepoints and datasets at once, with the exact gradient and Hessian of
:mod:`sk_eeg.stats._slope_derivatives`. Permuted datasets that exchange a
factor's levels within whole subjects reuse the observed per-subject sums
(:func:`swapped_slope_stats`).
"""

import numpy as np

from ._df import _combine_df, _eigen_df, _fd_derivatives, _fd_offsets
from ._kernels import slope_criterion
from ._reml import _backtrack, _logdet_rss
from ._slope_derivatives import slope_derivatives


class SlopeStructure:
    """Bookkeeping of the random-slope model shared by every fit.

    Parameters
    ----------
    struct : NestedStructure
        Row -> channel -> subject indices (``has_subject`` must be True).
    n_slopes : int
        Number of slope columns ``r - 1`` of the random effects per subject.
    """

    def __init__(self, struct, n_slopes):
        self.struct = struct
        self.r = n_slopes + 1
        self.tril = np.tril_indices(self.r)
        self.n_t = len(self.tril[0])
        self.has_channel = struct.has_channel
        self.n_theta = self.n_t + int(self.has_channel)
        self.n_obs = struct.n_obs


def slope_stats(X, Z, Y, ss):
    """Sufficient statistics of one dataset for every column of ``Y``.

    Parameters
    ----------
    X : array, shape (n_obs, p)
        Fixed-effects design.
    Z : array, shape (n_obs, r)
        Random-effects design of the subjects (``[1, slopes]``).
    Y : array, shape (n_obs, T)
        The data.
    ss : SlopeStructure
        The grouping.

    Returns
    -------
    stats : dict
        Arrays with a leading axis T (see :func:`_criterion`).
    """
    out = _sums(X, Z, Y, ss, by_subject=False)
    n_times = Y.shape[1]
    for key in ("ZZ0", "ZZk"):
        if key in out:
            out[key] = np.broadcast_to(out[key], (n_times,) + out[key].shape)
    return out


def subject_slope_stats(X, Z, Y, ss):
    """Per-subject parts of :func:`slope_stats`: every array has a subject axis.

    ``G0`` (T, S, q, q) and ``Gk`` (T, S, K, q, q) are the Gram matrices of
    each subject's rows (channel sums for ``Gk``); ``ZR0``, ``ZZ0``, ``ZRk``
    and ``ZZk`` are as in :func:`slope_stats` (already per subject, ``ZZ*``
    without the leading T axis). Summing ``G0`` and ``Gk`` over subjects gives
    :func:`slope_stats`.
    """
    return _sums(X, Z, Y, ss, by_subject=True)


def _gram(At, masks):
    """Return ``A_m' A_m`` per time point (At: (T, rows, q)) for each row mask."""
    return np.stack(
        [np.matmul(At[:, m].transpose(0, 2, 1), At[:, m]) for m in masks], 1
    )


def _sums(X, Z, Y, ss, by_subject):
    """Return the sums of :func:`slope_stats` (Gram matrices per subject if asked).

    Each is a matrix product (einsum with three operands took 7 of the 9 ms
    per dataset of the benchmark's design).
    """
    st = ss.struct
    n, p = X.shape
    n_times = Y.shape[1]
    R = np.concatenate([np.broadcast_to(X[:, :, None], (n, p, n_times)), Y[:, None]], 1)
    q, r = p + 1, Z.shape[1]
    Rt = np.ascontiguousarray(R.transpose(2, 0, 1))  # (T, n, q)
    if by_subject:
        out = {"G0": _gram(Rt, np.eye(st.n_subjects, dtype=bool)[st.subject].T)}
    else:
        out = {"G0": np.matmul(Rt.transpose(0, 2, 1), Rt)}
    # W[n, (s, a)] = [row n in subject s] Z[n, a]
    onehot = np.eye(st.n_subjects)[st.subject]  # (n, S)
    W = (onehot[:, :, None] * Z[:, None, :]).reshape(n, -1)
    ZR = W.T @ R.reshape(n, -1)  # ((s, a), (i, T))
    out["ZR0"] = ZR.reshape(st.n_subjects, r, q, n_times).transpose(3, 0, 1, 2)
    out["ZZ0"] = (W.T @ Z).reshape(st.n_subjects, r, r)
    if not ss.has_channel:
        return out
    n_sizes = len(st.sizes)
    Rc = st.channel_sums(R)  # (C, q, T)
    Zc = st.channel_sums(Z)  # (C, r)
    Rct = np.ascontiguousarray(Rc.transpose(2, 0, 1))  # (T, C, q)
    # one-hot of (subject, size) per channel
    sk = np.zeros((st.n_channels, st.n_subjects, n_sizes), dtype=bool)
    sk[np.arange(st.n_channels), st.channel_subject, st.size_of_channel] = True
    if by_subject:
        Gk = _gram(Rct, sk.reshape(st.n_channels, -1).T)
        out["Gk"] = Gk.reshape((n_times, st.n_subjects, n_sizes, q, q))
    else:
        out["Gk"] = _gram(Rct, sk.any(1).T)
    # Wc[c, (s, k, a)] = [channel c in subject s, of size k] Zc[c, a]
    Wc = (sk[..., None] * Zc[:, None, None, :]).reshape(st.n_channels, -1)
    ZRk = Wc.T @ Rc.reshape(st.n_channels, -1)
    ZRk = ZRk.reshape(st.n_subjects, n_sizes, r, q, n_times)
    out["ZRk"] = ZRk.transpose(4, 0, 1, 2, 3)
    out["ZZk"] = (Wc.T @ Zc).reshape(st.n_subjects, n_sizes, r, r)
    return out


def swap_maps(X, X_swapped, Z, Z_swapped, rtol=1e-10):
    """Linear maps ``A``, ``B`` with ``X_swapped = X A`` and ``Z_swapped = Z B``.

    Exchanging the two levels of a factor changes every coded column of a
    hierarchical design linearly (the code ``c`` becomes ``c0 + c1 - c``, so
    an interaction ``c * x`` becomes ``(c0 + c1) x - c * x``), whatever the
    contrast coding. Returns None when a map is not exact (then the permuted
    statistics are computed from the permuted designs).
    """
    maps = []
    for M, M_sw in ((X, X_swapped), (Z, Z_swapped)):
        A = np.linalg.lstsq(M, M_sw, rcond=None)[0]
        scale = max(np.abs(M_sw).max(), 1.0)
        if not np.allclose(M @ A, M_sw, rtol=0.0, atol=rtol * scale):
            return None
        maps.append(A)
    return tuple(maps)


def swapped_slope_stats(sub, A, B, flips):
    """:func:`slope_stats` of datasets whose flagged subjects have levels swapped.

    Parameters
    ----------
    sub : dict
        :func:`subject_slope_stats` of the observed dataset.
    A, B : array
        :func:`swap_maps` of the fixed- and random-effects designs.
    flips : array of bool, shape (n_perm, n_subjects)
        Subjects whose levels are exchanged in each dataset.

    Returns
    -------
    stats : dict
        As :func:`stack_slope_stats` of the ``n_perm`` datasets (leading axis
        ``n_perm * T``), from sign/affine maps of the per-subject sums: a
        swapped subject's rows ``[X | y]`` are ``[X A | y]``, so its Gram
        matrix is ``A' G A`` (y unchanged), without touching the rows again.
    """
    q = sub["G0"].shape[-1]
    At = np.eye(q)
    At[: A.shape[0], : A.shape[1]] = A
    w = np.asarray(flips, dtype=float)  # (P, S)
    n_perm = len(w)
    out = {}
    for key in ("G0", "Gk"):
        if key not in sub:
            continue
        G = sub[key]  # (T, S, [K,] q, q)
        delta = np.swapaxes(At.T @ G @ At - G, 0, 1)  # (S, T, ...)
        total = G.sum(1)  # (T, ...)
        change = (w @ delta.reshape(len(delta), -1)).reshape((n_perm,) + total.shape)
        out[key] = (total[None] + change).reshape((-1,) + total.shape[1:])
    for key in ("ZR0", "ZRk"):
        if key not in sub:
            continue
        ZR = sub[key]  # (T, S, [K,] r, q)
        swapped = np.swapaxes(B, -1, -2) @ ZR @ At
        mask = flips.reshape(n_perm, 1, -1, *([1] * (ZR.ndim - 2)))
        out[key] = np.where(mask, swapped[None], ZR[None]).reshape((-1,) + ZR.shape[1:])
    n_times = sub["G0"].shape[0]
    for key in ("ZZ0", "ZZk"):
        if key not in sub:
            continue
        ZZ = sub[key]  # (S, [K,] r, r)
        swapped = np.swapaxes(B, -1, -2) @ ZZ @ B
        mask = flips.reshape(n_perm, -1, *([1] * (ZZ.ndim - 1)))
        val = np.where(mask, swapped[None], ZZ[None])  # (P, S, ...)
        val = np.broadcast_to(val[:, None], (n_perm, n_times) + ZZ.shape)
        out[key] = val.reshape((-1,) + ZZ.shape)
    return out


def stack_slope_stats(stats_list):
    """Concatenate per-dataset statistics into one problem axis N = B * T."""
    return {k: np.concatenate([s[k] for s in stats_list]) for k in stats_list[0]}


def _theta_to_factor(theta, ss):
    """``T`` (..., r, r) and ``g_c`` (...) from ``theta`` (..., n_theta)."""
    Tm = np.zeros(theta.shape[:-1] + (ss.r, ss.r))
    Tm[..., ss.tril[0], ss.tril[1]] = theta[..., : ss.n_t]
    g_c = theta[..., ss.n_t] ** 2 if ss.has_channel else None
    return Tm, g_c


def _gls_parts(theta, P, ss):
    """``[X | y]' H^-1 [X | y]`` (E, N, q, q) and ``log|H|`` (E, N)."""
    st = ss.struct
    Tm, g_c = _theta_to_factor(theta, ss)
    n_e, n = theta.shape[:2]
    RWR, ZWR, ZWZ = P["G0"][None], P["ZR0"][None], P["ZZ0"][None]
    logdet = np.zeros(theta.shape[:-1])
    if ss.has_channel:
        denom = 1.0 + g_c[..., None] * st.sizes  # (E, N, K)
        a = np.ascontiguousarray(np.swapaxes(g_c[..., None] / denom, 0, 1))
        logdet = logdet + np.log(denom) @ st.n_per_size

        def weighted(key):  # sum_k a_k P[key][:, :, k] as batched products
            val = P[key]
            if key != "Gk":  # (N, S, K, ...) -> (N, K, S, ...)
                val = np.swapaxes(val, 1, 2)
            flat = val.reshape(n, val.shape[1], -1)
            out = np.matmul(a, flat)  # (N, E, ...)
            return np.swapaxes(out, 0, 1).reshape((n_e,) + P[key[:-1] + "0"].shape)

        RWR = RWR - weighted("Gk")
        ZWR = ZWR - weighted("ZRk")
        ZWZ = ZWZ - weighted("ZZk")
    # B = T' Z'WR (E, N, S, r, q) and M = I + T' Z'WZ T, as sums over the
    # few nonzero entries of T (tiny matrix products are slow in batches)
    r = ss.r
    Tn = Tm[:, :, None]  # (E, N, 1, r, r)
    B = np.zeros((n_e, n) + ZWR.shape[2:])
    ZWZT = np.zeros((n_e, n) + ZWZ.shape[2:])
    for i, j in zip(*ss.tril):  # T[i, j] != 0
        t = Tn[..., i, j]
        B[..., j, :] += t[..., None] * ZWR[..., i, :]
        ZWZT[..., :, j] += t[..., None] * ZWZ[..., :, i]
    M = np.zeros((n_e, n) + ZWZ.shape[2:])
    for i, j in zip(*ss.tril):
        M[..., j, :] += Tn[..., i, j][..., None] * ZWZT[..., i, :]
    M = M + np.eye(r)
    # Cholesky of the small M and forward substitution, vectorised
    L = np.zeros_like(M)
    V = np.empty_like(B)
    for j in range(r):
        pivot = M[..., j, j] - (L[..., j, :j] ** 2).sum(-1)
        ljj = np.sqrt(pivot)
        L[..., j, j] = ljj
        for i in range(j + 1, r):
            L[..., i, j] = (
                M[..., i, j] - (L[..., i, :j] * L[..., j, :j]).sum(-1)
            ) / ljj
        V[..., j, :] = (
            B[..., j, :] - np.einsum("...k,...kq->...q", L[..., j, :j], V[..., :j, :])
        ) / ljj[..., None]
    Vf = V.reshape(V.shape[:2] + (-1, V.shape[-1]))
    A = RWR - np.matmul(np.swapaxes(Vf, -1, -2), Vf)
    diag = np.diagonal(L, axis1=-2, axis2=-1)
    logdet = logdet + 2 * np.log(diag).sum((-1, -2))
    return A, logdet


def _criterion(theta, P, ss, idx=None):
    """Profiled REML criterion (-2 log-lik up to a constant) at ``theta``.

    ``theta`` (E, M, n_theta) belongs to the problems ``idx`` (M,) of ``P``
    (all problems when None); computed by a compiled kernel
    (:func:`sk_eeg.stats._kernels.slope_criterion`, the same arithmetic as
    :func:`_gls_parts` followed by :func:`_logdet_rss`).
    """
    if idx is None:
        idx = np.arange(theta.shape[1])
    return slope_criterion(
        np.ascontiguousarray(theta, dtype=float),
        np.ascontiguousarray(idx, dtype=np.int64),
        *_stat_args(P, ss),
        ss.n_obs,
    )


_NO_CHANNEL = (
    np.zeros((1, 0, 1, 1)),
    np.zeros((1, 1, 0, 1, 1)),
    np.zeros((1, 1, 0, 1, 1)),
    np.zeros(0),
    np.zeros(0),
)


def _sub(P, idx):
    return {k: v[idx] for k, v in P.items()}


def _stat_args(P, ss):
    """Return the statistics of ``P`` as the compiled kernels take them."""
    st = ss.struct
    if ss.has_channel:
        chan = (P["Gk"], P["ZRk"], P["ZZk"], st.sizes, st.n_per_size)
    else:
        chan = _NO_CHANNEL
    return (P["G0"], P["ZR0"], P["ZZ0"]) + tuple(
        np.ascontiguousarray(c, dtype=float) for c in chan
    )


def _derivatives(theta, P, ss, idx):
    """Criterion, gradient and Hessian at ``theta`` (M, m) of problems ``idx``.

    Analytic (:func:`sk_eeg.stats._slope_derivatives.slope_derivatives`).
    """
    return slope_derivatives(
        np.ascontiguousarray(theta, dtype=float),
        np.ascontiguousarray(idx, dtype=np.int64),
        *_stat_args(P, ss),
        ss.n_obs,
    )


# smallest step along a direction of negative curvature of the criterion
_ESCAPE = 0.1


def _newton(theta, P, ss, max_iter=100, tol=1e-7):
    """Minimise the criterion over ``theta`` (N, m) by damped Newton steps.

    Exact gradient and Hessian; a Hessian that is not positive definite has
    its eigenvalues replaced by their absolute values, and a step along a
    direction of negative curvature is at least ``_ESCAPE`` long: the
    criterion is even in each diagonal entry of ``T`` and in ``sqrt(g_c)``,
    so a zero there (e.g. a start at a singular observed fit) is a saddle
    with no gradient.
    """
    active = np.arange(len(theta))
    f_cur = np.empty(len(theta))
    for _ in range(max_iter):
        if len(active) == 0:
            break
        th = theta[active]
        f0, g, H = _derivatives(th, P, ss, active)
        f_cur[active] = f0
        lam, vec = np.linalg.eigh(H)
        gv = np.einsum("nji,nj->ni", vec, g)
        coef = -gv / np.maximum(
            np.abs(lam), 1e-6 * np.abs(lam).max(-1, keepdims=True) + 1e-12
        )
        neg = lam < -1e-6 * np.abs(lam).max(-1, keepdims=True)
        escape = np.where(gv > 0, -_ESCAPE, _ESCAPE)
        coef = np.where(neg & (np.abs(coef) < _ESCAPE), escape, coef)
        step = np.einsum("nij,nj->ni", vec, coef)
        limit = 1.0 + np.abs(th).max(-1, keepdims=True)
        norm = np.abs(step).max(-1, keepdims=True)
        step = step * np.minimum(1.0, limit / np.maximum(norm, 1e-300))
        decrement = -(g * step).sum(-1)
        new = th + step
        f_new = _criterion(new[None], P, ss, active)[0]
        slack = 1e-12 * np.abs(f0)

        def trial_at(sel, scale):
            trial = th[sel] + scale * step[sel]
            return trial, _criterion(trial[None], P, ss, active[sel])[0]

        bad = _backtrack(th, new, f0, f_new, slack, 20, trial_at)
        moved = np.abs(new - th).max(-1)
        theta[active] = new
        f_cur[active] = f_new
        # stop when theta settles, or when -2 log-lik stops moving (flat
        # valleys of singular fits, e.g. a zero intercept variance, where
        # theta is not identified but the fit is)
        done = (
            (moved < tol * (1 + np.abs(new).max(-1)))
            | (decrement < 1e-9)
            | (f0 - f_new < 1e-8)
            | bad
        )
        active = active[~done]
    return theta, f_cur


def _start(P, ss):
    """Best point of a small grid of ``theta``."""
    vals = [0.3, 1.0, 3.0]
    grid = []
    for d in vals:
        for c in [0.3, 1.0] if ss.has_channel else [None]:
            th = np.zeros(ss.n_theta)
            diag = ss.tril[0] == ss.tril[1]
            th[: ss.n_t][diag] = d
            if c is not None:
                th[ss.n_t] = c
            grid.append(th)
    grid = np.array(grid)
    n = len(P["G0"])
    f = _criterion(np.broadcast_to(grid[:, None], (len(grid), n, ss.n_theta)), P, ss)
    return grid[np.argmin(f, 0)].copy()


def fit_slopes(P, ss, start=None):
    """Fit the random-slope model by REML for every problem of ``P``.

    Parameters
    ----------
    P : dict
        Statistics from :func:`slope_stats` (leading axis N problems).
    ss : SlopeStructure
        The grouping.
    start : array, shape (N, n_theta) | None
        Starting ``theta``; None starts from the best point of a small grid.

    Returns
    -------
    result : dict
        ``beta`` (N, p), ``cov_unscaled`` (N, p, p), ``sigma2`` (N,),
        ``theta`` (N, n_theta), ``criterion`` (N,), ``cov_subject`` (N, r, r)
        and ``var_channel`` (N,) (variances, not ratios).
    """
    theta = _start(P, ss) if start is None else np.array(start, dtype=float)
    theta, _ = _newton(theta, P, ss)
    return gls_slopes(theta, P, ss)


def gls_slopes(theta, P, ss):
    """GLS estimates at ``theta`` (N, n_theta)."""
    A, logdet_h = _gls_parts(theta[None], P, ss)
    A, logdet_h = A[0], logdet_h[0]
    p = A.shape[-1] - 1
    cov_unscaled = np.linalg.inv(A[:, :p, :p])
    beta = np.einsum("npq,nq->np", cov_unscaled, A[:, :p, p])
    logdet_m, rss = _logdet_rss(A, p)
    n_dof = ss.n_obs - p
    sigma2 = np.maximum(rss, 0.0) / n_dof
    Tm, g_c = _theta_to_factor(theta, ss)
    return {
        "beta": beta,
        "cov_unscaled": cov_unscaled,
        "sigma2": sigma2,
        "theta": theta,
        "criterion": logdet_h + logdet_m + n_dof * np.log(np.maximum(rss, 1e-300)),
        "cov_subject": sigma2[:, None, None] * Tm @ np.swapaxes(Tm, -1, -2),
        "var_channel": sigma2 * g_c if ss.has_channel else np.zeros_like(sigma2),
    }


def _deviance_and_cov(phi, P, ss):
    """REML deviance and ``C`` at ``phi = (theta, s2)`` (E, N, m + 1)."""
    A, logdet_h = _gls_parts(phi[..., :-1], P, ss)
    p = A.shape[-1] - 1
    logdet_m, rss = _logdet_rss(A, p)
    v_e = phi[..., -1]
    dev = logdet_h + logdet_m + (ss.n_obs - p) * np.log(v_e) + rss / v_e
    return dev, v_e[..., None, None] * np.linalg.inv(A[..., :p, :p])


def satterthwaite_slopes(P, fit, ss, contrasts, rel_step=1e-4):
    """Satterthwaite denominator df (as lmerTest) of every contrast.

    The derivatives are taken in ``(theta, s2)``; the df are invariant to the
    parametrisation at an interior optimum.

    Returns
    -------
    df : array, shape (n_terms, N)
        Denominator degrees of freedom.
    """
    phi0 = np.concatenate([fit["theta"], fit["sigma2"][:, None]], 1)
    m = phi0.shape[1]
    # theta is relative to the residual sd: steps on the scale of 1 (relative
    # steps on a small entry are swamped by rounding), s2 relative
    h = rel_step * np.maximum(np.abs(phi0), 1.0)
    h[:, -1] = rel_step * phi0[:, -1]
    offsets, pairs = _fd_offsets(m)
    dev, cov = _deviance_and_cov(phi0[None] + offsets[:, None] * h[None], P, ss)
    hess, dcov = _fd_derivatives(dev, cov, h, pairs)
    acov = 2 * np.linalg.pinv(hess, hermitian=True)
    return np.stack([_combine_df(_eigen_df(L, cov[0], dcov, acov)) for L in contrasts])


# largest number of (problem x subject x size x r x q) elements at once
_MAX_ELEMENTS = 2_000_000


class SlopeModel:
    """The random-slope model of a fit: grouping and slope columns of ``X``.

    Parameters
    ----------
    struct : NestedStructure
        The grouping.
    columns : list of int
        Columns of the fixed-effects design that get a random slope.
    """

    def __init__(self, struct, columns):
        self.ss = SlopeStructure(struct, len(columns))
        self.columns = list(columns)

    def z(self, X):
        """Random-effects design of the subjects, ``[1, X[:, columns]]``."""
        return np.column_stack([np.ones(len(X)), X[:, self.columns]])


def fit_batch(Xs, Y_list, sm, start=None):
    """Fit every dataset ``(X_b, Y_b)``; outputs have leading axes (B, T).

    ``start`` (T, n_theta) starts every dataset (e.g. at the observed fit).
    """
    ss = sm.ss
    P = stack_slope_stats([slope_stats(X, sm.z(X), Y, ss) for X, Y in zip(Xs, Y_list)])
    return fit_stacked(P, ss, len(Xs), start), P


def fit_stacked(P, ss, n_batch, start=None):
    """Fit the ``n_batch * T`` problems of ``P``; outputs have axes (B, T)."""
    n = len(P["G0"])
    n_times = n // n_batch
    if start is not None:
        start = np.tile(start, (n_batch, 1))
    n_sizes = len(ss.struct.sizes) if ss.has_channel else 1
    per_problem = np.prod(P["ZR0"].shape[1:]) * n_sizes
    chunk = max(1, int(_MAX_ELEMENTS // per_problem))
    parts = []
    for i0 in range(0, n, chunk):
        sl = slice(i0, i0 + chunk)
        parts.append(fit_slopes(_sub(P, sl), ss, None if start is None else start[sl]))
    fit = {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}
    fit = {k: v.reshape((n_batch, n_times) + v.shape[1:]) for k, v in fit.items()}
    fit["gamma"] = fit["theta"]  # starting values of the permuted fits
    return fit


def slope_null_chunk(job, Y, design, spec, sm, contrasts, statistic, start=None):
    """Null statistics of one chunk of relabellings under the random-slope model.

    ``job['kind']`` is ``'swap'`` (``idx`` maps a two-level slope factor to
    (n_perm, n_subjects) booleans: its two levels are exchanged in every row of
    a flagged subject) or ``'labels'`` (row index arrays, as
    :func:`sk_eeg.stats._engine.null_chunk`).
    """
    from ._engine import term_statistics

    subject = sm.ss.struct.subject
    columns = {f: design[f].to_numpy() for f in design.columns}
    n_perm = len(next(iter(job["idx"].values())))
    if job["kind"] == "swap":  # each factor with its two levels exchanged
        other = {}
        for f in job["idx"]:
            lv = spec.levels[f]
            other[f] = np.where(columns[f] == lv[0], lv[1], lv[0])
    if job["kind"] == "swap" and len(job["idx"]) == 1:
        # one factor's levels exchanged per subject: the permuted statistics
        # are linear maps of the observed per-subject sums (~10x cheaper than
        # recomputing them from the rows of every permuted design)
        ((f, flips),) = job["idx"].items()
        X = spec.matrix(design)
        X_sw = spec.matrix(design, {**columns, f: other[f]})
        maps = swap_maps(X, X_sw, sm.z(X), sm.z(X_sw))
        if maps is not None:
            sub = subject_slope_stats(X, sm.z(X), Y, sm.ss)
            P = swapped_slope_stats(sub, *maps, np.asarray(flips, dtype=bool))
            fit = fit_stacked(P, sm.ss, n_perm, start)
            return term_statistics(fit, contrasts, statistic)
    Xs = []
    for b in range(n_perm):
        values = dict(columns)
        for f, idx in job["idx"].items():
            if job["kind"] == "swap":
                values[f] = np.where(idx[b][subject], other[f], columns[f])
            else:
                values[f] = columns[f][idx[b]]
        Xs.append(spec.matrix(design, values))
    fit, _ = fit_batch(Xs, [Y] * n_perm, sm, start)
    return term_statistics(fit, contrasts, statistic)
