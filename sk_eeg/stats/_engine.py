"""Fit the mixed model for many relabelled or resampled datasets at once.

The functions here are what the joblib workers run: they take plain arrays and
small objects, rebuild each permuted dataset, fit all of them in one batched
REML call and return the test statistics.
"""

import numpy as np

from ._reml import fit_reml, stack_stats, wald_f, x_stats, xy_stats, y_stats


def term_statistics(fit, contrasts, statistic):
    """Per-term statistic for a batch of fits.

    Parameters
    ----------
    fit : dict
        Output of :func:`sk_eeg.stats._reml.fit_reml` (leading axes B, T).
    contrasts : list of array, shape (q, p)
        One contrast per term.
    statistic : {'F', 't'}
        Wald F, or the signed t of a one-column term.

    Returns
    -------
    stat : array, shape (B, n_terms, T)
        The statistics.
    """
    out = []
    for L in contrasts:
        if statistic == "t":
            j = int(np.argmax(L[0]))
            se = np.sqrt(fit["sigma2"] * fit["cov_unscaled"][..., j, j])
            out.append(fit["beta"][..., j] / se)
        else:
            out.append(wald_f(fit["beta"], fit["cov_unscaled"], fit["sigma2"], L))
    return np.stack(out, axis=1)


def null_chunk(job, Y, design, spec, struct, contrasts, statistic, start=None):
    """Statistics of one chunk of permutations.

    Parameters
    ----------
    job : dict
        ``kind`` ('labels' or 'residuals'); for 'labels', ``idx`` maps factor
        name -> (n_perm, n_obs) row indices; for 'residuals', ``idx``
        (n_perm, n_obs), ``fitted`` and ``resid`` (n_obs, T) of the reduced
        model (Freedman-Lane).
    Y : array, shape (n_obs, T)
        The data.
    design : DataFrame
        The factor columns.
    spec : DesignSpec
        The coding.
    struct : NestedStructure | SlopeModel
        The grouping (a :class:`sk_eeg.stats._slopes.SlopeModel` fits the
        random-slope model).
    contrasts : list of array
        Contrasts of the terms this chunk tests.
    statistic : {'F', 't'}
        The statistic.
    start : array, shape (T, 2) | None
        Starting relative variances (those of the observed data).

    Returns
    -------
    stat : array, shape (n_perm, n_terms, T)
        Null statistics.
    """
    from ._slopes import SlopeModel, slope_null_chunk

    if isinstance(struct, SlopeModel):
        return slope_null_chunk(
            job, Y, design, spec, struct, contrasts, statistic, start
        )
    stats = []
    if job["kind"] == "labels":
        ys = y_stats(Y, struct)
        n_perm = len(next(iter(job["idx"].values())))
        columns = {f: design[f].to_numpy() for f in design.columns}
        for b in range(n_perm):
            values = dict(columns)
            values.update({f: columns[f][idx[b]] for f, idx in job["idx"].items()})
            Xb = spec.matrix(design, values)
            stats.append(xy_stats(Xb, Y, x_stats(Xb, struct), ys, struct))
    else:
        X = spec.matrix(design)
        xs = x_stats(X, struct)
        for idx in job["idx"]:
            Yb = job["fitted"] + job["resid"][idx]
            stats.append(xy_stats(X, Yb, xs, y_stats(Yb, struct), struct))
    fit = fit_reml(stack_stats(stats), struct, start=start)
    return term_statistics(fit, contrasts, statistic)
