"""Number-of-factors criteria computed from one eigendecomposition.

Every criterion reads the eigenvalues of the residual Gram matrix (channels x
channels), so all candidate ranks are scored at once without refitting:

- Bai & Ng (2002) ``PC_p1..3`` and ``IC_p1..3``;
- Ahn & Horenstein (2013) eigenvalue ratio ``ER`` and growth ratio ``GR``
  (with the mock eigenvalue ``V(0) / ln min(N, T)`` so that ``r = 0`` can win);
- Onatski (2010) edge distribution ``ED``;
- the eigenvalue-edge rule ``edge``: a sequential test of the eigenvalues of
  the Gram matrix of channels whitened by their idiosyncratic variance
  against the largest eigenvalue white noise reaches at the 2.5% level,
  calibrated for the data's size by a seeded simulation
  (:func:`_edge_ratios`);
- ``white``: the smallest rank beyond which the whitened eigenvalues spread
  no more than white noise allows (a sphericity test, :func:`_dispersion`);
- ``consensus`` (the default of :class:`IFEPanelRegressor`): the edge rule's
  choice when the residual beyond it looks white (its ``white`` ratio
  <= 1) and it exceeds the larger of the ED and GR choices by at most two,
  else the median of the ED, edge and GR choices (of ED, GR and IC_p1 when
  only eigenvalues are given). The edge rule is exact for white noise of
  any variance per channel; at a fixed small number of channels the Bai-Ng
  and Ahn-Horenstein criteria miss factors that explain a few percent of
  each channel (their penalties need ``N`` to grow), and at ``N = T = 32``
  ED and GR miss the third Bai-Ng factor together in a fifth of draws. With
  noise correlated across channels or in time the edge rule overshoots and
  its guard (or the limit of two) hands over to the median, where ED and GR
  decide (ED's false positives on tightly clustered noise eigenvalues,
  ``T >> p``, are broken by GR). Measured in ``benchmarks/bench_panel.py``;
- cross-validation (``"cv"``): leave-one-channel-out prediction of held-out
  time blocks, from per-fold Gram matrices only (see :func:`_cv_rank_errors`).
"""

from functools import lru_cache

import numpy as np

CRITERIA = ("pc1", "pc2", "pc3", "ic1", "ic2", "ic3", "er", "gr", "ed", "edge", "white")


def _max_rank(n_units, n_times, max_factors):
    """Largest rank every criterion can score (ER/GR need ``mu_{k+1}``)."""
    return int(max(0, min(max_factors, min(n_units, n_times) - 2)))


# Tracy-Widom (beta = 1) law of the largest eigenvalue: mean, SD and 97.5%
# quantile (Johnstone, 2001), and the 99% normal quantile.
_TW_MEAN, _TW_SD, _TW_Q = -1.2065336, 1.2679830, 1.4540
_Z99 = 2.3263479
_NULL_DRAWS = 1000


def _tw_centring(n_units, n_times):
    """Johnstone's (2001) centring and scale of the largest noise eigenvalue.

    For the Gram matrix of ``n_times`` demeaned samples of ``n_units`` white
    channels of unit variance: ``mu = (sqrt(T - 1) + sqrt(p))^2`` and
    ``sigma = sqrt(mu) (1 / sqrt(T - 1) + 1 / sqrt(p))^(1/3)``.
    """
    root = np.sqrt(n_times - 1.0) + np.sqrt(n_units)
    return root**2, root * (1 / np.sqrt(n_times - 1.0) + 1 / np.sqrt(n_units)) ** (
        1 / 3
    )


def _dispersion(vals, n_units, n_times):
    """John's sphericity statistic of eigenvalues, centred for white noise.

    ``m (p sum(l^2) / sum(l)^2 - 1) - p`` with ``p`` the smaller and ``m``
    the larger of the two dimensions; about ``N(1, 4)`` for white noise
    (Ledoit & Wolf, 2002), large when the eigenvalues spread more than white
    noise allows (noise correlated across channels or in time, a factor left).
    """
    small = min(n_units, n_times - 1)
    large = max(n_units, n_times - 1)
    mean = vals.mean() if vals.size else 0.0
    if small < 2 or not mean > 0:
        return np.nan
    return large * (np.mean((vals / mean) ** 2) - 1.0) - small


