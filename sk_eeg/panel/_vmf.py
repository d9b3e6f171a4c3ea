"""Mixture of von Mises-Fisher distributions on the unit sphere."""

import warnings

import numpy as np
from scipy.special import gammaln, ive, logsumexp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils import check_random_state, check_type, fill_doc, logger, use_log_level


def _log_bessel_iv(order, kappa):
    """``log I_order(kappa)`` without overflow (``ive`` is scaled by e^-kappa)."""
    return np.log(ive(order, kappa)) + kappa


def _log_norm_const(kappa, n_dim):
    """``log C_p(kappa)`` of the vMF density ``C_p(kappa) exp(kappa mu'x)``."""
    kappa = np.asarray(kappa, dtype=float)
    nu = n_dim / 2.0 - 1.0
    log_area = np.log(2.0) + (n_dim / 2.0) * np.log(np.pi) - gammaln(n_dim / 2.0)
    small = kappa < 1e-8
    safe = np.where(small, 1.0, kappa)
    value = (
        nu * np.log(safe) - (n_dim / 2.0) * np.log(2 * np.pi) - _log_bessel_iv(nu, safe)
    )
    return np.where(small, -log_area, value)


def _mean_resultant(kappa, n_dim):
    """``A_p(kappa) = I_{p/2}(kappa) / I_{p/2-1}(kappa)``."""
    return ive(n_dim / 2.0, kappa) / ive(n_dim / 2.0 - 1.0, kappa)


def _kappa_from_resultant(rbar, n_dim, kappa_max, n_newton=3):
    """Solve ``A_p(kappa) = rbar``: Banerjee et al. (2005) start, Newton steps."""
    rbar = float(np.clip(rbar, 0.0, 1.0 - 1e-12))
    if rbar < 1e-10:
        return 0.0
    kappa = rbar * (n_dim - rbar**2) / (1.0 - rbar**2)
    kappa = min(kappa, kappa_max)
    for _ in range(n_newton):
        a = _mean_resultant(kappa, n_dim)
        deriv = 1.0 - a**2 - (n_dim - 1.0) / kappa * a
        if deriv <= 0 or not np.isfinite(deriv):
            break
        new = kappa - (a - rbar) / deriv
        if not np.isfinite(new) or new <= 0:
            break
        kappa = min(new, kappa_max)
    return float(kappa)


def _normalize_rows(X, name="X"):
    """Scale rows to unit length; all-zero rows stay zero, with a warning."""
    norms = np.linalg.norm(X, axis=1)
    zero = norms == 0
    if zero.all():
        raise ValueError(f"{name} has only all-zero rows; directions are undefined.")
    if zero.any():
        warnings.warn(
            f"{name} has {int(zero.sum())} all-zero rows: they have no direction "
            "and get posteriors proportional to weights_ * C_p(kappas_).",
            UserWarning,
            stacklevel=3,
        )
    return X / np.where(zero, 1.0, norms)[:, None]


def _log_joint(Xn, means, kappas, weights, axial):
    """``log pi_k + log f_k(x)`` for every sample and component."""
    n_dim = Xn.shape[1]
    proj = Xn @ means.T
    if axial:
        # 0.5 [vMF(x; mu) + vMF(x; -mu)] = C_p cosh(kappa mu'x)
        arg = np.abs(kappas * proj)
        log_kernel = arg + np.log1p(np.exp(-2 * arg)) - np.log(2.0)
    else:
        log_kernel = kappas * proj
    return np.log(weights) + _log_norm_const(kappas, n_dim) + log_kernel


def _init_means(Xn, n_components, rng, axial):
    """k-means++ seeding with cosine dissimilarity."""
    n_samples = Xn.shape[0]
    means = [Xn[rng.randint(n_samples)]]
    for _ in range(1, n_components):
        cos = Xn @ np.array(means).T
        sim = np.abs(cos).max(1) if axial else cos.max(1)
        dist = np.clip(1.0 - sim, 0, None)
        total = dist.sum()
        prob = dist / total if total > 0 else np.full(n_samples, 1.0 / n_samples)
        means.append(Xn[rng.choice(n_samples, p=prob)])
    return np.array(means)


def _em(Xn, n_components, axial, max_iter, tol, kappa_max, rng):
    n_samples, n_dim = Xn.shape
    means = _init_means(Xn, n_components, rng, axial)
    kappas = np.ones(n_components)
    weights = np.full(n_components, 1.0 / n_components)
    lower = -np.inf
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        log_joint = _log_joint(Xn, means, kappas, weights, axial)
        log_norm = logsumexp(log_joint, axis=1)
        resp = np.exp(log_joint - log_norm[:, None])
        new_lower = log_norm.mean()
        nk = resp.sum(0)
        weights = np.maximum(nk / n_samples, 1e-10)
        weights /= weights.sum()
        for k in range(n_components):
            if nk[k] < 1e-8:
                # Reseed an empty component at the worst-explained sample.
                means[k] = Xn[np.argmin(log_norm)]
                kappas[k] = 1.0
                continue
            if axial:
                sign = np.tanh(kappas[k] * (Xn @ means[k]))
                resultant = (resp[:, k] * sign) @ Xn
            else:
                resultant = resp[:, k] @ Xn
            norm = np.linalg.norm(resultant)
            if norm > 0:
                means[k] = resultant / norm
            kappas[k] = _kappa_from_resultant(norm / nk[k], n_dim, kappa_max)
        if abs(new_lower - lower) <= tol * max(1.0, abs(new_lower)):
            lower = new_lower
            converged = True
            break
        lower = new_lower
    return means, kappas, weights, lower, n_iter, converged


