"""MNE recordings into the panel layout, the estimator and the CLI."""

import datetime

import mne
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from sk_eeg.cli import main
from sk_eeg.datasets import make_eeg_panel
from sk_eeg.panel import IFEPanelRegressor, panel_from_mne


def _raws(info, n_subjects=4, n_sessions=3, n_factors=2, seed=0):
    """Raw recordings with the sample data's EEG info and planted factors."""
    sfreq = info["sfreq"]
    n_samples = int(60 * sfreq)
    sim = make_eeg_panel(
        n_subjects,
        n_sessions,
        len(info["ch_names"]),
        n_samples,
        sfreq=sfreq,
        window=2.0,
        n_factors=n_factors,
        random_state=seed,
    )
    raws, subjects = [], []
    for s in range(n_subjects):
        for k in range(n_sessions):
            raw = mne.io.RawArray(
                np.asarray(sim.data[s, k], dtype=float), info.copy(), verbose=False
            )
            start = datetime.datetime(2024, 3, 1 + s, 8 + 3 * k, 0, 0)
            raw.set_meas_date(start.replace(tzinfo=datetime.UTC))
            raws.append(raw)
            subjects.append(f"S{s}")
    return raws, subjects, sim


@pytest.fixture(scope="module")
def eeg_info(mne_sample_dir):
    evoked = mne.read_evokeds(mne_sample_dir / "test-ave.fif.gz", verbose=False)[0]
    evoked.pick("eeg")
    # The sample data's 60 EEG channels and montage, at 150 Hz (fewer samples).
    info = mne.create_info(evoked.ch_names, 150.0, "eeg")
    return info.set_montage(evoked.get_montage())


def test_raw_recordings_fit_with_planted_rank_and_clock_time(eeg_info):
    raws, subjects, sim = _raws(eeg_info)
    panel = panel_from_mne(raws, subjects, covariates={"sex": [1.0] * 12})
    assert panel.y.shape == (12 * 30, 60)
    assert list(panel.X.columns) == ["tod_sin", "tod_cos", "sex"]
    assert_allclose(panel.hours[panel.recording == 1][:2], [11.0, 11.0 + 2 / 3600])
    with pytest.warns(UserWarning, match="sex"):  # one value: not identified
        model = IFEPanelRegressor().fit(panel.X, panel.y, groups=panel.groups)
    assert model.n_factors_.tolist() == [2] * 4
    assert model.groups_.tolist() == ["S0", "S1", "S2", "S3"]
    # Epochs give the same rows; a BAD annotation drops its windows.
    epochs = mne.make_fixed_length_epochs(raws[0], duration=2.0, verbose=False)
    assert_allclose(panel_from_mne(epochs).y, panel_from_mne(raws[0]).y)
    raw = raws[0].copy()
    raw.set_annotations(mne.Annotations([10.0], [5.0], ["BAD_motion"]))
    assert len(panel_from_mne(raw).y) == 30 - 3


def test_clear_errors_for_mne_input(eeg_info):
    raws, _, _ = _raws(eeg_info, n_subjects=1, n_sessions=2)
    with pytest.raises(TypeError, match="panel_from_mne"):
        IFEPanelRegressor().fit(np.zeros((10, 0)), raws[0])
    with pytest.raises(TypeError, match="Raw or mne.Epochs"):
        panel_from_mne([raws[0], np.zeros((3, 3))])
    with pytest.raises(ValueError, match="same channels"):
        panel_from_mne([raws[0], raws[1].copy().pick(raws[1].ch_names[:10])])
    with pytest.raises(ValueError, match="one subject per recording"):
        panel_from_mne(raws, subjects=["a"])


def test_cli_fits_fif_recordings_and_writes_plot(eeg_info, tmp_path, capsys):
    raws, subjects, _ = _raws(eeg_info, n_subjects=3, n_sessions=3, seed=1)
    paths = []
    for i, raw in enumerate(raws):
        paths.append(tmp_path / f"{subjects[i]}_ses{i % 3}_raw.fif")
        raw.save(paths[-1], verbose=False)
    meta = pd.DataFrame({"subject": ["S0", "S1", "S2"], "age": [20.0, 30.0, 25.0]})
    meta.to_csv(tmp_path / "meta.csv", index=False)
    out, fig = tmp_path / "coef.csv", tmp_path / "scree.png"
    args = ["panel", *map(str, paths), "--subjects", *subjects]
    args += ["--meta", str(tmp_path / "meta.csv"), "--out", str(out)]
    args += ["--plot", str(fig), "--window", "2"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert f"Wrote {out}" in text and f"Wrote {fig}" in text
    table = pd.read_csv(out)
    assert {"covariate", "channel", "coef", "se", "ci_low", "ci_high"} <= set(
        table.columns
    )
    assert set(table["covariate"]) == {"tod_sin", "tod_cos", "age"}
    assert "ranks per subject: S0=2, S1=2, S2=2" in text
    assert fig.stat().st_size > 1000
