"""Number-of-factors criteria computed from one eigendecomposition.

Every criterion reads the eigenvalues of the residual Gram matrix (channels x
channels), so all candidate ranks are scored at once without refitting:

- Bai & Ng (2002) ``PC_p1..3`` and ``IC_p1..3``;
- Ahn & Horenstein (2013) eigenvalue ratio ``ER`` and growth ratio ``GR``
  (with the mock eigenvalue ``V(0) / ln min(N, T)`` so that ``r = 0`` can win);
- Onatski (2010) edge distribution ``ED``;
- the eigenvalue-edge rule ``edge``: eigenvalues of the Gram matrix of
  channels whitened by their idiosyncratic variance, above the 99%
  Tracy-Widom edge of white noise (:func:`_edge_ratios`);
- ``consensus``: the median of the ED, edge and GR choices (the default of
  :class:`IFEPanelRegressor`; of ED, GR and IC_p1 when only eigenvalues are
  given), so ED and the edge rule decide when they agree. At a fixed small
  number of channels the Bai-Ng and Ahn-Horenstein criteria miss factors
  that explain a few percent of each channel (their penalties need ``N`` to
  grow); ED and the edge rule find them, and GR breaks their ties: ED's
  false positives on tightly clustered noise eigenvalues (``T >> p``), the
  edge rule's on noise correlated across channels. Measured in
  ``benchmarks/bench_panel.py``;
- cross-validation (``"cv"``): leave-one-channel-out prediction of held-out
  time blocks, from per-fold Gram matrices only (see :func:`_cv_rank_errors`).
"""

import numpy as np

CRITERIA = ("pc1", "pc2", "pc3", "ic1", "ic2", "ic3", "er", "gr", "ed", "edge")


def _max_rank(n_units, n_times, max_factors):
    """Largest rank every criterion can score (ER/GR need ``mu_{k+1}``)."""
    return int(max(0, min(max_factors, min(n_units, n_times) - 2)))


# 99% quantile of the Tracy-Widom (beta = 1) law of the largest eigenvalue.
_TW99 = 2.0234


def _edge_ratios(gram, n_times, kmax, max_iter=20):
    """Whitened eigenvalues over the noise edge: the eigenvalue-edge rule.

    Channels are scaled by their idiosyncratic standard deviation (given the
    current rank ``k``: the diagonal of the Gram matrix minus its rank-``k``
    part), and the eigenvalues of the scaled Gram matrix are compared with
    the largest eigenvalue white noise of that variance would reach,
    ``s2 (mu + q sigma)`` with Johnstone's (2001) centring ``mu = (sqrt(T - 1)
    + sqrt(p))^2``, scale ``sigma = sqrt(mu) (1 / sqrt(T - 1) + 1 / sqrt(p))^(1/3)``,
    ``q`` the 99% Tracy-Widom quantile, and ``s2`` the mean of the
    eigenvalues beyond ``k`` per degree of freedom; ``k`` is then the count
    above the edge, iterated to a fixed point. Returns ``lambda_k / edge``
    for ``k = 0..kmax`` (0 at ``k = 0``); the rule's rank is the number of
    ratios >= 1. Exact for white noise of any variance per channel; noise
    correlated across channels spreads beyond the edge, hence the rule is
    combined with ED (see :func:`_select`).
    """
    n_units = gram.shape[0]
    out = np.full(kmax + 1, np.nan)
    if kmax == 0 or n_times < 3 or n_units < 3:
        return out
    root = np.sqrt(n_times - 1.0) + np.sqrt(n_units)
    mu = root**2
    sigma = root * (1 / np.sqrt(n_times - 1.0) + 1 / np.sqrt(n_units)) ** (1 / 3)
    n_pos = min(n_units, n_times)
    diag = np.diag(gram)
    if not np.all(np.isfinite(gram)) or np.any(diag <= 1e-12 * diag.max(initial=0)):
        return out  # a constant channel: no noise scale to whiten by
    psi = diag.copy()
    rank = 0
    for _ in range(max_iter):
        scale = 1.0 / np.sqrt(psi)
        scaled = gram * np.outer(scale, scale)
        if not np.all(np.isfinite(scaled)):
            return np.full(kmax + 1, np.nan)
        vals, vecs = np.linalg.eigh(scaled)
        vals, vecs = np.clip(vals[::-1], 0, None), vecs[:, ::-1]
        dof = max((n_times - rank) * (n_units - rank), 1)
        edge = vals[rank:n_pos].sum() / dof * (mu + _TW99 * sigma)
        ratios = vals[: kmax + 1] / max(edge, np.finfo(float).tiny)
        new = int(np.sum(ratios[:kmax] >= 1.0))
        low = (vecs[:, :new] * vals[:new]) @ vecs[:, :new].T
        resid = np.diag(gram * np.outer(scale, scale) - low)
        psi = psi * np.maximum(resid, 1e-12 * resid.max(initial=1.0)) / n_times
        if new == rank:
            break
        rank = new
    out[0] = 0.0
    out[1:] = ratios[:kmax]
    return out


