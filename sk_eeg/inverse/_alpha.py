"""Choice of ``alpha``: cross-validation over held-out sensors, or SURE.

Both walk a grid of fractions of ``alpha_max`` from large to small, warm
starting each solve from the previous solution, so a whole path costs little
more than its smallest ``alpha``.
"""

import numpy as np

from ._solvers import (
    _alpha_max,
    _block_lipschitz,
    _debias,
    _minimum_norm,
    _solve_irmxne,
    _solve_sparse,
)


def _default_fractions(solver, n_alphas=10):
    """Grid of alphas as fractions of ``alpha_max`` (large to small)."""
    if solver == "mne":
        return np.geomspace(10.0, 1e-3, n_alphas)
    return np.geomspace(0.9, 0.1, n_alphas)


def _solve(
    solver,
    gain,
    data,
    fraction,
    n_orient,
    X_init,
    params,
    lipschitz=None,
    alpha_max=None,
):
    """Solve one problem; ``fraction`` is relative to this problem's alpha_max.

    ``lipschitz`` and ``alpha_max`` may be passed when known (along a path of
    alphas on the same data). Returns the solution, the absolute alpha, the
    duality gap and the number of iterations.
    """
    if solver == "mne":
        return _minimum_norm(gain, data, fraction), fraction, 0.0, 0
    penalty = "l1" if solver == "lasso" else "l21"
    if alpha_max is None:
        alpha_max = _alpha_max(gain, data, n_orient, penalty)
    alpha = fraction * alpha_max
    common = dict(
        X_init=X_init,
        tol=params["tol"],
        max_iter=params["max_iter"],
        lipschitz=lipschitz,
        warn=params.get("warn", True),
    )
    if solver == "irmxne":
        X, gap, n_iter = _solve_irmxne(
            gain,
            data,
            alpha,
            n_orient,
            n_reweightings=params["n_reweightings"],
            unit=alpha / (100.0 * fraction),
            **common,
        )
    else:
        X, gap, n_iter = _solve_sparse(gain, data, alpha, n_orient, penalty, **common)
    return X, alpha, gap, n_iter


def _fold_path(solver, gain, data, train, test, fractions, n_orient, params):
    """Held-out-sensor explained variance along the path for one fold."""
    gain_tr, data_tr = gain[train], data[train]
    gain_te, data_te = gain[test], data[test]
    denom = float(np.sum(data_te**2)) or 1.0
    params = dict(params, warn=False)
    scores = np.empty(len(fractions))
    n_active = np.zeros(len(fractions), dtype=int)
    X = None
    # Computed once per fold, not once per alpha.
    lipschitz = alpha_max = None
    if solver != "mne":
        penalty = "l1" if solver == "lasso" else "l21"
        lipschitz = _block_lipschitz(gain_tr, n_orient)
        alpha_max = _alpha_max(gain_tr, data_tr, n_orient, penalty)
    for k, fraction in enumerate(fractions):
        X = _solve(
            solver,
            gain_tr,
            data_tr,
            fraction,
            n_orient,
            X,
            params,
            lipschitz,
            alpha_max,
        )[0]
        if solver in ("mne",):
            X_warm = None
        else:
            X_warm = X
        X_score = X
        if solver != "mne" and params.get("relaxed", True):
            # Relaxed scoring: undo the shrinkage on the support before
            # predicting, so that the score rewards the right support rather
            # than the smaller bias of denser models.
            X_score = _debias(gain_tr, data_tr, X, n_orient)
        rows = np.flatnonzero(np.any(X_score, axis=1))
        n_active[k] = len(rows)
        residual = data_te - gain_te[:, rows] @ X_score[rows]
        scores[k] = 1.0 - float(np.sum(residual**2)) / denom
        X = X_warm
    return scores, n_active


def _sensor_folds(n_channels, n_folds, rng=None):
    """Held-out channel sets: channel ``k`` of the order goes to fold ``k % n_folds``.

    Without ``rng`` the order is the channels' own (deterministic, like an
    unshuffled :class:`~sklearn.model_selection.KFold`, but interleaved so that
    every fold holds out channels spread over the whole montage rather than
    one patch of neighbouring electrodes); with ``rng`` a random permutation.
    """
    if not 2 <= n_folds <= n_channels:
        raise ValueError(
            f"cv must be between 2 and the number of channels ({n_channels}); got "
            f"{n_folds}."
        )
    order = np.arange(n_channels) if rng is None else rng.permutation(n_channels)
    return [np.sort(order[k::n_folds]) for k in range(n_folds)]


