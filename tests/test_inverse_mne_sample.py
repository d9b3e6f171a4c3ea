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
        relocate=False,  # the penalized solution itself, as MNE returns it
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


def _recipe(mne_sample_dir, conditions):
    """The README recipe: baseline-corrected, cropped EEG of the auditory evokeds."""
    import mne

    evokeds = mne.read_evokeds(
        mne_sample_dir / "test-ave.fif.gz", condition=conditions, verbose=False
    )
    evoked = mne.combine_evoked(evokeds, weights="nave").pick("eeg")
    return evoked


@pytest.mark.slow
def test_readme_recipe_refined_dipole_is_left_temporal_near_fit_dipole(
    mne_sample_dir,
):
    """Left + Right Auditory EEG (9 trials), the README recipe, refined dipoles.

    References: MNE's fit_dipole with the same BEM at the N100 GFP peak
    (82 ms), MNI (-66, -39, 19), and on the mean of 70-100 ms, MNI (-58, -57,
    8). Our strongest refined dipole, a fixed position over 50-150 ms, lands
    2 mm from the window fit and about 20 mm from the peak-sample fit (one
    more noise draw of the average's size moves that one by a median 24 mm:
    benchmarks/bench_inverse.py --parts sample), in left posterior superior
    temporal cortex. The grid sources (re-placed, relocate=True) are left
    temporal, 25 mm from the peak fit, and superior at MNI (12, -17, 75),
    which takes about the same share of the GOF at the peak (33 mm and
    110 mm with relocate=False).
    """
    import mne

    evoked = _recipe(mne_sample_dir, ["Left Auditory", "Right Auditory"])
    evoked.apply_baseline((None, 0)).crop(0.05, 0.15)
    cov = mne.read_cov(mne_sample_dir / "test-cov.fif", verbose=False)
    bem = mne_sample_dir / "sample-320-320-320-bem-sol.fif"
    trans = mne.read_trans(mne_sample_dir / "sample_audvis_trunc-trans.fif")
    loc = SparseSourceLocalizer(
        str(mne_sample_dir / "sample-vol7mm-eeg-fwd.fif"), cov, verbose=False
    ).fit(evoked)
    assert 1 <= loc.n_active_ <= 4
    peak = int(np.argmax(evoked.data.std(axis=0)))
    grid = max(loc.to_dipoles(), key=lambda d: d.gof[peak])
    refined = max(loc.to_dipoles(refine=True, bem=bem), key=lambda d: d.gof[peak])
    t_peak = evoked.times[peak]
    ref, _ = mne.fit_dipole(
        evoked.copy().crop(t_peak, t_peak), cov, bem, trans, verbose=False
    )
    window = evoked.copy().crop(0.07, 0.1)
    ref_window, _ = mne.fit_dipole(
        mne.EvokedArray(
            window.data.mean(axis=1, keepdims=True), window.info, nave=window.nave
        ),
        cov,
        bem,
        trans,
        verbose=False,
    )
    dist_grid = np.linalg.norm(grid.pos[peak] - ref.pos[0]) * 1e3
    dist_refined = np.linalg.norm(refined.pos[peak] - ref.pos[0]) * 1e3
    assert dist_refined < dist_grid
    assert dist_refined <= 25.0
    assert np.linalg.norm(refined.pos[peak] - ref_window.pos[0]) * 1e3 <= 10.0
    assert refined.gof[peak] > grid.gof[peak]
    mni = mne.head_to_mni(
        refined.pos[peak],
        "sample",
        trans,
        subjects_dir=mne_sample_dir / "subjects",
        verbose=False,
    )
    mni = np.atleast_2d(mni)[0]
    assert mni[0] < -40  # left, lateral
    assert -20 < mni[2] < 30  # temporal-lobe height


@pytest.mark.slow
def test_left_auditory_alone_warns_about_offset_and_unsupported_models(
    mne_sample_dir,
):
    """Left Auditory EEG has 3 trials: no baseline -> offset warning; with the
    recipe, no sparse model predicts held-out sensors, and the user is told."""
    import mne

    cov = mne.read_cov(mne_sample_dir / "test-cov.fif", verbose=False)
    fwd = str(mne_sample_dir / "sample-vol7mm-eeg-fwd.fif")
    raw_evoked = _recipe(mne_sample_dir, ["Left Auditory"])
    assert raw_evoked.baseline is None
    with pytest.warns(UserWarning, match="DC offset"):
        SparseSourceLocalizer(fwd, cov, alpha=0.5, verbose=False).fit(raw_evoked)
    evoked = raw_evoked.copy().apply_baseline((None, 0)).crop(0.05, 0.15)
    with pytest.warns(UserWarning, match="held-out-sensor score <= 0"):
        SparseSourceLocalizer(fwd, cov, alphas=[0.7, 0.5], cv=3, verbose=False).fit(
            evoked
        )
