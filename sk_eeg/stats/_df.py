"""Denominator degrees of freedom and parametric p-values of the term tests.

``'satterthwaite'`` follows lmerTest (Kuznetsova et al. 2017): for a contrast
``L`` with ``L C L' = P D P'`` (``C`` the covariance of the fixed effects as a
function of the variance parameters ``phi``), each direction ``m`` gets

    nu_m = 2 d_m^2 / (g_m' A g_m),   g_m = d(P_m' L C L' P_m) / d phi,

with ``A = 2 H^-1`` and ``H`` the Hessian of the REML deviance in ``phi``; the F
test's denominator df is ``2 E / (E - q)`` with ``E = sum nu_m / (nu_m - 2)``
(a single ``nu`` for ``q = 1``). Here ``phi`` are the variances (subject,
channel, residual); the df are invariant to the parametrisation, and a
variance estimated at 0 is held fixed (as lmerTest, whose derivatives in the
standard deviation vanish there). Derivatives are central finite differences
of the exact criterion, batched over timepoints.
"""

import numpy as np
from scipy import stats as sps

from . import _reml
from ._permutation import LEVELS
from ._reml import _flatten, _gls_parts, _logdet_rss, _time_slice

DF_METHODS = ("satterthwaite", "kenward-roger", "between-within", "residual")


def stated_df(method, names, levels, spec, struct, n_obs):
    """Denominator df by a stated rule, shape (n_terms,).

    ``'between-within'`` (as nlme): terms varying within channels get ``n_obs -
    n_channels - p_within``, channel-level terms ``n_channels - n_subjects -
    p_channel``, subject-level terms ``n_subjects - 1 - p_subject``;
    ``'residual'``: ``n_obs - p`` for every term.
    """
    n_coefs = len(spec.column_names)
    per_level = {lv: 0 for lv in LEVELS}
    for name in names:
        sl = spec.term_slices[name]
        per_level[levels[name]] += sl.stop - sl.start
    n_chan = struct.n_channels if struct.has_channel else n_obs
    n_subj = struct.n_subjects if struct.has_subject else n_obs
    df = np.zeros(len(names))
    for i, name in enumerate(names):
        if method == "residual" or not struct.has_subject:
            df[i] = n_obs - n_coefs
        elif levels[name] == "within":
            n_units = n_chan if struct.has_channel else n_subj
            df[i] = n_obs - n_units - per_level["within"]
        elif levels[name] == "channel":
            df[i] = n_chan - n_subj - per_level["channel"]
        else:
            df[i] = n_subj - 1 - per_level["subject"]
    return np.maximum(df, 1)


def _deviance_and_cov(phi, P, struct):
    """REML deviance (up to a constant) and ``C`` at variances ``phi`` (E, N, 3)."""
    gamma = phi[..., :2] / phi[..., 2:]
    A, logdet_h = _gls_parts(gamma, P, struct)
    p = A.shape[-1] - 1
    logdet_m, rss = _logdet_rss(A, p)
    v_e = phi[..., 2]
    dev = logdet_h + logdet_m + (struct.n_obs - p) * np.log(v_e) + rss / v_e
    cov = v_e[..., None, None] * np.linalg.inv(A[..., :p, :p])
    return dev, cov


# sign pairs of the mixed second differences: f(++) - f(+-) - f(-+) + f(--)
_CORNERS = ((1, 1), (1, -1), (-1, 1), (-1, -1))


def _fd_offsets(m, corners=_CORNERS):
    """Finite-difference offsets in ``m`` parameters and the pairs ``i < j``.

    The rows are 0, then ``+e_i`` and ``-e_i`` for each ``i``, then
    ``si e_i + sj e_j`` for each pair and each ``(si, sj)`` of ``corners``.
    """
    offsets = [np.zeros(m)]
    for i in range(m):
        for s in (1.0, -1.0):
            e = np.zeros(m)
            e[i] = s
            offsets.append(e)
    pairs = [(i, j) for i in range(m) for j in range(i + 1, m)]
    for i, j in pairs:
        for si, sj in corners:
            e = np.zeros(m)
            e[i], e[j] = si, sj
            offsets.append(e)
    return np.array(offsets), pairs


