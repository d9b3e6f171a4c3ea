r"""Numerics of the sparse and dense inverse solvers, as functions on arrays.

All solvers work on a whitened, weighted gain ``gain`` of shape
``(n_channels, n_sources * n_orient)`` (the ``n_orient`` columns of a source are
adjacent) and whitened data ``data`` of shape ``(n_channels, n_times)``. The
sparse problems are

.. math::

    \min_X \frac12 \|M - G X\|_F^2 + \alpha \sum_g w_g \Omega(X_g)

with :math:`\Omega` the Frobenius norm of the ``(n_orient, n_times)`` block of
source ``g`` (``'l21'``, MxNE) or its entrywise L1 norm (``'l1'``, the Lasso of
every time sample). They are solved by block coordinate descent on a growing
working set, with Anderson extrapolation and a duality-gap stop.
"""

import warnings

import numpy as np
from scipy.optimize import nnls
from sklearn.exceptions import ConvergenceWarning

from ..utils import logger

_PENALTIES = ("l21", "l1")
# Differences used by Anderson extrapolation in the inner solvers.
_ANDERSON = 5


def _blocks(X, n_orient):
    """View ``X`` (n_sources * n_orient, n_times) as (n_sources, n_orient, n_times)."""
    return X.reshape(-1, n_orient, X.shape[-1])


def _block_norms(X, n_orient, penalty="l21"):
    """Penalty value of each source block (Frobenius or L1 norm)."""
    if penalty == "l21":
        # Row-wise dot products: much faster than a 3-index einsum.
        squares = np.einsum("ij,ij->i", X, X).reshape(-1, n_orient).sum(axis=1)
        return np.sqrt(squares)
    return np.abs(X).sum(axis=1).reshape(-1, n_orient).sum(axis=1)


def _dual_norms(gain, residual, n_orient, penalty="l21", out=None):
    """Dual norm of each source block of the correlation ``G.T @ R``.

    The correlation is formed as ``R.T @ G`` (times x columns), which BLAS
    computes 2-3 times faster than ``G.T @ R`` for a wide gain; ``out``, an
    array of shape ``(n_times, n_cols)``, saves allocating it on every call.
    """
    corr = np.matmul(np.ascontiguousarray(residual.T), gain, out=out)
    if penalty == "l21":
        squares = np.einsum("ij,ij->j", corr, corr).reshape(-1, n_orient).sum(axis=1)
        return np.sqrt(squares)
    from ._kernels import _col_abs_max

    return _col_abs_max(corr).reshape(-1, n_orient).max(axis=1)


def _alpha_max(gain, data, n_orient, penalty="l21", weights=None):
    """Smallest ``alpha`` for which the solution is exactly zero."""
    norms = _dual_norms(gain, data, n_orient, penalty)
    if weights is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            norms = np.where(np.isfinite(weights), norms / weights, 0.0)
    return float(norms.max())


def _predict(gain, X):
    """``gain @ X`` using only the non-zero rows of the sparse ``X``."""
    rows = np.flatnonzero(np.any(X, axis=1))
    return gain[:, rows] @ X[rows]


def _block_lipschitz(gain, n_orient):
    """Largest eigenvalue of ``G_g.T @ G_g`` for every source block."""
    n_channels = gain.shape[0]
    blocks = gain.reshape(n_channels, -1, n_orient)
    if n_orient == 1:
        return np.einsum("cs,cs->s", blocks[:, :, 0], blocks[:, :, 0])
    gram = np.einsum("cso,csp->sop", blocks, blocks)
    return np.linalg.eigvalsh(gram)[:, -1]


def _objective(gain, data, X, alpha, n_orient, penalty="l21", weights=None):
    """Primal objective of the weighted L21 / L1 problem."""
    residual = data - _predict(gain, X)
    pen = _block_norms(X, n_orient, penalty)
    if weights is not None:
        nz = pen > 0
        pen = pen[nz] * weights[nz]
    return 0.5 * float(np.sum(residual**2)) + alpha * float(pen.sum())


