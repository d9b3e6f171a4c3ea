"""Figures of a fitted ClusterLMETest: statistic per term with its clusters."""

import numpy as np


def plot_test(test, axes=None, show=False):
    """Plot every term's statistic; significant clusters shaded or outlined.

    A time course per term (x axis in seconds when times are known), or for
    channels/frequencies x time an image per term with the significant
    clusters outlined.
    """
    import matplotlib.pyplot as plt

    n_terms = len(test.terms_)
    if axes is None:
        fig, axes = plt.subplots(
            n_terms, 1, sharex=True, figsize=(7, 1.8 + 1.6 * n_terms), squeeze=False
        )
        axes = axes[:, 0]
    else:
        axes = np.atleast_1d(axes)
        if len(axes) != n_terms:
            raise ValueError(f"axes must have {n_terms} axes, got {len(axes)}.")
        fig = axes[0].figure
    n_times = test.stat_.shape[-1]
    times = test.times_
    x = times if times is not None else np.arange(n_times)
    half = (x[1] - x[0]) / 2 if len(x) > 1 else 0.5
    for i, (ax, name) in enumerate(zip(axes, test.terms_)):
        if test.stat_.ndim > 2:
            _image(test, i, ax, x, half)
            continue
        ax.plot(x, test.stat_[i], color="k", lw=1.2)
        if test.cluster_stat != "tfce":
            ax.plot(x, test.threshold_[i], color="0.5", ls="--", lw=0.8)
        sub = test.clusters_[test.clusters_["term"] == name]
        for _, row in sub.iterrows():
            lo = x[int(row["start"])] - half
            hi = x[int(row["stop"]) - 1] + half
            color = "tab:red" if row["significant"] else "0.85"
            ax.axvspan(lo, hi, color=color, alpha=0.3, lw=0)
            if row["significant"]:
                ax.text(
                    lo,
                    ax.get_ylim()[1] * 0.9,
                    f"p={row['p']:.3g}",
                    fontsize=8,
                    color="tab:red",
                )
        ax.set_ylabel(f"{test.statistic}: {name}")
    axes[-1].set_xlabel("time (s)" if times is not None else "timepoint")
    fig.tight_layout()
    if show:
        plt.show()
    return fig


def _image(test, i, ax, x, half):
    """Rows = flattened non-time features (channels, frequencies), cols = time."""
    stat = test.stat_[i].reshape(-1, test.stat_.shape[-1])
    extent = (x[0] - half, x[-1] + half, len(stat) - 0.5, -0.5)
    vmax = np.abs(stat).max() or 1.0
    cmap, vmin = ("RdBu_r", -vmax) if test.statistic == "t" else ("Reds", 0)
    im = ax.imshow(
        stat,
        aspect="auto",
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        extent=extent,
        interpolation="nearest",
    )
    mask = np.zeros(stat.shape, bool)
    sig = test.clusters_["significant"].to_numpy()
    for k, cluster_mask in enumerate(test.cluster_masks_):
        if sig[k] and test.clusters_["term"].iloc[k] == test.terms_[i]:
            mask |= cluster_mask.reshape(stat.shape)
    if mask.any():
        ax.contour(
            np.linspace(x[0], x[-1], stat.shape[1]),
            np.arange(len(stat)),
            mask.astype(float),
            levels=[0.5],
            colors="k",
            linewidths=1.0,
        )
    if test.ch_names_ is not None and test.stat_.ndim == 3 and len(stat) <= 40:
        ax.set_yticks(np.arange(len(stat)))
        ax.set_yticklabels(test.ch_names_, fontsize=6)
    ax.set_ylabel(test.terms_[i])
    ax.figure.colorbar(im, ax=ax, label=test.statistic)
