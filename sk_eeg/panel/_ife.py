"""Interactive-fixed-effects numerics on Gram matrices.

Model, for subject ``g`` and time ``t`` (``p`` channels, ``q`` covariates)::

    y_t = mu_g + C x_t + L_g f_t + e_t

Everything the estimator needs comes from per-subject sufficient statistics
(weighted counts, sums and cross-products of ``[y_t, x_t]``), accumulated in
streaming passes over the samples: a ``p x p`` residual Gram matrix replaces
the SVD of the ``p x T`` residual. With time-level covariates (the same value
for every channel) the per-channel effects ``C`` are identified only under a
normalisation of the free factors; we use ``F_g' X_g = 0`` (the covariates act
as observed factors, the latent factors describe what they leave), which makes
the least-squares solution closed form: pooled within-subject OLS, then the
eigendecomposition of each subject's residual Gram matrix.

:func:`_bai_als` is the Bai (2009) estimator for regressors that vary over
channels and time with one coefficient per regressor, again from Gram
matrices only.
"""

import numpy as np
from threadpoolctl import threadpool_limits


def _group_codes(groups, n_samples):
    """Integer codes and labels of ``groups`` (None: one group)."""
    if groups is None:
        return np.zeros(n_samples, dtype=np.intp), np.array([0])
    groups = np.asarray(groups)
    if groups.ndim != 1 or groups.shape[0] != n_samples:
        raise ValueError(
            f"groups must be a 1D array with one subject id per sample "
            f"({n_samples}), got shape {groups.shape}."
        )
    labels, codes = np.unique(groups, return_inverse=True)
    return codes.astype(np.intp), labels


def _fold_codes(codes, n_groups, n_folds):
    """Contiguous time blocks within each subject: fold index per sample."""
    folds = np.zeros(codes.shape[0], dtype=np.intp)
    for g in range(n_groups):
        idx = np.flatnonzero(codes == g)
        if idx.size:
            folds[idx] = np.arange(idx.size) * n_folds // idx.size
    return folds


def _empty_moments(n_cells, n_channels, n_features):
    return {
        "w": np.zeros(n_cells),
        "sy": np.zeros((n_cells, n_channels)),
        "sx": np.zeros((n_cells, n_features)),
        "syy": np.zeros((n_cells, n_channels, n_channels)),
        "syx": np.zeros((n_cells, n_channels, n_features)),
        "sxx": np.zeros((n_cells, n_features, n_features)),
    }


def _accumulate_moments(Y, X, cells, n_cells, weights=None, chunk_size=65536):
    """Weighted sums and cross-products of ``[y, x]`` per cell, in chunks.

    Parameters
    ----------
    Y : array, shape (n_samples, n_channels)
        Responses (may be a memory map; read chunk by chunk).
    X : array, shape (n_samples, n_features)
        Covariates.
    cells : array of int, shape (n_samples,)
        Cell (subject, or subject x fold) of each sample.
    n_cells : int
        Number of cells.
    weights : array, shape (n_samples,) | None
        Per-sample weights (IRLS); None means 1.
    chunk_size : int
        Samples read at a time.

    Returns
    -------
    moments : dict of arrays
        ``w`` (n_cells,), ``sy``, ``sx``, ``syy``, ``syx``, ``sxx`` per cell.
    """
    n_samples, n_channels = Y.shape
    mom = _empty_moments(n_cells, n_channels, X.shape[1])
    # Skinny products (chunk x p): BLAS threads gain little on an idle machine
    # and cost several-fold on a busy one.
    with threadpool_limits(limits=1, user_api="blas"):
        _accumulate_into(mom, Y, X, cells, n_cells, weights, chunk_size)
    return mom


def _accumulate_into(mom, Y, X, cells, n_cells, weights, chunk_size):
    order = np.argsort(cells, kind="stable")
    bounds = np.searchsorted(cells[order], np.arange(n_cells + 1))
    for c in range(n_cells):
        idx_c = order[bounds[c] : bounds[c + 1]]
        for start in range(0, idx_c.size, chunk_size):
            idx = idx_c[start : start + chunk_size]
            y = np.asarray(Y[idx], dtype=np.float64)
            x = np.asarray(X[idx], dtype=np.float64)
            w = np.ones(idx.size) if weights is None else weights[idx]
            yw = y * w[:, None]
            xw = x * w[:, None]
            mom["w"][c] += w.sum()
            mom["sy"][c] += yw.sum(0)
            mom["sx"][c] += xw.sum(0)
            mom["syy"][c] += yw.T @ y
            mom["syx"][c] += yw.T @ x
            mom["sxx"][c] += xw.T @ x


