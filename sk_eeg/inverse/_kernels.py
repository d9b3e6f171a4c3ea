r"""Compiled inner solvers of the sparse inverse problems (numba).

Both kernels solve a working-set subproblem of

.. math::

    \min_X \frac12 \|M - G X\|_F^2 + \sum_g p_g \Omega(X_g)

by cyclic (block) coordinate descent on the residual, with Anderson
extrapolation every ``anderson + 1`` epochs (kept only when it lowers the
objective) and a duality-gap stop. The gain is passed transposed, ``gain_t``
of shape ``(n_cols, n_channels)``, so that every column is contiguous.

- :func:`_l1_cd` treats every column of ``M`` as its own Lasso (the L1
  penalty separates over time samples and orientations): one coordinate per
  gain column, each time sample solved to its own gap.
- :func:`_l21_bcd` is the MxNE group solver: one block of ``n_orient`` rows
  and all time samples per source, shrunk by the block's Frobenius norm.

The kernels are compiled on first use and cached on disk.
"""

import numpy as np
from numba import njit


@njit(cache=True)
def _extrapolate(history):
    """Anderson extrapolation of the iterates in the rows of ``history``.

    Returns the extrapolated point, or an empty array when the iterates did
    not move or the small linear system is degenerate.
    """
    n_hist = history.shape[0] - 1
    diffs = history[1:] - history[:-1]
    gram = diffs @ diffs.T
    trace = 0.0
    for k in range(n_hist):
        trace += gram[k, k]
    if trace == 0.0 or not np.isfinite(trace):
        return np.empty(0)
    for k in range(n_hist):
        gram[k, k] += 1e-10 * trace
    coefs = np.linalg.solve(gram, np.ones(n_hist))
    total = coefs.sum()
    if total == 0.0 or not np.all(np.isfinite(coefs)):
        return np.empty(0)
    coefs /= total
    return coefs @ history[1:]


@njit(cache=True, fastmath=True)
def _dot(a, b):
    """Dot product of two contiguous vectors (a SIMD loop beats BLAS here)."""
    total = 0.0
    for i in range(a.shape[0]):
        total += a[i] * b[i]
    return total


@njit(cache=True, fastmath=True)
def _axpy(scale, x, y):
    """``y += scale * x`` in place, without a temporary."""
    for i in range(y.shape[0]):
        y[i] += scale * x[i]


@njit(cache=True)
def _l1_primal(gain_t, data, x, pen, residual):
    """Residual ``m - G x`` (written into ``residual``) and the L1 objective."""
    residual[:] = data
    penalty = 0.0
    for j in range(x.shape[0]):
        if x[j] != 0.0:
            _axpy(-x[j], gain_t[j], residual)
            penalty += pen[j] * abs(x[j])
    return 0.5 * _dot(residual, residual) + penalty


@njit(cache=True)
def _l1_gap(gain_t, data, x, pen, residual):
    """Duality gap of one Lasso given its residual."""
    scale = 1.0
    penalty = 0.0
    for j in range(x.shape[0]):
        dual = abs(_dot(gain_t[j], residual)) / pen[j]
        if dual > scale:
            scale = dual
        penalty += pen[j] * abs(x[j])
    res2 = _dot(residual, residual)
    primal = 0.5 * res2 + penalty
    dual = _dot(data, residual) / scale - 0.5 * res2 / scale**2
    return primal - dual


