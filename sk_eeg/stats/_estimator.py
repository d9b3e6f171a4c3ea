"""ClusterLMETest: a mixed model at every timepoint with cluster permutation tests."""

import warnings
from numbers import Real

import numpy as np
import pandas as pd
from scipy import stats as sps
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils import (
    check_option,
    check_random_state,
    check_type,
    fill_doc,
    logger,
    use_log_level,
)
from ..utils._checks import _mne_kind
from ._cluster import (
    cluster_table,
    find_clusters,
    max_cluster_stats,
    permutation_p,
    tfce,
)
from ._design import DesignSpec, parse_formula, term_name
from ._engine import term_statistics
from ._null import draw_null, plan_null, run_null
from ._permutation import LEVELS, Blocks
from ._reml import NestedStructure, fit_reml, stack_stats, x_stats, xy_stats, y_stats

_SCHEMES = ("auto", "labels", "freedman-lane")


def _fitted_with_design(estimator):
    return getattr(estimator, "design_spec_", None) is not None and getattr(
        estimator, "_predict_from_design", False
    )


@fill_doc
class ClusterLMETest(SelectorMixin, BaseEstimator):
    """Linear mixed model at every timepoint with a cluster permutation test.

    At each timepoint the model ``y ~ formula + (1 | groups) + (1 | groups:nested)``
    (a random intercept per subject and per channel nested in subject) is fitted
    by REML with an exact engine batched across timepoints and permutations.
    Every term gets a Wald F (or, for one-column terms, a t) time course.
    Family-wise error across time is controlled by a cluster-based
    permutation test (Maris & Oostenveld 2007) whose relabellings respect the
    nesting: a factor that varies within channels is swapped within channels,
    a channel-level factor is permuted among the channels of each subject, a
    subject-level factor is permuted among whole subjects, and interactions
    that vary within channels use Freedman-Lane (Winkler et al. 2014). The same
    relabelling applies at every timepoint, and every random draw is made in the
    calling process, so results do not depend on ``n_jobs`` or the joblib
    backend.

    As a scikit-learn transformer this is a feature selector
    (:class:`~sklearn.feature_selection.SelectorMixin`): the features are the
    timepoints, and ``transform`` keeps those inside significant clusters.

    Parameters
    ----------
    formula : str | None
        Fixed effects, e.g. ``'hit_miss * region'`` (a left side ``data ~`` is
        allowed and ignored). Columns of float dtype are covariates, others are
        factors. None is only allowed when ``fit`` gets ``y`` instead of a
        design (see Notes).
    groups : str | None
        Design column of the subjects (random intercept); None fits no random
        effects (ordinary least squares, rows exchangeable).
    nested : str | None
        Design column of the channels nested in subjects (a second random
        intercept). Channel labels are read within subject (like ``sid:ch``), so
        the same label in two subjects means two channels. Needs ``groups``.
    coding : {'sum', 'treatment'}
        Contrast coding of factors. ``'sum'`` (default) makes main effects main
        effects in the presence of interactions; ``'treatment'`` (reference =
        first sorted level) reproduces the coefficient F tests of a statsmodels
        ``mixedlm(...).f_test`` on unit contrasts.
    df_method : {'between-within', 'residual'}
        Denominator degrees of freedom of the F tests (they set the uncorrected
        p-values and the parametric cluster threshold). ``'between-within'``
        (default, as nlme): terms varying within channels get ``n_obs -
        n_channels - p_within``, channel-level terms ``n_channels - n_subjects -
        p_channel``, subject-level terms ``n_subjects - 1 - p_subject``;
        ``'residual'`` uses ``n_obs - p`` for every term, as statsmodels'
        ``f_test`` and the original notebook.
    statistic : {'F', 't'}
        Test statistic. ``'t'`` needs one-column terms and allows two-tailed
        clusters of positive and negative t separately (as MNE).
    n_permutations : int | 'all'
        Number of random relabellings (default 1000); ``'all'`` enumerates every
        within-channel rearrangement (for terms varying within channels).
    permutation_scheme : {'auto', 'labels', 'freedman-lane'}
        ``'auto'``: main effects by relabelling their factor at its level,
        interactions that vary within channels by Freedman-Lane, one set of
        permutations per term. ``'labels'``: one joint relabelling of every
        factor (each at its own level) per permutation, shared by all terms, as
        the original (valid under the global null; one fit per permutation).
        ``'freedman-lane'``: Freedman-Lane for every term that varies within
        channels, relabelling for the others.
    threshold : float | 'null-percentile' | None
        Cluster-forming threshold on the statistic. None: the parametric
        quantile at ``cluster_alpha`` (F, or t with the tail). A number is used
        as is (on ``|t|`` for two-tailed t). ``'null-percentile'``: the original's
        per-timepoint ``1 - cluster_alpha`` quantile of the null statistic.
        Ignored for ``cluster_stat='tfce'``.
    cluster_alpha : float
        Level of the cluster-forming threshold.
    tail : {1, -1, 0} | None
        1: large values; -1: small; 0: both (t only). None: 1 for F, 0 for t.
    cluster_stat : {'mass', 'size', 'tfce'}
        Cluster statistic: sum of the statistic, number of timepoints, or
        threshold-free cluster enhancement (timepoint-wise corrected p-values).
    min_cluster_size : int
        Clusters shorter than this are ignored in the observed and the null
        data (2, as the original, drops single timepoints).
    tfce_params : dict | None
        ``{'e_power': 0.5, 'h_power': 2.0, 'dh': None}``; ``dh=None`` uses 1/100
        of the largest observed ``|statistic|``.
    alpha : float
        Significance level of the corrected p-values (clusters with
        ``p <= alpha`` are selected by ``transform``).
    checkpoint : path-like | None
        File (``.npz``) where finished permutation chunks are saved; a run with
        the same data, design and parameters resumes from it.
    batch_size : int
        Permutations fitted together in one batched call (one joblib task). It
        does not change the results.
    %(n_jobs)s
    %(random_state)s
    %(verbose)s

    Attributes
    ----------
    terms_ : list of str
        Term names (``'hit_miss'``, ``'region'``, ``'hit_miss:region'``).
    term_levels_ : dict
        Term -> level at which it varies: ``'within'`` (channels), ``'channel'``
        or ``'subject'``.
    stat_ : ndarray, shape (n_terms, n_times)
        Observed F (or t) per term.
    df_ : ndarray, shape (n_terms, 2)
        Numerator and denominator degrees of freedom per term.
    p_uncorrected_ : ndarray, shape (n_terms, n_times)
        Parametric p-values per timepoint.
    p_corrected_ : ndarray, shape (n_terms, n_times)
        Cluster-corrected p-values (the p of the cluster a timepoint belongs
        to, 1 outside clusters; timepoint-wise FWER p for TFCE).
    threshold_ : ndarray, shape (n_terms, n_times)
        Cluster-forming threshold used per term.
    clusters_ : DataFrame
        One row per observed cluster: term, start, stop (exclusive), statistic,
        p, significant.
    null_max_ : ndarray, shape (n_terms, n_permutations)
        Null distribution of the maximal cluster statistic (or TFCE) per term.
    null_stat_ : ndarray, shape (n_terms, n_permutations, n_times)
        Null statistics (for custom thresholds or diagnostics).
    coef_ : ndarray, shape (n_coefs, n_times)
        Fixed-effect estimates; ``coef_names_`` names the rows.
    coef_names_ : list of str
        Column names of the fixed-effects design.
    tvalues_ : ndarray, shape (n_coefs, n_times)
        Wald t of each coefficient.
    variance_components_ : DataFrame
        Per timepoint, the REML variances ``subject``, ``channel`` and
        ``residual``.
    support_ : ndarray of bool, shape (n_times,)
        Timepoints inside a significant cluster of any term.
    n_permutations_ : int
        Number of permutations used (enumerated count for ``'all'``).
    times_ : ndarray, shape (n_times,) | None
        Times in seconds when ``X`` was an ``Epochs``.
    n_features_in_ : int
        Number of timepoints.

    See Also
    --------
    mne.stats.permutation_cluster_1samp_test : Sign-flip cluster test without
        random effects.

    Notes
    -----
    ``fit(X, y)`` without a design treats ``y`` as the only factor (a float
    ``y`` as a covariate) with no grouping: a one-way ANOVA (or regression)
    F at every timepoint with rows exchangeable. Rows with NaN in ``X`` are
    refused rather than dropped; drop them from ``X`` and ``design`` together
    (unbalanced designs are fitted exactly). With ``n_permutations`` random
    relabellings the smallest p-value is ``1 / (n_permutations + 1)``. A random
    relabelling that would leave a cell of the design empty (rank deficient) is
    drawn again. Denominator degrees of freedom are stated (``df_method``), not
    Satterthwaite.

    References
    ----------
    Maris E, Oostenveld R (2007). Nonparametric statistical testing of EEG- and
    MEG-data. J Neurosci Methods 164:177-190.

    Winkler AM et al. (2014). Permutation inference for the general linear
    model. NeuroImage 92:381-397.

    Examples
    --------
    >>> from sk_eeg.datasets import make_nested_timeseries
    >>> from sk_eeg.stats import ClusterLMETest
    >>> X, design = make_nested_timeseries(n_subjects=4, n_channels=4, n_times=30,
    ...                                    effect_window=(10, 20), random_state=0)
    >>> test = ClusterLMETest("hit_miss * region", groups="sid", nested="ch",
    ...                       n_permutations=19, random_state=0, verbose=False)
    >>> test = test.fit(X, design=design)
    >>> list(test.terms_)
    ['hit_miss', 'region', 'hit_miss:region']
    >>> test.stat_.shape
    (3, 30)
    """

    def __init__(
        self,
        formula=None,
        groups=None,
        nested=None,
        *,
        coding="sum",
        df_method="between-within",
        statistic="F",
        n_permutations=1000,
        permutation_scheme="auto",
        threshold=None,
        cluster_alpha=0.05,
        tail=None,
        cluster_stat="mass",
        min_cluster_size=2,
        tfce_params=None,
        alpha=0.05,
        checkpoint=None,
        batch_size=50,
        n_jobs=None,
        random_state=None,
        verbose=None,
    ):
        self.formula = formula
        self.groups = groups
        self.nested = nested
        self.coding = coding
        self.df_method = df_method
        self.statistic = statistic
        self.n_permutations = n_permutations
        self.permutation_scheme = permutation_scheme
        self.threshold = threshold
        self.cluster_alpha = cluster_alpha
        self.tail = tail
        self.cluster_stat = cluster_stat
        self.min_cluster_size = min_cluster_size
        self.tfce_params = tfce_params
        self.alpha = alpha
        self.checkpoint = checkpoint
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None, design=None):
        """Fit the model at every timepoint and run the permutation test.

        Parameters
        ----------
        X : array, shape (n_obs, n_times) | Epochs
            One time series per observation (row). An :class:`mne.Epochs` with
            one channel is read with ``get_data``; its ``metadata`` is the
            default design.
        y : array-like, shape (n_obs,) | None
            Used only when ``design`` is None: the single factor (or float
            covariate) of a model without grouping.
        design : DataFrame | None
            One row per observation with the factor, ``groups`` and ``nested``
            columns.

        Returns
        -------
        self : ClusterLMETest
            The fitted test.
        """
        with use_log_level(self.verbose):
            return self._fit(X, y, design)

    def _check_params(self):
        check_option("coding", self.coding, ("sum", "treatment"))
        check_option("df_method", self.df_method, ("between-within", "residual"))
        check_option("statistic", self.statistic, ("F", "t"))
        check_option("permutation_scheme", self.permutation_scheme, _SCHEMES)
        check_option("cluster_stat", self.cluster_stat, ("mass", "size", "tfce"))
        if not (isinstance(self.n_permutations, str) and self.n_permutations == "all"):
            check_type(self.n_permutations, "int", "n_permutations", "int or 'all'")
            if self.n_permutations < 1:
                raise ValueError(
                    f"n_permutations must be >= 1 (999 or more for a publication), "
                    f"got {self.n_permutations}."
                )
        for name in ("cluster_alpha", "alpha"):
            value = getattr(self, name)
            check_type(value, "numeric", name)
            if not 0 < value < 1:
                raise ValueError(f"{name} must be in (0, 1), got {value}.")
        check_type(self.min_cluster_size, "int", "min_cluster_size")
        check_type(self.batch_size, "int", "batch_size")
        if self.min_cluster_size < 1 or self.batch_size < 1:
            raise ValueError("min_cluster_size and batch_size must be >= 1.")
        tail = self.tail
        if tail is None:
            tail = 0 if self.statistic == "t" else 1
        check_option("tail", tail, (1, -1, 0))
        if self.statistic == "F" and tail != 1:
            raise ValueError(
                "tail must be 1 (or None) for statistic='F'; use statistic='t' for "
                "one- or two-tailed tests of one-column terms."
            )
        if self.threshold is not None and not isinstance(self.threshold, Real):
            check_option("threshold", self.threshold, ("null-percentile",))
        if isinstance(self.threshold, Real) and self.threshold < 0:
            raise ValueError(f"threshold must be >= 0, got {self.threshold}.")
        tfce_params = {"e_power": 0.5, "h_power": 2.0, "dh": None}
        if self.tfce_params is not None:
            unknown = set(self.tfce_params) - set(tfce_params)
            if unknown:
                raise ValueError(
                    f"tfce_params has unknown keys {sorted(unknown)}; use "
                    "'e_power', 'h_power' and 'dh'."
                )
            tfce_params.update(self.tfce_params)
        return tail, tfce_params

    def _read_input(self, X, y, design):
        times = None
        formula, groups, nested = self.formula, self.groups, self.nested
        if _mne_kind(X) == "Epochs":
            if design is None and X.metadata is not None:
                design = X.metadata.reset_index(drop=True)
            times = X.times.copy()
            data = X.get_data(copy=False)
            if data.shape[1] != 1:
                raise ValueError(
                    f"X is an Epochs with {data.shape[1]} channels; ClusterLMETest "
                    "tests one time series per observation. Pick one channel "
                    "(epochs.copy().pick([name])) or pass an array (n_obs, n_times)."
                )
            X = data[:, 0, :]
        elif _mne_kind(X) is not None:
            raise TypeError(
                f"X is an mne.{_mne_kind(X)}; pass an Epochs or an array "
                "(n_obs, n_times)."
            )
        if (
            hasattr(X, "shape")
            and getattr(X, "ndim", 2) == 2
            and not hasattr(X, "iloc")
        ):
            X_arr = np.asarray(X)
            if X_arr.dtype.kind == "f" and np.isnan(X_arr).any():
                rows = np.flatnonzero(np.isnan(X_arr).any(axis=1))
                raise ValueError(
                    f"X has NaN in {len(rows)} rows (first: {rows[:5].tolist()}); "
                    "drop those rows from X and design together (unbalanced designs "
                    "are fitted exactly)."
                )
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        if design is None:
            if y is None:
                raise ValueError(
                    "ClusterLMETest requires y to be passed, but the target y is "
                    "None: fit needs design (a DataFrame with the factor columns of "
                    "formula) or y (a single factor)."
                )
            y = np.asarray(y)
            if y.ndim != 1 or len(y) != len(X):
                raise ValueError(
                    f"y must have shape (n_obs,) = ({len(X)},), got {y.shape}."
                )
            design = pd.DataFrame({"y": y})
            formula, groups, nested = "y", None, None
            self._predict_from_design = False
        else:
            self._predict_from_design = True
        if not isinstance(design, pd.DataFrame):
            raise TypeError(
                f"design must be a pandas DataFrame, got {type(design).__name__}."
            )
        if len(design) != len(X):
            raise ValueError(
                f"design has {len(design)} rows but X has {len(X)}: they must "
                "describe the same observations, in the same order."
            )
        if formula is None:
            raise ValueError(
                "formula is None: give the fixed effects, e.g. "
                "ClusterLMETest('hit_miss * region', groups='sid', nested='ch')."
            )
        return X, design.reset_index(drop=True), formula, groups, nested, times

    def _grouping(self, design, groups, nested):
        if nested is not None and groups is None:
            raise ValueError(
                "nested is given without groups: channels are nested in subjects, "
                "so give groups (the subject column) too."
            )
        subject = channel = None
        for name in (groups, nested):
            if name is not None and name not in design.columns:
                raise ValueError(
                    f"design has no column {name!r}; its columns are "
                    f"{list(design.columns)}."
                )
            if name is not None and design[name].isna().any():
                raise ValueError(f"design column {name!r} has missing values.")
        if groups is not None:
            subject = pd.factorize(design[groups], sort=True)[0]
        if nested is not None:
            pairs = design[groups].astype(str) + "\x00" + design[nested].astype(str)
            channel = pd.factorize(pairs, sort=True)[0]
        return subject, channel

    def _fit(self, X, y, design):
        tail, tfce_params = self._check_params()
        X, design, formula, groups, nested, times = self._read_input(X, y, design)
        n_obs, n_times = X.shape
        terms = parse_formula(formula)
        for term in terms:
            for name in term:
                if name in (groups, nested):
                    raise ValueError(
                        f"{name!r} is a grouping column and cannot be a fixed effect "
                        "in formula."
                    )
        spec = DesignSpec(terms, design, self.coding)
        X_design = spec.matrix(design)
        n_coefs = X_design.shape[1]
        if n_obs <= n_coefs:
            raise ValueError(
                f"{n_obs} sample(s) for {n_coefs} fixed-effect coefficients: the "
                "model needs more observations than coefficients."
            )
        rank = np.linalg.matrix_rank(X_design)
        if rank < n_coefs:
            raise ValueError(
                f"The fixed-effects design of {formula!r} is rank deficient (rank "
                f"{rank} < {n_coefs} columns): a factor combination has no "
                "observations or two factors are confounded. Simplify formula."
            )
        subject, channel = self._grouping(design, groups, nested)
        struct = NestedStructure(subject, channel, n_obs)
        blocks = Blocks(subject, channel, n_obs)
        names = [term_name(t) for t in terms]
        levels = {}
        for term in terms:
            term_levels = [blocks.level_of(design[f].to_numpy()) for f in term]
            levels[term_name(term)] = min(term_levels, key=LEVELS.index)
        contrasts = [spec.contrast(n) for n in names]
        if self.statistic == "t" and any(len(L) > 1 for L in contrasts):
            raise ValueError(
                "statistic='t' needs one-column terms; a factor with more than two "
                "levels has a multi-column term. Use statistic='F'."
            )

        # observed fit
        fit = fit_reml(
            stack_stats(
                [
                    xy_stats(
                        X_design,
                        X,
                        x_stats(X_design, struct),
                        y_stats(X, struct),
                        struct,
                    )
                ]
            ),
            struct,
        )
        stat_obs = term_statistics(fit, contrasts, self.statistic)[0]
        df = self._degrees_of_freedom(names, levels, spec, struct, n_obs)
        p_unc = self._parametric_p(stat_obs, df, tail)
        self._store_model(fit, spec, struct, n_times)

        # permutations
        groups_of_jobs = plan_null(self.permutation_scheme, names, terms, levels, spec)
        rng = check_random_state(self.random_state)
        exact = self.n_permutations == "all"
        plans = []
        for group in groups_of_jobs:
            plans.append(
                draw_null(group, rng, blocks, design, X, spec, self.n_permutations)
            )
        n_perm = plans[0]["n_perm"]
        if len({plan["n_perm"] for plan in plans}) > 1:
            raise ValueError(
                "n_permutations='all' enumerates a different number of "
                "rearrangements for different terms; use an integer n_permutations."
            )
        if not exact and 1.0 / (n_perm + 1) > self.alpha:
            warnings.warn(
                f"n_permutations={n_perm} cannot reach p <= alpha={self.alpha}: the "
                f"smallest p-value is 1/{n_perm + 1}. Use at least "
                f"{int(np.ceil(1 / self.alpha)) - 1} permutations.",
                UserWarning,
                stacklevel=3,
            )
        null_stat = run_null(
            plans,
            X,
            design,
            spec,
            struct,
            contrasts,
            names,
            fit["gamma"][0],
            statistic=self.statistic,
            batch_size=self.batch_size,
            n_jobs=self.n_jobs,
            checkpoint=self.checkpoint,
            settings=(
                self.formula,
                self.groups,
                self.nested,
                self.coding,
                self.statistic,
                self.permutation_scheme,
            ),
            verbose=self.verbose,
        )

        # clusters
        self._cluster_inference(
            names, stat_obs, null_stat, df, tail, tfce_params, exact, times
        )
        self.terms_ = names
        self.term_levels_ = levels
        self.stat_ = stat_obs
        self.df_ = df
        self.p_uncorrected_ = p_unc
        self.null_stat_ = null_stat
        self.n_permutations_ = n_perm
        self.times_ = times
        self.design_spec_ = spec
        return self

    def _degrees_of_freedom(self, names, levels, spec, struct, n_obs):
        n_coefs = len(spec.column_names)
        df = np.zeros((len(names), 2))
        per_level = {lv: 0 for lv in LEVELS}
        for name in names:
            sl = spec.term_slices[name]
            per_level[levels[name]] += sl.stop - sl.start
        n_chan = struct.n_channels if struct.has_channel else n_obs
        n_subj = struct.n_subjects if struct.has_subject else n_obs
        for i, name in enumerate(names):
            sl = spec.term_slices[name]
            df[i, 0] = sl.stop - sl.start
            if self.df_method == "residual" or not struct.has_subject:
                df[i, 1] = n_obs - n_coefs
            elif levels[name] == "within":
                df[i, 1] = n_obs - n_chan - per_level["within"]
                if not struct.has_channel:
                    df[i, 1] = n_obs - n_subj - per_level["within"]
            elif levels[name] == "channel":
                df[i, 1] = n_chan - n_subj - per_level["channel"]
            else:
                df[i, 1] = n_subj - 1 - per_level["subject"]
        return np.maximum(df, 1)

    def _parametric_p(self, stat, df, tail):
        if self.statistic == "F":
            return sps.f.sf(stat, df[:, :1], df[:, 1:])
        t_dist = sps.t(df[:, 1:])
        if tail == 0:
            return np.minimum(1.0, 2 * t_dist.sf(np.abs(stat)))
        return t_dist.sf(tail * stat)

    def _store_model(self, fit, spec, struct, n_times):
        beta = fit["beta"][0]
        se = np.sqrt(
            fit["sigma2"][0][:, None]
            * np.diagonal(fit["cov_unscaled"][0], axis1=-2, axis2=-1)
        )
        self.coef_ = beta.T
        self.tvalues_ = (beta / se).T
        self.coef_names_ = list(spec.column_names)
        sigma2 = fit["sigma2"][0]
        gamma = fit["gamma"][0]
        self.variance_components_ = pd.DataFrame(
            {
                "subject": gamma[:, 0] * sigma2,
                "channel": gamma[:, 1] * sigma2,
                "residual": sigma2,
            }
        )
        for j, name in enumerate(("subject", "channel")):
            n_zero = int((gamma[:, j] < 1e-8).sum()) if struct.free[j] else 0
            if n_zero:
                logger.info(
                    "Singular fit at %d of %d timepoints: the %s variance is "
                    "estimated at 0 there (REML pools the strata).",
                    n_zero,
                    n_times,
                    name,
                )

    def _cluster_inference(
        self, names, stat_obs, null_stat, df, tail, tfce_params, exact, times
    ):
        n_terms, n_times = stat_obs.shape
        p_corr = np.ones((n_terms, n_times))
        thresholds = np.zeros((n_terms, n_times))
        null_max = np.zeros((n_terms, null_stat.shape[1]))
        rows = []
        for i, name in enumerate(names):
            obs = stat_obs[i]
            null = null_stat[i]
            if self.cluster_stat == "tfce":
                dh = tfce_params["dh"]
                if dh is None:
                    dh = max(np.abs(obs).max(), 1e-12) / 100
                kw = dict(
                    e_power=tfce_params["e_power"],
                    h_power=tfce_params["h_power"],
                    dh=dh,
                )
                obs_tfce = tfce(obs, tail, **kw)
                null_max[i] = np.abs(tfce(null, tail, **kw)).max(axis=1)
                p_corr[i] = permutation_p(obs_tfce, null_max[i], exact)
                for start, stop in find_clusters(p_corr[i] <= self.alpha):
                    seg = obs_tfce[start:stop]
                    rows.append(
                        (
                            name,
                            start,
                            stop,
                            float(seg[np.abs(seg).argmax()]),
                            float(p_corr[i, start:stop].min()),
                        )
                    )
                continue
            thresholds[i] = self._threshold(null, df[i], tail)
            null_max[i] = max_cluster_stats(
                null, thresholds[i], tail, self.cluster_stat, self.min_cluster_size
            )
            clusters = cluster_table(
                obs, thresholds[i], tail, self.cluster_stat, self.min_cluster_size
            )
            for start, stop, value in clusters:
                p = float(permutation_p([value], null_max[i], exact)[0])
                p_corr[i, start:stop] = p
                rows.append((name, start, stop, value, p))
        clusters = pd.DataFrame(
            rows, columns=["term", "start", "stop", "statistic", "p"]
        )
        clusters["significant"] = clusters["p"] <= self.alpha
        if times is not None:
            clusters["tmin"] = times[clusters["start"].to_numpy(int)]
            clusters["tmax"] = times[clusters["stop"].to_numpy(int) - 1]
        self.clusters_ = clusters
        self.p_corrected_ = p_corr
        self.threshold_ = thresholds
        self.null_max_ = null_max
        self.support_ = (p_corr <= self.alpha).any(axis=0)

    def _threshold(self, null, df, tail):
        n_times = null.shape[1]
        if isinstance(self.threshold, Real):
            return np.full(n_times, float(self.threshold))
        if self.threshold == "null-percentile":
            if tail == 0:
                return np.quantile(np.abs(null), 1 - self.cluster_alpha, axis=0)
            return np.quantile(tail * null, 1 - self.cluster_alpha, axis=0)
        if self.statistic == "F":
            value = sps.f.isf(self.cluster_alpha, df[0], df[1])
        else:
            level = self.cluster_alpha / 2 if tail == 0 else self.cluster_alpha
            value = sps.t.isf(level, df[1])
        return np.full(n_times, float(value))

    # -------------------------------------------------------------- results
    def _get_support_mask(self):
        check_is_fitted(self)
        return self.support_

    @available_if(_fitted_with_design)
    def predict(self, design):
        """Fixed-effects fitted time courses for design rows.

        Available when the test was fitted with a ``design``.

        Parameters
        ----------
        design : DataFrame
            Rows with the factor columns of ``formula`` (levels seen in fit).

        Returns
        -------
        y_pred : ndarray, shape (n_rows, n_times)
            ``X_design @ coef_`` at every timepoint.
        """
        check_is_fitted(self)
        if not isinstance(design, pd.DataFrame):
            raise TypeError(
                f"design must be a pandas DataFrame, got {type(design).__name__}."
            )
        return self.design_spec_.matrix(design.reset_index(drop=True)) @ self.coef_

    def to_frame(self, kind="timecourse"):
        """Tidy results.

        Parameters
        ----------
        kind : {'timecourse', 'clusters'}
            ``'timecourse'``: one row per term and timepoint with the statistic,
            uncorrected and corrected p, the threshold and the cluster id;
            ``'clusters'``: the cluster table.

        Returns
        -------
        frame : DataFrame
            The results.
        """
        check_is_fitted(self)
        check_option("kind", kind, ("timecourse", "clusters"))
        if kind == "clusters":
            return self.clusters_.copy()
        n_times = self.stat_.shape[1]
        frames = []
        for i, name in enumerate(self.terms_):
            cluster_id = np.full(n_times, -1)
            sub = self.clusters_[self.clusters_["term"] == name]
            for k, (start, stop) in enumerate(zip(sub["start"], sub["stop"])):
                cluster_id[start:stop] = k
            frame = pd.DataFrame(
                {
                    "term": name,
                    "time_index": np.arange(n_times),
                    self.statistic: self.stat_[i],
                    "df_num": self.df_[i, 0],
                    "df_den": self.df_[i, 1],
                    "p_uncorrected": self.p_uncorrected_[i],
                    "p_corrected": self.p_corrected_[i],
                    "threshold": self.threshold_[i],
                    "cluster": cluster_id,
                }
            )
            if self.times_ is not None:
                frame.insert(2, "time", self.times_)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    @property
    def results_(self):
        """Tidy per-term, per-timepoint results (``to_frame()``)."""
        return self.to_frame()

    def plot(self, axes=None, show=False):
        """Plot the statistic of every term with significant clusters shaded.

        Parameters
        ----------
        axes : array of Axes | None
            One axis per term; None makes a new figure.
        show : bool
            Call ``plt.show()``.

        Returns
        -------
        fig : matplotlib.figure.Figure
            The figure.
        """
        import matplotlib.pyplot as plt

        check_is_fitted(self)
        n_terms = len(self.terms_)
        if axes is None:
            fig, axes = plt.subplots(
                n_terms, 1, sharex=True, figsize=(7, 1.8 + 1.6 * n_terms), squeeze=False
            )
            axes = axes[:, 0]
        else:
            axes = np.atleast_1d(axes)
            if len(axes) != n_terms:
                raise ValueError(f"axes must have {n_terms} axes, got {len(axes)}.")
            fig = axes[0].figure
        x = self.times_ if self.times_ is not None else np.arange(self.stat_.shape[1])
        half = (x[1] - x[0]) / 2 if len(x) > 1 else 0.5
        for i, (ax, name) in enumerate(zip(axes, self.terms_)):
            ax.plot(x, self.stat_[i], color="k", lw=1.2)
            if self.cluster_stat != "tfce":
                ax.plot(x, self.threshold_[i], color="0.5", ls="--", lw=0.8)
            sub = self.clusters_[self.clusters_["term"] == name]
            for _, row in sub.iterrows():
                lo = x[int(row["start"])] - half
                hi = x[int(row["stop"]) - 1] + half
                color = "tab:red" if row["significant"] else "0.85"
                ax.axvspan(lo, hi, color=color, alpha=0.3, lw=0)
                if row["significant"]:
                    ax.text(
                        lo,
                        ax.get_ylim()[1] * 0.9,
                        f"p={row['p']:.3g}",
                        fontsize=8,
                        color="tab:red",
                    )
            ax.set_ylabel(f"{self.statistic}: {name}")
        axes[-1].set_xlabel("time (s)" if self.times_ is not None else "timepoint")
        fig.tight_layout()
        if show:
            plt.show()
        return fig
