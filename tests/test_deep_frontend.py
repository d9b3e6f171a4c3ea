"""Front end of MelSpecCNNClassifier: mel spectrogram, montage, band-pass, GeM."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from scipy import signal

from sk_eeg.deep import DOUBLE_BANANA, HMS_CHANNELS, BandpassFilter, BipolarMontage
from sk_eeg.deep._gem import GeM, gem
from sk_eeg.deep._mel import MelSpectrogram, clamp_db, power_to_db
from sk_eeg.deep._melbank import mel_filterbank
from sk_eeg.deep._montage import left_right_permutation, resolve_montage


# -- independent NumPy/SciPy reference of torchaudio's MelSpectrogram defaults --
# (torchaudio and librosa are not installed: this is written from the
# definitions: periodic Hann window centred in n_fft, reflect padding of
# n_fft // 2, |rfft|^2, HTK mel m = 2595 log10(1 + f / 700), triangular filters
# with peak 1 between consecutive mel points, norm=None.)
def _reference_fbank(n_freqs, f_min, f_max, n_mels, sfreq):
    freqs = np.linspace(0, sfreq / 2, n_freqs)
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    inv = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)  # noqa: E731
    edges = inv(np.linspace(mel(f_min), mel(f_max), n_mels + 2))
    fb = np.zeros((n_freqs, n_mels))
    for m in range(n_mels):
        left, center, right = edges[m], edges[m + 1], edges[m + 2]
        for k, f in enumerate(freqs):
            if left < f <= center:
                fb[k, m] = (f - left) / (center - left)
            elif center < f < right:
                fb[k, m] = (right - f) / (right - center)
    return fb


def _reference_mel_power(x, sfreq, n_fft, win_length, hop, n_mels, f_min, f_max):
    window = np.zeros(n_fft)
    start = (n_fft - win_length) // 2
    window[start : start + win_length] = signal.get_window("hann", win_length)
    padded = np.pad(x, n_fft // 2, mode="reflect")
    n_frames = 1 + (padded.size - n_fft) // hop
    frames = np.stack([padded[i * hop : i * hop + n_fft] for i in range(n_frames)])
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2  # (frames, freqs)
    fb = _reference_fbank(n_fft // 2 + 1, f_min, f_max, n_mels, sfreq)
    return (power @ fb).T  # (n_mels, frames)


@pytest.mark.parametrize(
    "params",
    [
        # icu-lstm / 3rd-place cfg_1 front end
        dict(
            n_fft=1024, win_length=128, hop_length=39, n_mels=128, f_min=0.53, f_max=40
        ),
        # 3rd-place cfg_5a
        dict(n_fft=512, win_length=128, hop_length=32, n_mels=64, f_min=0.0, f_max=30),
        dict(n_fft=64, win_length=64, hop_length=16, n_mels=16, f_min=1.0, f_max=100),
    ],
)
def test_mel_power_and_db_match_numpy_reference_to_1e5(params):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 1500)) * 30
    mel = MelSpectrogram(
        sfreq=200.0,
        n_fft=params["n_fft"],
        win_length=params["win_length"],
        hop_length=params["hop_length"],
        n_mels=params["n_mels"],
        fmin=params["f_min"],
        fmax=params["f_max"],
    ).double()
    got = mel.power(torch.from_numpy(x)).numpy()
    ref = np.stack(
        [
            [
                _reference_mel_power(
                    x[i, c],
                    200.0,
                    params["n_fft"],
                    params["win_length"],
                    params["hop_length"],
                    params["n_mels"],
                    params["f_min"],
                    params["f_max"],
                )
                for c in range(3)
            ]
            for i in range(2)
        ]
    )
    assert got.shape == ref.shape
    assert_allclose(got, ref, rtol=1e-5, atol=1e-8 * ref.max())
    db = power_to_db(torch.from_numpy(got)).numpy()
    assert_allclose(db, 10 * np.log10(np.maximum(ref, 1e-10)), rtol=1e-5, atol=1e-5)


def test_mel_float32_matches_float64_reference():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 2, 800)).astype(np.float32)
    mel = MelSpectrogram(sfreq=200, n_fft=256, win_length=128, hop_length=32, n_mels=32)
    got = mel.power(torch.from_numpy(x)).numpy()
    ref = np.stack(
        [
            _reference_mel_power(x[0, c].astype(float), 200, 256, 128, 32, 32, 0, 100)
            for c in range(2)
        ]
    )
    assert_allclose(got[0], ref, rtol=1e-4, atol=1e-6 * ref.max())


def test_filterbank_matches_reference_and_peaks_at_one():
    fb = mel_filterbank(257, 0.5, 40.0, 64, 200.0)
    assert_allclose(fb, _reference_fbank(257, 0.5, 40.0, 64, 200.0), atol=1e-12)
    assert fb.shape == (257, 64)
    assert np.all(fb.max(axis=0) > 0.5)  # no empty filter with these settings
    assert fb.max() <= 1.0 + 1e-12


def test_sinusoid_peaks_in_the_mel_band_of_its_frequency():
    sfreq, f0 = 200.0, 12.0
    t = np.arange(2000) / sfreq
    x = torch.from_numpy(np.sin(2 * np.pi * f0 * t)[None, None])
    mel = MelSpectrogram(sfreq=sfreq, n_fft=512, hop_length=50, n_mels=40, fmax=50)
    power = mel.power(x)[0, 0].mean(dim=-1).numpy()
    centers = 700 * (
        10 ** (np.linspace(0, 2595 * np.log10(1 + 50 / 700), 42) / 2595) - 1
    )
    assert abs(centers[1:-1][np.argmax(power)] - f0) < 1.0


def test_db_clamp_is_per_sample_so_predictions_do_not_depend_on_the_batch():
    rng = np.random.default_rng(2)
    quiet = torch.from_numpy(rng.standard_normal((1, 2, 600)) * 1e-2)
    loud = torch.from_numpy(rng.standard_normal((1, 2, 600)) * 1e3)
    mel = MelSpectrogram(sfreq=200, n_fft=128, hop_length=32, n_mels=16, top_db=40)
    mel = mel.double()
    alone = mel(quiet)
    together = mel(torch.cat([quiet, loud]))[:1]
    assert_allclose(alone.numpy(), together.numpy())
    db = alone.numpy()
    assert db.max() - db.min() <= 40 + 1e-9
    normalised = clamp_db(power_to_db(mel.power(quiet)), 40.0, normalize=True)
    assert normalised.min() >= 0 and abs(float(normalised.max()) - 1) < 1e-12


def test_short_signals_are_zero_padded_instead_of_failing():
    mel = MelSpectrogram(sfreq=200, n_fft=64, hop_length=16, n_mels=8)
    out = mel(torch.ones(3, 4, 1))
    assert out.shape[:3] == (3, 4, 8)
    assert torch.isfinite(out).all()


# -------------------------------------------------------------------- montage
def test_double_banana_derivations_are_electrode_differences():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((2, 20, 50))
    out = BipolarMontage(ch_names=list(HMS_CHANNELS)).fit_transform(X)
    assert out.shape == (2, 16, 50)
    index = {name: k for k, name in enumerate(HMS_CHANNELS)}
    for k, (anode, cathode) in enumerate(DOUBLE_BANANA):
        assert_allclose(out[:, k], X[:, index[anode]] - X[:, index[cathode]])


def test_montage_accepts_10_10_names_case_insensitively():
    names = [n.upper() for n in HMS_CHANNELS]
    names = [{"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}.get(n, n) for n in names]
    anodes, cathodes, labels = resolve_montage("double_banana", names, 20)
    ref, _, _ = resolve_montage("double_banana", list(HMS_CHANNELS), 20)
    assert_allclose(anodes, ref)
    assert labels[1] == "F7-T7"


def test_left_right_flip_maps_left_chains_to_right_chains():
    names = [f"{a}-{c}" for a, c in DOUBLE_BANANA]
    perm = left_right_permutation(names)
    # LL (0-3) <-> RL (4-7), LP (8-11) <-> RP (12-15)
    assert_allclose(perm, [4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11])


def test_channel_selection_by_name_and_pairs():
    X = np.arange(24.0).reshape(1, 3, 8)
    mont = BipolarMontage(["C", ("A", "C")], ch_names=["A", "B", "C"]).fit(X)
    out = mont.transform(X)
    assert_allclose(out[0, 0], X[0, 2])
    assert_allclose(out[0, 1], X[0, 0] - X[0, 2])
    assert mont.derivation_names_ == ["C", "A-C"]


def test_montage_errors_name_the_fix():
    X = np.zeros((1, 3, 8))
    with pytest.raises(ValueError, match="pass ch_names"):
        BipolarMontage().fit(X)
    with pytest.raises(ValueError, match="not among ch_names"):
        BipolarMontage(["Q"], ch_names=["A", "B", "C"]).fit(X)
    with pytest.raises(ValueError, match="Invalid value for montage"):
        BipolarMontage("banana").fit(X)
    with pytest.raises(ValueError, match="one name per channel"):
        BipolarMontage(ch_names=["A"]).fit(X)


def test_montage_reads_channel_names_from_epochs():
    mne = pytest.importorskip("mne")
    names = [n for n in HMS_CHANNELS if n != "EKG"]
    info = mne.create_info(names, 200.0, "eeg")
    data = np.random.default_rng(0).standard_normal((2, 19, 40))
    epochs = mne.EpochsArray(data, info, verbose=False)
    out = BipolarMontage().fit_transform(epochs)
    assert_allclose(out[:, 0], data[:, names.index("Fp1")] - data[:, names.index("F7")])


# ------------------------------------------------------------------- bandpass
def test_bandpass_keeps_passband_and_removes_stopband():
    sfreq = 200.0
    t = np.arange(12000) / sfreq
    inside = np.sin(2 * np.pi * 6 * t)
    outside = np.sin(2 * np.pi * 50 * t) + 3.0
    X = (inside + outside)[None, None]
    out = BandpassFilter(sfreq=sfreq, l_freq=0.5, h_freq=20).fit_transform(X)
    mid = slice(4000, 8000)
    assert_allclose(out[0, 0, mid], inside[mid], atol=2e-2)


def test_bandpass_zero_phase_equals_scipy_sosfiltfilt_and_causal_sosfilt():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((2, 3, 500))
    sos = signal.butter(4, [1, 30], "bandpass", fs=200, output="sos")
    zero = BandpassFilter(l_freq=1, h_freq=30).fit_transform(X)
    assert_allclose(zero, signal.sosfiltfilt(sos, X, axis=-1))
    assert zero.flags["C_CONTIGUOUS"]  # usable by torch.from_numpy
    causal = BandpassFilter(l_freq=1, h_freq=30, phase="causal").fit_transform(X)
    assert_allclose(causal, signal.sosfilt(sos, X, axis=-1))


def test_bandpass_errors_name_the_argument():
    X = np.zeros((1, 1, 100))
    with pytest.raises(ValueError, match="h_freq=150"):
        BandpassFilter(h_freq=150).fit(X)
    with pytest.raises(ValueError, match="l_freq=30 must be below"):
        BandpassFilter(l_freq=30, h_freq=20).fit(X)
    with pytest.raises(ValueError, match="phase"):
        BandpassFilter(phase="acausal").fit(X)


# ------------------------------------------------------------------------ GeM
def test_gem_p1_is_average_pooling_and_large_p_approaches_max():
    x = torch.rand(2, 3, 4, 5, dtype=torch.float64) + 0.1
    assert_allclose(gem(x, 1.0).numpy(), x.mean(dim=(2, 3)).numpy())
    assert_allclose(gem(x, 200.0).numpy(), x.amax(dim=(2, 3)).numpy(), rtol=2e-2)


def test_gem_exponent_is_trainable():
    pool = GeM(p=3.0)
    out = pool(torch.rand(2, 3, 4, 4) + 0.1).sum()
    out.backward()
    assert pool.p.grad is not None and pool.p.grad.abs().item() > 0
    assert not any(p is pool.p for p in GeM(trainable=False).parameters())


# ------------------------------------------- torch front end (on the device)
@pytest.mark.parametrize("n_times", [300, 4000])
@pytest.mark.parametrize("band", [(0.5, 20.0), (None, 30.0), (1.0, None)])
def test_torch_fir_bandpass_equals_mne_filter_data(n_times, band):
    mne = pytest.importorskip("mne")
    from sk_eeg.deep._filters import design_bandpass
    from sk_eeg.deep._frontend import FIRFilter

    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, n_times)) * 30 + 10  # with an offset
    h = design_bandpass(200.0, *band)
    assert_allclose(h, mne.filter.create_filter(None, 200.0, *band, verbose=False))
    with pytest.warns(RuntimeWarning) if n_times < len(h) else _no_warning():
        ref = mne.filter.filter_data(
            x.reshape(6, -1), 200.0, *band, verbose=False
        ).reshape(x.shape)
    got = FIRFilter(h).double()(torch.from_numpy(x)).numpy()
    assert_allclose(got, ref, atol=1e-7 * np.abs(ref).max())
    got32 = FIRFilter(h)(torch.from_numpy(x.astype(np.float32))).numpy()
    assert got32.dtype == np.float32
    assert_allclose(got32, ref, atol=2e-6 * np.abs(ref).max())


def _no_warning():
    from contextlib import nullcontext

    return nullcontext()


def test_torch_montage_equals_mne_set_bipolar_reference():
    mne = pytest.importorskip("mne")
    from sk_eeg.deep._frontend import BipolarReference

    rng = np.random.default_rng(6)
    names = list(HMS_CHANNELS)
    data = rng.standard_normal((20, 100))
    info = mne.create_info(names, 200.0, ["eeg"] * 19 + ["ecg"])
    raw = mne.io.RawArray(data, info, verbose=False)
    anode, cathode = zip(*DOUBLE_BANANA)
    ref = mne.set_bipolar_reference(
        raw, list(anode), list(cathode), drop_refs=False, copy=True, verbose=False
    )
    ref_names = [f"{a}-{c}" for a, c in DOUBLE_BANANA]
    anodes, cathodes, labels = resolve_montage("double_banana", names, 20)
    assert labels == ref_names
    got = BipolarReference(anodes, cathodes)(torch.from_numpy(data[None]))[0]
    assert_allclose(got.numpy(), ref.get_data(picks=ref_names), rtol=1e-12)
    # a channel the montage does not use cannot leak NaN / inf into the output
    data[19] = np.nan
    got = BipolarReference(anodes, cathodes)(torch.from_numpy(data[None]))
    assert torch.isfinite(got).all()
    # channels kept as they are (no cathode)
    mixed = BipolarReference([2, 0], [-1, 1])(torch.from_numpy(data[None]))[0]
    assert_allclose(mixed.numpy(), [data[2], data[0] - data[1]])


def test_lr_flip_and_time_shift_augmentations():
    from sk_eeg.deep._augment import lr_flip, time_shift

    x = torch.arange(2 * 4 * 10, dtype=torch.float32).reshape(2, 4, 10)
    perm = torch.tensor([2, 3, 0, 1])
    assert torch.equal(lr_flip(x, perm, 1.0), x[:, perm])
    assert torch.equal(lr_flip(x, perm, 0.0), x)
    torch.manual_seed(0)
    shifted = time_shift(x, 0.3)
    for i in range(2):  # a circular shift of at most 3 samples, same for all rows
        matches = [k for k in range(-3, 4) if torch.equal(shifted[i], x[i].roll(k, -1))]
        assert len(matches) == 1


def test_random_crop_cuts_contiguous_windows_and_the_centre_for_prediction():
    from sk_eeg.deep._augment import random_crop

    x = torch.arange(3 * 2 * 20, dtype=torch.float32).reshape(3, 2, 20)
    torch.manual_seed(0)
    out = random_crop(x, 8)
    assert out.shape == (3, 2, 8)
    starts = set()
    for i in range(3):
        start = int(out[i, 0, 0] - x[i, 0, 0])
        starts.add(start)
        assert torch.equal(out[i], x[i, :, start : start + 8])
    assert torch.equal(random_crop(x, 8, centre=True), x[..., 6:14])
    assert torch.equal(random_crop(x, 30), x)  # shorter windows stay whole


def test_front_end_decimation_equals_mne_filter_then_every_dth_sample():
    mne = pytest.importorskip("mne")
    from sk_eeg.deep._filters import design_bandpass
    from sk_eeg.deep._frontend import FrontEnd

    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 20, 3000)) * 20
    anodes, cathodes, _ = resolve_montage("double_banana", list(HMS_CHANNELS), 20)
    h = design_bandpass(200.0, 0.5, 20.0)
    front = FrontEnd(anodes, cathodes, h, decim=4).double()
    got = front(torch.from_numpy(x)).numpy()
    bipolar = x[:, anodes] - x[:, cathodes]
    ref = mne.filter.filter_data(bipolar, 200.0, 0.5, 20.0, verbose=False)
    assert got.shape == (2, 16, 750)
    assert_allclose(got, ref[..., ::4], atol=1e-7 * np.abs(ref).max())


def test_fused_spatial_branch_is_the_same_function_and_gradient():
    from sk_eeg.deep._backbones import ParallelGroupedCNN1d

    torch.manual_seed(0)
    net = ParallelGroupedCNN1d(6, width=8, n_blocks=2, groups=2).double()
    x = torch.randn(3, 6, 300, dtype=torch.float64)

    def unfused(x):  # the spatial (3, 1) filter on 4 maps, then the branch
        s = net.spatial_filter(x[:, None]).reshape(3, -1, 300)
        return torch.cat([net.spatial(s), net.temporal(x)], 1)

    net.eval()
    assert_allclose(net(x).detach().numpy(), unfused(x).detach().numpy(), atol=1e-12)
    grads = []
    for fn in (net, unfused):
        net.zero_grad()
        fn(x).square().sum().backward()
        grads.append(net.spatial_filter.weight.grad.clone())
    assert_allclose(grads[0].numpy(), grads[1].numpy(), rtol=1e-10)
