"""VonMisesFisherMixture against scipy.stats.vonmises_fisher."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.stats import vonmises_fisher

from sk_eeg.panel import VonMisesFisherMixture
from sk_eeg.panel._vmf import _kappa_from_resultant, _log_norm_const, _mean_resultant


def _planted(p=32, kappas=(20.0, 60.0, 200.0), sizes=(3000, 2000, 1000), seed=0):
    rng = np.random.RandomState(seed)
    means = np.linalg.qr(rng.standard_normal((p, len(kappas))))[0].T
    X = np.vstack(
        [
            vonmises_fisher(m, k).rvs(n, random_state=seed + i)
            for i, (m, k, n) in enumerate(zip(means, kappas, sizes))
        ]
    )
    labels = np.repeat(np.arange(len(sizes)), sizes)
    return X, labels, means, np.array(kappas), np.array(sizes) / sum(sizes)


def test_log_density_matches_scipy_including_huge_kappa():
    mu = np.zeros(32)
    mu[0] = 1.0
    for kappa in (0.5, 20.0, 5000.0):
        x = vonmises_fisher(mu, kappa).rvs(5, random_state=1)
        ours = _log_norm_const(kappa, 32) + kappa * x @ mu
        assert np.all(np.isfinite(ours))
        assert_allclose(ours, vonmises_fisher(mu, kappa).logpdf(x), rtol=1e-10)


def test_kappa_newton_inverts_mean_resultant():
    for p in (3, 32):
        for kappa in (0.3, 5.0, 80.0, 3000.0):
            rbar = _mean_resultant(kappa, p)
            assert_allclose(_kappa_from_resultant(rbar, p, 1e5), kappa, rtol=1e-6)


def test_mixture_recovers_planted_means_kappas_and_weights():
    X, labels, means, kappas, weights = _planted()
    vmf = VonMisesFisherMixture(n_components=3, n_init=2, random_state=0).fit(X)
    order = np.argmax(vmf.means_ @ means.T, axis=0)
    assert sorted(order) == [0, 1, 2]
    assert np.all(np.sum(vmf.means_[order] * means, axis=1) > 0.995)
    assert_allclose(vmf.kappas_[order], kappas, rtol=0.05)
    assert_allclose(vmf.weights_[order], weights, atol=0.01)
    proba = vmf.predict_proba(X)
    assert_allclose(proba.sum(1), 1.0)
    assert np.mean(order[labels] == vmf.predict(X)) > 0.99
    assert vmf.converged_


def test_single_component_kappa_matches_scipy_fit():
    mu = np.zeros(32)
    mu[3] = 1.0
    X = vonmises_fisher(mu, 20.0).rvs(20000, random_state=2)
    vmf = VonMisesFisherMixture(n_components=1, random_state=0).fit(X)
    _, kappa_scipy = vonmises_fisher.fit(X)
    assert_allclose(vmf.kappas_[0], kappa_scipy, rtol=1e-4)
    assert abs(vmf.kappas_[0] - 20.0) < 0.4


def test_axial_mode_ignores_polarity():
    X, labels, means, kappas, _ = _planted(p=16, sizes=(1500, 1000, 500), seed=3)
    signs = np.random.RandomState(4).choice([-1.0, 1.0], size=(len(X), 1))
    Xs = X * signs
    axial = VonMisesFisherMixture(n_components=3, axial=True, random_state=0).fit(Xs)
    order = np.argmax(np.abs(axial.means_ @ means.T), axis=0)
    assert sorted(order) == [0, 1, 2]
    assert_allclose(axial.kappas_[order], kappas, rtol=0.08)
    assert np.mean(order[labels] == axial.predict(Xs)) > 0.98
    assert_allclose(axial.predict_proba(Xs), axial.predict_proba(-Xs))


def test_score_is_mean_log_density_and_bad_input_is_named():
    X, *_ = _planted(p=8, sizes=(200, 200, 200))
    vmf = VonMisesFisherMixture(n_components=3, random_state=0).fit(X)
    assert_allclose(vmf.score(X), vmf.score_samples(X).mean())
    with pytest.raises(ValueError, match="n_components"):
        VonMisesFisherMixture(n_components=0).fit(X)
    with pytest.raises(ValueError, match="all-zero"):
        VonMisesFisherMixture(n_components=1).fit(np.zeros((5, 3)))
