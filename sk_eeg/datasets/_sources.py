"""Simulated evoked EEG from a few dipoles in a sphere head model (no download)."""

from functools import lru_cache

import numpy as np
from sklearn.utils import Bunch

from ..utils import check_random_state


@lru_cache(maxsize=4)
def _template_forward(spacing):
    """Sphere model + volume grid + biosemi64 forward, cached per grid spacing."""
    import mne

    montage = mne.channels.make_standard_montage("biosemi64")
    info = mne.create_info(montage.ch_names, 250.0, "eeg")
    info.set_montage(montage)
    sphere = mne.make_sphere_model(r0=(0.0, 0.0, 0.04), head_radius=0.09, verbose=False)
    src = mne.setup_volume_source_space(
        subject=None,
        pos=float(spacing),
        sphere=sphere,
        mindist=5.0,
        exclude=float(spacing) / 2,
        verbose=False,
    )
    fwd = mne.make_forward_solution(
        info, trans=None, src=src, bem=sphere, meg=False, eeg=True, verbose=False
    )
    return fwd, info, sphere


def _point_gain(info, sphere, pos):
    """Free-orientation gain ``(n_channels, 3 * n_points)`` at arbitrary points."""
    import mne

    src = mne.setup_volume_source_space(
        subject=None,
        pos=dict(rr=np.asarray(pos, float), nn=np.tile([0.0, 0.0, 1.0], (len(pos), 1))),
        verbose=False,
    )
    fwd = mne.make_forward_solution(
        info, trans=None, src=src, bem=sphere, meg=False, eeg=True, verbose=False
    )
    return fwd["sol"]["data"]


