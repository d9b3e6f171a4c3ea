"""The nested time-series simulator and the loaders of the original formats."""

import h5py
import numpy as np
import pandas as pd
import pytest
from scipy.io import savemat

from sk_eeg.datasets import load_lme_mat, load_lme_table, make_nested_timeseries


def _write_v73(path, X, design, with_region=True):
    """A MATLAB v7.3-style HDF5 file: cell arrays of char as object references."""
    with h5py.File(path, "w") as f:
        refs = f.create_group("#refs#")
        counter = [0]

        def cell(name, strings):
            out = np.empty((1, len(strings)), dtype=h5py.ref_dtype)
            for i, s in enumerate(strings):
                key = f"r{counter[0]}"
                counter[0] += 1
                codes = np.array([ord(c) for c in s], dtype=np.uint16)[:, None]
                out[0, i] = refs.create_dataset(key, data=codes).ref
            f.create_dataset(name, data=out)

        cell("sid", design["sid"].tolist())
        cell("ch", design["ch"].tolist())
        if with_region:
            cell("region", design["region"].tolist())
        f.create_dataset("hit_miss", data=design["hit_miss"].to_numpy(float)[None])
        f.create_dataset("data", data=X.T)  # MATLAB stores column-major


@pytest.fixture(scope="module")
def data():
    return make_nested_timeseries(
        n_subjects=3,
        n_channels=[2, 3, 2],
        n_times=9,
        effect_window=(2, 5),
        random_state=0,
    )


def test_simulator_plants_the_effect_in_the_window_only():
    X, design = make_nested_timeseries(
        n_subjects=10,
        n_channels=40,
        n_times=50,
        effect_window=(20, 30),
        hit_miss_effect=2.0,
        sigma_subject=0.5,
        sigma_channel=0.5,
        random_state=0,
    )
    assert X.shape == (800, 50)
    hit = design["hit_miss"].to_numpy() == 1
    diff = X[hit].mean(0) - X[~hit].mean(0)
    assert diff[22:28].min() > 1.0
    assert np.abs(np.r_[diff[:20], diff[30:]]).max() < 0.4
    assert set(design.columns) == {"sid", "ch", "hit_miss", "region"}
    assert (design.groupby(["sid", "ch"])["region"].nunique() == 1).all()


def test_simulator_default_is_the_original_layout_and_drops_rows():
    X, design = make_nested_timeseries(random_state=0)
    assert X.shape == (338, 139)
    assert design.groupby(["sid", "ch"]).ngroups == 169
    X2, design2 = make_nested_timeseries(random_state=0, n_missing=7)
    assert X2.shape == (331, 139) and len(design2) == 331
    with pytest.raises(ValueError, match="effect_window"):
        make_nested_timeseries(n_times=10, random_state=0)


def test_v73_mat_file_round_trips(tmp_path, data):
    X, design = data
    path = tmp_path / "lme.mat"
    _write_v73(path, X, design)
    X2, design2 = load_lme_mat(path)
    np.testing.assert_array_equal(X2, X)
    pd.testing.assert_frame_equal(design2, design)


def test_v73_without_region_is_an_explicit_one_way_design(tmp_path, data):
    X, design = data
    path = tmp_path / "lme_1way.mat"
    _write_v73(path, X, design, with_region=False)
    X2, design2 = load_lme_mat(path)
    assert "region" not in design2.columns
    with pytest.raises(ValueError, match="no 'region'"):
        load_lme_mat(path, require_region=True)


def test_v5_mat_file_round_trips(tmp_path, data):
    X, design = data
    path = tmp_path / "lme_v5.mat"
    cells = {
        k: np.array(design[k].tolist(), dtype=object) for k in ("sid", "ch", "region")
    }
    savemat(path, {**cells, "hit_miss": design["hit_miss"].to_numpy(), "data": X})
    X2, design2 = load_lme_mat(path)
    np.testing.assert_allclose(X2, X)
    pd.testing.assert_frame_equal(design2, design)


def test_mat_file_missing_variables_is_an_error(tmp_path):
    path = tmp_path / "bad.mat"
    savemat(path, {"data": np.zeros((2, 3))})
    with pytest.raises(ValueError, match="lacks the variables"):
        load_lme_mat(path)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_long_and_wide_tables_round_trip(tmp_path, data, suffix):
    X, design = data
    long = design.loc[np.repeat(design.index, X.shape[1])].reset_index(drop=True)
    long["time"] = np.tile(np.arange(X.shape[1]) * 0.01, len(design))
    long["data"] = X.ravel()
    long = long.sample(frac=1.0, random_state=0)  # row order must not matter
    path = tmp_path / f"long{suffix}"
    if suffix == ".csv":
        long.to_csv(path, index=False)
    else:
        long.to_parquet(path)
    X2, design2 = load_lme_table(path)
    order = design2.merge(design.reset_index(), on=list(design.columns))["index"]
    np.testing.assert_allclose(X2, X[order.to_numpy()])
    wide = pd.concat(
        [design, pd.DataFrame(X, columns=[f"t{i}" for i in range(X.shape[1])])],
        axis=1,
    )
    X3, design3 = load_lme_table(wide)
    np.testing.assert_array_equal(X3, X)
    pd.testing.assert_frame_equal(design3, design)
    with pytest.raises(ValueError, match="not unique"):
        load_lme_table(long, id_cols=["sid"])
