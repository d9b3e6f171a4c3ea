"""Look at clips: a frame grid figure and an animated GIF (matplotlib only)."""

from pathlib import Path

import numpy as np

from ._metrics import _as_float_videos


def _rows(videos, true_videos, n_clips):
    videos = _as_float_videos(videos, "videos")
    if true_videos is not None:
        true_videos = _as_float_videos(true_videos, "true_videos")
        if true_videos.shape != videos.shape:
            raise ValueError(
                f"true_videos must have the shape of videos {videos.shape}; got "
                f"{true_videos.shape}."
            )
    n_clips = min(int(n_clips), len(videos))
    if n_clips < 1:
        raise ValueError(f"n_clips must be >= 1 and videos non-empty; got {n_clips}.")
    rows, names = [], []
    for i in range(n_clips):
        if true_videos is not None:
            rows.append(true_videos[i])
            names.append(f"clip {i}\ntrue")
        rows.append(videos[i])
        names.append("generated" if true_videos is not None else f"clip {i}")
    return np.clip(np.stack(rows), 0, 1), names


def plot_video_frames(videos, true_videos=None, *, n_clips=4, titles=None):
    """Plot the frames of clips in a grid, generated under true when given.

    Parameters
    ----------
    videos : array, shape (n_clips, n_frames, height, width, 3)
        Clips to show (uint8 0..255 or float 0..1).
    true_videos : array, shape (n_clips, n_frames, height, width, 3) | None
        The true clips, shown in the row above each generated clip.
    n_clips : int
        Number of clips shown (the first ones).
    titles : list of str | None
        Row labels replacing the defaults ("clip i", "true", "generated").

    Returns
    -------
    fig : matplotlib.figure.Figure
        One row per clip (two with ``true_videos``), one column per frame.
    """
    import matplotlib.pyplot as plt

    rows, names = _rows(videos, true_videos, n_clips)
    if titles is not None:
        names = list(titles)
    n_rows, n_frames = rows.shape[:2]
    fig, axes = plt.subplots(
        n_rows, n_frames, figsize=(1.1 * n_frames + 0.8, 1.1 * n_rows), squeeze=False
    )
    for r in range(n_rows):
        for f in range(n_frames):
            ax = axes[r, f]
            ax.imshow(rows[r, f], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(names[r], fontsize=7)
    for f in range(n_frames):
        axes[0, f].set_title(f"frame {f}", fontsize=7)
    fig.tight_layout()
    return fig


def save_video_gif(path, videos, true_videos=None, *, n_clips=4, fps=4):
    """Write clips side by side as an animated GIF (true clips above generated).

    Parameters
    ----------
    path : path-like
        Output ``.gif`` file.
    videos : array, shape (n_clips, n_frames, height, width, 3)
        Clips (uint8 0..255 or float 0..1).
    true_videos : array, shape (n_clips, n_frames, height, width, 3) | None
        The true clips, shown above the generated ones.
    n_clips : int
        Number of clips shown (the first ones), side by side.
    fps : float
        Frames per second.

    Returns
    -------
    path : pathlib.Path
        The file written.
    """
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation, PillowWriter

    rows, _ = _rows(videos, true_videos, n_clips)
    n_rows = 2 if true_videos is not None else 1
    n_cols = len(rows) // n_rows
    # (clip, row) tiles -> one mosaic per frame, 1 px gaps.
    _, n_frames, h, w, _ = rows.shape
    mosaic = np.ones((n_frames, n_rows * (h + 1) - 1, n_cols * (w + 1) - 1, 3))
    for k, clip in enumerate(rows):
        col, row = divmod(k, n_rows)
        top, left = row * (h + 1), col * (w + 1)
        mosaic[:, top : top + h, left : left + w] = clip
    scale = max(1, 256 // max(mosaic.shape[1:3]))
    fig = plt.figure(
        figsize=(mosaic.shape[2] * scale / 100, mosaic.shape[1] * scale / 100), dpi=100
    )
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    image = ax.imshow(mosaic[0], interpolation="nearest")

    def show(frame):
        image.set_data(mosaic[frame])
        return (image,)

    anim = FuncAnimation(fig, show, frames=n_frames, blit=True)
    path = Path(path)
    anim.save(path, writer=PillowWriter(fps=fps))
    plt.close(fig)
    return path