def make_sparse_sources(
    n_dipoles=2,
    *,
    snr=5.0,
    n_times=100,
    sfreq=250.0,
    spacing=10.0,
    min_distance=0.03,
    amplitude=50e-9,
    off_grid=False,
    correlated=False,
    random_state=None,
):
    """Simulate evoked EEG from a few dipoles with known truth.

    A real MNE forward without any download: the 64 channels of the BioSemi
    montage on a 4-shell sphere head model (radius 90 mm), and a volume grid
    of free-orientation sources inside it. ``n_dipoles`` grid sources at least
    ``min_distance`` apart get random orientations and Gaussian-windowed
    oscillations peaking at different latencies; white sensor noise is added
    at the requested SNR and the average-reference projector attached.

    Parameters
    ----------
    n_dipoles : int
        Number of active sources.
    snr : float
        Amplitude signal-to-noise ratio ``||signal||_F / ||noise||_F`` of the
        (average-referenced) sensor data.
    n_times : int
        Number of time samples.
    sfreq : float
        Sampling frequency in Hz.
    spacing : float
        Grid step of the source space in mm (the forward is computed once per
        spacing and process: about 1 s for 20 mm, 4 s for 10 mm).
    min_distance : float
        Minimum distance between true sources in metres.
    amplitude : float
        Peak dipole moment in A m.
    off_grid : bool
        Move every true source by a random offset (uniform in the grid cell
        around its grid point, inside the head) so that it lies between grid
        points, as real sources do; its field is computed at the exact position.
    correlated : bool
        Give all sources the same latency and frequency (strongly correlated
        time courses, the hard case for sparse solvers).
    random_state : int | RandomState | None
        Seed of the source draw and the noise.

    Returns
    -------
    data : Bunch
        ``evoked`` (:class:`mne.Evoked`, with an average-reference projector),
        ``forward`` (:class:`mne.Forward`), ``sphere`` (the sphere head
        model of the forward, for dipole fits), ``noise_cov`` (:class:`mne.Covariance`
        of the added noise), ``source_index`` (n_dipoles,), ``source_pos``
        (n_dipoles, 3) in metres, ``source_ori`` (n_dipoles, 3),
        ``waveforms`` (n_dipoles, n_times) in A m, ``spacing`` (metres) and
        ``X`` (n_channels, n_times), the data as an array.

    Examples
    --------
    >>> from sk_eeg.datasets import make_sparse_sources
    >>> sim = make_sparse_sources(n_dipoles=2, spacing=20.0, random_state=0)
    >>> sim.evoked.data.shape
    (64, 100)
    """
    import mne

    rng = check_random_state(random_state)
    if n_dipoles < 1:
        raise ValueError(f"n_dipoles must be >= 1, got {n_dipoles}.")
    if not snr > 0:
        raise ValueError(f"snr must be positive, got {snr}.")
    fwd, info, sphere = _template_forward(float(spacing))
    rr = fwd["source_rr"]
    chosen = []
    for _ in range(1000):
        if len(chosen) == n_dipoles:
            break
        k = int(rng.randint(len(rr)))
        if all(np.linalg.norm(rr[k] - rr[j]) >= min_distance for j in chosen):
            chosen.append(k)
    else:
        raise ValueError(
            f"Could not place {n_dipoles} sources {min_distance} m apart on a "
            f"{spacing} mm grid; lower min_distance or n_dipoles."
        )
    chosen = np.array(chosen)
    ori = rng.standard_normal((n_dipoles, 3))
    ori /= np.linalg.norm(ori, axis=1, keepdims=True)
    times = np.arange(n_times) / sfreq
    duration = times[-1] if n_times > 1 else 1.0
    waveforms = np.empty((n_dipoles, n_times))
    shared = duration * (0.25 + 0.5 * rng.uniform()), rng.uniform(4.0, 12.0)
    for i in range(n_dipoles):
        latency = duration * (0.25 + 0.5 * rng.uniform())
        width = duration * 0.12
        freq = rng.uniform(4.0, 12.0)
        if correlated:
            latency, freq = shared
        waveforms[i] = (
            amplitude
            * np.exp(-0.5 * ((times - latency) / width) ** 2)
            * np.cos(2 * np.pi * freq * (times - latency))
        )
    source_pos = rr[chosen]
    if off_grid:
        step = float(spacing) / 1000.0
        center = np.asarray(sphere["r0"])
        limit = sphere["layers"][0]["rad"] - 0.005  # inside the inner shell
        for i in range(n_dipoles):
            for _ in range(100):
                moved = source_pos[i] + rng.uniform(-step / 2, step / 2, 3)
                if np.linalg.norm(moved - center) < limit:
                    source_pos[i] = moved
                    break
        gain = _point_gain(info, sphere, source_pos)
        columns = [slice(3 * i, 3 * i + 3) for i in range(n_dipoles)]
    else:
        gain = fwd["sol"]["data"]
        columns = [slice(3 * k, 3 * k + 3) for k in chosen]
    signal = np.zeros((gain.shape[0], n_times))
    for i, cols in enumerate(columns):
        signal += gain[:, cols] @ (ori[i][:, None] * waveforms[i])
    proj = np.eye(len(signal)) - 1.0 / len(signal)
    signal = proj @ signal
    noise = proj @ rng.standard_normal(signal.shape)
    scale = np.linalg.norm(signal) / (snr * np.linalg.norm(noise))
    data = signal + scale * noise
    sim_info = info.copy()
    with sim_info._unlock():
        sim_info["sfreq"] = float(sfreq)
    evoked = mne.EvokedArray(data, sim_info, tmin=0.0, nave=1, verbose=False)
    evoked.set_eeg_reference("average", projection=True, verbose=False)
    noise_cov = mne.Covariance(
        np.eye(len(data)) * scale**2,
        info["ch_names"],
        [],
        [],
        nfree=1000,
        verbose=False,
    )
    return Bunch(
        evoked=evoked,
        forward=fwd,
        sphere=sphere,
        noise_cov=noise_cov,
        source_index=chosen,
        source_pos=source_pos,
        source_ori=ori,
        waveforms=waveforms,
        spacing=float(spacing) / 1000.0,
        X=data,
    )
