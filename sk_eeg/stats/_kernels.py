"""Compiled (numba) REML criterion of the nested random-intercept model.

The same computation as :func:`sk_eeg.stats._reml._gls_parts` followed by
:func:`sk_eeg.stats._reml._logdet_rss`, one (variance ratios, problem) pair at
a time without temporaries: the Newton iterations of a permutation run spend
most of their time here.
"""

import math

import numpy as np
from numba import njit


@njit(cache=True)
def _cholesky_logdet_rss(A, q, p):
    """Cholesky of ``[M r; r' c]`` (lower triangle of ``A``, in place).

    Returns ``log|M|`` (from the first ``p`` pivots) and the residual sum of
    squares (the last pivot squared); pivots are clamped so degenerate
    problems give finite values.
    """
    logdet_m = 0.0
    rss = 0.0
    for j in range(q):
        pivot = A[j, j]
        for t in range(j):
            pivot -= A[j, t] * A[j, t]
        ljj = math.sqrt(max(pivot, 1e-300))
        A[j, j] = ljj
        for i in range(j + 1, q):
            value = A[i, j]
            for t in range(j):
                value -= A[i, t] * A[j, t]
            A[i, j] = value / ljj
        if j < p:
            logdet_m += 2.0 * math.log(max(ljj, 1e-300))
        else:
            rss = ljj * ljj
    return logdet_m, rss


@njit(cache=True)
def reml_criterion(gamma, idx, A0, Ak, Z, sizes, rows_sk, n_per_size, n_obs):
    """Profiled REML criterion for ``gamma`` (E, M, 2) of the problems ``idx``.

    Parameters
    ----------
    gamma : array, shape (E, M, 2)
        Relative variances (subject, channel) to evaluate.
    idx : array of int, shape (M,)
        The problems (rows of ``A0``, ``Ak``, ``Z``) they belong to.
    A0 : array, shape (N, q, q)
        Gram matrix of ``[X | y]``.
    Ak : array, shape (N, K, q, q)
        Channel-sum Gram per channel size.
    Z : array, shape (N, S, K, q)
        Sums per (subject, channel size).
    sizes, n_per_size : array, shape (K,)
        Channel sizes and number of channels of each size.
    rows_sk : array, shape (S, K)
        Rows per (subject, channel size).
    n_obs : int
        Number of rows.

    Returns
    -------
    criterion : array, shape (E, M)
        ``log|H| + log|X'H^-1X| + (n - p) log(rss)``.
    """
    n_eval, n_prob = gamma.shape[0], gamma.shape[1]
    q = A0.shape[1]
    p = q - 1
    n_sizes = sizes.shape[0]
    n_sub = rows_sk.shape[0]
    out = np.empty((n_eval, n_prob))
    A = np.empty((q, q))
    zs = np.empty(q)
    a = np.empty(n_sizes)
    w = np.empty(n_sizes)
    for m_prob in range(n_prob):  # problem outer: its data stay in cache
        n = idx[m_prob]
        for e in range(n_eval):
            g_s = gamma[e, m_prob, 0]
            g_c = gamma[e, m_prob, 1]
            logdet_h = 0.0
            for k in range(n_sizes):
                denom = 1.0 + g_c * sizes[k]
                a[k] = g_c / denom
                w[k] = 1.0 / denom
                logdet_h += math.log(denom) * n_per_size[k]
            # lower triangle only (A is symmetric)
            for i in range(q):
                for j in range(i + 1):
                    value = A0[n, i, j]
                    for k in range(n_sizes):
                        value -= a[k] * Ak[n, k, i, j]
                    A[i, j] = value
            # log prod (1 + g_s m_s) with one log per 1e100 of product
            prod = 1.0
            for s in range(n_sub):
                m = 0.0
                for k in range(n_sizes):
                    m += w[k] * rows_sk[s, k]
                d = g_s / (1.0 + g_s * m)
                prod *= 1.0 + g_s * m
                if prod > 1e100:
                    logdet_h += math.log(prod)
                    prod = 1.0
                for i in range(q):
                    value = 0.0
                    for k in range(n_sizes):
                        value += w[k] * Z[n, s, k, i]
                    zs[i] = value
                for i in range(q):
                    dzi = d * zs[i]
                    for j in range(i + 1):
                        A[i, j] -= dzi * zs[j]
            logdet_h += math.log(prod)
            logdet_m, rss = _cholesky_logdet_rss(A, q, p)
            out[e, m_prob] = (
                logdet_h + logdet_m + (n_obs - p) * math.log(max(rss, 1e-300))
            )
    return out