def _fd_derivatives(dev, cov, h, pairs):
    """Hessian of ``dev`` and gradient of ``cov`` by central differences.

    ``dev`` (E, N) and ``cov`` (E, N, p, p) are evaluated at the
    :func:`_fd_offsets` (all four corners) scaled by the steps ``h`` (N, m).
    """
    n, m = h.shape
    f0 = dev[0]
    hess = np.zeros((n, m, m))
    dcov = np.zeros((m,) + cov.shape[1:])
    for i in range(m):
        fp, fm = dev[1 + 2 * i], dev[2 + 2 * i]
        hess[:, i, i] = (fp - 2 * f0 + fm) / h[:, i] ** 2
        dcov[i] = (cov[1 + 2 * i] - cov[2 + 2 * i]) / (2 * h[:, i, None, None])
    base = 1 + 2 * m
    for k, (i, j) in enumerate(pairs):
        fpp, fpm, fmp, fmm = dev[base + 4 * k : base + 4 * k + 4]
        hess[:, i, j] = hess[:, j, i] = (fpp - fpm - fmp + fmm) / (
            4 * h[:, i] * h[:, j]
        )
    return hess, dcov


def _eigen_df(L, cov, dcov, acov):
    """Satterthwaite df of each eigen-direction of the contrast ``L``.

    ``cov`` (N, p, p) is the covariance of the fixed effects, ``dcov``
    (m, N, p, p) its gradient in the variance parameters and ``acov``
    (N, m, m) their asymptotic covariance.
    """
    lcl = L @ cov @ L.T  # (N, q, q)
    d, vec = np.linalg.eigh(lcl)
    ptl = np.einsum("nqm,qp->nmp", vec, L)  # rows: eigen directions
    grad = np.einsum("nmp,inpr,nmr->nmi", ptl, dcov, ptl)  # (N, q, m)
    denom = np.einsum("nmi,nij,nmj->nm", grad, acov, grad)
    return 2 * d**2 / np.maximum(denom, 1e-300)


