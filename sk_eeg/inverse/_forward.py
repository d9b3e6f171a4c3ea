"""Forward-model handling: reading, channel matching, whitening and weighting.

Turns a user's ``forward`` (an :class:`mne.Forward`, a path to a ``-fwd.fif``
or a dict holding a gain array) plus the measurement info and noise covariance
into a :class:`_Problem`: the whitened gain with depth and orientation weights
folded in, and what is needed to map a solution back to sources and sensors.
The steps follow MNE's sparse solvers (``mne.inverse_sparse``), through MNE's
public functions, so that the same ``alpha`` means the same problem.
"""

import os
from collections import OrderedDict

import numpy as np

_FORWARD_CACHE = OrderedDict()
_PROBLEM_CACHE = OrderedDict()
_CACHE_SIZE = 4


def _cache_put(cache, key, value):
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)


def _fingerprint(obj):
    """Hash an array, dict, MNE object or path (paths by name and mtime)."""
    import joblib

    if isinstance(obj, (str, os.PathLike)):
        path = os.path.abspath(os.fspath(obj))
        return ("path", path, os.path.getmtime(path))
    if obj is None or isinstance(obj, (int, float, str)):
        return obj
    try:
        import mne

        if isinstance(obj, mne.Forward):
            return (
                "fwd",
                joblib.hash(obj["sol"]["data"]),
                tuple(obj["sol"]["row_names"]),
                joblib.hash(obj["source_rr"]),
                joblib.hash(obj["source_nn"]),
            )
        if isinstance(obj, mne.Covariance):
            return ("cov", joblib.hash(obj.data), tuple(obj.ch_names))
    except ImportError:  # pragma: no cover - mne is a core dependency
        pass
    return joblib.hash(obj)


class _ForwardModel:
    """The parts of a forward model the localizer needs.

    Attributes
    ----------
    gain : array, shape (n_channels, n_sources * n_orient)
        Unwhitened gain.
    ch_names : list of str | None
        Channel names of the gain rows (None for an unnamed gain array).
    source_rr : array, shape (n_sources, 3)
        Source positions in metres.
    source_nn : array, shape (n_sources * n_orient, 3)
        Orientation of each column.
    n_orient : int
        1 (fixed) or 3 (free).
    fwd : mne.Forward | None
        The MNE forward, when one was given.
    """

    def __init__(self, gain, ch_names, source_rr, source_nn, n_orient, fwd=None):
        self.gain = gain
        self.ch_names = ch_names
        self.source_rr = source_rr
        self.source_nn = source_nn
        self.n_orient = n_orient
        self.fwd = fwd

    @property
    def n_sources(self):
        return self.source_rr.shape[0]


def _read_forward(forward):
    """Read ``forward`` into a :class:`_ForwardModel` (paths are cached)."""
    import mne

    if isinstance(forward, (str, os.PathLike)):
        path = os.fspath(forward)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"forward: no such file {path!r}. Pass an mne.Forward, the path of "
                "an existing -fwd.fif file or a dict with a 'gain' array."
            )
        key = _fingerprint(path)
        if key not in _FORWARD_CACHE:
            _cache_put(
                _FORWARD_CACHE, key, mne.read_forward_solution(path, verbose=False)
            )
        forward = _FORWARD_CACHE[key]
    if isinstance(forward, mne.Forward):
        n_orient = 1 if forward["source_ori"] == 1 else 3
        return _ForwardModel(
            forward["sol"]["data"],
            list(forward["sol"]["row_names"]),
            forward["source_rr"],
            forward["source_nn"],
            n_orient,
            fwd=forward,
        )
    if isinstance(forward, dict):
        return _forward_from_dict(forward)
    raise TypeError(
        "forward must be an mne.Forward, a path to a -fwd.fif file or a dict "
        "{'gain': array (n_channels, n_sources * n_orient), 'source_rr': array "
        f"(n_sources, 3), ...}}, got {type(forward).__name__}."
    )