def _criteria_table(eigvals, n_units, n_times, kmax, gram=None):
    """Score ranks ``0..kmax`` with every information and ratio criterion.

    Parameters
    ----------
    eigvals : array, shape (n_units,)
        Eigenvalues of the residual Gram matrix ``E' E`` (any order).
    n_units : int
        Cross-section size ``N`` (channels).
    n_times : int
        Number of time points ``T``.
    kmax : int
        Largest candidate rank.
    gram : array, shape (n_units, n_units) | None
        The Gram matrix itself, for the eigenvalue-edge rule ``'edge'``
        (NaN without it).

    Returns
    -------
    table : dict of str -> array, shape (kmax + 1,)
        Criterion values; ``pc*``/``ic*`` are minimized, ``er``/``gr`` maximized.
    """
    mu = np.sort(np.clip(np.asarray(eigvals, dtype=float), 0, None))[::-1]
    nt = float(n_units) * float(n_times)
    mu = mu / nt
    total = mu.sum()
    ks = np.arange(kmax + 1)
    # V(k): mean squared residual after k factors.
    v = total - np.concatenate([[0.0], np.cumsum(mu)])[: kmax + 1]
    v = np.maximum(v, np.finfo(float).tiny)
    c2 = min(n_units, n_times)
    g1 = (n_units + n_times) / nt * np.log(nt / (n_units + n_times))
    g2 = (n_units + n_times) / nt * np.log(c2)
    g3 = np.log(c2) / c2
    sigma2 = v[kmax]
    table = {}
    for j, g in enumerate((g1, g2, g3), start=1):
        table[f"pc{j}"] = v + ks * sigma2 * g
        table[f"ic{j}"] = np.log(v) + ks * g
    # Ahn-Horenstein with a mock eigenvalue mu_0 = V(0) / ln(min(N, T)).
    mock = total / max(np.log(c2), 1e-12)
    mu_ext = np.concatenate([[mock], mu])
    tail = np.concatenate(
        [[total + mock], total - np.concatenate([[0.0], np.cumsum(mu)])]
    )
    tiny = np.finfo(float).tiny
    er = mu_ext[: kmax + 1] / np.maximum(mu_ext[1 : kmax + 2], tiny)
    # tail[k + 1] = V_k = sum_{j > k} mu_j, tail[0] = V_{-1} = V_0 + mu_0.
    vk = np.maximum(tail, tiny)
    num = np.log(vk[: kmax + 1] / vk[1 : kmax + 2])
    den = np.log(vk[1 : kmax + 2] / np.maximum(vk[2 : kmax + 3], tiny))
    gr = num / np.maximum(den, tiny)
    table["er"] = er
    table["gr"] = gr
    table["ed"] = _ed_gaps(mu, kmax)
    table["edge"] = (
        np.full(kmax + 1, np.nan)
        if gram is None
        else _edge_ratios(np.asarray(gram, dtype=float), n_times, kmax)
    )
    return table


