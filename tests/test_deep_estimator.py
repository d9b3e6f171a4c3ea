"""MelSpecCNNClassifier: targets, loss, probabilities, sklearn integration."""

import pickle

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import rel_entr
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold

from sk_eeg.datasets import make_eeg_patterns
from sk_eeg.deep import MelSpecCNNClassifier, kl_divergence, kl_divergence_scorer
from sk_eeg.deep._augment import chain_drop, cutout, mixup, window_mask
from sk_eeg.deep._net import SoftTargetKLLoss


@pytest.fixture(scope="module")
def patterns():
    X, votes, patients, ch_names = make_eeg_patterns(
        n_epochs=24, n_patients=4, n_times=400, random_state=0
    )
    return X, votes, patients, ch_names


def _score(estimator, X, y):
    return estimator.score(X, y)


# ------------------------------------------------------------------ the loss
def test_kl_loss_is_batchmean_kl_and_cross_entropy_on_one_hot():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 6, generator=gen, dtype=torch.float64)
    target = torch.rand(5, 6, generator=gen, dtype=torch.float64)
    target = target / target.sum(1, keepdim=True)
    ones = torch.ones(5, 1, dtype=torch.float64)
    loss = SoftTargetKLLoss()(logits, torch.cat([target, ones], 1))
    ref = torch.nn.KLDivLoss(reduction="batchmean")(
        torch.log_softmax(logits, 1), target
    )
    assert_allclose(loss.item(), ref.item(), rtol=1e-12)
    onehot = torch.eye(6, dtype=torch.float64)[[0, 3, 5, 1, 1]]
    loss = SoftTargetKLLoss()(logits, torch.cat([onehot, ones], 1))
    ce = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 3, 5, 1, 1]))
    assert_allclose(loss.item(), ce.item(), rtol=1e-12)
    # zero loss when the prediction is the target
    loss = SoftTargetKLLoss()(torch.log(target), torch.cat([target, ones], 1))
    assert abs(loss.item()) < 1e-12


def test_kl_loss_sample_weights_equal_repetition():
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    target = torch.softmax(torch.randn(3, 4, generator=gen, dtype=torch.float64), 1)
    weighted = SoftTargetKLLoss()(
        logits, torch.cat([target, torch.tensor([[2.0], [1.0], [1.0]]).double()], 1)
    )
    rep = [0, 0, 1, 2]
    repeated = SoftTargetKLLoss()(
        logits[rep], torch.cat([target[rep], torch.ones(4, 1).double()], 1)
    )
    assert_allclose(weighted.item(), repeated.item(), rtol=1e-12)


def test_kl_divergence_metric_matches_scipy_rel_entr():
    rng = np.random.default_rng(0)
    votes = rng.integers(0, 5, size=(10, 6))
    votes[:, 0] += 1
    proba = rng.dirichlet(np.ones(6), size=10)
    q = votes / votes.sum(1, keepdims=True)
    ref = rel_entr(q, proba).sum(1).mean()
    assert_allclose(kl_divergence(votes, proba), ref, rtol=1e-12)
    assert kl_divergence(votes, q) == pytest.approx(0.0, abs=1e-12)
    labels = np.array(["a", "b", "a"])
    p = np.array([[0.8, 0.2], [0.4, 0.6], [0.5, 0.5]])
    assert_allclose(kl_divergence(labels, p), -np.mean(np.log([0.8, 0.6, 0.5])))
    with pytest.raises(ValueError, match="negative"):
        kl_divergence(-votes, proba)
    with pytest.raises(ValueError, match="without any vote"):
        kl_divergence(np.zeros((2, 6)), proba[:2])


# ------------------------------------------------------------ augmentations
def test_augmentations_only_mask_and_mixup_keeps_target_rows_normalised():
    spec = torch.rand(8, 4, 6, 10) + 1.0
    out = cutout(spec, 1.0)
    zeroed = out == 0
    assert zeroed.any() and torch.equal(out[~zeroed], spec[~zeroed])
    out = window_mask(spec, 1.0)
    # the same frames are zeroed in every chain and band of a sample
    assert torch.equal((out == 0).all(dim=2).all(dim=1), (out == 0).any(dim=2).any(1))
    out = chain_drop(spec, 1.0, max_frac=0.5)
    assert torch.equal((out == 0).all(-1).all(-1), (out == 0).any(-1).any(-1))
    assert torch.equal(cutout(spec, 0.0), spec)
    torch.manual_seed(0)
    x = torch.randn(6, 3, 20)
    y = torch.softmax(torch.randn(6, 5), 1)
    x_mix, y_mix = mixup(x, y, 0.4)
    assert_allclose(y_mix.sum(1).numpy(), 1.0, rtol=1e-6)
    assert not torch.equal(x_mix, x)