def _sum_cells(mom, cell_to_group, n_groups):
    """Add cell moments into group moments."""
    out = {}
    for key, val in mom.items():
        acc = np.zeros((n_groups,) + val.shape[1:])
        np.add.at(acc, cell_to_group, val)
        out[key] = acc
    return out


def _centered(mom):
    """Within-cell centred cross-products and means."""
    w = np.maximum(mom["w"], np.finfo(float).tiny)
    ybar = mom["sy"] / w[:, None]
    xbar = mom["sx"] / w[:, None]
    cyy = mom["syy"] - w[:, None, None] * ybar[:, :, None] * ybar[:, None, :]
    cyx = mom["syx"] - w[:, None, None] * ybar[:, :, None] * xbar[:, None, :]
    cxx = mom["sxx"] - w[:, None, None] * xbar[:, :, None] * xbar[:, None, :]
    return ybar, xbar, cyy, cyx, cxx


def _check_full_rank(cxx, names):
    """Raise when the pooled within-subject covariate matrix is singular."""
    if cxx.shape[0] == 0:
        return
    scale = np.sqrt(np.clip(np.diag(cxx), 0, None))
    bad = scale <= 1e-12 * max(scale.max(), 1.0)
    if bad.any():
        cols = [names[i] for i in np.flatnonzero(bad)]
        raise ValueError(
            f"X columns {cols} do not vary within subjects; they cannot be "
            "separated from the per-subject intercepts. Drop them or pass groups "
            "so that they are estimated across subjects."
        )
    corr = cxx / np.outer(scale, scale)
    eig = np.linalg.eigvalsh(corr)
    if eig[0] < 1e-10 * eig[-1]:
        vec = np.linalg.eigh(corr)[1][:, 0]
        cols = [names[i] for i in np.flatnonzero(np.abs(vec) > 0.1)]
        raise ValueError(
            f"X columns {cols} are collinear within subjects (e.g. probabilities "
            "that sum to one, or sin and cos of clock time with only two clock "
            "times). Drop one of them."
        )


def _within_fit(mom, names):
    """Pooled within-subject OLS of y on x and each subject's residual Gram.

    Parameters
    ----------
    mom : dict
        Per-subject moments (see :func:`_accumulate_moments`).
    names : list of str
        Covariate names, for error messages.

    Returns
    -------
    coef : array, shape (n_channels, n_features)
        Per-channel covariate effects (pooled over subjects).
    intercepts : array, shape (n_groups, n_channels)
        ``mu_g = ybar_g - C xbar_g``.
    resid_grams : array, shape (n_groups, n_channels, n_channels)
        ``sum_t (y_t - mu_g - C x_t)(...)'`` per subject.
    """
    ybar, xbar, cyy, cyx, cxx = _centered(mom)
    pooled_xx = cxx.sum(0)
    pooled_yx = cyx.sum(0)
    n_features = pooled_xx.shape[0]
    if n_features:
        _check_full_rank(pooled_xx, names)
        coef = np.linalg.solve(pooled_xx, pooled_yx.T).T
    else:
        coef = np.zeros((pooled_yx.shape[0], 0))
    cross = cyx @ coef.T
    grams = cyy - cross - np.swapaxes(cross, 1, 2) + coef @ cxx @ coef.T
    grams = 0.5 * (grams + np.swapaxes(grams, 1, 2))
    intercepts = ybar - xbar @ coef.T
    return coef, intercepts, grams


def _resid_gram_raw(mom, coef, mu):
    """``sum_t (y_t - mu - C x_t)(...)'`` per cell from raw moments."""
    szz = (
        mom["syy"]
        - mom["syx"] @ coef.T
        - coef @ np.swapaxes(mom["syx"], 1, 2)
        + coef @ mom["sxx"] @ coef.T
    )
    sz = mom["sy"] - mom["sx"] @ coef.T
    gram = (
        szz
        - sz[:, :, None] * mu[:, None, :]
        - mu[:, :, None] * sz[:, None, :]
        + mom["w"][:, None, None] * mu[:, :, None] * mu[:, None, :]
    )
    return 0.5 * (gram + np.swapaxes(gram, 1, 2))


