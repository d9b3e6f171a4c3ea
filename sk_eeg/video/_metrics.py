"""Video reconstruction metrics and n-way identification with stated chance levels.

Videos are arrays ``(n_clips, n_frames, height, width, 3)``: ``uint8`` in
0..255 or floats in [0, 1]. Every function is NumPy / SciPy only.
"""

from typing import NamedTuple

import numpy as np
from scipy.ndimage import uniform_filter

from ..utils import check_random_state


def _as_float_videos(videos, name):
    videos = np.asarray(videos)
    if videos.ndim != 5 or videos.shape[-1] not in (1, 3):
        raise ValueError(
            f"{name} must have shape (n_clips, n_frames, height, width, 3); got "
            f"{videos.shape}."
        )
    if videos.dtype == np.uint8:
        return videos.astype(np.float64) / 255.0
    return videos.astype(np.float64)


def _check_pair(y_true, y_pred):
    y_true = _as_float_videos(y_true, "y_true")
    y_pred = _as_float_videos(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same shape; got {y_true.shape} and "
            f"{y_pred.shape}."
        )
    return y_true, y_pred


def _reduce(per_clip, average):
    return float(per_clip.mean()) if average else per_clip


def video_mse(y_true, y_pred, *, average=True):
    """Mean squared error per frame on [0, 1] pixels, averaged over frames.

    Parameters
    ----------
    y_true, y_pred : array, shape (n_clips, n_frames, height, width, 3)
        True and generated clips (uint8 0..255 or float 0..1).
    average : bool
        Average over clips (True) or return one value per clip.

    Returns
    -------
    mse : float | ndarray, shape (n_clips,)
        The error.
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    return _reduce(((y_true - y_pred) ** 2).mean(axis=(1, 2, 3, 4)), average)


def video_psnr(y_true, y_pred, *, average=True):
    """Peak signal-to-noise ratio (dB) per frame, averaged over frames.

    Parameters
    ----------
    y_true, y_pred : array, shape (n_clips, n_frames, height, width, 3)
        True and generated clips (uint8 0..255 or float 0..1).
    average : bool
        Average over clips (True) or return one value per clip.

    Returns
    -------
    psnr : float | ndarray, shape (n_clips,)
        ``10 * log10(1 / mse)`` with a data range of 1; identical frames are
        capped at 100 dB.
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    mse = ((y_true - y_pred) ** 2).mean(axis=(2, 3, 4))
    psnr = np.where(mse > 0, 10 * np.log10(1.0 / np.maximum(mse, 1e-10)), 100.0)
    return _reduce(psnr.mean(axis=1), average)


def _ssim_frame(a, b, win_size=7, k1=0.01, k2=0.03, data_range=1.0):
    """Mean SSIM of two single-channel images (skimage's default definition)."""
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    mean = lambda x: uniform_filter(x, size=win_size, mode="reflect")  # noqa: E731
    cov_norm = win_size**2 / (win_size**2 - 1)
    ua, ub = mean(a), mean(b)
    va = cov_norm * (mean(a * a) - ua * ua)
    vb = cov_norm * (mean(b * b) - ub * ub)
    vab = cov_norm * (mean(a * b) - ua * ub)
    ssim = ((2 * ua * ub + c1) * (2 * vab + c2)) / (
        (ua**2 + ub**2 + c1) * (va + vb + c2)
    )
    pad = (win_size - 1) // 2
    return ssim[pad:-pad, pad:-pad].mean()


