"""Exact REML for nested random intercepts, batched over timepoints and datasets.

The model at every timepoint is

    y = X beta + Z_s u_s + Z_c u_c + e,   u_s ~ N(0, g_s s2), u_c ~ N(0, g_c s2),
    e ~ N(0, s2),

with channels nested in subjects. ``V / s2 = H = I + g_c Z_c Z_c' + g_s Z_s Z_s'``.
Two Sherman-Morrison steps give, for any two columns ``u``, ``v``,

    u' H^-1 v = u'v - sum_c a_c U_c V_c - sum_s d_s S_s(u) S_s(v),

with ``U_c`` the channel sums of ``u``, ``a_c = g_c / (1 + g_c k_c)``,
``w_c = 1 / (1 + g_c k_c)``, ``S_s(u) = sum_{c in s} w_c U_c``,
``m_s = sum_{c in s} k_c w_c`` and ``d_s = g_s / (1 + g_s m_s)``. Channels with
the same number of rows ``k`` share ``a`` and ``w``, so everything reduces to
sums per (subject, channel size) and the cost of one evaluation does not grow
with the number of channels. ``beta`` and ``s2`` are profiled out, leaving a
2-parameter REML criterion that is minimised by a vectorised Newton method
(projected on ``g >= 0``, so boundary fits are exact) for all timepoints and
datasets at once.
"""

import numpy as np
from scipy import sparse

from ._kernels import reml_criterion

_GRID = np.array([0.0, 0.1, 1.0, 10.0])
# the compiled criterion (False: the numpy reference, for tests)
_COMPILED = True


class NestedStructure:
    """Row -> channel -> subject bookkeeping shared by every fit.

    Parameters
    ----------
    subject : array of int, shape (n_obs,) | None
        Subject index of each row (0..n_subjects-1); None means no grouping.
    channel : array of int, shape (n_obs,) | None
        Channel index of each row (0..n_channels-1), channels nested in subjects;
        None means no channel variance component.
    n_obs : int
        Number of rows.
    """

    def __init__(self, subject, channel, n_obs):
        self.n_obs = n_obs
        self.has_subject = subject is not None
        self.has_channel = channel is not None
        if subject is None:
            subject = np.zeros(n_obs, int)
        if channel is None:
            # Every row its own unit: the channel component is fixed at zero.
            channel = np.arange(n_obs)
        self.subject = np.asarray(subject)
        self.channel = np.asarray(channel)
        self.n_channels = int(self.channel.max()) + 1
        self.k = np.bincount(self.channel, minlength=self.n_channels)
        chan_subject = np.zeros(self.n_channels, int)
        chan_subject[self.channel] = self.subject
        self.channel_subject = chan_subject
        self.n_subjects = int(self.subject.max()) + 1
        self.sizes, self.size_of_channel = np.unique(self.k, return_inverse=True)
        n_sizes = len(self.sizes)
        # rows per (subject, channel size) and channels per size
        self.rows_sk = np.zeros((self.n_subjects, n_sizes))
        np.add.at(self.rows_sk, (chan_subject, self.size_of_channel), self.k)
        self.n_per_size = np.bincount(self.size_of_channel, minlength=n_sizes)
        self.free = np.array([self.has_subject, self.has_channel])
        self._channel_rows = sparse.csr_matrix(
            (np.ones(n_obs), (self.channel, np.arange(n_obs))),
            shape=(self.n_channels, n_obs),
        )

    def channel_sums(self, A):
        """Sum rows of ``A`` (n_obs, ...) per channel -> (n_channels, ...).

        A sparse channel-by-row indicator times ``A`` (the same sums, in the
        same order, as ``np.add.at``, which was ~10x slower on permuted
        designs).
        """
        A = np.asarray(A, dtype=float)
        flat = self._channel_rows @ A.reshape(len(A), -1)
        return flat.reshape((self.n_channels,) + A.shape[1:])

    def subject_size_sums(self, A_chan):
        """Sum channel rows per (subject, size) -> (n_subjects, n_sizes, ...)."""
        out = np.zeros((self.n_subjects, len(self.sizes)) + A_chan.shape[1:])
        np.add.at(out, (self.channel_subject, self.size_of_channel), A_chan)
        return out

    def size_gram(self, A_chan, B_chan, diag=False):
        """``sum_{c of size k} A_c B_c'`` for every size k."""
        out = []
        for j in range(len(self.sizes)):
            mask = self.size_of_channel == j
            if diag:
                out.append(np.einsum("ct,ct->t", A_chan[mask], B_chan[mask]))
            else:
                out.append(A_chan[mask].T @ B_chan[mask])
        return np.stack(out)


