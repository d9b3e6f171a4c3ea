"""MelSpecCNNClassifier: inputs from MNE, patient-wise early stopping, scorer,
float32 memory, progress, warm start."""

import functools
import tracemalloc

import mne
import numpy as np
import pytest
import sklearn
import torch
from numpy.testing import assert_allclose
from sklearn.model_selection import GridSearchCV, GroupKFold
from skorch.callbacks import Callback

import sk_eeg.deep._melbank
from sk_eeg.datasets import make_eeg_patterns
from sk_eeg.deep import kl_divergence, kl_divergence_scorer


@pytest.fixture(scope="module")
def patterns():
    return make_eeg_patterns(n_epochs=24, n_patients=6, n_times=400, random_state=0)


@pytest.fixture
def tiny_melspec(tiny_melspec):
    """The small classifier of conftest, silent unless told otherwise."""
    return functools.partial(tiny_melspec, verbose=False)


def _epochs(X, ch_names, sfreq):
    types = ["eeg"] * 19 + ["ecg"]
    info = mne.create_info(ch_names, sfreq, types)
    return mne.EpochsArray(X * 1e-6, info, verbose=False)


# ------------------------------------------------------------ sfreq and names
def test_sfreq_is_read_from_epochs_and_a_disagreeing_sfreq_is_an_error(
    patterns, tiny_melspec
):
    X, votes, _, ch_names = patterns
    epochs = _epochs(X, ch_names, 256.0)
    clf = tiny_melspec(None).fit(epochs, votes)
    assert clf.sfreq_ == 256.0
    # the same as an array declared at 256 Hz (band-pass and mel axis at 256 Hz)
    ref = tiny_melspec(ch_names, sfreq=256.0).fit(X, votes)
    assert_allclose(clf.predict_proba(epochs), ref.predict_proba(X), atol=1e-4)
    module = clf.net_.module_
    h_256 = mne.filter.create_filter(None, 256.0, 0.5, 20.0, verbose=False)
    assert_allclose(module.frontend.filter.h.numpy(), h_256, atol=1e-7)
    fbank_256 = sk_eeg.deep._melbank.mel_filterbank(33, 0.5, 30.0, 16, 256.0)
    assert_allclose(module.mel.fbank.numpy(), fbank_256, atol=1e-7)
    assert tiny_melspec(ch_names).fit(X, votes).sfreq_ == 200.0  # arrays: HMS rate
    with pytest.raises(ValueError, match=r"sfreq=200.0 disagrees with X.info"):
        tiny_melspec(None, sfreq=200.0).fit(epochs, votes)
    with pytest.raises(ValueError, match="fitted at 256.0 Hz"):
        clf.predict_proba(_epochs(X, ch_names, 200.0))


def test_channel_names_of_epochs_must_agree(patterns, tiny_melspec):
    X, votes, _, ch_names = patterns
    epochs = _epochs(X, ch_names, 200.0)
    clf = tiny_melspec(None).fit(epochs, votes)
    assert clf.ch_names_ == ch_names
    with pytest.raises(ValueError, match="disagree with the channels"):
        tiny_melspec(ch_names[::-1]).fit(epochs, votes)
    swapped = epochs.copy().reorder_channels(ch_names[1:] + ch_names[:1])
    with pytest.raises(ValueError, match="reorder_channels"):
        clf.predict(swapped)
    raw = mne.io.RawArray(X[0] * 1e-6, epochs.info, verbose=False)
    with pytest.raises(TypeError, match="make_fixed_length_epochs"):
        clf.predict(raw)


def test_inputs_are_float32_without_a_float64_copy(patterns, tiny_melspec):
    X, votes, _, ch_names = patterns
    clf = tiny_melspec(ch_names)
    X64 = np.repeat(X, 4, axis=0)  # ~1.5 MB in float64
    epochs = _epochs(X64, ch_names, 200.0)
    for data in (X64, epochs):
        tracemalloc.start()
        out, _, _ = clf._check_X(data, reset=True)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert out.dtype == np.float32
        # one float32 copy (plus small overhead), never a float64 one
        assert peak < 1.25 * out.nbytes, (peak, out.nbytes)


# ----------------------------------------------------- patient-wise validation
class _RecordSplit(Callback):
    seen = []

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        train, valid = net.get_split_datasets(X, y)
        _RecordSplit.seen.append((np.asarray(train.indices), np.asarray(valid.indices)))