def satterthwaite_df(stats, fit, struct, contrasts, rel_step=1e-4):
    """Satterthwaite denominator df of every contrast at every fit.

    Parameters
    ----------
    stats : dict
        Batched statistics of the fitted data (leading axes B, T).
    fit : dict
        :func:`sk_eeg.stats._reml.fit_reml` of ``stats``.
    struct : NestedStructure
        The grouping.
    contrasts : list of array, shape (q, p)
        One contrast per term.
    rel_step : float
        Relative finite-difference step on each variance.

    Returns
    -------
    df : array, shape (n_terms, B, T)
        Denominator degrees of freedom.
    """
    n_batch, n_times = stats["YY"].shape
    n_sub, n_sizes = stats["Xsk"].shape[1:3]
    per_time = 19 * n_batch * n_sub * n_sizes * (stats["XX"].shape[-1] + 1)
    t_chunk = max(1, _reml._MAX_ELEMENTS // per_time)
    if n_times > t_chunk:  # bounded memory: timepoints in chunks
        parts = []
        for t0 in range(0, n_times, t_chunk):
            sl = slice(t0, t0 + t_chunk)
            fit_t = {k: v[:, sl] for k, v in fit.items()}
            parts.append(
                satterthwaite_df(
                    _time_slice(stats, sl), fit_t, struct, contrasts, rel_step
                )
            )
        return np.concatenate(parts, axis=-1)
    P = _flatten(stats)
    n = len(P["A0"])
    sigma2 = fit["sigma2"].reshape(n)
    gamma = fit["gamma"].reshape(n, 2)
    # a degenerate feature (no residual variance, e.g. a flat channel) has no
    # df: evaluate it at a harmless point and return NaN
    scale = stats["YY"].reshape(n) / struct.n_obs
    degenerate = ~(sigma2 > np.maximum(1e-14 * scale, 1e-250))
    sigma2 = np.where(degenerate, 1.0, sigma2)
    gamma = np.where(degenerate[:, None], 0.0, gamma)
    phi0 = np.concatenate([gamma * sigma2[:, None], sigma2[:, None]], axis=1)
    # parameters estimated (and not at the bound) at each fit
    free = np.concatenate(
        [struct.free[None, :] & (gamma > 1e-8), np.ones((n, 1), bool)], axis=1
    )
    h = rel_step * np.where(free, phi0, 1.0)
    n_par = 3
    offsets, pairs = _fd_offsets(n_par)  # (E, 3)
    phi = phi0[None] + offsets[:, None, :] * (h * free)[None]
    dev, cov = _deviance_and_cov(phi, P, struct)
    hess, dcov = _fd_derivatives(dev, cov, h, pairs)
    # fixed parameters: no curvature coupling, no gradient
    mask2 = free[:, :, None] & free[:, None, :]
    hess = np.where(mask2, hess, 0.0) + np.eye(n_par)[None] * (~free)[:, :, None]
    dcov = dcov * free.T[:, :, None, None]
    acov = 2 * np.linalg.inv(hess)  # (N, 3, 3)
    out = []
    for L in contrasts:
        nu = _eigen_df(L, cov[0], dcov, acov)
        out.append(
            np.where(degenerate, np.nan, _combine_df(nu)).reshape(fit["sigma2"].shape)
        )
    return np.stack(out)


def kenward_roger(X, Y, struct, fit, contrasts, chunk=8):
    """Kenward-Roger F and denominator df of every contrast (as pbkrtest).

    Follows ``pbkrtest::vcovAdj`` (the adjusted covariance ``Phi_A`` from the
    expected REML information of the variances) and ``pbkrtest`` 's
    ``.KR_adjust`` (denominator df); the F is the Wald F with ``Phi_A``, which
    is what lmerTest's ``anova(ddf = "Kenward-Roger")`` reports. Dense
    ``(n_obs, n_obs)`` algebra per feature, in chunks of ``chunk`` features:
    meant for the observed data, not for permutations.

    Parameters
    ----------
    X : array, shape (n_obs, p)
        Fixed-effects design.
    Y : array, shape (n_obs, n_features)
        The data.
    struct : NestedStructure
        The grouping.
    fit : dict
        :func:`sk_eeg.stats._reml.fit_reml` of ``Y`` (batch axis of length 1).
    contrasts : list of array, shape (q, p)
        One contrast per term.

    Returns
    -------
    F : array, shape (n_terms, n_features)
        Wald F with the adjusted covariance.
    df : array, shape (n_terms, n_features)
        Denominator degrees of freedom.
    """
    n, p = X.shape
    n_features = Y.shape[1]
    sigma2 = fit["sigma2"][0]
    gamma = fit["gamma"][0]
    # one-hot random-effects designs of the components in the model
    zs = []
    if struct.has_subject:
        zs.append(np.eye(struct.n_subjects)[struct.subject])
    if struct.has_channel:
        zs.append(np.eye(struct.n_channels)[struct.channel])
    # no residual variance (e.g. a flat channel): no test (NaN)
    degenerate = ~(sigma2 > np.maximum(1e-14 * (Y**2).mean(0), 1e-250))
    sigma2 = np.where(degenerate, 1.0, sigma2)
    gamma = np.where(degenerate[:, None], 0.0, gamma)
    variances = [gamma[:, j] * sigma2 for j in range(2) if struct.free[j]]
    variances.append(sigma2)
    n_par = len(variances)
    variances = np.stack(variances, -1)  # (T, r)
    F = np.zeros((len(contrasts), n_features))
    df = np.zeros((len(contrasts), n_features))
    for start in range(0, n_features, chunk):
        sl = slice(start, min(start + chunk, n_features))
        v = variances[sl]
        sigma = v[:, -1, None, None] * np.eye(n)
        for j, z in enumerate(zs):
            sigma = sigma + v[:, j, None, None] * (z @ z.T)
        s_inv = np.linalg.inv(sigma)  # (C, n, n)
        tt = s_inv @ X
        phi = np.linalg.inv(np.swapaxes(X, 0, 1)[None] @ tt)
        hh = [z[None] @ (z.T[None] @ s_inv) for z in zs] + [s_inv]
        oo = [h @ X for h in hh]
        pp = [-np.swapaxes(o, -1, -2) @ tt for o in oo]
        pp = [(m + np.swapaxes(m, -1, -2)) / 2 for m in pp]
        qq = [
            [np.swapaxes(oo[i], -1, -2) @ s_inv @ oo[j] for j in range(n_par)]
            for i in range(n_par)
        ]
        ie2 = np.zeros((len(v), n_par, n_par))
        for i in range(n_par):
            phi_p = phi @ pp[i]
            for j in range(i, n_par):
                ktrace = np.einsum("cab,cab->c", np.swapaxes(hh[i], -1, -2), hh[j])
                ie2[:, i, j] = ie2[:, j, i] = (
                    ktrace
                    - 2 * np.einsum("cab,cab->c", phi, qq[i][j])
                    + np.einsum("cab,cab->c", phi_p, pp[j] @ phi)
                )
        ww = 2 * np.linalg.pinv(ie2, hermitian=True)
        uu = np.zeros_like(phi)
        for i in range(n_par):
            for j in range(n_par):
                uu += ww[:, i, j, None, None] * (qq[i][j] - pp[i] @ phi @ pp[j])
        phi_a = phi + 2 * phi @ uu @ phi
        beta = fit["beta"][0][sl]
        for k, L in enumerate(contrasts):
            q = len(L)
            lphil = L @ phi @ L.T
            theta = L.T @ np.linalg.solve(
                lphil, np.broadcast_to(L, (len(v),) + L.shape)
            )
            theta_phi = theta @ phi
            u = [theta_phi @ pp[i] @ phi for i in range(n_par)]
            tr_u = np.stack([np.trace(m, axis1=-2, axis2=-1) for m in u], -1)
            a1 = np.einsum("ci,cij,cj->c", tr_u, ww, tr_u)
            a2 = sum(
                ww[:, i, j] * np.einsum("cab,cba->c", u[i], u[j])
                for i in range(n_par)
                for j in range(n_par)
            )
            b = (a1 + 6 * a2) / (2 * q)
            g = ((q + 1) * a1 - (q + 4) * a2) / ((q + 2) * a2)
            denom = 3 * q + 2 * (1 - g)
            c1, c2, c3 = g / denom, (q - g) / denom, (q + 2 - g) / denom
            v0 = 1 + c1 * b
            v0 = np.where(np.abs(v0) < 1e-10, 0.0, v0)
            v1 = 1 - c2 * b
            v2 = 1 - c3 * b
            x1 = 1 - a2 / q
            ratio = np.where((np.abs(x1) < 1e-14) & (np.abs(v1) < 1e-14), 1.0, x1 / v1)
            rho = ratio**2 * v0 / v2 / q
            df[k, sl] = 4 + (q + 2) / (q * rho - 1)
            lb = beta @ L.T  # (C, q)
            lpal = L @ phi_a @ L.T
            F[k, sl] = (
                np.einsum("ca,ca->c", lb, np.linalg.solve(lpal, lb[..., None])[..., 0])
                / q
            )
    F[:, degenerate] = np.nan
    df[:, degenerate] = np.nan
    return F, df


def _combine_df(nu, tol=1e-8):
    """Denominator df of an F test from its directions' t-test df (lmerTest)."""
    if nu.shape[-1] == 1:
        return nu[..., 0]
    ratio = nu / np.where(nu > 2, nu - 2, 1.0)
    e = ratio.sum(-1)
    q = nu.shape[-1]
    df = np.where((nu <= 2).any(-1), 2.0, 2 * e / np.where(e > q, e - q, 1.0))
    same = np.ptp(nu, axis=-1) < tol
    return np.where(same, nu.mean(-1), df)


def parametric_p(stat, df, statistic, tail):
    """p-values of ``stat`` (n_terms, n_features) with df (n_terms, n_features, 2)."""
    if statistic == "F":
        return sps.f.sf(stat, df[..., 0], df[..., 1])
    t_dist = sps.t(df[..., 1])
    if tail == 0:
        return np.minimum(1.0, 2 * t_dist.sf(np.abs(stat)))
    return t_dist.sf(tail * stat)


def parametric_threshold(cluster_alpha, df, statistic, tail):
    """Cluster-forming threshold at level ``cluster_alpha`` per feature."""
    if statistic == "F":
        return sps.f.isf(cluster_alpha, df[..., 0], df[..., 1])
    level = cluster_alpha / 2 if tail == 0 else cluster_alpha
    return sps.t.isf(level, df[..., 1])