@fill_doc
class VonMisesFisherMixture(TransformerMixin, BaseEstimator):
    r"""Mixture of von Mises-Fisher distributions fitted by EM.

    Each sample is projected on the unit sphere (its direction, e.g. the
    spatial topography of one EEG sample or spectral vector) and modelled as

    .. math:: f(x) = \sum_k \pi_k C_p(\kappa_k) \exp(\kappa_k \mu_k' x)

    with log-space Bessel functions (``scipy.special.ive``), so large
    concentrations do not overflow. Concentrations start from the Banerjee et
    al. (2005) approximation and are refined by Newton steps. With
    ``axial=True`` the density is ``C_p(kappa) cosh(kappa mu'x)`` (an equal
    mixture of ``mu`` and ``-mu``), which ignores polarity, as microstate
    analyses of spontaneous EEG do.

    Parameters
    ----------
    n_components : int
        Number of components.
    axial : bool
        Polarity-invariant (antipodally symmetric) components.
    max_iter : int
        Maximum EM iterations per initialisation.
    tol : float
        Relative change of the mean log-likelihood that stops EM.
    n_init : int
        Number of k-means++ initialisations; the best likelihood is kept.
    kappa_max : float
        Upper bound on the concentrations.
    %(random_state)s
    %(verbose)s

    Attributes
    ----------
    means_ : array, shape (n_components, n_features)
        Unit mean directions.
    kappas_ : array, shape (n_components,)
        Concentrations.
    weights_ : array, shape (n_components,)
        Mixture weights.
    lower_bound_ : float
        Mean log-likelihood of the training samples at the best fit.
    n_iter_ : int
        EM iterations of the best initialisation.
    converged_ : bool
        Whether that run converged.
    n_features_in_ : int
        Dimension of the samples.

    See Also
    --------
    scipy.stats.vonmises_fisher : One vMF distribution.
    IFEPanelRegressor : Use the posteriors (minus one column) as covariates.

    References
    ----------
    .. [1] Banerjee, A., Dhillon, I. S., Ghosh, J. & Sra, S. (2005).
       Clustering on the unit hypersphere using von Mises-Fisher
       distributions. JMLR 6, 1345-1382.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.stats import vonmises_fisher
    >>> from sk_eeg.panel import VonMisesFisherMixture
    >>> X = np.vstack([
    ...     vonmises_fisher([1, 0, 0], 50).rvs(200, random_state=0),
    ...     vonmises_fisher([0, 1, 0], 50).rvs(200, random_state=1),
    ... ])
    >>> vmf = VonMisesFisherMixture(n_components=2, random_state=0).fit(X)
    >>> np.round(np.sort(np.abs(vmf.means_).max(1)), 2).tolist()
    [1.0, 1.0]
    """

    def __init__(
        self,
        n_components=4,
        *,
        axial=False,
        max_iter=200,
        tol=1e-8,
        n_init=1,
        kappa_max=1e5,
        random_state=None,
        verbose=None,
    ):
        self.n_components = n_components
        self.axial = axial
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.kappa_max = kappa_max
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X, y=None):
        """Fit the mixture by EM.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            Samples; each row is normalised to unit length.
        y : None
            Ignored.

        Returns
        -------
        self : VonMisesFisherMixture
            The fitted estimator.
        """
        for name in ("n_components", "max_iter", "n_init"):
            check_type(getattr(self, name), "int", name)
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        check_type(self.kappa_max, "numeric", "kappa_max")
        X = validate_data(self, X, dtype=np.float64)
        if X.shape[0] < self.n_components:
            raise ValueError(
                f"n_samples={X.shape[0]} should be >= n_components={self.n_components}."
            )
        Xn = _normalize_rows(X)
        rng = check_random_state(self.random_state)
        best = None
        with use_log_level(self.verbose):
            for init in range(self.n_init):
                result = _em(
                    Xn,
                    self.n_components,
                    bool(self.axial),
                    self.max_iter,
                    self.tol,
                    float(self.kappa_max),
                    rng,
                )
                logger.info("vMF init %d: mean log-likelihood %.6g", init, result[3])
                if best is None or result[3] > best[3]:
                    best = result
        (
            self.means_,
            self.kappas_,
            self.weights_,
            self.lower_bound_,
            self.n_iter_,
            self.converged_,
        ) = best
        return self

    def _log_joint(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        Xn = _normalize_rows(X)
        return _log_joint(Xn, self.means_, self.kappas_, self.weights_, self.axial)

    def predict_proba(self, X):
        """Posterior probability of each component.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : array, shape (n_samples, n_components)
            Posteriors; rows sum to one.
        """
        log_joint = self._log_joint(X)
        return np.exp(log_joint - logsumexp(log_joint, axis=1)[:, None])

    def predict(self, X):
        """Most probable component of each sample.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            Samples.

        Returns
        -------
        labels : array of int, shape (n_samples,)
            Component indices.
        """
        return np.argmax(self._log_joint(X), axis=1)

    def transform(self, X):
        """Posterior probabilities as features (same as :meth:`predict_proba`).

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : array, shape (n_samples, n_components)
            Posteriors. They sum to one: drop a column before using them as
            covariates next to an intercept.
        """
        return self.predict_proba(X)

    def score_samples(self, X):
        """Log density of each sample's direction.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_density : array, shape (n_samples,)
            Log density on the unit sphere.
        """
        return logsumexp(self._log_joint(X), axis=1)

    def score(self, X, y=None):
        """Mean log density of the directions.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            Samples.
        y : None
            Ignored.

        Returns
        -------
        score : float
            Mean log-likelihood.
        """
        return float(np.mean(self.score_samples(X)))
