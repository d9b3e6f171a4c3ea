"""Per-recording Gram accumulation on a dask cluster.

Workers open the store themselves (a ``.npy`` memory map or an HDF5
dataset: only its path travels), turn one recording into covariates and
log-power responses, and send back its moments (``p x p`` and smaller);
the client adds them in recording order, so the fit equals the in-process
one up to floating-point summation order.
"""

import numpy as np

from ._ife import _accumulate_moments


def _store_source(data):
    """Describe a file-backed tensor picklably (what workers open)."""
    filename = getattr(data, "filename", None)
    if isinstance(data, np.memmap) and filename is not None:
        return ("npy", str(filename))
    file = getattr(data, "file", None)
    if file is not None and hasattr(data, "name") and hasattr(file, "filename"):
        return ("hdf5", str(file.filename), data.name)
    raise TypeError(
        "a distributed fit needs a file-backed tensor that workers can open: a "
        "memory map from load_panel_npy or an h5py dataset, got "
        f"{type(data).__name__}."
    )


def _open_recording(source, subject, session):
    if source[0] == "npy":
        return np.load(source[1], mmap_mode="r")[subject, session]
    import h5py

    with h5py.File(source[1], "r") as f:
        return np.asarray(f[source[2]][subject, session])


def _recording_block(source, subject, session, design_kw, chunk_size):
    """Moments of one recording (run on a worker)."""
    from ._pipeline import _recording_design

    rec = _open_recording(source, subject, session)
    X, y = _recording_design(rec, **design_kw)
    Xa = X.to_numpy(dtype=float)
    missing = np.flatnonzero(np.isnan(Xa).all(0)) if len(Xa) else np.array([], int)
    Xa = np.where(np.isnan(Xa), 0.0, Xa)
    mom = _accumulate_moments(
        y, Xa, np.zeros(len(y), dtype=np.intp), 1, None, chunk_size
    )
    return {"mom": mom, "names": list(X.columns), "missing": missing}
