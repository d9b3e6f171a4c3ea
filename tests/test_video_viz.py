"""Frame grids and GIFs of clips."""

import matplotlib
import numpy as np
import pytest

from sk_eeg.video import plot_video_frames, save_video_gif

matplotlib.use("Agg")


def _clips(n=3, frames=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, frames, 8, 6, 3), dtype=np.uint8)


def test_frame_grid_shows_true_above_generated():
    import matplotlib.pyplot as plt

    gen, true = _clips(), _clips(seed=1)
    fig = plot_video_frames(gen, true, n_clips=2)
    axes = np.array(fig.axes).reshape(4, 5)
    np.testing.assert_allclose(axes[0, 2].images[0].get_array(), true[0, 2] / 255)
    np.testing.assert_allclose(axes[3, 4].images[0].get_array(), gen[1, 4] / 255)
    assert axes[1, 0].get_ylabel() == "generated"
    plt.close(fig)
    fig = plot_video_frames(gen / 255.0, n_clips=10)
    assert len(fig.axes) == 3 * 5
    plt.close(fig)
    with pytest.raises(ValueError, match="true_videos"):
        plot_video_frames(gen, true[:1])


def test_gif_has_one_image_per_frame_with_the_clips(tmp_path):
    from PIL import Image

    gen = np.zeros((2, 4, 8, 8, 3))
    gen[:, :, :, :, 0] = np.linspace(0, 1, 4)[None, :, None, None]  # red ramps up
    path = save_video_gif(tmp_path / "clips.gif", gen, gen[:, :, :, :, ::-1] * 0.5)
    assert path.exists()
    with Image.open(path) as im:
        assert im.n_frames == 4
        im.seek(3)
        last = np.asarray(im.convert("RGB"), dtype=float)
    # Top row (true) is blue at half intensity, bottom row (generated) red.
    assert last[: last.shape[0] // 3, :, 2].mean() > 100
    assert last[-last.shape[0] // 3 :, :, 0].mean() > 200