def _eigh_desc(gram):
    """Eigenvalues (descending) and eigenvectors of a symmetric matrix."""
    vals, vecs = np.linalg.eigh(gram)
    return vals[::-1], vecs[:, ::-1]


def _impute_gaussian(X, Z, coef, psi_inv, mean, cov):
    """Posterior means of missing covariates under a Gaussian model.

    Model: ``x ~ N(mean, cov)`` and ``z | x ~ N(coef x, psi)`` where ``z`` is
    the response minus its intercept. Missing entries of ``x`` get
    ``E[x_m | x_o, z]``; observed entries are kept.

    Parameters
    ----------
    X : array, shape (n, q)
        Covariates with NaN for missing entries.
    Z : array, shape (n, p) | None
        Responses minus intercepts; None uses the covariate model only.
    coef : array, shape (p, q)
        Effects of ``x`` on ``z``.
    psi_inv : array, shape (p, p)
        Inverse residual covariance of ``z`` given ``x``.
    mean : array, shape (q,)
        Covariate mean.
    cov : array, shape (q, q)
        Covariate covariance.

    Returns
    -------
    X_filled : array, shape (n, q)
        Posterior means in the missing cells.
    posterior : tuple of (rows, covs)
        ``rows`` (array of int), the rows with a missing value, and ``covs``
        (array, shape (len(rows), q, q)), their posterior covariances (zero
        on observed entries), which EM adds to the normal equations.
    """
    X = np.array(X, dtype=float, copy=True)
    miss = np.isnan(X)
    rows_missing = np.flatnonzero(miss.any(1))
    covs = np.zeros((rows_missing.size, X.shape[1], X.shape[1]))
    if rows_missing.size == 0:
        return X, (rows_missing, covs)
    patterns, inverse = np.unique(miss[rows_missing], axis=0, return_inverse=True)
    ridge = 1e-9 * max(np.trace(cov) / max(cov.shape[0], 1), 1e-300)
    for k, pattern in enumerate(patterns):
        sel = rows_missing[inverse.ravel() == k]
        m = np.flatnonzero(pattern)
        o = np.flatnonzero(~pattern)
        s_oo = cov[np.ix_(o, o)] + ridge * np.eye(o.size)
        s_mo = cov[np.ix_(m, o)]
        gain = np.linalg.solve(s_oo, s_mo.T).T if o.size else np.zeros((m.size, 0))
        prior_mean = mean[m] + (X[np.ix_(sel, o)] - mean[o]) @ gain.T
        prior_cov = cov[np.ix_(m, m)] - gain @ s_mo.T + ridge * np.eye(m.size)
        prior_prec = np.linalg.inv(prior_cov)
        if Z is None:
            post_cov = prior_cov
            post_mean = prior_mean
        else:
            c_m = coef[:, m]
            c_o = coef[:, o]
            resid = Z[sel] - X[np.ix_(sel, o)] @ c_o.T
            post_prec = prior_prec + c_m.T @ psi_inv @ c_m
            post_cov = np.linalg.inv(post_prec)
            rhs = prior_mean @ prior_prec + resid @ psi_inv @ c_m
            post_mean = rhs @ post_cov
        X[np.ix_(sel, m)] = post_mean
        pos = np.searchsorted(rows_missing, sel)
        covs[np.ix_(pos, m, m)] = post_cov
    return X, (rows_missing, covs)