def test_augmentations_are_train_only_and_reproducible(patterns, tiny_melspec):
    X, votes, _, ch_names = patterns
    kwargs = dict(mixup_alpha=0.4, cutout=0.5, window_mask=0.5, chain_drop=0.5)
    a = tiny_melspec(ch_names, **kwargs).fit(X, votes)
    b = tiny_melspec(ch_names, **kwargs).fit(X, votes)
    assert_allclose(a.predict_proba(X), b.predict_proba(X))
    assert_allclose(a.predict_proba(X), a.predict_proba(X))  # eval: no masks
    c = tiny_melspec(ch_names, random_state=1, **kwargs).fit(X, votes)
    assert not np.allclose(a.predict_proba(X), c.predict_proba(X))


@pytest.mark.parametrize("backbone", ["test_efficientnet", "parallel_cnn1d"])
def test_training_step_keeps_every_tensor_on_the_net_device(backbone, tiny_melspec):
    # The "meta" device stands in for CUDA without a GPU: a tensor left on the
    # CPU (mixup, masks, mel buffers, loss) would raise a device mismatch.
    clf = tiny_melspec(
        None, backbone=backbone, montage=None, mixup_alpha=0.4, cutout=1.0,
        window_mask=1.0, chain_drop=1.0, clip_grad=1.0,
    )  # fmt: skip
    net = clf._build_net(2, 3, 8, "meta").initialize()
    step = net.train_step_single((torch.zeros(4, 2, 400), torch.rand(4, 4)))
    assert step["loss"].device.type == "meta" and step["y_pred"].shape == (4, 3)
    assert all(p.grad.device.type == "meta" for p in net.module_.parameters())
    net.module_.eval()
    with torch.inference_mode():
        emb = net.module_.embed(torch.zeros(3, 2, 400, device="meta"))
    assert emb.device.type == "meta"


# ------------------------------------------------------------- the estimator
def test_soft_targets_fit_gives_probabilities_labels_and_embeddings(
    patterns, tiny_melspec
):
    X, votes, _, ch_names = patterns
    state = torch.get_rng_state()
    clf = tiny_melspec(ch_names).fit(X, votes)
    assert torch.equal(state, torch.get_rng_state())  # global torch RNG untouched
    proba = clf.predict_proba(X)
    assert proba.shape == (24, 6)
    assert_allclose(proba.sum(1), 1.0)
    assert_allclose(np.exp(clf.predict_log_proba(X)), proba, rtol=1e-10)
    assert_array_equal(clf.classes_, np.arange(6))
    assert_array_equal(clf.predict(X), proba.argmax(1))
    assert clf.transform(X).shape == (24, clf.net_.module_.num_features)
    assert len(clf.derivation_names_) == 16 and clf.derivation_names_[0] == "Fp1-F7"
    acc = np.mean(clf.predict(X) == votes.argmax(1))
    assert clf.score(X, votes) == pytest.approx(acc)
    assert kl_divergence_scorer(clf, X, votes) == pytest.approx(
        -kl_divergence(votes, proba)
    )


def test_hard_string_labels_and_named_classes(patterns, tiny_melspec):
    X, votes, _, ch_names = patterns
    names = np.array(["seizure", "lpd", "gpd", "lrda", "grda", "other"])
    y = names[votes.argmax(1)]
    clf = tiny_melspec(ch_names).fit(X, y)
    assert set(clf.predict(X)) <= set(y)
    assert_array_equal(clf.classes_, np.unique(y))
    soft = tiny_melspec(ch_names, classes=names).fit(X, votes)
    assert set(soft.predict(X)) <= set(names)
    assert kl_divergence_scorer(clf, X, y) < 0