def _ed_gaps(mu, kmax):
    """Onatski (2010) eigenvalue gaps in units of the edge threshold ``delta``.

    ``delta = 2 |slope|`` of the regression of ``mu_j..mu_{j+4}`` on
    ``(j-1..j+3)^(2/3)``, iterated from ``j = kmax + 1`` to ``j = r + 1``;
    ``r = max{k <= kmax: mu_k - mu_{k+1} >= delta}``. Returns
    ``(mu_k - mu_{k+1}) / delta`` for ``k = 0..kmax`` (0 at ``k = 0``), or NaN
    when fewer than ``kmax + 5`` eigenvalues exist.
    """
    out = np.full(kmax + 1, np.nan)
    if mu.size < kmax + 5 or kmax == 0:
        return out
    gaps = mu[:kmax] - mu[1 : kmax + 1]
    j, rank, delta = kmax + 1, None, np.inf
    for _ in range(mu.size):
        x = np.arange(j - 1, j + 4) ** (2.0 / 3.0)
        slope = np.polyfit(x, mu[j - 1 : j + 4], 1)[0]
        delta = max(2.0 * abs(slope), np.finfo(float).tiny)
        above = np.flatnonzero(gaps >= delta)
        new = int(above.max() + 1) if above.size else 0
        if new == rank or new + 5 > mu.size:
            break
        rank, j = new, new + 1
    out[0] = 0.0
    out[1:] = gaps / delta
    return out


def _select(table, criterion):
    """Chosen rank under ``criterion`` from a criteria table."""
    values = table.get(criterion)
    if criterion == "consensus":
        if np.isnan(table["ed"]).all():
            return _select(table, "gr")
        if np.isnan(table["edge"]).all():
            picks = [_select(table, c) for c in ("ed", "gr", "ic1")]
            return int(np.median(picks))
        picks = [_select(table, c) for c in ("ed", "edge", "gr")]
        return int(np.median(picks))
    if criterion in ("ed", "edge"):
        if np.isnan(values).all():
            return _select(table, "gr")
        above = np.flatnonzero(values >= 1.0)
        return int(above.max()) if above.size else 0
    if criterion in ("er", "gr"):
        return int(np.argmax(values))
    return int(np.argmin(values))


def _loco_weights(loadings):
    """Leave-one-channel-out prediction matrix of a factor model.

    Parameters
    ----------
    loadings : array, shape (n_channels, n_factors)
        Loadings.

    Returns
    -------
    weights : array, shape (n_channels, n_channels)
        Column ``j`` holds the weights that predict channel ``j`` from the
        other channels through factor scores estimated by least squares on
        them (``f = pinv(L_{-j}) e_{-j}``); the diagonal is zero.
    """
    n_channels, n_factors = loadings.shape
    weights = np.zeros((n_channels, n_channels))
    if n_factors == 0:
        return weights
    for j in range(n_channels):
        others = np.r_[0:j, j + 1 : n_channels]
        sub = loadings[others]
        coef, *_ = np.linalg.lstsq(sub.T @ sub, loadings[j], rcond=None)
        weights[others, j] = sub @ coef
    return weights


def _cv_rank_errors(train_grams, test_grams, kmax):
    """Cross-validated error of ranks ``0..kmax`` from per-fold Gram matrices.

    For each fold, loadings come from the eigenvectors of the Gram matrix of
    the other folds; each channel of the held-out fold is predicted from the
    other channels through the factor scores they imply. The error of that
    prediction for all channels is ``sum_j v_j' S_test v_j`` with
    ``v_j = e_j - w_j``, so only Gram matrices are needed.

    Parameters
    ----------
    train_grams : list of array, shape (n_channels, n_channels)
        Residual Gram matrix of the training part of each fold.
    test_grams : list of array, shape (n_channels, n_channels)
        Residual Gram matrix of the held-out part of each fold.
    kmax : int
        Largest rank.

    Returns
    -------
    errors : array, shape (kmax + 1,)
        Summed squared prediction error per rank.
    """
    errors = np.zeros(kmax + 1)
    for train, test in zip(train_grams, test_grams):
        _, vecs = np.linalg.eigh(train)
        vecs = vecs[:, ::-1]
        for k in range(kmax + 1):
            resid_op = np.eye(train.shape[0]) - _loco_weights(vecs[:, :k])
            errors[k] += np.einsum("ij,ik,kj->", resid_op, test, resid_op)
    return errors
