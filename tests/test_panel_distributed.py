"""The tensor pipeline on a dask LocalCluster equals the in-process fit."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.utils import Bunch

from sk_eeg.datasets import load_panel_npy, make_eeg_panel
from sk_eeg.panel import fit_panel_tensor

distributed = pytest.importorskip("dask.distributed")


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def _assert_same_fit(a, b):
    assert a.groups_.tolist() == b.groups_.tolist()
    assert a.n_factors_.tolist() == b.n_factors_.tolist()
    for name in (
        "coef_",
        "intercept_",
        "group_intercepts_",
        "eigenvalues_",
        "noise_variance_",
        "subject_covariates_",
    ):
        assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-8, atol=1e-10)
    assert_allclose(a.coef_se_, b.coef_se_, rtol=1e-8)


@pytest.mark.slow
def test_dask_fit_equals_in_process_fit_npy_and_hdf5(tmp_path, client):
    import h5py

    sim = make_eeg_panel(
        n_subjects=6,
        n_sessions=3,
        n_channels=8,
        n_samples=6000,
        sfreq=100.0,
        n_factors=2,
        out=tmp_path / "eeg.npy",
        random_state=0,
    )
    meta = sim.meta.assign(sex=[1.0, 1.0, np.nan, 1.0, 0.0, 0.0])
    panel = load_panel_npy(tmp_path / "eeg.npy", meta=meta)
    kw = dict(sfreq=100.0, session_hours=[10, 15, 10], subject_columns=("sex",))
    local, summary = fit_panel_tensor(panel, **kw)
    remote, summary_d = fit_panel_tensor(panel, client=client, **kw)
    _assert_same_fit(local, remote)
    assert_allclose(
        summary_d["covariate_r2"].to_numpy(), summary["covariate_r2"].to_numpy()
    )
    # The same tensor in an HDF5 file: workers open the dataset themselves.
    with h5py.File(tmp_path / "eeg.h5", "w") as f:
        f.create_dataset("eeg", data=np.asarray(panel.data), chunks=(1, 1, 8, 6000))
    with h5py.File(tmp_path / "eeg.h5", "r") as f:
        panel.data = f["eeg"]
        remote_h5, _ = fit_panel_tensor(panel, client=client, **kw)
    _assert_same_fit(local, remote_h5)


def test_distributed_fit_needs_a_file_backed_store(client):
    sim = make_eeg_panel(
        n_subjects=2, n_sessions=2, n_channels=4, n_samples=400, sfreq=100.0
    )
    panel = Bunch(data=np.asarray(sim.data), meta=sim.meta, valid=np.ones((2, 2), bool))
    with pytest.raises(TypeError, match="file-backed"):
        fit_panel_tensor(panel, sfreq=100.0, session_hours=[10, 15], client=client)
