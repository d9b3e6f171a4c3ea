"""Video metrics and n-way identification chance levels."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sk_eeg.video import (
    n_way_chance_level,
    n_way_identification,
    video_mse,
    video_psnr,
    video_ssim,
)


def _ssim_loop(a, b, win=7, data_range=1.0):
    """Direct SSIM: every full window, sample statistics, mean over windows."""
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    vals = []
    for i in range(a.shape[0] - win + 1):
        for j in range(a.shape[1] - win + 1):
            x = a[i : i + win, j : j + win].ravel()
            y = b[i : i + win, j : j + win].ravel()
            mx, my = x.mean(), y.mean()
            vx, vy = x.var(ddof=1), y.var(ddof=1)
            cxy = np.cov(x, y)[0, 1]
            vals.append(
                (2 * mx * my + c1)
                * (2 * cxy + c2)
                / ((mx**2 + my**2 + c1) * (vx + vy + c2))
            )
    return np.mean(vals)


def test_ssim_matches_a_direct_window_loop():
    rng = np.random.default_rng(0)
    a = rng.uniform(size=(1, 2, 12, 11, 3))
    b = np.clip(a + 0.2 * rng.standard_normal(a.shape), 0, 1)
    expected = np.mean(
        [
            _ssim_loop(a[0, f, ..., c], b[0, f, ..., c])
            for f in range(2)
            for c in range(3)
        ]
    )
    assert_allclose(video_ssim(a, b), expected, rtol=1e-10)


def test_identical_clips_score_perfectly_and_uint8_equals_float():
    rng = np.random.default_rng(1)
    v8 = rng.integers(0, 256, size=(2, 3, 8, 8, 3), dtype=np.uint8)
    assert video_ssim(v8, v8, win_size=7) == pytest.approx(1.0)
    assert video_mse(v8, v8) == 0.0
    assert video_psnr(v8, v8) == 100.0
    other = rng.integers(0, 256, size=v8.shape, dtype=np.uint8)
    assert_allclose(video_mse(v8, other), video_mse(v8 / 255.0, other / 255.0))
    mse = video_mse(v8, other, average=False)
    assert mse.shape == (2,)
    assert_allclose(
        video_psnr(v8, other),
        np.mean(
            10 * np.log10(1 / ((v8 / 255.0 - other / 255.0) ** 2).mean(axis=(2, 3, 4)))
        ),
    )


@pytest.mark.parametrize(
    ("n_way", "top_k", "chance"),
    [(2, 1, 0.5), (40, 1, 0.025), (2, 3, 0.75), (40, 3, 3 / 42)],
)
def test_random_classifier_reproduces_the_stated_chance_level(n_way, top_k, chance):
    rng = np.random.default_rng(2)
    n_clips, n_classes = 2000, 100
    scores = rng.standard_normal((n_clips, n_classes))
    reference = rng.standard_normal((n_clips, n_classes))
    res = n_way_identification(
        scores,
        n_way=n_way,
        top_k=top_k,
        reference_scores=reference,
        n_trials=20,
        random_state=0,
    )
    assert res.chance == pytest.approx(chance)
    assert n_way_chance_level(n_way, top_k) == pytest.approx(chance)
    # 2000 clips x 20 trials; trials of one clip are correlated, so the
    # standard error is at most sqrt(1 / 12 / 2000) = 0.0065: 0.03 is 4.6 SE.
    assert abs(res.accuracy - chance) < 0.03


def test_a_perfect_classifier_is_always_identified():
    y = np.repeat(np.arange(5), 4)
    scores = np.eye(5)[y] + 0.01
    res = n_way_identification(scores, y, n_way=5, random_state=0)
    assert res.accuracy == 1.0 and res.chance == pytest.approx(0.2)


def test_identification_rejects_impossible_requests():
    scores = np.zeros((3, 4))
    with pytest.raises(ValueError, match="reference_scores"):
        n_way_identification(scores, n_way=2, top_k=3)
    with pytest.raises(ValueError, match="non-ground-truth"):
        n_way_identification(scores, [0, 1, 2], n_way=5)
    with pytest.raises(ValueError, match="same shape"):
        video_ssim(np.zeros((1, 1, 8, 8, 3)), np.zeros((1, 2, 8, 8, 3)))


def test_reconstruction_baselines_score_the_trivial_references():
    from sk_eeg.video import reconstruction_baselines

    rng = np.random.default_rng(0)
    train = rng.uniform(size=(6, 2, 8, 8, 3))
    train_labels = np.array([0, 0, 0, 1, 1, 1])
    truth = rng.uniform(size=(2, 2, 8, 8, 3))
    labels = np.array([1, 0])
    pred = truth.copy()
    shuffled = truth[::-1]
    res = reconstruction_baselines(
        truth, pred, train, train_labels=train_labels, labels=labels,
        y_shuffled=shuffled,
    )  # fmt: skip
    assert res["generated"]["ssim"] == pytest.approx(1.0)
    assert res["generated"]["psnr"] == 100.0
    mean = np.broadcast_to(train.mean(axis=0), truth.shape)
    assert res["mean_clip"]["ssim"] == pytest.approx(video_ssim(truth, mean))
    class_mean = np.stack([train[3:].mean(axis=0), train[:3].mean(axis=0)])
    assert res["class_mean_clip"]["psnr"] == pytest.approx(
        video_psnr(truth, class_mean)
    )
    assert res["shuffled_eeg"]["ssim"] == pytest.approx(video_ssim(truth, shuffled))
    assert set(reconstruction_baselines(truth, pred, train)) == {
        "generated",
        "mean_clip",
    }
    with pytest.raises(ValueError, match="resize"):
        reconstruction_baselines(truth, pred, train[:, :1])
    with pytest.raises(ValueError, match="no training clip"):
        reconstruction_baselines(
            truth, pred, train, train_labels=np.zeros(6), labels=labels
        )