def _white_gram(n_units, n_dof, rng):
    """Gram matrix of ``n_dof`` samples of ``n_units`` white channels."""
    if n_dof < 2 * n_units:
        x = rng.standard_normal((n_dof, n_units))
        return x.T @ x
    # Bartlett decomposition: O(p^2) draws whatever the number of samples.
    chol = np.tril(rng.standard_normal((n_units, n_units)), -1)
    chol[np.diag_indices(n_units)] = np.sqrt(rng.chisquare(n_dof - np.arange(n_units)))
    return chol @ chol.T


@lru_cache(maxsize=128)
def _white_null(n_units, n_times):
    """White-noise thresholds of the edge rule and its guard, by simulation.

    Draws ``_NULL_DRAWS`` Gram matrices of white noise of the given size
    (fixed seed, so the rule is deterministic) and normalises each channel by
    its own variance, as the edge rule does at rank 0. The largest eigenvalue
    in Tracy-Widom units (``(lambda_1 - mu) / sigma``, :func:`_tw_centring`)
    gets the 97.5% quantile of a Tracy-Widom law moved to the simulated mean
    and SD (more stable than an empirical tail quantile of 1000 draws); at
    small sizes it lies well below the Tracy-Widom quantile itself, which is
    conservative for these normalised (correlation) matrices and cost the
    rule the third Bai-Ng factor at ``N = T = 32``. The spread
    :func:`_dispersion` gets its simulated mean and SD.

    Returns
    -------
    z_top : float
        97.5% quantile of the largest eigenvalue, in Tracy-Widom units.
    disp_mean, disp_sd : float
        Mean and SD of :func:`_dispersion`.
    """
    rng = np.random.RandomState(0)
    mu, sigma = _tw_centring(n_units, n_times)
    n_pos = min(n_units, n_times - 1)
    top, disp = np.empty(_NULL_DRAWS), np.empty(_NULL_DRAWS)
    for i in range(_NULL_DRAWS):
        gram = _white_gram(n_units, n_times - 1, rng)
        scale = 1.0 / np.sqrt(np.diag(gram))
        vals = np.linalg.eigvalsh(gram * np.outer(scale, scale))[::-1][:n_pos]
        top[i] = (vals[0] * (n_times - 1) * n_units / vals.sum() - mu) / sigma
        disp[i] = _dispersion(vals, n_units, n_times)
    z_top = top.mean() + (_TW_Q - _TW_MEAN) / _TW_SD * top.std()
    return float(z_top), float(disp.mean()), float(disp.std())


def _whitened_eigvals(gram, n_times, rank, psi=None, max_iter=30, tol=1e-6):
    """Eigenvalues of the Gram matrix of channels scaled by their noise SD.

    The idiosyncratic variance of each channel given ``rank`` factors is its
    residual sum of squares after the leading ``rank`` components of the
    scaled matrix, over its degrees of freedom ``(T - rank) (1 - h_i)``
    (``h_i`` the channel's leverage on those components, as in probabilistic
    PCA); without that correction channels that load on the components get
    too small a variance, which spreads the noise eigenvalues beyond the
    edge at large ``T``. Iterated from ``psi`` (the diagonal of ``gram`` when
    None) to a fixed point (relative change below ``tol``), and floored at
    ``1e-4`` of each channel's variance. At rank 0 the scaled matrix is the
    correlation matrix.

    Returns
    -------
    vals : array, shape (n_channels,)
        Eigenvalues of the scaled Gram matrix, descending.
    psi : array, shape (n_channels,)
        Noise variance per channel (times ``T``), for a warm start.
    """
    diag = np.diag(gram)
    psi = diag.copy() if rank == 0 or psi is None else psi.copy()
    for _ in range(max_iter if rank else 0):
        scale = 1.0 / np.sqrt(psi)
        vals, vecs = np.linalg.eigh(gram * np.outer(scale, scale))
        vals, vecs = np.clip(vals[::-1], 0, None), vecs[:, ::-1]
        lead = vecs[:, :rank] ** 2
        resid = diag * scale**2 - lead @ vals[:rank]
        leverage = np.minimum(lead.sum(1), 0.95)
        new = psi * np.maximum(resid, 0) / ((n_times - rank) * (1.0 - leverage))
        new = np.maximum(new, 1e-4 * diag / n_times)
        done = np.max(np.abs(new / psi - 1.0)) < tol
        psi = new
        if done:
            break
    scale = 1.0 / np.sqrt(psi)
    vals = np.linalg.eigvalsh(gram * np.outer(scale, scale))[::-1]
    return np.clip(vals, 0, None), psi


