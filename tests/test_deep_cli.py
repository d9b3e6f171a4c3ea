"""``sk-eeg classify train|predict`` on small HMS-style files."""

import numpy as np
import pandas as pd

from sk_eeg.cli import main
from sk_eeg.datasets import make_eeg_patterns
from sk_eeg.datasets._patterns import PATTERN_CLASSES


def test_classify_train_then_predict_writes_probabilities(tmp_path, capsys):
    X, votes, patients, ch_names = make_eeg_patterns(
        n_epochs=8, n_times=800, random_state=0
    )
    eeg_dir = tmp_path / "eegs"
    eeg_dir.mkdir()
    rows = []
    for k in range(4):  # two windows per recording
        data = np.concatenate([X[2 * k], X[2 * k + 1]], axis=1).T
        pd.DataFrame(data.astype(np.float32), columns=ch_names).to_parquet(
            eeg_dir / f"{100 + k}.parquet"
        )
        for j in range(2):
            row = dict(eeg_id=100 + k, eeg_label_offset_seconds=4.0 * j)
            row["patient_id"] = int(patients[2 * k + j])
            row.update(
                {f"{c}_vote": int(v) for c, v in zip(PATTERN_CLASSES, votes[2 * k + j])}
            )
            rows.append(row)
    pd.DataFrame(rows).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame({"eeg_id": [101, 103]}).to_csv(tmp_path / "test.csv", index=False)
    model = tmp_path / "model.pkl"
    common = ["--eeg-dir", str(eeg_dir), "--window-seconds", "4"]
    assert (
        main(
            [
                "classify",
                "train",
                "--csv",
                str(tmp_path / "train.csv"),
                *common,
                "--out",
                str(model),
                "--backbone",
                "test_efficientnet",
                "--max-epochs",
                "1",
                "--batch-size",
                "4",
                "--n-mels",
                "16",
                "--n-fft",
                "64",
                "--win-length",
                "64",
                "--hop-length",
                "16",
                "--device",
                "cpu",
                "--plot",
                str(tmp_path / "train.png"),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "trained on 8 windows" in printed
    assert f"figure: {tmp_path / 'train.png'}" in printed
    assert (tmp_path / "train.png").stat().st_size > 0
    out = tmp_path / "pred.csv"
    assert (
        main(
            [
                "classify",
                "predict",
                "--csv",
                str(tmp_path / "test.csv"),
                *common,
                "--model",
                str(model),
                "--out",
                str(out),
                "--plot",
                str(tmp_path / "pred.png"),
            ]
        )
        == 0
    )
    assert (tmp_path / "pred.png").stat().st_size > 0
    wrong = ["--sfreq", "256", "--model", str(model), "--out", str(out)]
    code = main(
        [
            "classify",
            "predict",
            "--csv",
            str(tmp_path / "test.csv"),
            "--eeg-dir",
            str(eeg_dir),
            "--window-seconds",
            "4",
            *wrong,
        ]
    )
    assert code != 0 and "trained at" in capsys.readouterr().err
    pred = pd.read_csv(out)
    assert list(pred["eeg_id"]) == [101, 103]
    proba = pred[[f"{c}_vote" for c in PATTERN_CLASSES]].to_numpy()
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)


def test_classify_reports_missing_files_as_errors(tmp_path, capsys):
    code = main(
        [
            "classify",
            "train",
            "--csv",
            str(tmp_path / "no.csv"),
            "--eeg-dir",
            str(tmp_path),
            "--out",
            str(tmp_path / "m.pkl"),
        ]
    )
    assert code == 2
    assert "csv_path" in capsys.readouterr().err


def test_importing_the_deep_subpackage_and_its_cli_does_not_load_torch():
    import subprocess
    import sys

    code = (
        "import sys, sk_eeg.deep, sk_eeg.deep._cli; "
        "print([m for m in ('torch', 'skorch', 'timm') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
