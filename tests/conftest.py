"""Shared fixtures and test configuration."""

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

# ../shared/mne_sample beside the checkout (never copied into the repository).
MNE_SAMPLE_DIR = Path(
    os.environ.get(
        "SK_EEG_MNE_SAMPLE",
        Path(__file__).resolve().parents[1].parent / "shared" / "mne_sample",
    )
)


@pytest.fixture(scope="session")
def mne_sample_dir():
    """The small real MNE sample dataset; skips the test when it is absent."""
    if not (MNE_SAMPLE_DIR / "test-ave.fif.gz").exists():
        pytest.skip(f"MNE sample subset not found at {MNE_SAMPLE_DIR}")
    return MNE_SAMPLE_DIR


@pytest.fixture(scope="module")
def nested_data():
    """Small nested EEG-like data ``(X, design)`` for the stats tests."""
    from sk_eeg.datasets import make_nested_timeseries

    return make_nested_timeseries(
        n_subjects=4,
        n_channels=[3, 5, 4, 4],
        n_times=24,
        effect_window=(8, 16),
        hit_miss_effect=1.5,
        random_state=0,
    )


@pytest.fixture
def cluster_test():
    """Make a small, fast ClusterLMETest (formula ``hit_miss * region``)."""
    from sk_eeg.stats import ClusterLMETest

    def make(formula="hit_miss * region", **kwargs):
        params = dict(
            groups="sid",
            nested="ch",
            n_permutations=19,
            batch_size=5,
            random_state=0,
            verbose=False,
        )
        params.update(kwargs)
        return ClusterLMETest(formula, **params)

    return make


@pytest.fixture
def tiny_melspec():
    """Make a tiny, fast MelSpecCNNClassifier (one epoch on the CPU)."""
    from sk_eeg.deep import MelSpecCNNClassifier

    def make(ch_names, **kwargs):
        params = dict(
            backbone="test_efficientnet",
            ch_names=ch_names,
            n_mels=16,
            n_fft=64,
            win_length=64,
            hop_length=16,
            max_epochs=1,
            batch_size=8,
            device="cpu",
            n_jobs=1,
            random_state=0,
        )
        params.update(kwargs)
        return MelSpecCNNClassifier(**params)

    return make


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def pytest_collection_modifyitems(config, items):
    """Skip GPU tests when no CUDA device is present."""
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items:
        return
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if not has_cuda:
        skip = pytest.mark.skip(reason="needs a CUDA device")
        for item in gpu_items:
            item.add_marker(skip)