def x_stats(X, struct):
    """Sufficient statistics of a design ``X`` (n_obs, p)."""
    Xc = struct.channel_sums(X)
    return {
        "XX": X.T @ X,
        "Xc": Xc,
        "GXX": struct.size_gram(Xc, Xc),
        "Xsk": struct.subject_size_sums(Xc),
    }


def y_stats(Y, struct):
    """Sufficient statistics of data ``Y`` (n_obs, n_times)."""
    Yc = struct.channel_sums(Y)
    return {
        "YY": np.einsum("nt,nt->t", Y, Y),
        "Yc": Yc,
        "GYY": struct.size_gram(Yc, Yc, diag=True),
        "Ysk": struct.subject_size_sums(Yc),
    }


def xy_stats(X, Y, xs, ys, struct):
    """Cross statistics of ``X`` and ``Y`` -> dict of batched-ready arrays."""
    return {
        "XX": xs["XX"],
        "GXX": xs["GXX"],
        "Xsk": xs["Xsk"],
        "XY": (X.T @ Y).T,  # (T, p)
        "GXY": np.transpose(struct.size_gram(xs["Xc"], ys["Yc"]), (0, 2, 1)),
        "YY": ys["YY"],
        "GYY": ys["GYY"],
        "Ysk": ys["Ysk"],
    }


def stack_stats(stats_list):
    """Stack per-dataset statistics along a new leading batch axis."""
    return {key: np.stack([s[key] for s in stats_list]) for key in stats_list[0]}


def _weights(theta, struct):
    """Per-size and per-subject weights for ``theta`` (..., 2) = (g_s, g_c)."""
    g_s = theta[..., 0]
    g_c = theta[..., 1]
    denom = 1.0 + g_c[..., None] * struct.sizes  # (..., K)
    a = g_c[..., None] / denom
    w = 1.0 / denom
    m = w @ struct.rows_sk.T  # (..., S)
    d = g_s[..., None] / (1.0 + g_s[..., None] * m)
    logdet_h = np.log(denom) @ struct.n_per_size + np.log1p(g_s[..., None] * m).sum(-1)
    return a, w, d, logdet_h


def _flatten(stats):
    """Per-problem augmented statistics of ``[X | y]`` for every (dataset, time).

    Returns a dict with ``A0`` (N, q, q), the Gram matrix of ``[X | y]``;
    ``Ak`` (N, K, q, q), its channel-sum Gram per channel size; ``Z``
    (N, S, K, q), the sums per (subject, channel size); and ``p``. Here
    ``N = B * T`` and ``q = p + 1``.
    """
    n_batch, n_times = stats["YY"].shape
    p = stats["XX"].shape[-1]
    n_sizes = stats["GXX"].shape[1]
    n_subjects = stats["Xsk"].shape[1]
    n = n_batch * n_times
    q = p + 1
    A0 = np.empty((n_batch, n_times, q, q))
    A0[..., :p, :p] = stats["XX"][:, None]
    A0[..., :p, p] = stats["XY"]
    A0[..., p, :p] = stats["XY"]
    A0[..., p, p] = stats["YY"]
    Ak = np.empty((n_batch, n_times, n_sizes, q, q))
    Ak[..., :p, :p] = stats["GXX"][:, None]
    gxy = np.moveaxis(stats["GXY"], 2, 1)  # (B, T, K, p)
    Ak[..., :p, p] = gxy
    Ak[..., p, :p] = gxy
    Ak[..., p, p] = np.moveaxis(stats["GYY"], 2, 1)
    Z = np.empty((n_batch, n_times, n_subjects, n_sizes, q))
    Z[..., :p] = stats["Xsk"][:, None]
    Z[..., p] = np.moveaxis(stats["Ysk"], 3, 1)
    return {
        "A0": A0.reshape(n, q, q),
        "Ak": Ak.reshape(n, n_sizes, q, q),
        "Z": Z.reshape(n, n_subjects, n_sizes, q),
    }


def _subset(P, idx):
    return {k: v[idx] for k, v in P.items()}


