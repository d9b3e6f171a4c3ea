"""SparseSourceLocalizer on the real MNE sample subset (skipped when absent)."""

import numpy as np
import pytest

from sk_eeg.inverse import SparseSourceLocalizer


@pytest.fixture(scope="module")
def auditory(mne_sample_dir):
    import mne

    evokeds = mne.read_evokeds(
        mne_sample_dir / "test-ave.fif.gz",
        condition=["Left Auditory", "Right Auditory"],
        baseline=(None, 0),
        verbose=False,
    )
    evoked = mne.combine_evoked(evokeds, weights="nave")
    evoked.pick("eeg").crop(0.05, 0.15)
    cov = mne.read_cov(mne_sample_dir / "test-cov.fif", verbose=False)
    fwd = mne_sample_dir / "sample-vol7mm-eeg-fwd.fif"
    return evoked, cov, fwd


def test_irmxne_on_auditory_eeg_matches_mne_support(auditory):
    import mne
    from mne.inverse_sparse import mixed_norm

    evoked, cov, fwd_fname = auditory
    est = SparseSourceLocalizer(
        str(fwd_fname),
        cov,
        solver="irmxne",
        alpha=0.5,
        depth=0.9,
        n_reweightings=10,
    ).fit(evoked)
    assert 1 <= est.n_active_ <= 5
    stc = est.to_stc()
    assert isinstance(stc, mne.VolSourceEstimate)
    assert stc.data.shape == (est.n_active_, len(evoked.times))
    np.testing.assert_allclose(stc.tmin, evoked.times[0])
    fwd = mne.read_forward_solution(fwd_fname, verbose=False)
    stc_mne = mixed_norm(
        evoked,
        fwd,
        cov,
        alpha=50.0,
        n_mxne_iter=10,
        depth=0.9,
        loose=1.0,
        verbose=False,
    )
    # The strongest source is the same grid point as MNE's irMxNE.
    top = stc.vertices[0][np.argmax(np.linalg.norm(stc.data, axis=1))]
    top_mne = stc_mne.vertices[0][np.argmax(np.linalg.norm(stc_mne.data, axis=1))]
    assert top == top_mne
    assert set(stc.vertices[0]) == set(stc_mne.vertices[0])


def test_strongest_auditory_source_is_lateral_and_temporal_in_mni(
    auditory, mne_sample_dir
):
    import mne

    evoked, cov, fwd_fname = auditory
    est = SparseSourceLocalizer(
        str(fwd_fname), cov, solver="irmxne", alpha=0.5, depth=0.9
    ).fit(evoked)
    trans = mne.read_trans(mne_sample_dir / "sample_audvis_trunc-trans.fif")
    amplitude = np.linalg.norm(est.transform(evoked), axis=1).reshape(-1, 3)
    strongest = est.source_rr_[est.active_set_][np.argmax(amplitude.sum(axis=1))]
    mni = mne.head_to_mni(
        strongest,
        "sample",
        trans,
        subjects_dir=mne_sample_dir / "subjects",
        verbose=False,
    )
    # Lateral (|x| > 40 mm), at temporal-lobe height (z < 30 mm), EEG accuracy.
    mni = np.atleast_2d(mni)[0]
    assert abs(mni[0]) > 40
    assert mni[2] < 30