def _bai_als(grams, n_factors, *, beta_init=None, tol=1e-10, max_iter=10000):
    """Bai (2009) interactive-fixed-effects estimator from Gram matrices.

    Model ``Y = sum_k beta_k X_k + F L' + E`` for ``T x N`` panels (``N``
    units, here channels). All the alternating least squares needs is the
    ``(K + 1) N`` square Gram matrix of the stacked vectors
    ``z_t = [y_t, x_t1, ..., x_tK]``, accumulated over time once; every
    iteration then costs ``O(K^2 N^2 + N^3)`` whatever ``T``.

    Parameters
    ----------
    grams : array, shape (n_groups, K + 1, K + 1, N, N)
        ``grams[g, a, b] = sum_t z_ta z_tb'`` per group (block ``0`` is ``y``),
        after any demeaning the caller wants (e.g. within-unit over time).
        Each group has its own loadings; ``beta`` is shared.
    n_factors : int or sequence of int
        Rank per group.
    beta_init : array, shape (K,) | None
        Start; None uses pooled OLS.
    tol : float
        Stop when ``max |beta_new - beta| <= tol * (1 + max |beta|)``.
    max_iter : int
        Maximum number of iterations.

    Returns
    -------
    beta : array, shape (K,)
        Coefficients.
    loadings : list of array, shape (N, r_g)
        Orthonormal loadings per group (``L' L = I``).
    n_iter : int
        Iterations run.
    """
    grams = np.asarray(grams, dtype=float)
    n_groups = grams.shape[0]
    ranks = np.broadcast_to(np.asarray(n_factors, dtype=int), (n_groups,))
    # Traces used by the beta step: tr(S_ab) and tr(P S_ab).
    tr_full = np.trace(grams, axis1=3, axis2=4).sum(0)
    if beta_init is None:
        beta = np.linalg.solve(tr_full[1:, 1:], tr_full[1:, 0])
    else:
        beta = np.asarray(beta_init, dtype=float).copy()
    coefs = np.concatenate([[1.0], -beta])
    loadings = []
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        loadings = []
        normal = tr_full.copy()
        for g in range(n_groups):
            resid = np.einsum("a,b,abij->ij", coefs, coefs, grams[g])
            _, vecs = _eigh_desc(0.5 * (resid + resid.T))
            lam = vecs[:, : ranks[g]]
            loadings.append(lam)
            normal -= np.einsum("ik,abij,jk->ab", lam, grams[g], lam)
        new_beta = np.linalg.solve(normal[1:, 1:], normal[1:, 0])
        converged = np.max(np.abs(new_beta - beta), initial=0.0) <= tol * (
            1 + np.max(np.abs(beta), initial=0.0)
        )
        beta = new_beta
        coefs = np.concatenate([[1.0], -beta])
        if converged:
            break
    return beta, loadings, n_iter


