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

from ._permutation import LEVELS
from ._reml import _flatten, _gls_parts, _logdet_rss

DF_METHODS = ("satterthwaite", "between-within", "residual")


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
    P = _flatten(stats)
    n = len(P["A0"])
    sigma2 = fit["sigma2"].reshape(n)
    gamma = fit["gamma"].reshape(n, 2)
    phi0 = np.concatenate([gamma * sigma2[:, None], sigma2[:, None]], axis=1)
    # parameters estimated (and not at the bound) at each fit
    free = np.concatenate(
        [struct.free[None, :] & (gamma > 1e-8), np.ones((n, 1), bool)], axis=1
    )
    h = rel_step * np.where(free, phi0, 1.0)
    n_par = 3
    offsets = [np.zeros(n_par)]
    for i in range(n_par):
        for s in (1, -1):
            e = np.zeros(n_par)
            e[i] = s
            offsets.append(e)
    pairs = [(i, j) for i in range(n_par) for j in range(i + 1, n_par)]
    for i, j in pairs:
        for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
            e = np.zeros(n_par)
            e[i], e[j] = si, sj
            offsets.append(e)
    offsets = np.array(offsets)  # (E, 3)
    phi = phi0[None] + offsets[:, None, :] * (h * free)[None]
    dev, cov = _deviance_and_cov(phi, P, struct)
    f0 = dev[0]
    hess = np.zeros((n, n_par, n_par))
    dcov = np.zeros((n_par,) + cov.shape[1:])
    for i in range(n_par):
        fp, fm = dev[1 + 2 * i], dev[2 + 2 * i]
        hess[:, i, i] = (fp - 2 * f0 + fm) / h[:, i] ** 2
        dcov[i] = (cov[1 + 2 * i] - cov[2 + 2 * i]) / (2 * h[:, i, None, None])
    base = 1 + 2 * n_par
    for k, (i, j) in enumerate(pairs):
        fpp, fpm, fmp, fmm = dev[base + 4 * k : base + 4 * k + 4]
        hess[:, i, j] = hess[:, j, i] = (fpp - fpm - fmp + fmm) / (
            4 * h[:, i] * h[:, j]
        )
    # fixed parameters: no curvature coupling, no gradient
    mask2 = free[:, :, None] & free[:, None, :]
    hess = np.where(mask2, hess, 0.0) + np.eye(n_par)[None] * (~free)[:, :, None]
    dcov = dcov * free.T[:, :, None, None]
    acov = 2 * np.linalg.inv(hess)  # (N, 3, 3)
    out = []
    for L in contrasts:
        lcl = L @ cov[0] @ L.T  # (N, q, q)
        d, vec = np.linalg.eigh(lcl)
        ptl = np.einsum("nqm,qp->nmp", vec, L)  # rows: eigen directions
        grad = np.einsum("nmp,inpr,nmr->nmi", ptl, dcov, ptl)  # (N, q, 3)
        denom = np.einsum("nmi,nij,nmj->nm", grad, acov, grad)
        nu = 2 * d**2 / np.maximum(denom, 1e-300)
        out.append(_combine_df(nu).reshape(fit["sigma2"].shape))
    return np.stack(out)


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
