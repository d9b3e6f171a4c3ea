"""make_eeg_video (planted truth) and load_seed_dv (SEED-DV layouts)."""

import numpy as np
import pytest

from sk_eeg.datasets import load_seed_dv, make_eeg_video
from sk_eeg.video import DifferentialEntropy


@pytest.fixture(scope="module")
def sim():
    return make_eeg_video(
        n_blocks=3, n_classes=4, n_clips=3, n_frames=6, height=24, width=24,
        n_channels=16, sfreq=100.0, n_colors=3, random_state=0,
    )  # fmt: skip


def test_block_structure_is_seed_dv_like(sim):
    n = 3 * 4 * 3
    assert sim.X.shape == (n, 16, 200) and sim.videos.shape == (n, 6, 24, 24, 3)
    assert sim.videos.dtype == np.uint8
    for block in range(3):
        in_block = sim.blocks == block
        # every concept once per block, n_clips consecutive clips each
        assert np.array_equal(np.bincount(sim.y[in_block], minlength=4), [3] * 4)
        assert len(np.unique(sim.y[in_block][::3])) == 4
    assert len(np.unique(sim.clips)) == n


def test_same_seed_same_data(sim):
    again = make_eeg_video(
        n_blocks=3, n_classes=4, n_clips=3, n_frames=6, height=24, width=24,
        n_channels=16, sfreq=100.0, n_colors=3, random_state=0,
    )  # fmt: skip
    np.testing.assert_array_equal(again.X, sim.X)
    np.testing.assert_array_equal(again.videos, sim.videos)


def test_videos_show_the_planted_shape_colour_and_speed(sim):
    for i in range(len(sim.y)):
        pixels = sim.videos[i].reshape(-1, 3)
        lit = pixels[pixels.any(axis=1)]
        assert len(lit) > 0
        assert np.all(lit == sim.palette[sim.color[i]])
    # Same class, same shape: the lit area tells the class apart.
    area = (sim.videos.any(axis=-1)).sum(axis=(2, 3)).mean(axis=1)
    means = np.array([area[sim.y == c].mean() for c in range(4)])
    nearest = np.argmin(np.abs(area[:, None] - means[None]), axis=1)
    assert np.mean(nearest == sim.y) > 0.8
    # Fast clips move about 3x further between frames than slow ones.
    yy, xx = np.mgrid[0:24, 0:24]

    def step(video):
        mask = video.any(axis=-1)
        cy = (mask * yy).sum(axis=(1, 2)) / mask.sum(axis=(1, 2))
        cx = (mask * xx).sum(axis=(1, 2)) / mask.sum(axis=(1, 2))
        return np.median(np.hypot(np.diff(cy), np.diff(cx)))

    steps = np.array([step(v) for v in sim.videos])
    assert np.median(steps[sim.speed == 1]) > 2 * np.median(steps[sim.speed == 0])


def test_class_is_decodable_from_eeg_band_power_across_blocks(sim):
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.model_selection import LeaveOneGroupOut, cross_val_score
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(
        DifferentialEntropy(sfreq=sim.sfreq, bands=((8, 12),)),
        LinearDiscriminantAnalysis(),
    )
    acc = cross_val_score(model, sim.X, sim.y, groups=sim.blocks, cv=LeaveOneGroupOut())
    assert acc.mean() > 0.8  # chance 0.25
    # The alpha-band power follows the class spatial pattern.
    alpha = DifferentialEntropy(sfreq=sim.sfreq, bands=((9, 11),)).fit_transform(sim.X)
    for c in range(4):
        diff = alpha[sim.y == c].mean(0) - alpha.mean(0)
        pattern = np.abs(sim.class_patterns[c])
        assert np.corrcoef(diff, pattern)[0, 1] > 0.3


def _raw_subject(n_blocks, n_channels, n_concepts, sfreq, hint, clip, n_clips):
    n_samples = n_concepts * int((hint + n_clips * clip) * sfreq)
    # Each sample stores its block and sample index so segments can be traced.
    raw = np.empty((n_blocks, n_channels, n_samples), dtype=np.float32)
    raw[:] = np.arange(n_samples)[None, None, :]
    raw += 1e6 * np.arange(n_blocks)[:, None, None]
    return raw


def test_raw_layout_is_cut_after_each_hint(tmp_path):
    sfreq, hint, clip, n_clips = 10.0, 3.0, 2.0, 5
    raw = _raw_subject(2, 3, 4, sfreq, hint, clip, n_clips)
    fname = tmp_path / "sub1.npy"
    np.save(fname, raw)
    labels = np.array([[2, 4, 1, 3], [4, 3, 2, 1]])  # 1-based as in SEED-DV
    np.save(tmp_path / "labels.npy", labels)
    data = load_seed_dv(fname, tmp_path / "labels.npy", sfreq=sfreq)
    assert data.X.shape == (2 * 4 * 5, 3, 20)
    concept_len = int((hint + n_clips * clip) * sfreq)
    for i in range(len(data.y)):
        b, k, j = data.blocks[i], (i // 5) % 4, data.clip_index[i]
        start = k * concept_len + hint * sfreq + j * clip * sfreq
        assert data.X[i, 0, 0] == 1e6 * b + start
        assert data.X[i, 2, -1] == 1e6 * b + start + 19
        assert data.y[i] == labels[b, k] - 1
    assert len(np.unique(data.clips)) == 40


def test_segmented_layout_and_errors(tmp_path):
    seg = np.random.default_rng(0).standard_normal((2, 3, 5, 4, 20))
    np.save(tmp_path / "seg.npy", seg)
    data = load_seed_dv(tmp_path / "seg.npy", sfreq=10.0)
    np.testing.assert_array_equal(data.X[7], seg[0, 1, 2])
    assert data.y[7] == 1 and data.blocks[7] == 0 and data.clip_index[7] == 2
    with pytest.raises(ValueError, match="labels must have shape"):
        load_seed_dv(seg, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="not a multiple"):
        load_seed_dv(np.zeros((1, 2, 1001)), sfreq=10.0)
    with pytest.raises(FileNotFoundError, match="eeg file not found"):
        load_seed_dv(tmp_path / "missing.npy")
    with pytest.raises(ValueError, match="n_channels"):
        make_eeg_video(n_channels=1)