def fit_bai_ife(
    y,
    X,
    n_factors,
    *,
    demean=False,
    bias_correction=False,
    tol=1e-10,
    max_iter=10000,
    conf_level=0.95,
):
    """Bai (2009) interactive-fixed-effects regression with shared coefficients.

    ``y_it = sum_k beta_k X_itk + lambda_i' F_t + e_it`` with one
    coefficient per regressor shared by all units (channels), regressors that
    vary over units and time, and ``n_factors`` latent factors. The
    ``(K + 1) N`` square Gram matrix of ``[y_t, X_t]`` is accumulated once;
    the alternating least squares then never touches the ``T x N`` data.

    Parameters
    ----------
    y : array, shape (n_times, n_units)
        Responses.
    X : array, shape (n_times, n_units, n_regressors)
        Regressors.
    n_factors : int
        Number of factors.
    demean : bool
        Remove unit means over time first (unit fixed effects ``alpha_i``).
        Off by default: Bai's model has no additive effects, and demeaning
        adds an ``O(1/T)`` bias in short panels.
    bias_correction : bool
        Subtract Bai's (2009, Section 7) estimated asymptotic bias
        ``B / N + C / T`` from the least-squares ``beta`` and centre the
        intervals on the result. ``B / N`` arises when the error variance
        differs between units in step with their loadings, ``C / T`` when it
        changes over time in step with the factors; both are zero for
        homoskedastic errors. The correction assumes errors uncorrelated over
        units and over time; with ``demean=True`` it is computed on the
        demeaned data (Bai 2009, Section 6). Off by default, which keeps the
        least-squares estimate: the bias matters when ``sqrt(N / T)`` or
        ``sqrt(T / N)`` is large and the heteroskedasticity follows the
        factors; the estimated bias is always returned.
    tol : float
        Convergence tolerance on the coefficients.
    max_iter : int
        Maximum number of iterations.
    conf_level : float
        Level of the confidence intervals.

    Returns
    -------
    result : Bunch
        ``coef`` (n_regressors,): the bias-corrected estimate when
        ``bias_correction`` is True, else the least-squares one;
        ``coef_ls``, the least-squares estimate; ``bias``, the estimated
        ``B / N + C / T`` (``coef = coef_ls - bias`` when corrected), split
        into ``bias_units`` (``B / N``) and ``bias_times`` (``C / T``);
        ``bias_corrected`` (bool); ``se`` and ``cov`` (the
        heteroskedasticity-robust sandwich of Bai 2009, Theorem 3,
        degrees-of-freedom corrected; the same for both estimates, whose
        limiting variances agree); ``conf_int`` (n_regressors, 2: normal
        intervals around ``coef``); ``loadings`` (n_units, n_factors, with
        ``L'L = I``); ``factors`` (n_times, n_factors); ``n_iter``.

    Notes
    -----
    The intervals assume errors uncorrelated over units and over time. In
    Bai's design with variances that follow the factors or loadings
    (``benchmarks/bench_panel_inference.py``, noise SD 1, 200 panels per
    cell), the least-squares bias of 0.8-0.9 standard errors at
    ``N, T = 100, 20`` or ``20, 100`` is reduced by about two thirds and the
    coverage of 95% intervals rises from 0.82 to 0.91; at ``100, 100`` a bias
    of 0.45 standard errors is removed; with homoskedastic errors the
    correction is nil.
    The plug-in estimate of the bias is attenuated in short panels, and with
    noise so heteroskedastic that single units or time points rival the
    factors, neither estimate nor its standard error can be trusted.

    Examples
    --------
    >>> from sk_eeg.datasets import make_bai2009_panel
    >>> from sk_eeg.panel import fit_bai_ife
    >>> data = make_bai2009_panel(100, 100, random_state=1)
    >>> res = fit_bai_ife(data.y, data.X, n_factors=2)
    >>> [round(float(b), 1) for b in res.coef]
    [1.0, 3.0]
    """
    from sklearn.utils import Bunch

    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    if y.ndim != 2 or X.ndim != 3 or X.shape[:2] != y.shape:
        raise ValueError(
            "y must have shape (n_times, n_units) and X (n_times, n_units, "
            f"n_regressors); got {y.shape} and {X.shape}."
        )
    n_times, n_units, n_reg = X.shape
    if not 0 <= n_factors < n_units:
        raise ValueError(f"n_factors must be in [0, {n_units - 1}], got {n_factors}.")
    if not isinstance(bias_correction, (bool, np.bool_)):
        raise ValueError(
            f"bias_correction must be True or False, got {bias_correction!r}."
        )
    Z = np.concatenate([y[:, None, :], np.moveaxis(X, 2, 1)], axis=1)
    Z = Z.reshape(n_times, (n_reg + 1) * n_units)
    if demean:
        Z = Z - Z.mean(0)
    gram = (Z.T @ Z).reshape(n_reg + 1, n_units, n_reg + 1, n_units)
    gram = np.transpose(gram, (0, 2, 1, 3))[None]
    # Each iteration is a few small (N x N) products and one eigh: BLAS threads
    # only add contention there.
    with threadpool_limits(limits=1, user_api="blas"):
        beta, loadings, n_iter = _bai_als(gram, n_factors, tol=tol, max_iter=max_iter)
    coefs = np.concatenate([[1.0], -beta])
    resid = np.einsum("a,tai->ti", coefs, Z.reshape(n_times, n_reg + 1, n_units))
    lam = loadings[0]
    factors = resid @ lam
    Xd = np.moveaxis(Z.reshape(n_times, n_reg + 1, n_units)[:, 1:], 1, 2)
    inf = _bai_inference(resid - factors @ lam.T, Xd, factors, lam, demean)
    bias = inf["bias_units"] + inf["bias_times"]
    coef = beta - bias if bias_correction else beta
    z = _norm_quantile(1 - (1 - conf_level) / 2)
    return Bunch(
        coef=coef,
        coef_ls=beta,
        se=inf["se"],
        cov=inf["cov"],
        conf_int=np.column_stack([coef - z * inf["se"], coef + z * inf["se"]]),
        bias=bias,
        bias_units=inf["bias_units"],
        bias_times=inf["bias_times"],
        bias_corrected=bool(bias_correction),
        loadings=lam,
        factors=factors,
        n_iter=n_iter,
    )