def _gls_parts(gamma, P, struct):
    """Augmented ``[X | y]' H^-1 [X | y]`` (E, N, q, q) and ``log|H|`` (E, N).

    ``gamma`` has shape (E, N, 2); ``P`` comes from :func:`_flatten`.
    """
    a, w, d, logdet_h = _weights(gamma, struct)
    if a.shape[-1] == 1:  # one channel size (e.g. every channel has two rows)
        A = P["A0"][None] - a[..., None] * P["Ak"][None, :, 0]
        # subject sums of the w-weighted channel sums, (E, N, S, q)
        zs = w[..., None] * P["Z"][None, :, :, 0]
    else:
        A = P["A0"][None] - np.einsum("enk,nkij->enij", a, P["Ak"])
        zs = np.einsum("enk,nskq->ensq", w, P["Z"])
    A -= np.matmul(np.swapaxes(d[..., None] * zs, -1, -2), zs)
    return A, logdet_h


def _logdet_rss(A, p):
    """``log|M|`` and ``rss = c - r' M^-1 r`` from one Cholesky of ``[M r; r' c]``."""
    try:
        L = np.linalg.cholesky(A)
        diag = np.diagonal(L, axis1=-2, axis2=-1)
    except np.linalg.LinAlgError:
        # a degenerate problem in the batch (e.g. y in the span of X): slow path
        # (its pivots are clamped; the others equal LAPACK's to rounding)
        diag = np.diagonal(_chol(A), axis1=-2, axis2=-1)
    logdet_m = 2.0 * np.log(np.maximum(diag[..., :p], 1e-300)).sum(-1)
    return logdet_m, diag[..., p] ** 2


def _chol(A):
    """Cholesky that clamps non-positive pivots (for degenerate batches only)."""
    q = A.shape[-1]
    L = np.zeros_like(A)
    for j in range(q):
        pivot = A[..., j, j] - (L[..., j, :j] ** 2).sum(-1)
        ljj = np.sqrt(np.maximum(pivot, 1e-300))
        L[..., j, j] = ljj
        for i in range(j + 1, q):
            L[..., i, j] = (
                A[..., i, j] - (L[..., i, :j] * L[..., j, :j]).sum(-1)
            ) / ljj
    return L


def _criterion(gamma, P, struct, idx=None):
    """Profiled REML criterion (-2 log-lik up to a constant) at ``gamma`` (E,M,2).

    ``idx`` (M,) selects the problems of ``P`` (all when None).
    """
    if _COMPILED:
        if idx is None:
            idx = np.arange(gamma.shape[1])
        return reml_criterion(
            np.ascontiguousarray(gamma, dtype=float),
            np.asarray(idx, dtype=np.int64),
            np.ascontiguousarray(P["A0"]),
            np.ascontiguousarray(P["Ak"]),
            np.ascontiguousarray(P["Z"]),
            struct.sizes.astype(float),
            struct.rows_sk,
            struct.n_per_size.astype(float),
            struct.n_obs,
        )
    if idx is not None:
        P = _subset(P, idx)
    A, logdet_h = _gls_parts(gamma, P, struct)
    p = A.shape[-1] - 1
    logdet_m, rss = _logdet_rss(A, p)
    n_dof = struct.n_obs - p
    return logdet_h + logdet_m + n_dof * np.log(np.maximum(rss, 1e-300))


