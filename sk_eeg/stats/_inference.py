"""From observed and null statistics to clusters, corrected p-values and tables."""

from numbers import Real

import numpy as np
import pandas as pd

from ._cluster import (
    cluster_sets,
    find_clusters,
    graph_components,
    max_cluster_stats,
    permutation_p,
    tfce,
    tfce_graph,
)
from ._df import parametric_threshold


def feature_adjacency(adjacency, data):
    """Sparse adjacency over the flattened features, or None for a time course.

    Parameters
    ----------
    adjacency : sparse matrix | array | None
        None: a regular lattice over the feature axes, except that the channel
        axis of an MNE input with several channels uses
        :func:`mne.channels.find_ch_adjacency`. A square matrix of the size of
        the first feature axis (channels): that axis's graph, combined with a
        lattice over the others. A matrix of size ``n_features``: used as is.
    data : InputData
        The input description.

    Returns
    -------
    adjacency : scipy.sparse.csr_matrix | None
        None when the features are a single time axis (runs).
    """
    from mne.stats import combine_adjacency
    from scipy import sparse

    shape = data.feature_shape
    n_features = int(np.prod(shape))
    if adjacency is None:
        if len(shape) == 1:
            return None
        axes = list(shape)
        if data.ch_names is not None and data.info is not None and shape[0] > 1:
            from mne.channels import find_ch_adjacency
            from mne.utils import use_log_level

            with use_log_level("warning"):
                axes[0], _ = find_ch_adjacency(data.info, None)
        return sparse.csr_matrix(combine_adjacency(*axes))
    if not (sparse.issparse(adjacency) or isinstance(adjacency, np.ndarray)):
        raise TypeError(
            "adjacency must be a scipy sparse matrix or an array (e.g. from "
            "mne.channels.find_ch_adjacency), got "
            f"{type(adjacency).__name__}."
        )
    n = adjacency.shape[0]
    if adjacency.ndim != 2 or adjacency.shape[1] != n:
        raise ValueError(f"adjacency must be square, got shape {adjacency.shape}.")
    if n == n_features:
        return sparse.csr_matrix(adjacency)
    if len(shape) > 1 and n == shape[0]:
        return sparse.csr_matrix(combine_adjacency(adjacency, *shape[1:]))
    raise ValueError(
        f"adjacency has shape {adjacency.shape}; it must match the first feature "
        f"axis ({shape[0]}, e.g. channels) or all {n_features} features of X "
        f"(feature shape {shape})."
    )


def _threshold(params, null, df, tail):
    n_features = null.shape[1]
    threshold = params["threshold"]
    if isinstance(threshold, Real):
        return np.full(n_features, float(threshold))
    if threshold == "null-percentile":
        level = 1 - params["cluster_alpha"]
        if tail == 0:
            return np.quantile(np.abs(null), level, axis=0)
        return np.quantile(tail * null, level, axis=0)
    return parametric_threshold(params["cluster_alpha"], df, params["statistic"], tail)


