"""Analytic gradient and Hessian of the random-slope REML criterion (numba).

The criterion of :mod:`sk_eeg.stats._slopes` is

    f = sum_c log(1 + g k_c) + sum_s log|I + S C_s| + log|A_XX| + nu log(rss),
    A = G - sum_s U_s' K_s U_s,   K_s = S (I + C_s S)^-1 = T M_s^-1 T',

with ``S = T T'`` the relative subject covariance, ``g = theta_g^2`` the
relative channel variance, and the channel-weighted sums ``C_s = Z_s'W Z_s``,
``U_s = Z_s'W R``, ``G = R'W R`` (``W = I - sum_k a_k 1 1'`` per channel of
size ``k``, ``a_k = g / (1 + g k)``). With ``N_s = I - C_s K_s``,
``V_s = N_s U_s`` and ``J_s = C_s - C_s K_s C_s``, for symmetric directions
``E``, ``F`` of ``S``:

    dK[E] = N' E N,             dA[E] = -sum_s V' E V,
    d log|I + S C|[E] = tr(J E),
    d2A[E, F] = sum_s V' F J E V + V' E J F V,
    d2 log|I + S C|[E, F] = -tr(J F J E),

and in ``g`` (``C1 = dC/dg``, ``U1``, ``G1`` likewise; ``K1 = -K C1 K``):
``dK/dg = K1``, ``d log|I + S C|/dg = tr(K C1)``, ``dV/dg = N (U1 - C1 K U)``,
``dJ/dg = N C1 N'``. The profiled part ``log|A_XX| + nu log(rss)`` has
gradient ``tr(Psi dA)`` (``Psi = [[A_XX^-1, 0], [0, 0]] + nu w w' / rss``,
``w = [-A_XX^-1 A_Xy; 1]``) and Hessian ``tr(Psi d2A) - tr(A_XX^-1 dA1
A_XX^-1 dA2) - 2 nu (dA1 w)_X' A_XX^-1 (dA2 w)_X / rss - nu (w'dA1 w)
(w'dA2 w) / rss^2``. Directions in ``theta``: ``dS = E_t T' + T E_t'`` for
the entry ``t = (i, j)`` of ``T`` and ``d2S = E_t E_u' + E_u E_t'``.

Nothing of size ``q x q`` is formed per pair of directions: with ``Phi =
V Psi V'`` (r x r), ``tr(Psi d2A[E, F]) = 2 tr(J E Phi F)``, and likewise for
the terms in ``g``; the per-subject work is a few ``r x q`` products. Two
passes over the subjects: the first builds ``A`` (hence ``Psi``), the second
the derivatives.
"""

import math

import numpy as np
from numba import njit

from ._kernels import _cholesky_logdet_rss


@njit(cache=True)
def _mm(A, B, out):
    """``out = A @ B`` for small matrices."""
    n, k = A.shape
    m = B.shape[1]
    for a in range(n):
        for b in range(m):
            value = 0.0
            for c in range(k):
                value += A[a, c] * B[c, b]
            out[a, b] = value


@njit(cache=True)
def _tr(A, B):
    """``tr(A B)`` of square matrices."""
    n = A.shape[0]
    value = 0.0
    for a in range(n):
        for b in range(n):
            value += A[a, b] * B[b, a]
    return value


@njit(cache=True)
def _tr_dir(X, i, tcol):
    """``tr(X E)`` for ``E = e_i tcol' + tcol e_i'``."""
    value = 0.0
    for b in range(X.shape[0]):
        value += (X[b, i] + X[i, b]) * tcol[b]
    return value


@njit(cache=True)
def _dir_left(i, tcol, V, out):
    """``out = E V`` for ``E = e_i tcol' + tcol e_i'`` (V: r x q)."""
    r, q = V.shape
    for c in range(q):
        x = 0.0
        for b in range(r):
            x += tcol[b] * V[b, c]
        for a in range(r):
            out[a, c] = tcol[a] * V[i, c]
        out[i, c] += x