def _newton(gamma, P, struct, max_iter=50, tol=1e-7, h=1e-4):
    """Minimise the criterion over ``gamma >= 0`` (N, 2) by projected Newton.

    Derivatives are central finite differences (the criterion is smooth across
    ``gamma = 0``). A component at the bound whose gradient points outwards is
    held at 0 (active set); the others take a Newton step with a
    positive-definite Hessian, projected on ``gamma >= 0`` and backtracked until
    the criterion decreases. Only unconverged problems are evaluated.
    """
    free = struct.free
    gamma = gamma * free
    f_cur = _criterion(gamma[None], P, struct)[0]
    active = np.arange(len(gamma))
    both = bool(free.all())
    if both:
        steps = np.array([[1.0, 0], [-1, 0], [0, 1], [0, -1], [1, 1]])
    else:  # one variance ratio: only its two finite-difference points
        j = int(np.argmax(free))
        steps = np.zeros((2, 2))
        steps[:, j] = [1.0, -1.0]
    for _ in range(max_iter):
        if len(active) == 0:
            break
        gam_a = gamma[active]
        f0 = f_cur[active]
        # steps relative to large ratios: the criterion flattens as 1/gamma
        hs = h * np.maximum(1.0, gam_a)
        evals = _criterion(
            gam_a[None] + steps[:, None, :] * hs[None], P, struct, active
        )
        if both:
            fp1, fm1, fp2, fm2, fpp = evals
        else:
            fp1 = fm1 = fp2 = fm2 = f0
            if j == 0:
                fp1, fm1 = evals
            else:
                fp2, fm2 = evals
            fpp = fp1 + fp2 - f0  # no cross term
        g = np.stack([fp1 - fm1, fp2 - fm2], -1) / (2 * hs)
        h11 = (fp1 - 2 * f0 + fm1) / hs[:, 0] ** 2
        h22 = (fp2 - 2 * f0 + fm2) / hs[:, 1] ** 2
        h12 = (fpp - fp1 - fp2 + f0) / (hs[:, 0] * hs[:, 1])
        # fixed: not estimated, or at the bound with the gradient pushing out
        fixed = ~free | ((gam_a <= 0) & (g > 0))
        g = np.where(fixed, 0.0, g)
        h11 = np.where(fixed[:, 0], 1.0, h11)
        h22 = np.where(fixed[:, 1], 1.0, h22)
        h12 = np.where(fixed.any(-1), 0.0, h12)
        # positive-definite Hessian: shift by its smallest eigenvalue if needed
        tr = h11 + h22
        det = h11 * h22 - h12**2
        lam_min = tr / 2 - np.sqrt(np.maximum(tr**2 / 4 - det, 0))
        shift = np.where(lam_min < 1e-8, 1e-8 - lam_min + 1e-3 * np.abs(tr), 0.0)
        h11 = h11 + shift
        h22 = h22 + shift
        det = h11 * h22 - h12**2
        step = (
            -np.stack(
                [h22 * g[:, 0] - h12 * g[:, 1], h11 * g[:, 1] - h12 * g[:, 0]], -1
            )
            / det[:, None]
        )
        # trust region on log(1 + gamma): far from the optimum the criterion is
        # concave in gamma and the shifted Newton step can be huge
        limit = 1.0 + gam_a
        step = step * np.minimum(
            1.0, (limit / np.maximum(np.abs(step), 1e-300)).min(-1, keepdims=True)
        )
        # Newton decrement: predicted decrease of the criterion (-2 log-lik)
        decrement = -(g * step).sum(-1)
        new_gam = np.maximum(gam_a + step, 0.0)
        f_new = _criterion(new_gam[None], P, struct, active)[0]
        # accept ties at rounding level so converged problems stop at once
        slack = 1e-11 * np.abs(f0)

        def trial_at(sel, scale):
            trial = np.maximum(gam_a[sel] + scale * step[sel], 0.0)
            return trial, _criterion(trial[None], P, struct, active[sel])[0]

        bad = _backtrack(gam_a, new_gam, f0, f_new, slack, 12, trial_at)
        moved = np.abs(new_gam - gam_a).max(-1)
        gamma[active] = new_gam
        f_cur[active] = f_new
        done = (moved < tol * (1 + new_gam.max(-1))) | (decrement < 1e-9) | bad
        active = active[~done]
    return gamma, f_cur


def _backtrack(old, new, f0, f_new, slack, n_halvings, trial_at):
    """Halve the steps of the problems whose criterion rose, in place.

    A problem is bad while ``f_new > f0 + slack``; ``trial_at(sel, scale)``
    returns the points at ``scale`` times the step for the problems ``sel``
    and their criterion. After ``n_halvings`` halvings the problems still bad
    keep ``old`` and ``f0``.

    Returns
    -------
    bad : array of bool
        The problems that found no descent.
    """
    bad = ~(f_new <= f0 + slack)
    scale = 1.0
    for _ in range(n_halvings):
        if not bad.any():
            break
        scale *= 0.5
        sel = np.flatnonzero(bad)
        trial, f_trial = trial_at(sel, scale)
        new[sel] = trial
        f_new[sel] = f_trial
        bad[sel] = ~(f_trial <= f0[sel] + slack[sel])
    new[bad] = old[bad]
    f_new[bad] = f0[bad]
    return bad


# time axis of each batched statistic (see xy_stats and stack_stats)
_TIME_AXIS = {"XY": 1, "YY": 1, "GXY": 2, "GYY": 2, "Ysk": 3}
# largest number of (problem x subject x size x column) elements fitted at once
_MAX_ELEMENTS = 2_000_000


def _time_slice(stats, sl):
    out = {}
    for key, value in stats.items():
        if key in _TIME_AXIS:
            index = [slice(None)] * value.ndim
            index[_TIME_AXIS[key]] = sl
            value = value[tuple(index)]
        out[key] = value
    return out