def video_ssim(y_true, y_pred, *, win_size=7, average=True):
    """Structural similarity per RGB frame, averaged over channels and frames.

    The definition of :func:`skimage.metrics.structural_similarity` with its
    defaults (7 x 7 uniform window, sample covariance, ``K1=0.01``,
    ``K2=0.03``, border of ``(win_size - 1) // 2`` excluded) and
    ``data_range=1`` on [0, 1] pixels, as in EEG2Video's scoring
    (``channel_axis=-1``, mean over frames then clips).

    Parameters
    ----------
    y_true, y_pred : array, shape (n_clips, n_frames, height, width, 3)
        True and generated clips (uint8 0..255 or float 0..1).
    win_size : int
        Odd side of the window, at most the frame's smaller side.
    average : bool
        Average over clips (True) or return one value per clip.

    Returns
    -------
    ssim : float | ndarray, shape (n_clips,)
        The similarity (1 for identical clips).
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    if win_size % 2 == 0 or win_size > min(y_true.shape[2:4]):
        raise ValueError(
            f"win_size must be odd and at most the frame size {y_true.shape[2:4]}; "
            f"got {win_size}."
        )
    n_clips, n_frames, _, _, n_colors = y_true.shape
    out = np.empty(n_clips)
    for i in range(n_clips):
        out[i] = np.mean(
            [
                _ssim_frame(y_true[i, f, ..., c], y_pred[i, f, ..., c], win_size)
                for f in range(n_frames)
                for c in range(n_colors)
            ]
        )
    return _reduce(out, average)


class IdentificationScore(NamedTuple):
    """Result of :func:`n_way_identification`.

    Attributes
    ----------
    accuracy : float
        Mean success over trials and clips.
    chance : float
        The exact chance level of the rule used (random classifier scores).
    n_way : int
        Candidates per trial.
    top_k : int
        Number of ground-truth classes per clip (1, or 3 in EEG2Video).
    """

    accuracy: float
    chance: float
    n_way: int
    top_k: int


def n_way_chance_level(n_way, top_k=1):
    """Chance level of n-way identification with ``top_k`` ground-truth classes.

    A trial ranks ``top_k`` ground-truth classes and ``n_way - 1`` other classes
    and succeeds when one of the ground-truth classes beats all others. With
    exchangeable (random) scores the best of the ``n_way + top_k - 1`` classes is
    equally likely to be any of them, so chance is ``top_k / (n_way + top_k -
    1)``: ``1 / n_way`` for top-1, and ``3 / (n_way + 2)`` for EEG2Video's top-3
    rule (0.75 for 2-way, 0.071 for 40-way).

    Parameters
    ----------
    n_way : int
        Candidates per trial (>= 2).
    top_k : int
        Ground-truth classes per clip (>= 1).

    Returns
    -------
    chance : float
        The chance level.
    """
    if n_way < 2 or top_k < 1:
        raise ValueError(f"Need n_way >= 2 and top_k >= 1; got {n_way}, {top_k}.")
    return top_k / (n_way + top_k - 1)


def n_way_identification(
    scores,
    y_true=None,
    *,
    n_way=2,
    top_k=1,
    reference_scores=None,
    n_trials=100,
    random_state=None,
):
    """N-way identification accuracy of generated clips, with its chance level.

    For each clip and trial, ``n_way - 1`` classes are drawn among the classes
    that are not ground truth; the trial succeeds when one ground-truth class
    scores higher than all of them (MinD-Video / EEG2Video rule).

    Parameters
    ----------
    scores : array, shape (n_clips, n_classes)
        Classifier scores (probabilities or logits) of the generated clips.
    y_true : array, shape (n_clips,) | None
        True class index of each clip (used when ``top_k=1`` and
        ``reference_scores`` is None).
    n_way : int
        Candidates per trial, ground truth included.
    top_k : int
        Ground-truth classes per clip: the ``top_k`` best classes of
        ``reference_scores``. ``top_k=3`` is EEG2Video's rule, whose chance
        level is ``3 / (n_way + 2)``, not ``1 / n_way``.
    reference_scores : array, shape (n_clips, n_classes) | None
        Classifier scores of the true clips, needed for ``top_k > 1``.
    n_trials : int
        Trials per clip.
    random_state : int | RandomState | None
        Seed of the drawn candidates.

    Returns
    -------
    result : IdentificationScore
        ``accuracy``, ``chance`` (:func:`n_way_chance_level`), ``n_way`` and
        ``top_k``.
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2:
        raise ValueError(f"scores must be (n_clips, n_classes); got {scores.shape}.")
    n_clips, n_classes = scores.shape
    if reference_scores is not None:
        reference_scores = np.asarray(reference_scores, dtype=float)
        if reference_scores.shape != scores.shape:
            raise ValueError(
                "reference_scores must have the shape of scores "
                f"{scores.shape}; got {reference_scores.shape}."
            )
        truth = np.argsort(-reference_scores, axis=1)[:, :top_k]
    elif top_k == 1 and y_true is not None:
        truth = np.asarray(y_true, dtype=int).reshape(-1, 1)
        if len(truth) != n_clips or truth.min() < 0 or truth.max() >= n_classes:
            raise ValueError(
                f"y_true must hold {n_clips} class indices in [0, {n_classes}); got "
                f"{len(truth)} values in [{truth.min()}, {truth.max()}]."
            )
    else:
        raise ValueError(
            "Pass y_true (top_k=1) or reference_scores (the classifier's scores of "
            "the true clips, any top_k)."
        )
    chance = n_way_chance_level(n_way, top_k)
    if n_way - 1 > n_classes - top_k:
        raise ValueError(
            f"n_way={n_way} needs {n_way - 1} non-ground-truth classes but only "
            f"{n_classes - top_k} exist."
        )
    rng = check_random_state(random_state)
    hits = np.empty((n_clips, n_trials))
    for i in range(n_clips):
        others = np.setdiff1d(np.arange(n_classes), truth[i])
        best_truth = scores[i, truth[i]].max()
        # n_trials draws of n_way - 1 distinct classes (random-key sort).
        keys = rng.random_sample((n_trials, len(others)))
        drawn = np.argpartition(keys, n_way - 2, axis=1)[:, : n_way - 1]
        drawn = others[drawn]
        hits[i] = best_truth > scores[i][drawn].max(axis=1)
    return IdentificationScore(float(hits.mean()), chance, n_way, top_k)


