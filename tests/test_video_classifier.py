"""EEGEncoderClassifier and leave-one-block-out evaluation."""

import numpy as np
import pytest

from sk_eeg.datasets import make_eeg_video
from sk_eeg.video import (
    EEGEncoderClassifier,
    LeaveOneBlockOut,
    check_no_clip_split,
    cross_validate_blocks,
)

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def sim():
    return make_eeg_video(
        n_blocks=3, n_classes=3, n_clips=4, n_frames=2, height=8, width=8,
        n_channels=8, sfreq=100.0, snr=2.0, random_state=0,
    )  # fmt: skip


def test_shallownet_beats_chance_under_leave_one_block_out(sim):
    clf = EEGEncoderClassifier(
        encoder="shallownet", max_epochs=30, lr=3e-3, batch_size=8, device="cpu",
        n_jobs=1, random_state=0,
    )  # fmt: skip
    res = cross_validate_blocks(clf, sim.X, sim.y, sim.blocks, top_k=(1, 2))
    assert res["chance_top1"] == pytest.approx(1 / 3)
    assert res["chance_top2"] == pytest.approx(2 / 3)
    assert len(res["top1"]) == 3 and list(res["test_blocks"]) == [0, 1, 2]
    # 12 test clips per fold, 36 in all: chance is 1/3.
    assert res["top1_mean"] > 0.65
    assert res["top2_mean"] >= res["top1_mean"]


@pytest.mark.parametrize(
    "encoder", ["glmnet", "shallownet", "eegnet", "conformer", "mlp"]
)
def test_every_encoder_trains_and_predicts_probabilities(sim, encoder):
    clf = EEGEncoderClassifier(
        encoder=encoder, emb_dim=8, max_epochs=1, local_channels=[5, 6, 7],
        device="cpu", n_jobs=1, random_state=0,
    )  # fmt: skip
    clf.fit(sim.X[:12], sim.y[:12])
    proba = clf.predict_proba(sim.X[12:15])
    assert proba.shape == (3, len(clf.classes_))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert set(clf.predict(sim.X[12:15])) <= set(clf.classes_)


def test_fit_is_reproducible_and_prediction_is_per_sample(sim):
    params = dict(encoder="mlp", max_epochs=3, device="cpu", n_jobs=1, random_state=3)
    a = EEGEncoderClassifier(**params).fit(sim.X, sim.y)
    b = EEGEncoderClassifier(**params).fit(sim.X, sim.y)
    np.testing.assert_array_equal(a.predict_proba(sim.X), b.predict_proba(sim.X))
    # No statistic of the test batch is used: one sample alone scores the same.
    np.testing.assert_allclose(
        a.predict_proba(sim.X[:1]), a.predict_proba(sim.X)[:1], rtol=1e-5
    )
    # The scaler comes from the training data.
    np.testing.assert_allclose(
        a.mean_, (sim.X - sim.X.mean(2, keepdims=True)).mean((0, 2))
    )


def test_leave_one_block_out_tests_each_block_once(sim):
    cv = LeaveOneBlockOut(clips=sim.clips)
    folds = list(cv.split(sim.X, groups=sim.blocks))
    assert cv.get_n_splits(groups=sim.blocks) == 3 == len(folds)
    for block, (train, test) in zip(range(3), folds):
        assert set(sim.blocks[test]) == {block}
        assert block not in set(sim.blocks[train])
    with pytest.raises(ValueError, match="needs groups"):
        next(cv.split(sim.X))


def test_windows_of_one_clip_never_straddle_train_and_test():
    # Two 1-s windows per clip: blocks keep windows together, a random split
    # of the windows does not.
    clips = np.repeat(np.arange(12), 2)
    blocks = np.repeat(np.arange(3), 8)
    for train, test in LeaveOneBlockOut(clips=clips).split(clips, groups=blocks):
        assert not set(clips[train]) & set(clips[test])
    rng = np.random.default_rng(0)
    order = rng.permutation(24)
    with pytest.raises(ValueError, match="both train and test"):
        check_no_clip_split(order[:16], order[16:], clips)
    bad_blocks = blocks.copy()
    bad_blocks[0] = 2  # the first window of clip 0 moved to another block
    with pytest.raises(ValueError, match="clip"):
        list(LeaveOneBlockOut(clips=clips).split(clips, groups=bad_blocks))


def test_bad_parameters_are_named():
    X, y = np.zeros((4, 2, 10)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="encoder"):
        EEGEncoderClassifier(encoder="resnet").fit(X, y)
    with pytest.raises(ValueError, match="max_epochs"):
        EEGEncoderClassifier(max_epochs=0).fit(X, y)
    with pytest.raises(ValueError, match="device"):
        EEGEncoderClassifier(encoder="mlp", device="cuda:99", max_epochs=1).fit(X, y)


@pytest.mark.gpu
def test_classifier_trains_on_cuda(sim):
    clf = EEGEncoderClassifier(encoder="glmnet", max_epochs=2, device="cuda")
    clf.fit(sim.X, sim.y)
    assert clf.device_.type == "cuda"
    assert clf.predict(sim.X).shape == sim.y.shape