def _norm_quantile(q):
    from scipy.stats import norm

    return float(norm.ppf(q))


def _bai_inference(resid, X, factors, loadings, demean):
    """Robust covariance and asymptotic bias of Bai's (2009) ``beta``.

    With ``Z_k = M_F X_k M_L`` (``X_k`` the ``T x N`` regressor, ``M`` the
    residual projections on the factors and on the loadings) and
    ``D = [<Z_k, Z_l>]``, the covariance is the sandwich
    ``D^-1 (sum_it e_it^2 z_it z_it') D^-1``, scaled by ``NT / (NT - (N + T)
    r - K)`` (Bai 2009, Theorem 3: errors heteroskedastic over units and
    time, uncorrelated).

    The bias is Bai's (2009, Section 7, eqs. 23-24) ``B / N + C / T`` for
    errors without serial or cross-sectional correlation. With
    ``A = F (F'F)^-1 (L'L)^-1 L'`` (``T x N``), the unit variances
    ``s_i^2 = mean_t e_it^2`` and the time variances ``s_t^2 = mean_i
    e_it^2`` (both with the covariance's degrees-of-freedom factor)::

        B / N = -T D^-1 [sum_it (X_k M_L)_it A_it s_i^2]_k
        C / T = -N D^-1 [sum_it (M_F X_k)_it A_it s_t^2]_k

    ``X_k M_L`` is Bai's ``X_i - V_i`` and ``F (F'F)^-1 (L'L)^-1 lambda_i``
    is his ``F/T (F'F/T)^-1 (L'L/N)^-1 lambda_i / N``. Both sums vanish when
    the variances are constant (``Lambda' M_L = 0``, ``M_F F = 0``): ``B``
    comes from error variances that differ between units, ``C`` from
    variances that change over time.
    """
    n_times, n_units, n_reg = X.shape
    r = factors.shape[1]
    proj_f = factors @ np.linalg.pinv(factors.T @ factors) @ factors.T
    proj_l = loadings @ np.linalg.pinv(loadings.T @ loadings) @ loadings.T
    Z = np.empty_like(X)
    X_ml = np.empty_like(X)
    X_mf = np.empty_like(X)
    for k in range(n_reg):
        X_mf[:, :, k] = X[:, :, k] - proj_f @ X[:, :, k]
        X_ml[:, :, k] = X[:, :, k] - X[:, :, k] @ proj_l
        Z[:, :, k] = X_mf[:, :, k] - X_mf[:, :, k] @ proj_l
    Zf = Z.reshape(-1, n_reg)
    D_inv = np.linalg.pinv(Zf.T @ Zf)
    dof = n_times * n_units - (n_times + n_units) * r - n_reg
    dof -= n_units if demean else 0
    scale = n_times * n_units / max(dof, 1)
    meat = (Zf * (resid**2).reshape(-1, 1)).T @ Zf
    cov = D_inv @ meat @ D_inv * scale
    if r:
        A = (
            factors
            @ np.linalg.pinv(factors.T @ factors)
            @ np.linalg.pinv(loadings.T @ loadings)
            @ loadings.T
        )
        # The factors absorb most of the noise where their leverage is high:
        # divide each squared residual by its leverage complement.
        lev = np.outer(1 - np.diag(proj_f), 1 - np.diag(proj_l))
        var_cells = resid**2 / np.clip(lev, 0.05, None)
        var_units = np.mean(var_cells, axis=0)
        var_times = np.mean(var_cells, axis=1)
        b = np.einsum("tik,ti,i->k", X_ml, A, var_units)
        c = np.einsum("tik,ti,t->k", X_mf, A, var_times)
        bias_units = -n_times * D_inv @ b
        bias_times = -n_units * D_inv @ c
    else:
        bias_units = bias_times = np.zeros(n_reg)
    return {
        "cov": cov,
        "se": np.sqrt(np.diag(cov)),
        "bias_units": bias_units,
        "bias_times": bias_times,
    }