def make_video_classifier(random_state=None):
    """Make a simple classifier of clips: scaled pixels -> logistic regression.

    Parameters
    ----------
    random_state : int | None
        Seed of the solver.

    Returns
    -------
    classifier : sklearn.pipeline.Pipeline
        Fit it on true clips ``(n_clips, n_frames, H, W, 3)`` and labels; use
        its ``predict_proba`` as ``scores`` for :func:`n_way_identification`.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    return make_pipeline(
        FunctionTransformer(_flatten_videos),
        StandardScaler(),
        LogisticRegression(C=0.1, max_iter=2000, random_state=random_state),
    )


def _flatten_videos(videos):
    videos = _as_float_videos(videos, "videos")
    return videos.reshape(len(videos), -1)


def reconstruction_baselines(
    y_true,
    y_pred,
    train_videos,
    *,
    train_labels=None,
    labels=None,
    y_shuffled=None,
    win_size=7,
):
    """SSIM and PSNR of generated clips beside the trivial references.

    A generator must beat what needs no EEG at all:

    - ``'mean_clip'``: every clip predicted as the mean training clip;
    - ``'class_mean_clip'`` (with ``train_labels`` and ``labels``): every
      clip predicted as the mean training clip of its true class (an oracle
      that knows the class);
    - ``'shuffled_eeg'`` (with ``y_shuffled``): clips generated from the EEG
      of other clips, which measures what the EEG adds.

    Parameters
    ----------
    y_true : array, shape (n_clips, n_frames, height, width, 3)
        True clips (uint8 0..255 or float 0..1).
    y_pred : array, shape (n_clips, n_frames, height, width, 3)
        Generated clips.
    train_videos : array, shape (n_train, n_frames, height, width, 3)
        The training clips (same frame size as ``y_true``).
    train_labels : array, shape (n_train,) | None
        Classes of the training clips.
    labels : array, shape (n_clips,) | None
        Classes of the true clips.
    y_shuffled : array, shape (n_clips, n_frames, height, width, 3) | None
        Clips generated from shuffled EEG.
    win_size : int
        SSIM window (see :func:`video_ssim`).

    Returns
    -------
    scores : dict
        ``{name: {'ssim': float, 'psnr': float}}`` for ``'generated'``,
        ``'mean_clip'`` and, when their inputs are given,
        ``'class_mean_clip'`` and ``'shuffled_eeg'``.
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    train = _as_float_videos(train_videos, "train_videos")
    if train.shape[1:] != y_true.shape[1:]:
        raise ValueError(
            f"train_videos must have clips of shape {y_true.shape[1:]} like y_true; "
            f"got {train.shape[1:]} (resize them to the generated size)."
        )
    refs = {"generated": y_pred}
    refs["mean_clip"] = np.broadcast_to(train.mean(axis=0), y_true.shape)
    if (train_labels is None) != (labels is None):
        raise ValueError("Pass both train_labels and labels, or neither.")
    if labels is not None:
        train_labels, labels = np.asarray(train_labels), np.asarray(labels)
        if train_labels.shape != (len(train),) or labels.shape != (len(y_true),):
            raise ValueError(
                f"train_labels must have shape ({len(train)},) and labels "
                f"({len(y_true)},); got {train_labels.shape} and {labels.shape}."
            )
        missing = set(labels.tolist()) - set(train_labels.tolist())
        if missing:
            raise ValueError(f"labels {sorted(missing)} have no training clip.")
        means = {c: train[train_labels == c].mean(axis=0) for c in set(labels)}
        refs["class_mean_clip"] = np.stack([means[c] for c in labels])
    if y_shuffled is not None:
        refs["shuffled_eeg"] = _check_pair(y_true, y_shuffled)[1]
    return {
        name: {
            "ssim": video_ssim(y_true, ref, win_size=win_size),
            "psnr": video_psnr(y_true, ref),
        }
        for name, ref in refs.items()
    }