def _cv_scores(
    solver, gain, data, fractions, n_orient, params, n_folds, rng, n_jobs, verbose=None
):
    """Scores of each alpha on each fold of held-out sensors.

    Returns
    -------
    scores : array, shape (n_alphas, n_folds)
        Explained variance of the held-out sensors' data.
    n_active : array, shape (n_alphas, n_folds)
        Number of non-zero rows of each fold's solution.
    """
    from joblib import Parallel, delayed

    from ..utils import progress_bar

    n_channels = gain.shape[0]
    all_channels = np.arange(n_channels)
    jobs = []
    for test in _sensor_folds(n_channels, n_folds, rng):
        train = np.setdiff1d(all_channels, test)
        jobs.append(
            delayed(_fold_path)(
                solver, gain, data, train, test, fractions, n_orient, params
            )
        )
    results = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    bar = progress_bar(
        results,
        total=len(jobs),
        desc=f"alpha path ({len(fractions)} alphas) x CV folds",
        verbose=verbose,
    )
    results = list(bar)
    return (
        np.column_stack([r[0] for r in results]),
        np.column_stack([r[1] for r in results]),
    )


def _select_one_se(fractions, scores, nonempty=None):
    """Largest alpha whose mean score is within one standard error of the best.

    The held-out-sensor score is flat near its maximum; the one-standard-error
    rule then prefers the sparser model, which is what localization needs.
    Only alphas whose model is non-empty in every fold (``nonempty``) are
    candidates, unless there is none: an empty model always scores 0 and, on
    noisy data, would otherwise win within one standard error.
    """
    mean = scores.mean(axis=1)
    se = scores.std(axis=1, ddof=1) / np.sqrt(scores.shape[1])
    if nonempty is None or not np.any(nonempty):
        nonempty = np.ones(len(mean), dtype=bool)
    candidates = np.flatnonzero(nonempty)
    best = int(candidates[np.argmax(mean[candidates])])
    ok = candidates[mean[candidates] >= mean[best] - se[best]]
    if fractions[0] > fractions[-1]:
        return int(ok.min())
    return int(ok.max())


def _sure_scores(solver, gain, data, fractions, n_orient, params, rng):
    """Monte-Carlo SURE (finite differences) of each alpha, noise sigma = 1.

    Returns
    -------
    sure : array, shape (n_alphas,)
        Stein's unbiased risk estimate of the prediction error.
    """
    n_channels, n_times = data.shape
    n_obs = n_channels * n_times
    eps = 2.0 / n_obs**0.3
    delta = rng.standard_normal(data.shape)
    params = dict(params, warn=False)
    out = np.empty(len(fractions))
    alpha_max = None
    X = X_eps = None
    for k, fraction in enumerate(fractions):
        if solver == "mne":
            X = _minimum_norm(gain, data, fraction)
            X_eps = _minimum_norm(gain, data + eps * delta, fraction)
        else:
            penalty = "l1" if solver == "lasso" else "l21"
            if alpha_max is None:
                alpha_max = _alpha_max(gain, data, n_orient, penalty)
            # The same absolute alpha for both data sets: SURE differentiates
            # the estimator at a fixed regularization.
            X = _solve_abs(
                solver,
                gain,
                data,
                fraction * alpha_max,
                n_orient,
                X,
                params,
                alpha_max / 100.0,
            )
            X_eps = _solve_abs(
                solver,
                gain,
                data + eps * delta,
                fraction * alpha_max,
                n_orient,
                X_eps,
                params,
                alpha_max / 100.0,
            )
        dof = float(np.sum(delta * (gain @ (X_eps - X)))) / eps
        residual = data - gain @ X
        out[k] = float(np.sum(residual**2)) - n_obs + 2.0 * dof
    return out


def _solve_abs(solver, gain, data, alpha, n_orient, X_init, params, unit=1.0):
    common = dict(
        X_init=X_init, tol=params["tol"], max_iter=params["max_iter"], warn=False
    )
    if solver == "irmxne":
        return _solve_irmxne(
            gain,
            data,
            alpha,
            n_orient,
            n_reweightings=params["n_reweightings"],
            unit=unit,
            **common,
        )[0]
    penalty = "l1" if solver == "lasso" else "l21"
    return _solve_sparse(gain, data, alpha, n_orient, penalty, **common)[0]