def _duality_gap(gain, data, X, alpha, n_orient, penalty="l21", weights=None):
    """Duality gap, primal and dual objective of ``X``.

    The dual point is the residual rescaled into the dual feasible set.
    """
    residual = data - _predict(gain, X)
    pen = alpha * (np.ones(gain.shape[1] // n_orient) if weights is None else weights)
    return _gap_from_residual(gain, data, X, residual, pen, n_orient, penalty)


def _dual_point(gain, data, residual, pen, n_orient, penalty, out=None):
    """Rescale the residual into the dual feasible set.

    Returns the ratio of every source's dual norm to its penalty (0 where the
    penalty is infinite), the dual objective at the rescaled residual and
    ``||residual||^2``; ``out`` is passed to :func:`_dual_norms`.
    """
    finite = np.isfinite(pen)
    ratio = np.zeros(len(pen))
    norms = _dual_norms(gain, residual, n_orient, penalty, out)
    ratio[finite] = norms[finite] / pen[finite]
    scale = max(1.0, float(ratio.max(initial=0.0)))
    res2 = float(np.sum(residual**2))
    dual = float(np.sum(data * residual)) / scale - 0.5 * res2 / scale**2
    return ratio, dual, res2


def _gap_from_residual(gain, data, X, residual, pen, n_orient, penalty):
    _, dual, res2 = _dual_point(gain, data, residual, pen, n_orient, penalty)
    norms = _block_norms(X, n_orient, penalty)
    nz = norms > 0
    primal = 0.5 * res2 + float(np.sum(pen[nz] * norms[nz]))
    return primal - dual, primal, dual


def _cols(groups, n_orient):
    """Gain columns of the source indices ``groups``."""
    return (np.asarray(groups)[:, None] * n_orient + np.arange(n_orient)).ravel()


def _solve_working_set(gain_t, data, X, pen, lipschitz, n_orient, penalty, tol, epochs):
    """Solve the problem restricted to a working set with the compiled kernels.

    ``gain_t`` is the transposed working-set gain ``(n_ws * n_orient,
    n_channels)``; ``pen`` and ``lipschitz`` have one entry per source (all
    finite and positive). Returns the solution, the number of epochs and the
    duality gap of the subproblem.
    """
    from ._kernels import _l1_cd, _l21_bcd

    X = np.array(X, dtype=float, order="C")
    if penalty == "l21":
        n_epochs, gap = _l21_bcd(
            gain_t, data, X, lipschitz, pen, n_orient, tol, epochs, _ANDERSON
        )
        return X, n_epochs, gap
    # The L1 penalty separates over gain columns and time samples: one
    # coordinate per column, one Lasso per time sample.
    col_norms = np.einsum("ij,ij->i", gain_t, gain_t)
    seen = col_norms > 0
    X[~seen] = 0.0
    sq_norms = np.einsum("ij,ij->j", data, data)
    tols = tol * sq_norms / max(float(sq_norms.sum()), 1e-300)
    X_t = np.ascontiguousarray(X[seen].T)
    n_epochs, gaps = _l1_cd(
        np.ascontiguousarray(gain_t[seen]),
        np.ascontiguousarray(data.T),
        X_t,
        col_norms[seen],
        np.repeat(pen, n_orient)[seen],
        tols,
        epochs,
        _ANDERSON,
    )
    X[seen] = X_t.T
    return X, n_epochs, float(gaps.sum())


def _solve_sparse(
    gain,
    data,
    alpha,
    n_orient=1,
    penalty="l21",
    *,
    weights=None,
    X_init=None,
    tol=1e-6,
    max_iter=1000,
    ws_size=None,
    lipschitz=None,
    warn=True,
):
    """Solve the weighted L21 (MxNE) or L1 (Lasso) problem to a duality gap.

    Parameters
    ----------
    gain : array, shape (n_channels, n_sources * n_orient)
        The whitened, weighted gain.
    data : array, shape (n_channels, n_times)
        The whitened data.
    alpha : float
        The regularization, in the units of the objective (not a fraction).
    n_orient : int
        Columns per source (1 fixed, 3 free orientation).
    penalty : {'l21', 'l1'}
        Group penalty over orientations and time, or entrywise L1.
    weights : array, shape (n_sources,) | None
        Penalty weight of each source; ``np.inf`` excludes a source.
    X_init : array, shape (n_sources * n_orient, n_times) | None
        Warm start.
    tol : float
        Stop when the duality gap is below ``tol * ||data||_F^2``.
    max_iter : int
        Maximum total number of coordinate-descent epochs.
    ws_size : int | None
        Initial working-set size (sources); it at least doubles each round.
        None: 20 for ``'l21'``, 60 for ``'l1'`` (whose epochs are cheaper, so
        a larger first set that saves a pass over the whole gain pays off).
    lipschitz : array, shape (n_sources,) | None
        Precomputed block Lipschitz constants.
    warn : bool
        Emit a ``ConvergenceWarning`` when the gap stays above the tolerance.

    Returns
    -------
    X : array, shape (n_sources * n_orient, n_times)
        The solution (exact zeros off the support).
    gap : float
        The final duality gap (objective units).
    n_iter : int
        Total number of coordinate-descent epochs.
    """
    n_cols = gain.shape[1]
    n_sources = n_cols // n_orient
    n_times = data.shape[1]
    if lipschitz is None:
        lipschitz = _block_lipschitz(gain, n_orient)
    pen = np.full(n_sources, float(alpha))
    if weights is not None:
        pen = pen * weights
    # Sources that the gain cannot see can never become active.
    pen = np.where(lipschitz > 0, pen, np.inf)
    finite = np.isfinite(pen)
    data = np.ascontiguousarray(data, dtype=float)
    tol_abs = tol * float(np.sum(data**2))
    if X_init is None:
        X = np.zeros((n_cols, n_times))
        active = np.zeros(0, dtype=int)
    else:
        X = np.array(X_init, float)
        _blocks(X, n_orient)[~finite] = 0.0
        active = np.flatnonzero(_block_norms(X, n_orient, penalty) > 0)
    corr = np.empty((n_times, n_cols))
    first_ws = ws_size or (20 if penalty == "l21" else 60)
    n_iter = 0
    gap = np.inf
    best_dual = -np.inf
    for _ in range(100):
        act_cols = _cols(active, n_orient)
        X_act = X[act_cols]
        residual = data - gain[:, act_cols] @ X_act
        ratio, dual, res2 = _dual_point(
            gain, data, residual, pen, n_orient, penalty, corr
        )
        primal = 0.5 * res2 + float(
            pen[active] @ _block_norms(X_act, n_orient, penalty)
        )
        best_dual = max(best_dual, dual)
        gap = primal - best_dual
        logger.debug(
            "working set: %d active, gap %.3e (tol %.3e)", active.size, gap, tol_abs
        )
        if gap <= tol_abs:
            break
        size = min(n_sources, max(first_ws, 2 * active.size))
        score = ratio
        score[active] = np.inf
        size = min(size, max(int(np.sum(score > 0)), 1))
        ws = np.sort(np.argpartition(-score, size - 1)[:size])
        ws_cols = _cols(ws, n_orient)
        X_ws, epochs, sub_gap = _solve_working_set(
            np.ascontiguousarray(gain[:, ws_cols].T),
            data,
            X[ws_cols],
            pen[ws],
            lipschitz[ws],
            n_orient,
            penalty,
            max(tol_abs * 0.3, 0.1 * gap) if size < n_sources else tol_abs,
            max(max_iter - n_iter, 1),
        )
        n_iter += epochs
        X[act_cols] = 0.0
        X[ws_cols] = X_ws
        active = ws[_block_norms(X_ws, n_orient, penalty) > 0]
        if size == n_sources and sub_gap <= tol_abs:
            gap = sub_gap
            break
        if n_iter >= max_iter:
            gap = _duality_gap(gain, data, X, alpha, n_orient, penalty, weights)[0]
            break
    if warn and gap > tol_abs:
        warnings.warn(
            f"The sparse solver did not converge: duality gap {gap:.3e} > "
            f"{tol_abs:.3e}. Increase max_iter or tol.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return X, gap, n_iter


def _solve_irmxne(
    gain,
    data,
    alpha,
    n_orient=1,
    *,
    n_reweightings=10,
    X_init=None,
    tol=1e-6,
    max_iter=1000,
    ws_size=None,
    lipschitz=None,
    warn=True,
    unit=1.0,
):
    """Solve irMxNE: an L2,0.5 penalty by a sequence of reweighted L21 problems.

    The first problem is MxNE; each next one weighs source ``g`` by
    ``1 / (2 sqrt(||X_g||_F))`` from the previous solution (sources at zero
    leave the model), which majorizes ``alpha * sum_g sqrt(||X_g||_F)``.
    The L2,0.5 penalty is not scale-free: norms are measured in units of
    ``unit`` (MNE uses ``alpha_max / 100``, and so does the estimator), i.e.
    weights are ``1 / (2 sqrt(unit * ||X_g||_F))``.

    Returns
    -------
    X : array, shape (n_sources * n_orient, n_times)
        The solution.
    gap : float
        Duality gap of the last weighted L21 problem.
    n_iter : int
        Number of reweighted problems solved.
    """
    if lipschitz is None:
        lipschitz = _block_lipschitz(gain, n_orient)
    common = dict(tol=tol, max_iter=max_iter, ws_size=ws_size, warn=warn)
    X, gap, _ = _solve_sparse(
        gain,
        data,
        alpha,
        n_orient,
        "l21",
        X_init=X_init,
        lipschitz=lipschitz,
        **common,
    )
    k = 1
    for k in range(2, n_reweightings + 1):
        norms = _block_norms(X, n_orient)
        support = np.flatnonzero(norms > 0)
        if support.size == 0:
            break
        # Sources at zero get an infinite weight: solve on the support only.
        cols = (support[:, None] * n_orient + np.arange(n_orient)).ravel()
        weights = 1.0 / (2.0 * np.sqrt(unit * norms[support]))
        X_sub, gap, _ = _solve_sparse(
            gain[:, cols],
            data,
            alpha,
            n_orient,
            "l21",
            weights=weights,
            X_init=X[cols],
            lipschitz=lipschitz[support],
            **common,
        )
        X_new = np.zeros_like(X)
        X_new[cols] = X_sub
        same_support = np.array_equal(_block_norms(X_new, n_orient) > 0, norms > 0)
        change = np.linalg.norm(X_new - X) / max(np.linalg.norm(X_new), 1e-300)
        X = X_new
        if same_support and change < max(tol, 1e-6) ** 0.5:
            break
    return X, gap, k


def _irmxne_objective(gain, data, X, alpha, n_orient):
    """Objective ``0.5 ||M - GX||^2 + alpha * sum_g sqrt(||X_g||_F)``."""
    residual = data - _predict(gain, X)
    return 0.5 * float(np.sum(residual**2)) + alpha * float(
        np.sum(np.sqrt(_block_norms(X, n_orient)))
    )


def _debias(gain, data, X, n_orient):
    """Rescale each active source by a factor >= 1 that best fits the data.

    Sparse penalties shrink amplitudes; a least-squares gain per active source
    (one factor for the whole block, so orientations and waveforms stay) undoes
    the shrinkage.
    """
    active = np.flatnonzero(_block_norms(X, n_orient) > 0)
    if active.size == 0:
        return X
    X_blocks = _blocks(X, n_orient)
    design = np.stack(
        [
            (gain[:, g * n_orient : (g + 1) * n_orient] @ X_blocks[g]).ravel()
            for g in active
        ],
        axis=1,
    )
    # scale = 1 + u with u >= 0: a non-negative least-squares problem.
    excess, _ = nnls(design, data.ravel() - design.sum(axis=1))
    X = X.copy()
    _blocks(X, n_orient)[active] *= (1.0 + excess)[:, None, None]
    return X


def _minimum_norm(gain, data, lambda2):
    """L2 minimum-norm estimate ``G.T (G G.T + lambda2 * s I)^-1 M``.

    ``s = trace(G G.T) / n_channels`` so that ``lambda2`` reads as 1 / SNR^2 as in
    MNE, whatever the scale of the gain.

    Returns
    -------
    X : array, shape (n_sources * n_orient, n_times)
        The minimum-norm source estimate.
    """
    n_channels = gain.shape[0]
    gram = gain @ gain.T
    scale = np.trace(gram) / n_channels
    kernel = np.linalg.solve(gram + lambda2 * scale * np.eye(n_channels), data)
    return gain.T @ kernel


def _time_pca(data, n_orient):
    """Compress time by a QR decomposition ``data.T = Q R``: keep ``R.T`` and ``Q.T``.

    L21 objectives are invariant to this orthonormal change of the time axis,
    so solving on ``R.T`` (at most ``n_channels`` columns) and multiplying by
    ``Q.T`` gives the same solution, faster.
    """
    if data.shape[1] <= data.shape[0]:
        return data, None
    Q, R = np.linalg.qr(data.T)
    return np.ascontiguousarray(R.T), np.ascontiguousarray(Q.T)