@njit(cache=True)
def slope_criterion(theta, idx, G0, ZR0, ZZ0, Gk, ZRk, ZZk, sizes, n_per_size, n_obs):
    """Profiled REML criterion of the random-slope model (``_slopes._criterion``).

    Parameters
    ----------
    theta : array, shape (E, M, n_theta)
        Lower triangle of ``T`` (row by row, as ``np.tril_indices``), then
        ``sqrt(g_c)`` when ``sizes`` is not empty.
    idx : array of int, shape (M,)
        The problems (rows of the statistics) they belong to.
    G0, ZR0, ZZ0 : arrays, shapes (N, q, q), (N, S, r, q), (N, S, r, r)
        ``R'R``, ``Z_s'R`` and ``Z_s'Z_s``.
    Gk, ZRk, ZZk : arrays, shapes (N, K, q, q), (N, S, K, r, q), (N, S, K, r, r)
        The same of the channel sums per channel size (K = 0 without channels).
    sizes, n_per_size : array, shape (K,)
        Channel sizes and number of channels of each size.
    n_obs : int
        Number of rows.

    Returns
    -------
    criterion : array, shape (E, M)
        ``log|H| + log|X'H^-1X| + (n - p) log(rss)``.
    """
    n_eval, n_prob = theta.shape[0], theta.shape[1]
    q = G0.shape[1]
    p = q - 1
    n_sub, r = ZR0.shape[1], ZR0.shape[2]
    n_sizes = sizes.shape[0]
    n_t = r * (r + 1) // 2
    out = np.empty((n_eval, n_prob))
    A = np.empty((q, q))
    Tm = np.zeros((r, r))
    zwr = np.empty((r, q))
    zwz = np.empty((r, r))
    zwzt = np.empty((r, r))
    M = np.empty((r, r))
    V = np.empty((r, q))
    a = np.empty(n_sizes)
    for m_prob in range(n_prob):
        n = idx[m_prob]
        for e in range(n_eval):
            t = 0
            for i in range(r):
                for j in range(i + 1):
                    Tm[i, j] = theta[e, m_prob, t]
                    t += 1
            logdet_h = 0.0
            if n_sizes > 0:
                g_c = theta[e, m_prob, n_t] ** 2
                for k in range(n_sizes):
                    denom = 1.0 + g_c * sizes[k]
                    a[k] = g_c / denom
                    logdet_h += math.log(denom) * n_per_size[k]
            for i in range(q):
                for j in range(i + 1):
                    value = G0[n, i, j]
                    for k in range(n_sizes):
                        value -= a[k] * Gk[n, k, i, j]
                    A[i, j] = value
            for s in range(n_sub):
                for i in range(r):
                    for j in range(q):
                        value = ZR0[n, s, i, j]
                        for k in range(n_sizes):
                            value -= a[k] * ZRk[n, s, k, i, j]
                        zwr[i, j] = value
                    for j in range(r):
                        value = ZZ0[n, s, i, j]
                        for k in range(n_sizes):
                            value -= a[k] * ZZk[n, s, k, i, j]
                        zwz[i, j] = value
                # B = T' ZWR (into V), ZWZT = ZWZ T, M = I + T' ZWZ T
                for j in range(r):
                    for c in range(q):
                        value = 0.0
                        for i in range(j, r):
                            value += Tm[i, j] * zwr[i, c]
                        V[j, c] = value
                    for c in range(r):
                        value = 0.0
                        for i in range(j, r):
                            value += zwz[c, i] * Tm[i, j]
                        zwzt[c, j] = value
                for j in range(r):
                    for c in range(r):
                        value = 1.0 if j == c else 0.0
                        for i in range(j, r):
                            value += Tm[i, j] * zwzt[i, c]
                        M[j, c] = value
                # Cholesky of M (lower, in place) and V = L^-1 B
                for j in range(r):
                    pivot = M[j, j]
                    for k in range(j):
                        pivot -= M[j, k] * M[j, k]
                    ljj = math.sqrt(pivot)
                    M[j, j] = ljj
                    logdet_h += 2.0 * math.log(ljj)
                    for i in range(j + 1, r):
                        value = M[i, j]
                        for k in range(j):
                            value -= M[i, k] * M[j, k]
                        M[i, j] = value / ljj
                    for c in range(q):
                        value = V[j, c]
                        for k in range(j):
                            value -= M[j, k] * V[k, c]
                        V[j, c] = value / ljj
                for i in range(q):
                    for j in range(i + 1):
                        value = 0.0
                        for k in range(r):
                            value += V[k, i] * V[k, j]
                        A[i, j] -= value
            logdet_m, rss = _cholesky_logdet_rss(A, q, p)
            out[e, m_prob] = (
                logdet_h + logdet_m + (n_obs - p) * math.log(max(rss, 1e-300))
            )
    return out