def test_prediction_of_a_sample_does_not_depend_on_its_batch(patterns, tiny_melspec):
    X, votes, _, ch_names = patterns
    clf = tiny_melspec(ch_names, batch_size=5).fit(X, votes)
    together = clf.predict_proba(X)
    alone = np.concatenate([clf.predict_proba(X[i : i + 1]) for i in range(4)])
    assert_allclose(alone, together[:4], rtol=1e-5, atol=1e-6)


def test_clone_pickle_and_set_params_round_trip(patterns, tiny_melspec):
    X, votes, _, ch_names = patterns
    clf = tiny_melspec(ch_names).fit(X, votes)
    copy = pickle.loads(pickle.dumps(clf))
    assert_allclose(copy.predict_proba(X), clf.predict_proba(X))
    fresh = clone(clf)
    assert not hasattr(fresh, "net_")
    assert fresh.get_params() == clf.get_params()
    fresh.set_params(lr=0.01, max_epochs=2)
    assert fresh.get_params()["lr"] == 0.01
    fresh.fit(X, votes)
    assert len(fresh.net_.history) == 2


def test_grid_search_with_group_kfold_over_patients_and_soft_targets(
    patterns, tiny_melspec
):
    X, votes, patients, ch_names = patterns
    search = GridSearchCV(
        tiny_melspec(ch_names),
        {"pooling": ["gem", "avg"]},
        cv=GroupKFold(n_splits=2),
        scoring={"kl": kl_divergence_scorer, "acc": _score},
        refit="kl",
    )
    search.fit(X, votes, groups=patients)
    assert search.best_params_["pooling"] in ("gem", "avg")
    assert np.all(search.cv_results_["mean_test_kl"] < 0)
    assert np.all(np.isfinite(search.cv_results_["mean_test_acc"]))
    assert search.predict_proba(X).shape == (24, 6)


def test_epochs_input_uses_channel_names_from_info(patterns, tiny_melspec):
    mne = pytest.importorskip("mne")
    X, votes, _, ch_names = patterns
    types = ["eeg"] * 19 + ["ecg"]
    info = mne.create_info(ch_names, 200.0, types)
    epochs = mne.EpochsArray(X * 1e-6, info, verbose=False)
    a = tiny_melspec(None).fit(epochs, votes)
    b = tiny_melspec(ch_names).fit(X, votes)
    # float32 inputs differ by an ulp after the µV conversion; training keeps
    # that difference small
    assert_allclose(a.predict_proba(epochs), b.predict_proba(X), rtol=0, atol=2e-4)


def test_parallel_cnn1d_backbone_and_early_stopping(patterns, tiny_melspec):
    X, votes, _, ch_names = patterns
    clf = tiny_melspec(
        ch_names,
        backbone="parallel_cnn1d",
        max_epochs=3,
        early_stopping=True,
        validation_fraction=0.25,
        n_iter_no_change=1,
    ).fit(X, votes)
    assert "valid_loss" in clf.net_.history[-1]
    assert clf.predict_proba(X).shape == (24, 6)


def test_checkpoint_callback_saves_and_training_resumes_from_it(
    patterns, tmp_path, tiny_melspec
):
    from skorch.callbacks import Checkpoint

    X, votes, _, ch_names = patterns
    ckpt = Checkpoint(dirname=str(tmp_path), monitor=None)  # save every epoch
    clf = tiny_melspec(ch_names, max_epochs=2, callbacks=[ckpt]).fit(X, votes)
    assert (tmp_path / "params.pt").exists()
    assert ckpt.dirname == str(tmp_path)  # the user's callback is copied, not used
    restored = tiny_melspec(ch_names, max_epochs=1, random_state=5).fit(
        X[:4], votes[:4]
    )
    assert not np.allclose(restored.predict_proba(X), clf.predict_proba(X))
    restored.net_.load_params(checkpoint=ckpt)
    assert_allclose(restored.predict_proba(X), clf.predict_proba(X), rtol=1e-5)