def cluster_inference(names, stat_obs, null_stat, df, tail, params, exact, adjacency):
    """Clusters of every term and their permutation p-values.

    Parameters
    ----------
    names : list of str
        Term names.
    stat_obs : array, shape (n_terms, n_features)
        Observed statistics.
    null_stat : array, shape (n_terms, n_perm, n_features)
        Null statistics.
    df : array, shape (n_terms, n_features, 2)
        Numerator and denominator df.
    tail : {1, -1, 0}
        Tail.
    params : dict
        ``threshold``, ``cluster_alpha``, ``statistic``, ``cluster_stat``,
        ``min_cluster_size``, ``tfce_params`` and ``alpha``.
    exact : bool
        Whether the permutations are a full enumeration.
    adjacency : sparse matrix | None
        Feature graph (None: runs along time).

    Returns
    -------
    result : dict
        ``p_corrected``, ``threshold``, ``null_max`` arrays, ``clusters`` (list
        of (term, feature indices, statistic, p)).
    """
    n_terms, n_features = stat_obs.shape
    p_corr = np.ones((n_terms, n_features))
    thresholds = np.zeros((n_terms, n_features))
    null_max = np.zeros((n_terms, null_stat.shape[1]))
    clusters = []
    alpha = params["alpha"]
    for i, name in enumerate(names):
        obs = stat_obs[i]
        null = null_stat[i]
        if params["cluster_stat"] == "tfce":
            kw = dict(params["tfce_params"])
            if kw["dh"] is None:
                kw["dh"] = max(np.abs(obs).max(), 1e-12) / 100
            if adjacency is None:
                obs_tfce = tfce(obs, tail, **kw)
                null_tfce = tfce(null, tail, **kw)
            else:
                obs_tfce = tfce_graph(obs, tail, adjacency, **kw)
                null_tfce = tfce_graph(null, tail, adjacency, **kw)
            null_max[i] = np.abs(null_tfce).max(axis=1)
            p_corr[i] = permutation_p(obs_tfce, null_max[i], exact)
            significant = p_corr[i] <= alpha
            if adjacency is None:
                regions = [np.arange(a, b) for a, b in find_clusters(significant)]
            else:
                regions = graph_components(significant, adjacency)
            for idx in regions:
                seg = obs_tfce[idx]
                clusters.append(
                    (
                        name,
                        idx,
                        float(seg[np.abs(seg).argmax()]),
                        float(p_corr[i, idx].min()),
                    )
                )
            continue
        thresholds[i] = _threshold(params, null, df[i], tail)
        args = (thresholds[i], tail, params["cluster_stat"], params["min_cluster_size"])
        null_max[i] = max_cluster_stats(null, *args, adjacency)
        for idx, value in cluster_sets(obs, *args, adjacency):
            p = float(permutation_p([value], null_max[i], exact)[0])
            p_corr[i, idx] = p
            clusters.append((name, idx, value, p))
    return {
        "p_corrected": p_corr,
        "threshold": thresholds,
        "null_max": null_max,
        "clusters": clusters,
    }


def cluster_frame(clusters, data, alpha):
    """Build the cluster table: term, extent in time (channels, frequencies), p.

    Returns
    -------
    frame : DataFrame
        One row per cluster.
    masks : list of array of bool, shape feature_shape
        The features of each cluster.
    """
    shape = data.feature_shape
    rows = []
    masks = []
    for name, idx, value, p in clusters:
        mask = np.zeros(int(np.prod(shape)), bool)
        mask[idx] = True
        mask = mask.reshape(shape)
        masks.append(mask)
        coords = np.unravel_index(idx, shape)
        time_idx = coords[-1]
        row = {
            "term": name,
            "start": int(time_idx.min()),
            "stop": int(time_idx.max()) + 1,
            "statistic": value,
            "p": p,
        }
        if len(shape) > 1:
            row["size"] = len(idx)
        if data.times is not None:
            row["tmin"] = float(data.times[time_idx.min()])
            row["tmax"] = float(data.times[time_idx.max()])
        if len(shape) > 1 and data.ch_names is not None:
            row["channels"] = [data.ch_names[c] for c in np.unique(coords[0])]
        if data.freqs is not None:
            f_idx = coords[-2]
            row["fmin"] = float(data.freqs[f_idx.min()])
            row["fmax"] = float(data.freqs[f_idx.max()])
        rows.append(row)
    columns = ["term", "start", "stop", "statistic", "p"]
    if data.times is not None:
        columns += ["tmin", "tmax"]
    frame = pd.DataFrame(rows, columns=None if rows else columns)
    if not rows:
        frame = frame.astype({"start": int, "stop": int, "statistic": float})
        frame = frame.astype({"p": float})
    frame.insert(5, "significant", frame["p"] <= alpha)
    return frame, masks