def fit_reml(stats, struct, start=None):
    """Fit the nested random-intercept model by REML for a batch of datasets.

    Parameters
    ----------
    stats : dict
        Batched statistics (see :func:`xy_stats`, :func:`stack_stats`), leading
        axis B (datasets), then T (timepoints).
    struct : NestedStructure
        The grouping.
    start : array, shape (B, T, 2) or (T, 2) | None
        Starting relative variances (e.g. the fit of the observed data, for
        permutations); None starts from the best point of a small grid.

    Returns
    -------
    result : dict
        ``beta`` (B, T, p), ``cov_unscaled`` (B, T, p, p) = ``(X'H^-1X)^-1``,
        ``sigma2`` (B, T), ``gamma`` (B, T, 2) relative variances
        (subject, channel), ``criterion`` (B, T).
    """
    n_batch, n_times = stats["YY"].shape
    # bound the memory of the (datasets x timepoints) problems fitted at once
    n_sub, n_sizes = stats["Xsk"].shape[1:3]
    per_problem = n_sub * n_sizes * (stats["XX"].shape[-1] + 1)
    t_chunk = max(1, _MAX_ELEMENTS // (per_problem * n_batch))
    if n_times > t_chunk:
        if start is not None:
            start = np.broadcast_to(start, (n_batch, n_times, 2))
        parts = [
            fit_reml(
                _time_slice(stats, slice(t0, t0 + t_chunk)),
                struct,
                None if start is None else start[:, t0 : t0 + t_chunk],
            )
            for t0 in range(0, n_times, t_chunk)
        ]
        return {k: np.concatenate([part[k] for part in parts], 1) for k in parts[0]}
    P = _flatten(stats)
    free = struct.free
    if not free.any():
        gamma = np.zeros((n_batch * n_times, 2))
    else:
        if start is None:
            gs = _GRID if free[0] else np.zeros(1)
            gc = _GRID if free[1] else np.zeros(1)
            grid = np.array([[a, b] for a in gs for b in gc])
            f_grid = _criterion(
                np.broadcast_to(grid[:, None, :], (len(grid), len(P["A0"]), 2)),
                P,
                struct,
            )
            start = grid[np.argmin(f_grid, axis=0)]
        else:
            start = np.broadcast_to(start, (n_batch, n_times, 2)).reshape(-1, 2)
        gamma, _ = _newton(np.array(start, dtype=float), P, struct)
    out = _gls_at(gamma, P, struct)
    return {k: v.reshape((n_batch, n_times) + v.shape[1:]) for k, v in out.items()}


def _gls_at(gamma, P, struct):
    """GLS estimates at relative variances ``gamma`` (N, 2) for every problem."""
    A, logdet_h = _gls_parts(gamma[None], P, struct)
    A, logdet_h = A[0], logdet_h[0]
    p = A.shape[-1] - 1
    M, r = A[:, :p, :p], A[:, :p, p]
    cov_unscaled = np.linalg.inv(M)
    beta = np.einsum("npq,nq->np", cov_unscaled, r)
    logdet_m, rss = _logdet_rss(A, p)
    sigma2 = np.maximum(rss, 0.0) / (struct.n_obs - p)
    criterion = (
        logdet_h + logdet_m + (struct.n_obs - p) * np.log(np.maximum(rss, 1e-300))
    )
    return {
        "beta": beta,
        "cov_unscaled": cov_unscaled,
        "sigma2": sigma2,
        "gamma": gamma,
        "criterion": criterion,
    }


def gls_at(gamma, stats, struct):
    """GLS estimates at given relative variances ``gamma`` (B, T, 2)."""
    n_batch, n_times = stats["YY"].shape
    out = _gls_at(gamma.reshape(-1, 2), _flatten(stats), struct)
    return {k: v.reshape((n_batch, n_times) + v.shape[1:]) for k, v in out.items()}


def wald_f(beta, cov_unscaled, sigma2, L):
    """Wald F of the contrast ``L`` (q, p) for every fit.

    Returns
    -------
    F : array, shape (...,)
        ``(L b)' (L C L')^-1 (L b) / (q s2)``.
    """
    Lb = beta @ L.T  # (..., q)
    LCL = L @ cov_unscaled @ L.T  # (..., q, q)
    q = L.shape[0]
    if q == 1:
        quad = Lb[..., 0] ** 2 / LCL[..., 0, 0]
    else:
        quad = np.einsum(
            "...i,...i->...", Lb, np.linalg.solve(LCL, Lb[..., None])[..., 0]
        )
    return quad / (q * sigma2)
