"""Shared helpers in ``sk_eeg.utils``."""

import logging

import mne
import numpy as np
import pytest

from sk_eeg.utils import (
    check_3d_data,
    check_mne_data,
    check_option,
    check_random_state,
    check_torch_generator,
    check_type,
    fill_doc,
    get_log_level,
    import_optional_dependency,
    logger,
    progress_bar,
    set_log_level,
    spawn_seeds,
    use_log_level,
)


@pytest.fixture
def epochs():
    info = mne.create_info(["Fz", "Cz", "Pz"], 100.0, "eeg")
    data = np.random.RandomState(0).randn(4, 3, 50) * 1e-6
    return mne.EpochsArray(data, info, verbose=False)


def test_check_3d_data_reads_epochs_without_touching_info(epochs):
    info_before = epochs.info.copy()
    X = check_3d_data(epochs)
    assert X.shape == (4, 3, 50)
    np.testing.assert_array_equal(X, epochs.get_data())
    assert epochs.info["ch_names"] == info_before["ch_names"]


def test_check_3d_data_reads_2d_as_one_sample():
    X = check_3d_data(np.ones((5, 2)))
    assert X.shape == (5, 2, 1)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.ones((2, 2, 2, 2)), "n_epochs, n_channels, n_times"),
        (np.full((2, 2, 3), np.nan), "NaN"),
    ],
)
def test_check_3d_data_rejects_bad_input_naming_argument(bad, match):
    with pytest.raises(ValueError, match=match):
        check_3d_data(bad, name="X")


def test_check_3d_data_rejects_evoked_with_advice(epochs):
    with pytest.raises(TypeError, match="needs epochs"):
        check_3d_data(epochs.average())


def test_check_mne_data_returns_array_and_picked_info(epochs):
    evoked = epochs.average()
    data, info = check_mne_data(evoked)
    np.testing.assert_allclose(data, evoked.data)
    assert info["ch_names"] == evoked.ch_names
    raw = mne.io.RawArray(np.zeros((3, 20)), epochs.info, verbose=False)
    data, info = check_mne_data(raw, picks=["Cz"])
    assert data.shape == (1, 20)
    assert info["ch_names"] == ["Cz"]
    with pytest.raises(TypeError, match="X must be an mne.Epochs"):
        check_mne_data(np.zeros(3))


def test_check_option_and_type_name_the_argument():
    assert check_option("solver", "a", ["a", "b"]) == "a"
    with pytest.raises(ValueError, match="Invalid value for solver: 'c'"):
        check_option("solver", "c", ["a", "b"])
    assert check_type(3, "int", "n") == 3
    with pytest.raises(TypeError, match="n_permutations must be an instance of int"):
        check_type(True, "int", "n_permutations")
    assert check_type(None, ("int", None), "n") is None


def test_random_state_helpers_are_reproducible():
    assert check_random_state(3).randint(1000) == check_random_state(3).randint(1000)
    rng = np.random.default_rng(0)
    assert isinstance(check_random_state(rng), np.random.RandomState)
    np.testing.assert_array_equal(spawn_seeds(7, 5), spawn_seeds(7, 5))
    assert len(set(spawn_seeds(7, 50))) == 50


def test_torch_generator_is_seeded():
    torch = pytest.importorskip("torch")
    gen_a, seed_a = check_torch_generator(1)
    gen_b, seed_b = check_torch_generator(1)
    assert seed_a == seed_b
    assert torch.equal(torch.rand(3, generator=gen_a), torch.rand(3, generator=gen_b))


def test_resolve_device_names_the_fix():
    torch = pytest.importorskip("torch")
    from sk_eeg.utils._torch import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(TypeError, match="device must be"):
        resolve_device(0)
    with pytest.raises(ValueError, match="Invalid value for device"):
        resolve_device("tpu")
    # no such CUDA device: none at all on CPU machines, index 99 on GPU ones
    with pytest.raises(ValueError, match="device='cuda:99'"):
        resolve_device("cuda:99")


def test_use_log_level_restores_level():
    before = get_log_level()
    with use_log_level(True):
        assert get_log_level() == logging.INFO
    assert get_log_level() == before
    with pytest.raises(ValueError, match="verbose"):
        with use_log_level("LOUD"):
            pass


def test_log_level_follows_mne_then_env_then_explicit(monkeypatch):
    monkeypatch.delenv("SK_EEG_LOGGING_LEVEL", raising=False)
    old_mne = mne.set_log_level("WARNING", return_old_level=True)
    try:
        assert get_log_level() == logging.WARNING
        mne.set_log_level("INFO")
        assert get_log_level() == logging.INFO
        monkeypatch.setenv("SK_EEG_LOGGING_LEVEL", "error")
        assert get_log_level() == logging.ERROR
        old = set_log_level("DEBUG")
        try:
            assert get_log_level() == logging.DEBUG
        finally:
            set_log_level(old)
        monkeypatch.setenv("SK_EEG_LOGGING_LEVEL", "LOUD")
        with pytest.raises(ValueError, match="SK_EEG_LOGGING_LEVEL"):
            get_log_level()
    finally:
        mne.set_log_level(old_mne)


def test_info_messages_follow_the_level(monkeypatch, capsys):
    monkeypatch.delenv("SK_EEG_LOGGING_LEVEL", raising=False)
    old_mne = mne.set_log_level("INFO", return_old_level=True)
    try:
        logger.info("shown by default")
        with use_log_level(False):
            logger.info("hidden with verbose=False")
        mne.set_log_level("WARNING")
        logger.info("hidden after mne.set_log_level('WARNING')")
    finally:
        mne.set_log_level(old_mne)
    err = capsys.readouterr().err
    assert "shown by default" in err
    assert "hidden" not in err


def test_progress_bar_is_shown_by_default_and_silenced(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("SK_EEG_LOGGING_LEVEL", raising=False)
    old_mne = mne.set_log_level("INFO", return_old_level=True)
    try:
        assert not progress_bar(range(3)).disable
        assert progress_bar(range(3), verbose=False).disable
        monkeypatch.setenv("CI", "true")
        assert progress_bar(range(3)).disable
    finally:
        mne.set_log_level(old_mne)
    assert list(progress_bar(range(3), verbose=False)) == [0, 1, 2]


def test_optional_import_names_the_extra():
    assert import_optional_dependency("numpy") is np
    with pytest.raises(ImportError, match=r'pip install "sk_eeg\[video\]"'):
        import_optional_dependency("diffusers_missing_pkg", extra="video")


def test_fill_doc_fills_and_indents():
    def func():
        """Do it.

        Parameters
        ----------
        %(verbose)s
        """

    fill_doc(func)
    assert "    verbose : bool | str | int | None" in func.__doc__
    assert "%(" not in func.__doc__
