"""DifferentialEntropy / BandPower: closed forms and the torch twin."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sk_eeg.video import SEED_DV_BANDS, BandPower, DifferentialEntropy


def _band_limited_noise(rng, n, n_times, sfreq, band, sigma):
    """Gaussian noise with all its power in ``band`` and variance sigma**2."""
    spectrum = np.fft.rfft(rng.standard_normal((n, n_times)), axis=-1)
    freqs = np.fft.rfftfreq(n_times, 1 / sfreq)
    spectrum[:, (freqs < band[0]) | (freqs >= band[1])] = 0
    x = np.fft.irfft(spectrum, n=n_times, axis=-1)
    return sigma * x / x.std(axis=-1, keepdims=True)


def test_sinusoid_power_lands_in_its_band_with_half_amplitude_squared():
    sfreq, amp = 200.0, 3.0
    t = np.arange(400) / sfreq
    X = np.stack([amp * np.sin(2 * np.pi * f * t) for f in (2, 6, 10, 20, 50)])
    power = BandPower(sfreq=sfreq, taper="boxcar").fit_transform(X[:, None, :])
    assert_allclose(power, np.diag([amp**2 / 2] * 5), atol=1e-9)
    # The Hann taper leaks only to bins next to the tone, still inside the band.
    power_hann = BandPower(sfreq=sfreq).fit_transform(X[:, None, :])
    assert_allclose(power_hann, np.diag([amp**2 / 2] * 5), atol=1e-9)


@pytest.mark.parametrize("sigma", [0.5, 2.0])
def test_de_of_band_limited_gaussian_noise_matches_closed_form(sigma):
    rng = np.random.default_rng(0)
    sfreq, band = 200.0, (8.0, 14.0)
    x = _band_limited_noise(rng, 6, 4000, sfreq, band, sigma)
    X = x[:, None, :]
    de = DifferentialEntropy(sfreq=sfreq, bands=[band], taper="boxcar")
    expected = 0.5 * np.log(2 * np.pi * np.e * sigma**2)
    assert_allclose(de.fit_transform(X).ravel(), expected, atol=1e-9)
    # With windows and a Hann taper the estimate is unbiased up to edge leakage.
    de_win = DifferentialEntropy(sfreq=sfreq, bands=[band], window_length=2.0)
    assert_allclose(de_win.fit_transform(X).mean(), expected, atol=0.05)


def test_white_noise_band_power_is_proportional_to_band_width():
    rng = np.random.default_rng(1)
    sfreq = 200.0
    X = rng.standard_normal((200, 1, 400))
    power = BandPower(sfreq=sfreq).fit_transform(X).mean(axis=0)
    widths = np.diff(np.asarray(SEED_DV_BANDS), axis=1).ravel()
    # Unit-variance white noise has a flat density 1 / (sfreq / 2).
    assert_allclose(power, widths / (sfreq / 2), rtol=0.05)


def test_windowed_features_have_the_seed_dv_layout():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((3, 62, 400))
    de = DifferentialEntropy(sfreq=200.0, window_length=1.0, flatten=False)
    out = de.fit_transform(X)
    assert out.shape == (3, 2, 62, 5)
    flat = DifferentialEntropy(sfreq=200.0, window_length=1.0).fit(X)
    assert_allclose(flat.transform(X), out.reshape(3, -1))
    names = flat.get_feature_names_out()
    assert len(names) == 620 and names[0] == "de_w0_ch0_delta"
    one = DifferentialEntropy(sfreq=200.0, flatten=False).fit_transform(X)
    assert one.shape == (3, 62, 5)


def test_de_is_log_of_band_power():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((4, 5, 300))
    power = BandPower(sfreq=150.0, bands=[(1, 10), (10, 40)]).fit_transform(X)
    de = DifferentialEntropy(sfreq=150.0, bands=[(1, 10), (10, 40)]).fit_transform(X)
    assert_allclose(de, 0.5 * np.log(2 * np.pi * np.e * power))
    rel = BandPower(sfreq=150.0, bands=[(1, 10), (10, 40)], relative=True, log=True)
    rel_power = np.exp(rel.fit_transform(X)).reshape(4, 5, 2)
    assert_allclose(rel_power.sum(axis=-1), 1.0)


def test_torch_spectral_features_match_numpy_transformers():
    torch = pytest.importorskip("torch")
    from sk_eeg.video._encoders import SpectralFeatures

    rng = np.random.default_rng(4)
    X = rng.standard_normal((3, 4, 400))
    de = DifferentialEntropy(sfreq=200.0, window_length=1.0, flatten=False)
    expected = de.fit_transform(X).transpose(0, 2, 1, 3).reshape(3, 4, -1)
    module = SpectralFeatures("de", 200.0, SEED_DV_BANDS, 400, window_length=1.0)
    got = module(torch.as_tensor(X, dtype=torch.float64).float()).numpy()
    assert_allclose(got, expected, atol=1e-4)


def test_bad_input_gets_a_clear_error():
    X = np.zeros((2, 3, 100))
    with pytest.raises(ValueError, match="Nyquist"):
        DifferentialEntropy(sfreq=100.0).fit(X)
    with pytest.raises(ValueError, match="no frequency bin"):
        DifferentialEntropy(sfreq=200.0, bands=[(1.0, 1.5)]).fit(X).transform(X)
    with pytest.raises(ValueError, match="fmin < fmax"):
        BandPower(bands=[(8, 4)]).fit(X)
    with pytest.raises(ValueError, match="window_length"):
        BandPower(sfreq=200.0, window_length=5.0).fit(X)
    de = DifferentialEntropy(sfreq=200.0, bands=[(4, 8)]).fit(X)
    with pytest.raises(ValueError, match="time samples"):
        de.transform(np.zeros((2, 3, 50)))
    with pytest.raises(ValueError, match="3 features"):
        de.transform(np.zeros((2, 4, 100)))


def test_epochs_input_gives_the_same_features():
    mne = pytest.importorskip("mne")
    rng = np.random.default_rng(5)
    X = rng.standard_normal((3, 4, 200))
    info = mne.create_info(4, 200.0, "eeg")
    epochs = mne.EpochsArray(X, info, verbose=False)
    de = DifferentialEntropy(sfreq=200.0)
    assert_allclose(de.fit_transform(epochs), de.fit_transform(X))
