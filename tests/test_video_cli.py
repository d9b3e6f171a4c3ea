"""``sk-eeg eeg2video train|generate`` on tiny data files."""

import numpy as np
import pytest

from sk_eeg.cli import build_parser, main
from sk_eeg.datasets import make_eeg_video

pytest.importorskip("torch")
pytest.importorskip("diffusers")


def test_train_help_documents_the_cpu_and_gpu_configurations():
    parser = build_parser()
    sub = [a for a in parser._actions if a.dest == "command"][0].choices["eeg2video"]
    train = [a for a in sub._actions if a.dest == "eeg2video_command"][0]
    help_text = train.choices["train"].format_help()
    for word in (
        "cpu ",
        "gpu ",
        "GLMNet",
        "minutes on 2 CPU cores",
        "resumes",
        "H200",
        "defaults",
        "from_preset",
    ):
        assert word in help_text


def test_train_then_generate_writes_model_npy_gif_and_grid(tmp_path, capsys):
    from PIL import Image

    data = make_eeg_video(
        n_blocks=1, n_classes=2, n_clips=3, n_frames=3, height=8, width=8,
        n_channels=4, sfreq=100.0, random_state=0,
    )  # fmt: skip
    for name in ("X", "videos", "y"):
        np.save(tmp_path / f"{name}.npy", getattr(data, name))
    model = tmp_path / "model"
    code = main(
        [
            "eeg2video", "train", "--eeg", str(tmp_path / "X.npy"),
            "--videos", str(tmp_path / "videos.npy"), "--labels",
            str(tmp_path / "y.npy"), "--sfreq", "100", "--out", str(model),
            "--preset", "cpu", "--features", "raw", "--max-epochs", "1",
            "--encoder-epochs", "1", "--num-inference-steps", "2",
            "--device", "cpu", "--plot", str(tmp_path / "loss.png"),
            "--checkpoint-minutes", "30", "--n-jobs", "1",
        ]
    )  # fmt: skip
    assert code == 0
    assert (model / "model_index.json").exists()
    assert not (model / "checkpoint").exists()  # removed once the model is saved
    assert (tmp_path / "loss.png").stat().st_size > 0
    out = tmp_path / "gen.npy"
    code = main(
        [
            "eeg2video", "generate", "--model", str(model), "--eeg",
            str(tmp_path / "X.npy"), "--videos", str(tmp_path / "videos.npy"),
            "--out", str(out), "--n-show", "2", "--device", "cpu", "--n-jobs", "1",
        ]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "n_jobs=1" in printed  # the trained estimator's repr
    videos = np.load(out)
    assert videos.shape == data.videos.shape and videos.dtype == np.uint8
    for path in (out, tmp_path / "gen.gif", tmp_path / "gen.png"):
        assert str(path) in printed and path.stat().st_size > 0
    with Image.open(tmp_path / "gen.gif") as im:
        assert im.n_frames == 3