@njit(cache=True)
def _add_tn(A, B, out, scale):
    """``out += scale * A' B`` (A, B: r x q, out: q x q)."""
    r, q = A.shape
    for x in range(q):
        for y in range(q):
            value = 0.0
            for c in range(r):
                value += A[c, x] * B[c, y]
            out[x, y] += scale * value


@njit(cache=True)
def slope_derivatives(theta, idx, G0, ZR0, ZZ0, Gk, ZRk, ZZk, sizes, n_per_size, n_obs):
    """Criterion, gradient and Hessian of the random-slope REML criterion.

    Parameters are those of :func:`sk_eeg.stats._kernels.slope_criterion`
    with ``theta`` of shape (M, n_theta).

    Returns
    -------
    f : array, shape (M,)
        The criterion (equal to ``slope_criterion``).
    grad : array, shape (M, n_theta)
        Its gradient in ``theta``.
    hess : array, shape (M, n_theta, n_theta)
        Its Hessian in ``theta``.
    """
    n_prob, m = theta.shape
    q = G0.shape[1]
    p = q - 1
    nu = n_obs - p
    n_sub, r = ZR0.shape[1], ZR0.shape[2]
    n_sizes = sizes.shape[0]
    n_t = r * (r + 1) // 2
    has_g = n_sizes > 0
    ig = n_t  # index of theta_g
    f_out = np.empty(n_prob)
    g_out = np.zeros((n_prob, m))
    h_out = np.zeros((n_prob, m, m))
    ti = np.empty(n_t, np.int64)
    tj = np.empty(n_t, np.int64)
    t = 0
    for i in range(r):
        for j in range(i + 1):
            ti[t] = i
            tj[t] = j
            t += 1
    Tm = np.zeros((r, r))
    ns = max(n_sizes, 1)
    a = np.empty(ns)
    a1 = np.empty(ns)
    a2 = np.empty(ns)
    A = np.empty((q, q))
    G1 = np.empty((q, q))
    G2 = np.empty((q, q))
    # per-subject results of the first pass
    Cs = np.empty((n_sub, r, r))
    C1s = np.empty((n_sub, r, r))
    C2s = np.empty((n_sub, r, r))
    Us = np.empty((n_sub, r, q))
    U1s = np.empty((n_sub, r, q))
    U2s = np.empty((n_sub, r, q))
    Ks = np.empty((n_sub, r, r))
    KUs = np.empty((n_sub, r, q))
    M = np.empty((r, r))
    Wt = np.empty((r, r))
    rr1 = np.empty((r, r))
    rr2 = np.empty((r, r))
    rr3 = np.empty((r, r))
    N = np.empty((r, r))
    J = np.empty((r, r))
    K1 = np.empty((r, r))
    K2 = np.empty((r, r))
    V = np.empty((r, q))
    Vg = np.empty((r, q))
    Y = np.empty((r, q))
    rq1 = np.empty((r, q))
    PsiVt = np.empty((q, r))
    PsiUt = np.empty((q, r))
    PsiU1t = np.empty((q, r))
    Phi = np.empty((r, r))
    Phig = np.empty((r, r))
    UPU = np.empty((r, r))
    UPU1 = np.empty((r, r))
    U1PU1 = np.empty((r, r))
    UPU2 = np.empty((r, r))
    Psi = np.empty((q, q))
    Lx = np.empty((q, q))
    Ai = np.empty((p, p))
    wv = np.empty(q)
    dA = np.empty((m, q, q))
    trPd2A = np.empty((m, m))
    dlog = np.empty(m)
    d2log = np.empty((m, m))
    dAw = np.empty((m, q))
    wdAw = np.empty(m)
    AidAw = np.empty((m, p))
    AidA = np.empty((m, p, p))
    grad = np.empty(m)
    hess = np.empty((m, m))
    for mp in range(n_prob):
        n = idx[mp]
        for i in range(r):
            for j in range(r):
                Tm[i, j] = 0.0
        for t in range(n_t):
            Tm[ti[t], tj[t]] = theta[mp, t]
        logdet = 0.0
        ld1 = 0.0
        ld2 = 0.0
        if has_g:
            g = theta[mp, ig] ** 2
            for k in range(n_sizes):
                den = 1.0 + g * sizes[k]
                a[k] = g / den
                a1[k] = 1.0 / den**2
                a2[k] = -2.0 * sizes[k] / den**3
                logdet += math.log(den) * n_per_size[k]
                ld1 += n_per_size[k] * sizes[k] / den
                ld2 -= n_per_size[k] * sizes[k] ** 2 / den**2
        for i in range(q):
            for j in range(q):
                v0 = G0[n, max(i, j), min(i, j)]
                v1 = 0.0
                v2 = 0.0
                for k in range(n_sizes):
                    gk = Gk[n, k, max(i, j), min(i, j)]
                    v0 -= a[k] * gk
                    v1 -= a1[k] * gk
                    v2 -= a2[k] * gk
                A[i, j] = v0
                G1[i, j] = v1
                G2[i, j] = v2
        # ---- first pass: C, U (and their g-derivatives), K, A, log|H|
        for s in range(n_sub):
            C, C1, C2 = Cs[s], C1s[s], C2s[s]
            U, U1, U2 = Us[s], U1s[s], U2s[s]
            K, KU = Ks[s], KUs[s]
            for i in range(r):
                for j in range(r):
                    v0 = ZZ0[n, s, i, j]
                    v1 = 0.0
                    v2 = 0.0
                    for k in range(n_sizes):
                        zz = ZZk[n, s, k, i, j]
                        v0 -= a[k] * zz
                        v1 -= a1[k] * zz
                        v2 -= a2[k] * zz
                    C[i, j] = v0
                    C1[i, j] = v1
                    C2[i, j] = v2
                for j in range(q):
                    v0 = ZR0[n, s, i, j]
                    v1 = 0.0
                    v2 = 0.0
                    for k in range(n_sizes):
                        zr = ZRk[n, s, k, i, j]
                        v0 -= a[k] * zr
                        v1 -= a1[k] * zr
                        v2 -= a2[k] * zr
                    U[i, j] = v0
                    U1[i, j] = v1
                    U2[i, j] = v2
            # M = I + T' C T = L L'; K = T M^-1 T' = W'W with W = L^-1 T'
            _mm(C, Tm, rr1)
            for i in range(r):
                for j in range(r):
                    value = 1.0 if i == j else 0.0
                    for c in range(r):
                        value += Tm[c, i] * rr1[c, j]
                    M[i, j] = value
            logdet += _cholesky_logdet_rss(M, r, r)[0]
            for j in range(r):
                for i in range(r):
                    value = Tm[j, i]
                    for c in range(i):
                        value -= M[i, c] * Wt[c, j]
                    Wt[i, j] = value / M[i, i]
            for i in range(r):
                for j in range(r):
                    value = 0.0
                    for c in range(r):
                        value += Wt[c, i] * Wt[c, j]
                    K[i, j] = value
            _mm(K, U, KU)
            _add_tn(U, KU, A, -1.0)
        # ---- profiled part: Cholesky of A, A_XX^-1, w, rss, Psi
        for i in range(q):
            for j in range(q):
                Lx[i, j] = A[i, j]
        logdet_m, rss = _cholesky_logdet_rss(Lx, q, p)
        f_out[mp] = logdet + logdet_m + nu * math.log(rss)
        for col in range(p):  # A_XX^-1 by two triangular solves
            for i in range(p):
                value = 1.0 if i == col else 0.0
                for c in range(i):
                    value -= Lx[i, c] * Ai[c, col]
                Ai[i, col] = value / Lx[i, i]
            for i in range(p - 1, -1, -1):
                value = Ai[i, col]
                for c in range(i + 1, p):
                    value -= Lx[c, i] * Ai[c, col]
                Ai[i, col] = value / Lx[i, i]
        for i in range(p):
            value = 0.0
            for c in range(p):
                value += Ai[i, c] * A[c, p]
            wv[i] = -value
        wv[p] = 1.0
        for i in range(q):
            for j in range(q):
                value = nu * wv[i] * wv[j] / rss
                if i < p and j < p:
                    value += Ai[i, j]
                Psi[i, j] = value
        # ---- second pass: derivatives
        dA[:] = 0.0
        trPd2A[:] = 0.0
        dlog[:] = 0.0
        d2log[:] = 0.0
        for s in range(n_sub):
            C, C1, C2 = Cs[s], C1s[s], C2s[s]
            U, U1, U2 = Us[s], U1s[s], U2s[s]
            K, KU = Ks[s], KUs[s]
            # N = I - C K, V = N U, J = C - C K C, Phi = V Psi V'
            _mm(C, K, rr1)
            for i in range(r):
                for j in range(r):
                    N[i, j] = (1.0 if i == j else 0.0) - rr1[i, j]
            _mm(N, U, V)
            _mm(rr1, C, rr2)
            for i in range(r):
                for j in range(r):
                    J[i, j] = C[i, j] - rr2[i, j]
            _mm(Psi, V.T, PsiVt)
            _mm(V, PsiVt, Phi)
            for t in range(n_t):
                i, tcol = ti[t], Tm[:, tj[t]]
                # dA[E] = -V' E V; d log[E] = tr(J E)
                _dir_left(i, tcol, V, Y)
                _add_tn(V, Y, dA[t], -1.0)
                dlog[t] += _tr_dir(J, i, tcol)
                for u in range(t + 1):
                    iu, ucol = ti[u], Tm[:, tj[u]]
                    # tr(Psi d2A[E_t, E_u]) = 2 tr(J E_t Phi E_u)
                    # d2 log[E_t, E_u] = -tr(J E_u J E_t)
                    for x in range(r):  # rr2 = E_t Phi, rr3 = E_t J
                        for y in range(r):
                            rr2[x, y] = tcol[x] * Phi[i, y]
                            rr3[x, y] = tcol[x] * J[i, y]
                    for y in range(r):
                        v2 = 0.0
                        v3 = 0.0
                        for b in range(r):
                            v2 += tcol[b] * Phi[b, y]
                            v3 += tcol[b] * J[b, y]
                        rr2[i, y] += v2
                        rr3[i, y] += v3
                    _mm(J, rr2, rr1)  # J E_t Phi
                    trPd2A[t, u] += 2.0 * _tr_dir(rr1, iu, ucol)
                    _mm(J, rr3, rr1)  # J E_t J
                    d2log[t, u] -= _tr_dir(rr1, iu, ucol)
                    if tj[t] == tj[u]:  # d2S = e_it e_iu' + e_iu e_it'
                        trPd2A[t, u] -= Phi[i, iu] + Phi[iu, i]
                        d2log[t, u] += J[i, iu] + J[iu, i]
            if has_g:
                # K1 = -K C1 K, K2 = -2 K1 C1 K - K C2 K
                _mm(K, C1, rr1)
                _mm(rr1, K, K1)
                for i in range(r):
                    for j in range(r):
                        K1[i, j] = -K1[i, j]
                dlog[ig] += _tr(K, C1)
                d2log[ig, ig] += -_tr(rr1, rr1) + _tr(K, C2)
                _mm(K1, C1, rr1)
                _mm(rr1, K, rr2)
                _mm(K, C2, rr1)
                _mm(rr1, K, K2)
                for i in range(r):
                    for j in range(r):
                        K2[i, j] = -2.0 * rr2[i, j] - K2[i, j]
                # dA/dg = -(U1'K U + U'K U1 + U'K1 U)
                _add_tn(U1, KU, dA[ig], -1.0)
                _add_tn(KU, U1, dA[ig], -1.0)
                _mm(K1, U, rq1)
                _add_tn(U, rq1, dA[ig], -1.0)
                # V_g = N (U1 - C1 K U); cross terms: -2 tr(E_t V Psi V_g')
                _mm(C1, KU, rq1)
                for i in range(r):
                    for j in range(q):
                        rq1[i, j] = U1[i, j] - rq1[i, j]
                _mm(N, rq1, Vg)
                _mm(Psi, Vg.T, PsiVt)
                _mm(V, PsiVt, Phig)
                _mm(N, C1, rr1)
                _mm(rr1, N.T, rr2)  # N C1 N'
                for t in range(n_t):
                    i, tcol = ti[t], Tm[:, tj[t]]
                    trPd2A[ig, t] -= 2.0 * _tr_dir(Phig, i, tcol)
                    d2log[ig, t] += _tr_dir(rr2, i, tcol)
                # tr(Psi d2A/dg2) without G2: -(2 tr(K U2 Psi U') + 2 tr(K U1
                # Psi U1') + 4 tr(K1 U1 Psi U') + tr(K2 U Psi U'))
                _mm(Psi, U.T, PsiUt)
                _mm(Psi, U1.T, PsiU1t)
                _mm(U, PsiUt, UPU)
                _mm(U1, PsiUt, UPU1)
                _mm(U1, PsiU1t, U1PU1)
                _mm(U2, PsiUt, UPU2)
                trPd2A[ig, ig] -= (
                    2.0 * _tr(K, UPU2)
                    + 2.0 * _tr(K, U1PU1)
                    + 4.0 * _tr(K1, UPU1)
                    + _tr(K2, UPU)
                )
        if has_g:
            for x in range(q):
                for y in range(q):
                    dA[ig, x, y] += G1[x, y]
                    trPd2A[ig, ig] += Psi[x, y] * G2[y, x]
            dlog[ig] += ld1
            d2log[ig, ig] += ld2
        # ---- gradient and Hessian of f through A
        for t in range(m):
            for x in range(q):
                value = 0.0
                for y in range(q):
                    value += dA[t, x, y] * wv[y]
                dAw[t, x] = value
            value = 0.0
            for x in range(q):
                value += wv[x] * dAw[t, x]
            wdAw[t] = value
            for i in range(p):
                value = 0.0
                for c in range(p):
                    value += Ai[i, c] * dAw[t, c]
                AidAw[t, i] = value
                for j in range(p):
                    value = 0.0
                    for c in range(p):
                        value += Ai[i, c] * dA[t, c, j]
                    AidA[t, i, j] = value
            value = dlog[t] + nu * wdAw[t] / rss
            for i in range(p):
                value += AidA[t, i, i]
            grad[t] = value
        for t in range(m):
            for u in range(t + 1):
                value = d2log[t, u] + trPd2A[t, u]
                for i in range(p):
                    for j in range(p):
                        value -= AidA[t, i, j] * AidA[u, j, i]
                cross = 0.0
                for i in range(p):
                    cross += dAw[t, i] * AidAw[u, i]
                value -= 2.0 * nu * cross / rss
                value -= nu * wdAw[t] * wdAw[u] / rss**2
                hess[t, u] = value
                hess[u, t] = value
        if has_g:  # chain rule for theta_g = sqrt(g)
            tg = theta[mp, ig]
            dg = grad[ig]
            for t in range(n_t):
                hess[t, ig] *= 2.0 * tg
                hess[ig, t] = hess[t, ig]
            hess[ig, ig] = 4.0 * tg * tg * hess[ig, ig] + 2.0 * dg
            grad[ig] = 2.0 * tg * dg
        for t in range(m):
            g_out[mp, t] = grad[t]
            for u in range(m):
                h_out[mp, t, u] = hess[t, u]
    return f_out, g_out, h_out