def test_early_stopping_holds_out_whole_patients(patterns, tiny_melspec):
    X, votes, patients, ch_names = patterns
    _RecordSplit.seen.clear()
    clf = tiny_melspec(
        ch_names,
        early_stopping=True,
        validation_fraction=0.3,
        max_epochs=2,
        callbacks=[_RecordSplit()],
    ).fit(X, votes, groups=patients)
    train, valid = _RecordSplit.seen[-1]
    assert len(valid) > 0 and len(train) + len(valid) == len(X)
    assert set(patients[train]).isdisjoint(patients[valid])
    assert_allclose(np.flatnonzero(clf.validation_mask_), np.sort(valid))
    assert "valid_loss" in clf.net_.history[-1]
    with pytest.warns(UserWarning, match="Pass fit"):
        tiny_melspec(ch_names, early_stopping=True).fit(X, votes)
    with pytest.raises(ValueError, match="one group"):
        tiny_melspec(ch_names, early_stopping=True).fit(X, votes, groups=patients[:3])


def test_groups_are_routed_through_grid_search_to_early_stopping(
    patterns, tiny_melspec
):
    X, votes, patients, ch_names = patterns
    _RecordSplit.seen.clear()
    with sklearn.config_context(enable_metadata_routing=True):
        clf = tiny_melspec(
            ch_names,
            early_stopping=True,
            validation_fraction=0.34,
            callbacks=[_RecordSplit()],
        ).set_fit_request(groups=True, sample_weight=False)
        search = GridSearchCV(
            clf, {"lr": [1e-3]}, cv=GroupKFold(2), scoring=kl_divergence_scorer
        )
        search.fit(X, votes, groups=patients)
    assert len(_RecordSplit.seen) == 3  # 2 folds + refit
    for train, valid in _RecordSplit.seen:
        assert len(valid) > 0
    # the refit saw all windows: check its split against the patients
    train, valid = _RecordSplit.seen[-1]
    assert set(patients[train]).isdisjoint(patients[valid])


# ---------------------------------------------------------------- the scorer
def test_scorer_handles_folds_that_lack_or_add_a_class(patterns, tiny_melspec):
    X, votes, _, ch_names = patterns
    y = votes.argmax(1)
    keep = y != y[0]  # training fold without the class of epoch 0
    clf = tiny_melspec(ch_names).fit(X[keep], y[keep])
    # a test fold without some class
    score = kl_divergence_scorer(clf, X[keep][:5], y[keep][:5])
    proba = clf.predict_proba(X[keep][:5])
    ref = -np.mean(np.log([proba[i, list(clf.classes_).index(c)] for i, c in
                           enumerate(y[keep][:5])]))  # fmt: skip
    assert_allclose(score, -ref, rtol=1e-10)
    # a test fold with a class never seen in fit: probability 0 -> finite penalty
    with pytest.warns(UserWarning, match="did not see in fit"):
        score = kl_divergence_scorer(clf, X[:4], y[:4])
    n_unseen = np.sum(y[:4] == y[0])
    assert np.isfinite(score) and score <= np.log(1e-15) * n_unseen / 4
    # soft votes scored against a model that lacks a class column
    with pytest.warns(UserWarning, match="did not see in fit"):
        soft = kl_divergence_scorer(clf, X[keep], votes[keep])
    assert np.isfinite(soft)
    full = np.zeros((keep.sum(), 6))
    full[:, clf.classes_] = clf.predict_proba(X[keep])
    assert_allclose(soft, -kl_divergence(votes[keep], full))


# ------------------------------------------------------------------ progress
def test_progress_per_batch_and_a_log_line_per_epoch(
    patterns, monkeypatch, capsys, tiny_melspec
):
    X, votes, patients, ch_names = patterns
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("SK_EEG_LOGGING_LEVEL", raising=False)
    kwargs = dict(max_epochs=2, early_stopping=True, validation_fraction=0.3)
    tiny_melspec(ch_names, verbose=True, **kwargs).fit(X, votes, groups=patients)
    err = capsys.readouterr().err
    assert "MelSpecCNN epoch 1/2: train_loss=" in err and "valid_kl=" in err
    assert "epoch 2/2" in err
    assert "| 0/2 [" in err  # a per-batch bar of each epoch (16 windows / 8)
    tiny_melspec(ch_names, verbose=False, **kwargs).fit(X, votes, groups=patients)
    err = capsys.readouterr().err
    assert "MelSpecCNN epoch" not in err and "0/2 [" not in err


