"""Clusters of supra-threshold features, TFCE and their p-values.

Without an adjacency, clusters are runs of consecutive timepoints along the
last axis of ``stat`` (..., n_times), so observed and null statistics share one
code path. With an adjacency (a sparse ``(n_features, n_features)`` graph over
the flattened features, e.g. channels x time), clusters are the connected
components of the supra-threshold features.
"""

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

_SIGNS = {1: (1,), -1: (-1,), 0: (1, -1)}  # tail -> signs to test


def find_clusters(mask):
    """Return the runs of True in a 1-D ``mask`` as (start, stop), stop exclusive."""
    padded = np.concatenate([[False], np.asarray(mask, bool), [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[::2], edges[1::2]))


def cluster_table(stat, threshold, tail, cluster_stat, min_size):
    """Clusters of one time course.

    Parameters
    ----------
    stat : array, shape (n_times,)
        The statistic.
    threshold : array, shape (n_times,)
        Cluster-forming threshold (positive; mirrored for the negative tail).
    tail : {1, -1, 0}
        Which side(s) form clusters; 0 forms positive and negative clusters.
    cluster_stat : {'mass', 'size'}
        Sum of the statistic, or number of timepoints.
    min_size : int
        Clusters with fewer timepoints are dropped.

    Returns
    -------
    clusters : list of (start, stop, value)
        ``value`` is signed for negative clusters when ``cluster_stat='mass'``.
    """
    out = []
    for sign in _SIGNS[tail]:
        for start, stop in find_clusters(sign * stat > threshold):
            if stop - start < min_size:
                continue
            if cluster_stat == "mass":
                value = float(stat[start:stop].sum())
            else:
                value = float(sign * (stop - start))
            out.append((int(start), int(stop), value))
    return sorted(out)


def max_cluster_stats(stat, threshold, tail, cluster_stat, min_size, adjacency=None):
    """Largest |cluster statistic| of each row of ``stat`` (n_perm, n_features).

    Rows without a cluster get 0 (so they count as smaller than any cluster).
    """
    stat = np.atleast_2d(stat)
    out = np.zeros(len(stat))
    for i, row in enumerate(stat):
        clusters = cluster_sets(row, threshold, tail, cluster_stat, min_size, adjacency)
        if clusters:
            out[i] = max(abs(v) for _, v in clusters)
    return out


def cluster_sets(stat, threshold, tail, cluster_stat, min_size, adjacency=None):
    """Clusters as (feature indices, value) pairs, on runs or on a graph.

    Parameters
    ----------
    stat : array, shape (n_features,)
        The statistic (flattened features).
    threshold : array, shape (n_features,)
        Cluster-forming threshold (mirrored for the negative tail).
    tail : {1, -1, 0}
        Which side(s) form clusters.
    cluster_stat : {'mass', 'size'}
        Sum of the statistic, or number of features.
    min_size : int
        Clusters with fewer features are dropped.
    adjacency : sparse matrix, shape (n_features, n_features) | None
        Feature graph; None forms runs of consecutive features.

    Returns
    -------
    clusters : list of (array of int, float)
        Indices of each cluster's features and its (signed) statistic.
    """
    if adjacency is None:
        return [
            (np.arange(start, stop), value)
            for start, stop, value in cluster_table(
                stat, threshold, tail, cluster_stat, min_size
            )
        ]
    out = []
    for sign in _SIGNS[tail]:
        for idx in graph_components(sign * stat > threshold, adjacency):
            if len(idx) < min_size:
                continue
            if cluster_stat == "mass":
                value = float(stat[idx].sum())
            else:
                value = float(sign * len(idx))
            out.append((idx, value))
    return sorted(out, key=lambda c: (int(c[0][0]), c[1]))


def graph_components(mask, adjacency):
    """Return the connected components of the True ``mask`` features."""
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return []
    sub = sparse.csr_matrix(adjacency)[idx][:, idx]
    _, labels = connected_components(sub, directed=False)
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    return [idx[part] for part in np.split(order, bounds)]


def tfce(stat, tail, e_power=0.5, h_power=2.0, dh=0.1):
    """Threshold-free cluster enhancement along the last axis.

    ``TFCE(t) = sum_h e(h)^E h^H dh`` over heights ``h = dh, 2 dh, ...`` up to
    the value at ``t``, with ``e(h)`` the length of the run of timepoints above
    ``h`` that contains ``t`` (Smith & Nichols 2009). Negative values are
    enhanced separately (``tail=0``) and keep their sign.

    Parameters
    ----------
    stat : array, shape (..., n_times)
        The statistic.
    tail : {1, -1, 0}
        Side(s) to enhance.
    e_power, h_power : float
        Extent and height exponents.
    dh : float
        Height step.

    Returns
    -------
    enhanced : array, shape (..., n_times)
        TFCE scores (signed).
    """
    stat = np.asarray(stat, float)
    flat = stat.reshape(-1, stat.shape[-1])
    out = np.zeros_like(flat)
    for sign in _SIGNS[tail]:
        signed = sign * flat
        for h in _heights(signed, dh):
            above = signed >= h
            # run length of the run containing each timepoint, per row
            extent = _run_lengths(above)
            out += sign * np.where(above, extent**e_power * h**h_power * dh, 0.0)
    return out.reshape(stat.shape)


def tfce_graph(stat, tail, adjacency, e_power=0.5, h_power=2.0, dh=0.1):
    """Threshold-free cluster enhancement on a feature graph.

    As :func:`tfce` with ``e(h)`` the number of features of the connected
    component (in ``adjacency``) above ``h`` that contains the feature.

    Parameters
    ----------
    stat : array, shape (..., n_features)
        The statistic.
    tail : {1, -1, 0}
        Side(s) to enhance.
    adjacency : sparse matrix, shape (n_features, n_features)
        Feature graph.
    e_power, h_power : float
        Extent and height exponents.
    dh : float
        Height step.

    Returns
    -------
    enhanced : array, shape (..., n_features)
        TFCE scores (signed).
    """
    stat = np.asarray(stat, float)
    flat = stat.reshape(-1, stat.shape[-1])
    out = np.zeros_like(flat)
    adjacency = sparse.csr_matrix(adjacency)
    for sign in _SIGNS[tail]:
        for row, values in enumerate(sign * flat):
            for h in _heights(values, dh):
                for idx in graph_components(values >= h, adjacency):
                    out[row, idx] += sign * len(idx) ** e_power * h**h_power * dh
    return out.reshape(stat.shape)


def _heights(values, dh):
    """TFCE heights ``dh, 2 dh, ...`` up to the maximum of ``values``."""
    top = values.max() if values.size else 0.0
    n_steps = int(np.floor(top / dh)) if top > 0 else 0
    return [step * dh for step in range(1, n_steps + 1)]


def _run_lengths(mask):
    """Length of the run of True containing each element, along the last axis."""
    n_rows, n_times = mask.shape
    padded = np.zeros((n_rows, n_times + 2), bool)
    padded[:, 1:-1] = mask
    diff = np.diff(padded.astype(np.int8), axis=1)
    starts = np.cumsum(diff == 1, axis=1)[:, :-1]  # run id of each element
    run_id = np.where(mask, starts, 0)
    lengths = np.zeros_like(run_id)
    for i in range(n_rows):
        counts = np.bincount(run_id[i], minlength=1)
        counts[0] = 0
        lengths[i] = counts[run_id[i]]
    return lengths


def permutation_p(observed, null_max, exact):
    """p-value of each observed value against the null maxima (``>=``).

    With random permutations ``p = (#{null >= obs} + 1) / (B + 1)``
    (Phipson & Smyth 2010); with full enumeration (the identity included in
    ``null_max``) ``p = #{null >= obs} / B``.
    """
    observed = np.abs(np.asarray(observed, float))
    null_max = np.asarray(null_max, float)
    # Ties (e.g. a sign flip and its mirror image in an exact enumeration) must
    # count as ties although each null dataset is fitted by an iterative REML
    # solver: compare with a relative tolerance.
    tol = 1e-6 * np.maximum(np.abs(observed), 1.0)
    count = (null_max[None, :] >= observed[..., None] - tol[..., None]).sum(-1)
    if exact:
        return count / len(null_max)
    return (count + 1) / (len(null_max) + 1)