def test_bad_input_raises_clear_errors(patterns, tiny_melspec):
    X, votes, _, ch_names = patterns
    with pytest.raises(ValueError, match="pass ch_names"):
        tiny_melspec(None).fit(X, votes)
    with pytest.raises(ValueError, match="negative"):
        tiny_melspec(ch_names).fit(X, -votes)
    with pytest.raises(ValueError, match="classes has 2 entries"):
        tiny_melspec(ch_names, classes=["a", "b"]).fit(X, votes)
    with pytest.raises(ValueError, match="not a timm model"):
        tiny_melspec(ch_names, backbone="no_such_net").fit(X, votes)
    # a CUDA device that does not exist here fails before any work
    with pytest.raises(ValueError, match="device='cuda:99'"):
        tiny_melspec(ch_names, device="cuda:99").fit(X, votes)
    with pytest.raises(ValueError, match="fmin < fmax"):
        tiny_melspec(ch_names, fmax=150.0).fit(X, votes)
    with pytest.raises(ValueError, match="bandpass must be a pair"):
        tiny_melspec(ch_names, bandpass=5.0).fit(X, votes)
    with pytest.raises(FileNotFoundError, match="checkpoint"):
        tiny_melspec(ch_names, checkpoint="/no/such/file.pth").fit(X, votes)
    with pytest.raises(ValueError, match="y has 3 rows"):
        tiny_melspec(ch_names).fit(X, votes[:3])


@pytest.mark.gpu
@pytest.mark.parametrize("backbone", ["test_efficientnet", "parallel_cnn1d"])
def test_cuda_fit_predicts_like_on_cpu_and_loads_in_a_cpu_only_process(
    patterns, backbone, tmp_path, tiny_melspec
):
    import subprocess
    import sys

    X, votes, _, ch_names = patterns
    gpu = tiny_melspec(ch_names, backbone=backbone, device="cuda").fit(X, votes)
    assert gpu.device_ == "cuda" and gpu.__sklearn_tags__().non_deterministic
    proba = gpu.predict_proba(X)
    assert_allclose(proba.sum(1), 1.0)
    # skorch reloads a pickle onto the GPU when one exists: move the module to
    # the CPU by hand so that the comparison really crosses devices.
    cpu = pickle.loads(pickle.dumps(gpu))
    cpu.net_.module_.to("cpu")
    assert next(cpu.net_.module_.parameters()).device.type == "cpu"
    # the whole front end and the network agree once TF32 is off in predict
    assert_allclose(cpu.predict_proba(X), proba, rtol=0, atol=1e-4)
    # a pickle made on CUDA loads in a process that sees no GPU
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(gpu))
    np.save(tmp_path / "X.npy", X)
    code = (
        "import pickle, sys, numpy as np, torch; "
        "assert not torch.cuda.is_available(); "
        f"clf = pickle.load(open({str(path)!r}, 'rb')); "
        f"np.save({str(tmp_path / 'p.npy')!r}, "
        f"clf.predict_proba(np.load({str(tmp_path / 'X.npy')!r})))"
    )
    env = {**__import__("os").environ, "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    assert_allclose(np.load(tmp_path / "p.npy"), proba, rtol=0, atol=1e-4)


@pytest.mark.parametrize("backbone", ["test_efficientnet", "parallel_cnn1d"])
def test_learns_planted_rhythm_frequency_on_held_out_windows(backbone):
    # class 0: 2 Hz rhythm, class 1: 10 Hz rhythm, random phase and amplitude
    rng = np.random.default_rng(0)
    t = np.arange(400) / 200.0
    y = np.tile([0, 1], 40)
    freq = np.where(y == 0, 2.0, 10.0)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, (80, 2, 1))
    amp = rng.uniform(5, 50, (80, 1, 1))
    X = amp * np.sin(2 * np.pi * freq * t + phase) + rng.normal(0, 5, (80, 2, 400))
    clf = MelSpecCNNClassifier(
        backbone=backbone,
        montage=None,
        n_mels=16,
        n_fft=64,
        win_length=64,
        hop_length=16,
        max_epochs=6,
        batch_size=16,
        lr=1e-2,
        mixup_alpha=0.0,
        time_shift=0.0,
        device="cpu",
        n_jobs=1,
        random_state=0,
    ).fit(X[:48], y[:48])
    assert clf.score(X[48:], y[48:]) >= 0.9
    # well below the chance level log(2) = 0.69
    assert kl_divergence(y[48:], clf.predict_proba(X[48:])) < 0.5