# ---------------------------------------------------------------- warm start
def test_warm_start_continues_training(patterns, tiny_melspec):
    X, votes, _, ch_names = patterns
    clf = tiny_melspec(ch_names, warm_start=True).fit(X, votes)
    net, before = clf.net_, clf.predict_proba(X)
    clf.fit(X, votes)
    assert clf.net_ is net and len(clf.net_.history) == 2
    assert not np.allclose(clf.predict_proba(X), before)
    cold = tiny_melspec(ch_names, max_epochs=2).fit(X, votes)
    assert len(cold.net_.history) == 2
    with pytest.raises(ValueError, match="warm_start needs the classes"):
        clf.fit(X, votes[:, :3] + 1)


# ------------------------------------------------------------- mixed precision
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision_option_trains_and_predicts(patterns, amp, tiny_melspec):
    # autocast also runs on the CPU, so the code path of the CUDA option runs here
    X, votes, _, ch_names = patterns
    ref = tiny_melspec(ch_names, max_epochs=2).fit(X, votes)
    clf = tiny_melspec(ch_names, amp=amp, max_epochs=2, clip_grad=1.0).fit(X, votes)
    assert (clf.net_.scaler_ is not None) == (amp == "fp16")
    proba = clf.predict_proba(X)
    assert proba.dtype == np.float64 and np.isfinite(proba).all()
    assert_allclose(proba.sum(1), 1.0)
    # same seed, same data: close to the float32 run, not identical
    assert np.abs(proba - ref.predict_proba(X)).max() < 0.05
    with pytest.raises(ValueError, match="amp"):
        tiny_melspec(ch_names, amp="fp8").fit(X, votes)


# ------------------------------------------------------- data larger than RAM
def test_fit_and_predict_stream_from_a_memmap_without_copying_it(
    patterns, tmp_path, tiny_melspec
):
    X, votes, _, ch_names = patterns
    path = tmp_path / "windows.npy"
    big = np.lib.format.open_memmap(path, "w+", np.float32, (96, 20, 400))
    big[:] = np.tile(X, (4, 1, 1))
    big.flush()
    del big
    lazy = np.load(path, mmap_mode="c")  # copy-on-write: writeable, read lazily
    y = np.tile(votes, (4, 1))
    # imports and first-call caches out of the count
    tiny_melspec(ch_names).fit(X, votes)
    tracemalloc.start()
    clf = tiny_melspec(ch_names).fit(lazy, y)
    proba = clf.predict_proba(lazy)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 0.5 * lazy.nbytes, (peak, lazy.nbytes)  # X was never copied
    ref = tiny_melspec(ch_names).fit(np.asarray(lazy), y)
    assert_allclose(proba, ref.predict_proba(np.asarray(lazy)), atol=1e-6)


def test_crop_trains_on_random_crops_and_predicts_on_the_centre(patterns, tiny_melspec):
    X, votes, _, ch_names = patterns
    clf = tiny_melspec(ch_names, crop=1.0).fit(X, votes)  # 1 s of 2 s windows
    module = clf.net_.module_.eval()
    full = tiny_melspec(ch_names).fit(X, votes).net_.module_.eval()
    with torch.inference_mode():
        image = module.front_end(torch.from_numpy(X[:2].astype(np.float32)))
        ref = full.front_end(torch.from_numpy(X[:2].astype(np.float32)))
    assert image.shape[-1] < ref.shape[-1]  # fewer mel frames
    assert np.isfinite(clf.predict_proba(X)).all()
    with pytest.raises(ValueError, match="crop"):
        tiny_melspec(ch_names, crop=-1.0).fit(X, votes)


def test_decim_auto_keeps_the_stop_band_and_explicit_aliasing_is_an_error(
    patterns, tiny_melspec
):
    X, votes, _, ch_names = patterns
    clf = tiny_melspec(ch_names, backbone="parallel_cnn1d").fit(X, votes)
    assert clf.decim_ == 4  # 200 Hz, 20 Hz low-pass (stop band 25 Hz) -> 50 Hz
    assert tiny_melspec(ch_names).fit(X, votes).decim_ == 1  # mel backbones: 1
    assert tiny_melspec(ch_names, decim=2).fit(X, votes).decim_ == 2
    with pytest.raises(ValueError, match="decim=8 would alias"):
        tiny_melspec(ch_names, decim=8).fit(X, votes)
    with pytest.raises(ValueError, match="would alias"):
        tiny_melspec(ch_names, decim=2, bandpass=None).fit(X, votes)