@njit(cache=True)
def _l1_cd(gain_t, data_t, X_t, lips, pen, tol, max_epochs, anderson):
    """Coordinate descent for ``n_times`` Lassos sharing one gain.

    Parameters
    ----------
    gain_t : array, shape (n_cols, n_channels)
        Transposed working-set gain.
    data_t : array, shape (n_times, n_channels)
        One Lasso per row.
    X_t : array, shape (n_times, n_cols)
        Warm start, updated in place.
    lips : array, shape (n_cols,)
        Squared column norms (all > 0).
    pen : array, shape (n_cols,)
        Penalty of every column (all finite).
    tol : array, shape (n_times,)
        Duality-gap tolerance of every Lasso.
    max_epochs : int
        Maximum number of passes over the columns, per Lasso.
    anderson : int
        Number of differences used by Anderson extrapolation (0: none).

    Returns
    -------
    n_epochs : int
        Largest number of epochs any Lasso used.
    gaps : array, shape (n_times,)
        Final duality gap of every Lasso.
    """
    n_times, n_channels = data_t.shape
    n_cols = gain_t.shape[0]
    gaps = np.empty(n_times)
    residual = np.empty(n_channels)
    trial = np.empty(n_channels)
    history = np.empty((anderson + 1, n_cols))
    n_epochs = 0
    for t in range(n_times):
        x = X_t[t]
        data = data_t[t]
        _l1_primal(gain_t, data, x, pen, residual)
        gap = np.inf
        n_hist = 0
        epoch = 0
        for epoch in range(1, max_epochs + 1):
            for j in range(n_cols):
                old = x[j]
                value = old + _dot(gain_t[j], residual) / lips[j]
                threshold = pen[j] / lips[j]
                if value > threshold:
                    new = value - threshold
                elif value < -threshold:
                    new = value + threshold
                else:
                    new = 0.0
                if new != old:
                    _axpy(old - new, gain_t[j], residual)
                    x[j] = new
            extrapolated = False
            if anderson > 0:
                history[n_hist] = x
                n_hist += 1
                if n_hist == anderson + 1:
                    n_hist = 0
                    x_acc = _extrapolate(history)
                    if x_acc.size > 0:
                        objective = 0.5 * _dot(residual, residual) + pen @ np.abs(x)
                        if _l1_primal(gain_t, data, x_acc, pen, trial) < objective:
                            x[:] = x_acc
                            residual[:] = trial
                            extrapolated = True
            # An extrapolated point is not thresholded: a coordinate-descent
            # epoch must follow it before the solver may stop, so that the
            # solution keeps its exact zeros.
            if (epoch % 10 == 0 and not extrapolated) or epoch == max_epochs:
                gap = _l1_gap(gain_t, data, x, pen, residual)
                if gap <= tol[t]:
                    break
        gaps[t] = gap
        n_epochs = max(n_epochs, epoch)
    return n_epochs, gaps


@njit(cache=True)
def _sub_block(cols, delta, residual):
    """``residual -= cols.T @ delta`` in place (cols: n_orient x n_channels)."""
    for o in range(cols.shape[0]):
        for c in range(cols.shape[1]):
            weight = cols[o, c]
            if weight != 0.0:
                _axpy(-weight, delta[o], residual[c])


@njit(cache=True)
def _l21_primal(gain_t, data, X, pen, n_orient, residual):
    """Residual ``M - G X`` (written into ``residual``) and the L21 objective."""
    residual[:] = data
    penalty = 0.0
    for g in range(pen.shape[0]):
        block = X[g * n_orient : (g + 1) * n_orient]
        norm = np.sqrt(np.sum(block * block))
        if norm == 0.0:
            continue
        penalty += pen[g] * norm
        _sub_block(gain_t[g * n_orient : (g + 1) * n_orient], block, residual)
    return 0.5 * np.sum(residual * residual) + penalty


@njit(cache=True)
def _l21_penalty(X, pen, n_orient):
    """``sum_g pen[g] * ||X_g||_F`` over the blocks of ``n_orient`` rows."""
    penalty = 0.0
    for g in range(pen.shape[0]):
        block = X[g * n_orient : (g + 1) * n_orient]
        penalty += pen[g] * np.sqrt(np.sum(block * block))
    return penalty