def _edge_ratios(gram, n_times, kmax):
    """Whitened eigenvalues over the white-noise edge, and the white-noise guard.

    The eigenvalue-edge rule, a sequential test: for ``k = 0, 1, ...`` the
    channels are scaled by their idiosyncratic SD given ``k`` factors
    (:func:`_whitened_eigvals`) and the ``(k + 1)``-th eigenvalue is compared
    with the largest eigenvalue white noise would reach after ``k`` factors
    are removed, ``s2 (mu + z sigma)``: ``mu``, ``sigma`` the Tracy-Widom
    centring and scale of a ``(T - k) x (p - k)`` noise matrix
    (:func:`_tw_centring`), ``z`` the 97.5% quantile of the normalised largest
    eigenvalue of white noise of the data's size, simulated
    (:func:`_white_null`), and ``s2`` the eigenvalues beyond ``k`` per degree
    of freedom ``(T - 1 - k) (p - k)``. The rule's rank is the number of
    leading ratios >= 1. Exact for white noise of any variance per channel;
    noise correlated across channels or in time spreads beyond the edge, which
    the guard detects: the spread of the whitened eigenvalues beyond ``k``
    (:func:`_dispersion`) minus its white-noise mean, over 2.33 white-noise
    SDs (<= 1: below the 99% normal quantile, the residual looks white).

    Returns
    -------
    ratios : array, shape (kmax + 1,)
        ``lambda_k / edge_{k-1}`` (0 at ``k = 0``; NaN where undefined).
    white : array, shape (kmax + 1,)
        Guard ratio given ``k`` factors.
    """
    n_units = gram.shape[0]
    ratios = np.full(kmax + 1, np.nan)
    white = np.full(kmax + 1, np.nan)
    diag = np.diag(gram)
    if kmax == 0 or n_times < 4 or n_units < 3:
        return ratios, white
    if not np.all(np.isfinite(gram)) or np.any(diag <= 1e-12 * diag.max(initial=0)):
        return ratios, white  # a constant channel: no noise scale to whiten by
    z_top, disp_mean, disp_sd = _white_null(n_units, n_times)
    n_pos = min(n_units, n_times - 1)
    ratios[0] = 0.0
    for k in range(kmax + 1):
        if min(n_units, n_times - 1) - k < 2:
            break
        # Each rank from the channel variances down: a start from the previous
        # rank's fixed point can end in another one, with one channel's noise
        # variance near zero (a Heywood case) and spurious ratios above 1.
        vals, _ = _whitened_eigvals(gram, n_times, k)
        tail = vals[k:n_pos]
        disp = _dispersion(tail, n_units - k, n_times - k)
        white[k] = (disp - disp_mean) / max(_Z99 * disp_sd, np.finfo(float).tiny)
        if k < kmax:
            mu, sigma = _tw_centring(n_units - k, n_times - k)
            noise = tail.sum() / ((n_times - 1.0 - k) * (n_units - k))
            edge = max(noise * (mu + z_top * sigma), np.finfo(float).tiny)
            ratios[k + 1] = vals[k] / edge
    return ratios, white


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
        The Gram matrix itself, for the eigenvalue-edge rule ``'edge'`` and
        its white-noise guard ``'white'`` (NaN without it).

    Returns
    -------
    table : dict of str -> array, shape (kmax + 1,)
        Criterion values; ``pc*``/``ic*`` are minimized, ``er``/``gr``
        maximized; ``ed``/``edge`` are eigenvalues over their edge and
        ``white`` the guard ratio given each rank (see :func:`_select`).
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
    if gram is None:
        table["edge"] = table["white"] = np.full(kmax + 1, np.nan)
    else:
        gram = np.asarray(gram, dtype=float)
        table["edge"], table["white"] = _edge_ratios(gram, n_times, kmax)
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
        # The edge rule is calibrated for a white residual; noise correlated
        # across channels can look white once enough of it is taken as
        # factors, so the edge rule may add at most two to ED and GR.
        if table["white"][picks[1]] <= 1.0 and picks[1] <= max(picks[::2]) + 2:
            return picks[1]
        return int(np.median(picks))
    if criterion in ("edge", "white") and np.isnan(values).all():
        return _select(table, "gr")
    if criterion == "edge":
        below = np.flatnonzero(~(values[1:] >= 1.0))
        return int(below[0]) if below.size else values.size - 1
    if criterion == "white":
        ok = np.flatnonzero(values <= 1.0)
        return int(ok[0]) if ok.size else int(np.nanargmin(values))
    if criterion == "ed":
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