def _forward_from_dict(forward):
    unknown = set(forward) - {"gain", "source_rr", "source_nn", "ch_names", "n_orient"}
    if unknown or "gain" not in forward or "source_rr" not in forward:
        raise ValueError(
            "forward as a dict needs the keys 'gain' (n_channels, n_sources * "
            "n_orient) and 'source_rr' (n_sources, 3), and may have 'source_nn', "
            f"'ch_names' and 'n_orient'; got keys {sorted(forward)}."
        )
    gain = np.asarray(forward["gain"], dtype=np.float64)
    source_rr = np.asarray(forward["source_rr"], dtype=np.float64)
    if gain.ndim != 2 or source_rr.ndim != 2 or source_rr.shape[1] != 3:
        raise ValueError(
            "forward['gain'] must be 2D (n_channels, n_sources * n_orient) and "
            f"forward['source_rr'] (n_sources, 3); got shapes {gain.shape} and "
            f"{source_rr.shape}."
        )
    if not np.all(np.isfinite(gain)):
        raise ValueError("forward['gain'] contains NaN or infinite values.")
    if np.abs(source_rr).max(initial=0.0) > 1.0:
        raise ValueError(
            "forward['source_rr'] has positions up to "
            f"{np.abs(source_rr).max():.3g} from the origin: it must be in metres "
            "(a head is about 0.1 m across), not millimetres. Divide it by 1000."
        )
    n_sources = source_rr.shape[0]
    n_orient = forward.get("n_orient", gain.shape[1] // max(n_sources, 1))
    if n_orient not in (1, 3) or gain.shape[1] != n_sources * n_orient:
        raise ValueError(
            f"forward['gain'] has {gain.shape[1]} columns for {n_sources} sources: "
            "it must have n_sources (fixed orientation) or 3 * n_sources (free "
            "orientation, x/y/z columns of a source adjacent)."
        )
    if "source_nn" in forward:
        source_nn = np.asarray(forward["source_nn"], dtype=np.float64)
    elif n_orient == 3:
        source_nn = np.tile(np.eye(3), (n_sources, 1))
    else:
        source_nn = np.full((n_sources, 3), np.nan)
    ch_names = forward.get("ch_names")
    if ch_names is not None:
        ch_names = list(ch_names)
        if len(ch_names) != gain.shape[0]:
            raise ValueError(
                f"forward['ch_names'] has {len(ch_names)} names for "
                f"{gain.shape[0]} gain rows."
            )
    return _ForwardModel(gain, ch_names, source_rr, source_nn, n_orient)


def _has_eeg_average_ref_proj(info):
    """Whether ``info`` holds an average-reference projector over its EEG."""
    from mne import pick_types

    eeg = [info["ch_names"][k] for k in pick_types(info, meg=False, eeg=True)]
    if not eeg:
        return True
    for proj in info["projs"]:
        cols = proj["data"]["col_names"]
        vec = np.asarray(proj["data"]["data"]).ravel()
        if set(eeg) <= set(cols) and len(vec) == len(cols):
            values = vec[[cols.index(name) for name in eeg]]
            if np.ptp(values) < 1e-6 * np.abs(values).max():
                return True
    return False


def _check_reference(info, name="X"):
    """Raise unless EEG in ``info`` carries an average-reference projector."""
    from mne import pick_types

    if len(pick_types(info, meg=False, eeg=True)) == 0:
        return
    if not _has_eeg_average_ref_proj(info):
        raise ValueError(
            f"{name} has EEG channels but no average-reference projector, which the "
            "forward model needs. Add it with "
            f"{name}.set_eeg_reference('average', projection=True)."
        )


def _match_channels(data_names, forward_names, name="X"):
    """Find ``data_names`` in the forward; raise listing the missing names."""
    if forward_names is None:
        return None
    index = {ch: k for k, ch in enumerate(forward_names)}
    missing = [ch for ch in data_names if ch not in index]
    if missing:
        shown = ", ".join(missing[:20]) + (" ..." if len(missing) > 20 else "")
        raise ValueError(
            f"{len(missing)} channel(s) of {name} are not in the forward model: "
            f"{shown}. Drop them from the data (e.g. inst.drop_channels(...) or mark "
            "them bad) or use a forward computed for these channels."
        )
    return np.array([index[ch] for ch in data_names])


class _Problem:
    """A whitened, weighted inverse problem ready for the solvers.

    Attributes
    ----------
    gain : array, shape (n_channels, n_sources * n_orient)
        Whitened gain times ``source_weighting``.
    whitener : array, shape (n_channels, n_channels)
        Applied to data rows (in ``ch_names`` order) before solving.
    source_weighting : array, shape (n_sources * n_orient,)
        Solutions of the weighted problem times this are source amplitudes.
    sensor_gain : array, shape (n_channels, n_sources * n_orient)
        The unwhitened gain of the used channels (``predict``).
    ch_names : list of str | None
        The used channels.
    n_orient : int
        Columns per source.
    """

    def __init__(self, gain, whitener, source_weighting, sensor_gain, ch_names):
        self.gain = gain
        self.whitener = whitener
        self.source_weighting = source_weighting
        self.sensor_gain = sensor_gain
        self.ch_names = ch_names
        self.n_orient = None
        self.model = None
        self.lipschitz = None
        self.kind = None


def _depth_prior_array(gain, n_orient, depth):
    """Depth prior ``(sum of squared column norms per source) ** -depth``."""
    norms = np.sum(gain**2, axis=0).reshape(-1, n_orient).sum(axis=1)
    with np.errstate(divide="ignore"):
        prior = np.where(norms > 0, norms ** (-depth), 0.0)
    return np.repeat(prior, n_orient)


def _prepare_problem(model, info, noise_cov, loose, depth, forward_key, cov_key):
    """Build (or fetch from the cache) the weighted problem for these channels."""
    info_key = None
    if info is not None:
        info_key = (
            tuple(info["ch_names"]),
            tuple(info["bads"]),
            tuple(p["desc"] for p in info["projs"]),
        )
    key = (forward_key, cov_key, info_key, loose, depth)
    if key in _PROBLEM_CACHE:
        _PROBLEM_CACHE.move_to_end(key)
        return _PROBLEM_CACHE[key]
    if model.fwd is not None:
        problem = _prepare_mne(model, info, noise_cov, loose, depth)
    else:
        problem = _prepare_array(model, noise_cov, loose, depth)
    problem.model = model
    # Whitened data have unit noise; a gain array with no covariance keeps the
    # data's own (arbitrary) units.
    problem.unit_noise = model.fwd is not None or noise_cov is not None
    from ._solvers import _block_lipschitz

    problem.lipschitz = _block_lipschitz(problem.gain, problem.n_orient)
    _cache_put(_PROBLEM_CACHE, key, problem)
    return problem


def _prepare_array(model, noise_cov, loose, depth):
    n_channels = model.gain.shape[0]
    if loose not in ("auto", 1, 1.0):
        raise ValueError(
            f"loose={loose!r} needs source orientations from an mne.Forward; with a "
            "gain array use loose='auto' (the array's own orientation)."
        )
    if noise_cov is None:
        whitener = np.eye(n_channels)
    else:
        cov = np.asarray(noise_cov, dtype=np.float64)
        if cov.ndim == 1:
            cov = np.diag(cov)
        if cov.shape != (n_channels, n_channels) or not np.all(np.isfinite(cov)):
            raise ValueError(
                f"noise_cov must be a finite ({n_channels}, {n_channels}) array (or "
                f"the {n_channels} variances) matching the gain rows; got shape "
                f"{cov.shape}."
            )
        eig, vec = np.linalg.eigh(cov)
        keep = eig > eig.max() * 1e-12
        whitener = (vec[:, keep] / np.sqrt(eig[keep])) @ vec[:, keep].T
    gain = whitener @ model.gain
    weighting = np.ones(gain.shape[1])
    if depth:
        weighting *= _depth_prior_array(gain, model.n_orient, float(depth))
    weighting = np.sqrt(weighting)
    problem = _finish(gain, whitener, weighting, model.gain, model.ch_names)
    problem.n_orient = model.n_orient
    problem.kind = "array"
    return problem


def _finish(gain, whitener, weighting, sensor_gain, ch_names):
    gain = gain * weighting
    # Scale so that trace(G G^T) = rank, as MNE does (alpha is relative anyway).
    n_nonzero = max(int(np.sum(np.linalg.svd(whitener, compute_uv=False) > 1e-10)), 1)
    frob2 = float(np.sum(gain**2))
    scale = np.sqrt(n_nonzero / frob2) if frob2 > 0 else 1.0
    return _Problem(gain * scale, whitener, weighting * scale, sensor_gain, ch_names)


def _prepare_mne(model, info, noise_cov, loose, depth):
    import mne
    from mne.cov import compute_whitener

    fwd = model.fwd
    picks = [
        ch
        for ch in info["ch_names"]
        if ch not in info["bads"]
        and mne.channel_type(info, info["ch_names"].index(ch)) in ("eeg", "mag", "grad")
    ]
    _match_channels(picks, model.ch_names, name="the data")
    info_picked = mne.pick_info(info, [info["ch_names"].index(ch) for ch in picks])
    fwd = mne.pick_channels_forward(fwd, picks, ordered=True, verbose=False)
    kinds = {s["type"] for s in fwd["src"]}
    if loose == "auto":
        loose = 0.2 if kinds == {"surf"} else 1.0
    loose = float(loose)
    if not 0.0 <= loose <= 1.0:
        raise ValueError(f"loose must be in [0, 1] or 'auto', got {loose}.")
    if loose < 1.0 and kinds != {"surf"}:
        raise ValueError(
            f"loose={loose} needs a surface source space (orientations normal to the "
            f"cortex); this forward has {sorted(kinds)} sources: use loose=1."
        )
    if model.n_orient == 1 and loose > 0:
        raise ValueError(
            "This forward has fixed orientations; use loose=0 or give the "
            "free-orientation forward."
        )
    if noise_cov is None:
        noise_cov = mne.make_ad_hoc_cov(info_picked, verbose=False)
    elif isinstance(noise_cov, (str, os.PathLike)):
        noise_cov = mne.read_cov(noise_cov, verbose=False)
    elif not isinstance(noise_cov, mne.Covariance):
        raise TypeError(
            "noise_cov must be None, an mne.Covariance or a path to a -cov.fif file "
            f"when forward is an MNE forward; got {type(noise_cov).__name__}."
        )
    missing = [ch for ch in picks if ch not in noise_cov.ch_names]
    if missing:
        raise ValueError(
            f"noise_cov lacks {len(missing)} channel(s) of the data: "
            f"{', '.join(missing[:20])}. Compute it on the same channels."
        )
    if loose < 1.0:
        fwd = mne.convert_forward_solution(fwd, surf_ori=True, verbose=False)
    depth_prior = None
    if depth:
        depth_prior = mne.forward.compute_depth_prior(
            fwd,
            info_picked,
            exp=float(depth),
            limit=None,
            limit_depth_chs="whiten",
            combine_xyz="fro",
            noise_cov=noise_cov,
            verbose=False,
        )
    if loose == 0.0:
        if depth_prior is not None and model.n_orient == 3:
            depth_prior = depth_prior[2::3]
        fwd = mne.convert_forward_solution(
            fwd, surf_ori=True, force_fixed=True, verbose=False
        )
        orient_prior = None
    else:
        orient_prior = mne.forward.compute_orient_prior(fwd, loose=loose, verbose=False)
    whitener, _ = compute_whitener(
        noise_cov, info_picked, pca=False, verbose=False, on_rank_mismatch="ignore"
    )
    sensor_gain = fwd["sol"]["data"]
    weighting = np.ones(sensor_gain.shape[1])
    if depth_prior is not None:
        weighting *= depth_prior
    if orient_prior is not None:
        weighting *= orient_prior
    problem = _finish(
        whitener @ sensor_gain, whitener, np.sqrt(weighting), sensor_gain, picks
    )
    problem.n_orient = 1 if loose == 0.0 else 3
    problem.kind = "mne"
    problem.fwd = fwd
    problem.info = info_picked
    return problem
