"""``sk-eeg panel`` on a tensor the test writes, and the demo section."""

import numpy as np
import pandas as pd

from sk_eeg.cli import main
from sk_eeg.datasets import make_eeg_panel


def test_panel_command_writes_per_subject_rank_and_three_scores(tmp_path, capsys):
    sim = make_eeg_panel(
        n_subjects=4,
        n_sessions=4,
        n_channels=10,
        n_samples=15_000,
        sfreq=250.0,
        n_factors=2,
        missing_sessions=1,
        out=tmp_path / "eeg.npy",
        random_state=0,
    )
    sim.meta.to_csv(tmp_path / "meta.csv", index=False)
    out = tmp_path / "summary.csv"
    status = main(
        [
            "panel",
            str(tmp_path / "eeg.npy"),
            "--meta",
            str(tmp_path / "meta.csv"),
            "--out",
            str(out),
            "--sfreq",
            "250",
            "--window",
            "0.5",
            "--plot",
            str(tmp_path / "scree.png"),
        ]
    )
    assert status == 0
    assert (tmp_path / "scree.png").stat().st_size > 1000
    summary = pd.read_csv(out)
    assert {
        "subject",
        "n_factors",
        "covariate_r2",
        "reconstruction_r2",
        "leave_channels_out_r2",
    } <= set(summary.columns)
    assert len(summary) >= 3  # a subject may lose its held-out session
    assert np.all(summary["n_factors"] == 2)
    assert np.all(summary["reconstruction_r2"] > summary["covariate_r2"])
    text = capsys.readouterr().out
    assert "Skipped recordings" in text and f"Wrote {tmp_path / 'scree.png'}" in text


def test_panel_command_reports_bad_path_cleanly(tmp_path, capsys):
    assert main(["panel", str(tmp_path / "absent.npy")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_demo_section_prints_recovered_truth(tmp_path, capsys):
    assert main(["demo", "--only", "panel", "--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "planted rank 3, chosen per subject [3, 3, 3, 3, 3, 3, 3, 3]" in out
    assert "vMF mixture" in out


def test_panel_command_with_nan_sex_letters_and_a_nan_sample(tmp_path, capsys):
    sim = make_eeg_panel(
        n_subjects=6,
        n_sessions=3,
        n_channels=6,
        n_samples=6000,
        sfreq=100.0,
        out=tmp_path / "eeg.npy",
        random_state=1,
    )
    sim.data[1, 0, 2, 10] = np.nan
    sim.data.flush()
    meta = sim.meta.assign(sex=["M", "M", "", "M", "F", "F"])
    meta.to_csv(tmp_path / "meta.csv", index=False)
    out = tmp_path / "summary.csv"
    args = ["panel", str(tmp_path / "eeg.npy"), "--meta", str(tmp_path / "meta.csv")]
    args += ["--out", str(out), "--sfreq", "100", "--session-hours", "10", "15", "10"]
    assert main(args) == 0
    assert "1 recording(s) have NaN samples" in capsys.readouterr().out
    summary = pd.read_csv(out)
    assert len(summary) == 6 and np.isfinite(summary["covariate_r2"]).all()