@njit(cache=True)
def _l21_gap(gain_t, data, X, pen, n_orient, residual):
    """Duality gap of the L21 problem given its residual."""
    corr = gain_t @ residual
    scale = 1.0
    for g in range(pen.shape[0]):
        rows = slice(g * n_orient, (g + 1) * n_orient)
        dual = np.sqrt(np.sum(corr[rows] ** 2)) / pen[g]
        if dual > scale:
            scale = dual
    res2 = np.sum(residual * residual)
    primal = 0.5 * res2 + _l21_penalty(X, pen, n_orient)
    dual = np.sum(data * residual) / scale - 0.5 * res2 / scale**2
    return primal - dual


@njit(cache=True)
def _l21_bcd(gain_t, data, X, lips, pen, n_orient, tol, max_epochs, anderson):
    """Block coordinate descent for the weighted L21 (MxNE) problem.

    Parameters
    ----------
    gain_t : array, shape (n_groups * n_orient, n_channels)
        Transposed working-set gain.
    data : array, shape (n_channels, n_times)
        The whitened data.
    X : array, shape (n_groups * n_orient, n_times)
        Warm start, updated in place.
    lips : array, shape (n_groups,)
        Block Lipschitz constants (all > 0).
    pen : array, shape (n_groups,)
        Penalty of every block (all finite).
    n_orient : int
        Rows per block.
    tol : float
        Duality-gap tolerance.
    max_epochs : int
        Maximum number of passes over the blocks.
    anderson : int
        Number of differences used by Anderson extrapolation (0: none).

    Returns
    -------
    n_epochs : int
        Number of epochs.
    gap : float
        Final duality gap.
    """
    n_rows, n_times = X.shape
    n_groups = pen.shape[0]
    residual = np.empty(data.shape)
    trial = np.empty(data.shape)
    _l21_primal(gain_t, data, X, pen, n_orient, residual)
    history = np.empty((anderson + 1, n_rows * n_times))
    block = np.empty((n_orient, n_times))
    gap = np.inf
    n_hist = 0
    epoch = 0
    for epoch in range(1, max_epochs + 1):
        for g in range(n_groups):
            start = g * n_orient
            cols = gain_t[start : start + n_orient]
            old = X[start : start + n_orient]
            block[:] = old + (cols @ residual) / lips[g]
            norm = np.sqrt(np.sum(block * block))
            shrink = 1.0 - pen[g] / lips[g] / norm if norm > 0.0 else 0.0
            if shrink <= 0.0:
                if not np.any(old != 0.0):
                    continue
                block[:] = 0.0
            else:
                block *= shrink
            old -= block
            # residual -= G_g (new - old), with old now holding (old - new)
            _sub_block(cols, -old, residual)
            old[:] = block
        extrapolated = False
        if anderson > 0:
            history[n_hist] = X.ravel()
            n_hist += 1
            if n_hist == anderson + 1:
                n_hist = 0
                flat = _extrapolate(history)
                if flat.size > 0:
                    X_acc = flat.reshape(n_rows, n_times)
                    objective = 0.5 * np.sum(residual * residual) + _l21_penalty(
                        X, pen, n_orient
                    )
                    acc = _l21_primal(gain_t, data, X_acc, pen, n_orient, trial)
                    if acc < objective:
                        X[:] = X_acc
                        residual[:] = trial
                        extrapolated = True
        # As in _l1_cd: no stop right after an (unthresholded) extrapolation.
        if (epoch % 10 == 0 and not extrapolated) or epoch == max_epochs:
            gap = _l21_gap(gain_t, data, X, pen, n_orient, residual)
            if gap <= tol:
                break
    return epoch, gap


@njit(cache=True, fastmath=True)
def _col_abs_max(C):
    """``np.abs(C).max(axis=0)`` in one pass over a C-ordered array."""
    out = np.zeros(C.shape[1])
    for i in range(C.shape[0]):
        row = C[i]
        for j in range(C.shape[1]):
            out[j] = max(out[j], abs(row[j]))
    return out
