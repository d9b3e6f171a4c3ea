"""ClusterLMETest: a mixed model at every feature with cluster permutation tests.

``fit`` reads the input (``_input``), fits the observed data (``_reml``,
``_engine``), computes degrees of freedom and p-values (``_df``), the
permutation null (``_null``) and the clusters (``_inference``); ``plot`` lives
in ``_plot``.
"""

import warnings
from numbers import Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ..utils import (
    check_option,
    check_random_state,
    check_type,
    fill_doc,
    logger,
    use_log_level,
)
from ._design import DesignSpec, parse_formula, term_name
from ._df import (
    DF_METHODS,
    kenward_roger,
    parametric_p,
    satterthwaite_df,
    stated_df,
)
from ._engine import term_statistics
from ._inference import cluster_frame, cluster_inference, feature_adjacency
from ._input import (
    check_factor_columns,
    grouping,
    read_design,
    read_features,
)
from ._null import draw_null, plan_null, run_null
from ._permutation import LEVELS, Blocks
from ._plot import plot_test
from ._reml import NestedStructure, fit_reml, stack_stats, x_stats, xy_stats, y_stats
from ._slopes import SlopeModel, fit_batch, satterthwaite_slopes

_SCHEMES = ("auto", "labels", "freedman-lane")


def _fitted_with_design(estimator):
    return getattr(estimator, "design_spec_", None) is not None and getattr(
        estimator, "_predict_from_design", False
    )


@fill_doc
class ClusterLMETest(SelectorMixin, BaseEstimator):
    """Linear mixed model at every timepoint with a cluster permutation test.

    At each timepoint the model ``y ~ formula + (1 | groups) + (1 | groups:nested)``
    (a random intercept per subject and per channel nested in subject; with
    ``random_slopes='f'``, ``(1 + f | groups)``: a random slope of ``f`` per
    subject, correlated with its intercept) is fitted by REML with an exact
    engine batched across timepoints and permutations.
    Every term gets a Wald F (or, for one-column terms, a t) time course, with
    Satterthwaite denominator degrees of freedom as lmerTest. ``X`` may have
    extra axes before time (channels x time, frequencies x time, or an
    :class:`mne.Epochs` / :class:`mne.time_frequency.EpochsTFR`): the model is
    fitted at every feature and clusters form over a channel adjacency and the
    time (and frequency) lattice, as in MNE's spatio-temporal cluster tests.
    Family-wise error across features is controlled by a cluster-based
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
    timepoints (flattened channels x ... x time for inputs with extra axes),
    and ``transform`` keeps those inside significant clusters; it accepts
    whatever ``fit`` accepts (arrays, Epochs, EpochsTFR).

    Parameters
    ----------
    formula : str | None
        Fixed effects, e.g. ``'hit_miss * region'`` (a left side ``data ~`` is
        allowed and ignored). Columns of float dtype are covariates, others are
        factors (a float column with two distinct values, such as 0/1 doubles
        from MATLAB, gets a warning: convert it with ``.astype(int)`` if it is
        a factor). None is only allowed when ``fit`` gets ``y`` instead of a
        design (see Notes).
    groups : str | None
        Design column of the subjects (random intercept); None fits no random
        effects (ordinary least squares, rows exchangeable).
    nested : str | None
        Design column of the channels nested in subjects (a second random
        intercept). Channel labels are read within subject (like ``sid:ch``), so
        the same label in two subjects means two channels. Needs ``groups``.
    random_slopes : str | list of str | None
        Two-level factors of ``formula`` (main effects varying within subjects)
        that get a random slope per subject, correlated with the subject's
        intercept: ``random_slopes='hit_miss'`` fits lme4's
        ``(1 + hit_miss | groups) + (1 | groups:nested)`` (exact REML, equal to
        lme4 / lmerTest to 1e-4 in tests). Needs ``groups`` and
        ``df_method='satterthwaite'`` or ``'residual'`` and
        ``permutation_scheme='auto'`` or ``'labels'``. Terms containing a
        slope factor are permuted by exchanging its two levels in all rows of
        random subjects (a sign flip of the subjects' effects: exact when,
        under the null, each subject's slope is symmetric about 0 given its
        intercept, e.g. jointly normal and uncorrelated with it); other terms
        are relabelled as with ``'labels'``. None (default) fits random
        intercepts only.
    coding : {'sum', 'treatment'}
        Contrast coding of factors. ``'sum'`` (default) makes main effects main
        effects in the presence of interactions; ``'treatment'`` (reference =
        first sorted level) reproduces the coefficient F tests of a statsmodels
        ``mixedlm(...).f_test`` on unit contrasts.
    df_method : {'satterthwaite', 'between-within', 'residual'}
        Denominator degrees of freedom of the F tests (they set the uncorrected
        p-values and the parametric cluster threshold). ``'satterthwaite'``
        (default): per term and feature, as lmerTest's
        ``anova(type = 3, ddf = "Satterthwaite")`` (equal to it to 1e-4 in
        tests). ``'kenward-roger'``: as pbkrtest / lmerTest's
        ``ddf = "Kenward-Roger"`` (equal to 1e-3 in tests); the uncorrected
        p-values then use the Kenward-Roger F (``stat_kenward_roger_``) while
        clusters form on ``stat_`` (dense algebra per feature: slower for
        many observations). ``'between-within'`` (as nlme): terms varying within
        channels get ``n_obs - n_channels - p_within``, channel-level terms
        ``n_channels - n_subjects - p_channel``, subject-level terms
        ``n_subjects - 1 - p_subject``;
        ``'residual'`` uses ``n_obs - p`` for every term, as statsmodels'
        ``f_test``.
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
        a single joint relabelling (valid under the global null; one fit per
        permutation).
        ``'freedman-lane'``: Freedman-Lane for every term that varies within
        channels, relabelling for the others.
    threshold : float | 'null-percentile' | None
        Cluster-forming threshold on the statistic. None: the parametric
        quantile at ``cluster_alpha`` (F, or t with the tail). A number is used
        as is (on ``|t|`` for two-tailed t). ``'null-percentile'``: the
        per-feature ``1 - cluster_alpha`` quantile of the null statistic.
        Ignored for ``cluster_stat='tfce'``.
    cluster_alpha : float
        Level of the cluster-forming threshold.
    tail : {1, -1, 0} | None
        1: large values; -1: small; 0: both (t only). None: 1 for F, 0 for t.
    cluster_stat : {'mass', 'size', 'tfce'}
        Cluster statistic: sum of the statistic, number of timepoints, or
        threshold-free cluster enhancement (feature-wise corrected p-values;
        extents are connected components of the adjacency for inputs with
        extra axes, as MNE's TFCE).
    min_cluster_size : int
        Clusters with fewer features than this are ignored in the observed and
        the null data (2 drops single timepoints).
    tfce_params : dict | None
        ``{'e_power': 0.5, 'h_power': 2.0, 'dh': None}``; ``dh=None`` uses 1/100
        of the largest observed ``|statistic|``.
    alpha : float
        Significance level of the corrected p-values (clusters with
        ``p <= alpha`` are selected by ``transform``).
    times : array-like, shape (n_times,) | None
        Times in seconds of the last axis of ``X`` (default: ``X.times`` of an
        MNE input, else timepoint indices). Used in ``to_frame``, ``clusters_``
        and ``plot``.
    adjacency : scipy.sparse matrix | array | None
        Neighbourhood of the features for inputs with extra axes. A square
        matrix over the first feature axis (channels), e.g. from
        :func:`mne.channels.find_ch_adjacency`, combined with the time (and
        frequency) lattice; or a matrix over all flattened features. None: the
        channel adjacency of an MNE input with several channels
        (``find_ch_adjacency(info, None)``), a regular lattice otherwise.
        Ignored for a single time course.
    checkpoint : path-like | None
        File (``.npz``) where finished permutations are saved; a run with
        the same data, design and parameters resumes from it (with any
        ``batch_size`` or ``n_jobs``).
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
    stat_ : ndarray, shape (n_terms,) + feature_shape
        Observed F (or t) per term; ``feature_shape`` is ``(n_times,)``, or
        e.g. ``(n_channels, n_times)`` for inputs with extra axes.
    stat_kenward_roger_ : ndarray, shape (n_terms,) + feature_shape | None
        With ``df_method='kenward-roger'``: the Wald F (or t) with the
        Kenward-Roger adjusted covariance, from which ``p_uncorrected_`` is
        computed (the clusters use ``stat_``).
    df_num_ : ndarray, shape (n_terms,)
        Numerator degrees of freedom per term.
    df_den_ : ndarray, shape (n_terms,) + feature_shape
        Denominator degrees of freedom per term and feature.
    p_uncorrected_ : ndarray, shape (n_terms,) + feature_shape
        Parametric p-values per feature.
    p_corrected_ : ndarray, shape (n_terms,) + feature_shape
        Cluster-corrected p-values (the p of the cluster a feature belongs
        to, 1 outside clusters; feature-wise FWER p for TFCE).
    threshold_ : ndarray, shape (n_terms,) + feature_shape
        Cluster-forming threshold used per term.
    clusters_ : DataFrame
        One row per observed cluster: term, start, stop (time indices, stop
        exclusive), statistic, p, significant; ``tmin``/``tmax`` (s) when
        times are known; for inputs with extra axes also ``size`` (number of
        features), ``channels`` (names) and ``fmin``/``fmax`` (Hz) where known.
    cluster_masks_ : list of ndarray of bool, shape feature_shape
        The features of each row of ``clusters_``.
    null_max_ : ndarray, shape (n_terms, n_permutations)
        Null distribution of the maximal cluster statistic (or TFCE) per term.
    null_stat_ : ndarray, shape (n_terms, n_permutations) + feature_shape
        Null statistics (for custom thresholds or diagnostics).
    coef_ : ndarray, shape (n_coefs, n_features)
        Fixed-effect estimates; ``coef_names_`` names the rows.
    coef_names_ : list of str
        Column names of the fixed-effects design.
    tvalues_ : ndarray, shape (n_coefs, n_features)
        Wald t of each coefficient.
    variance_components_ : DataFrame
        Per feature, the REML variances ``subject``, ``channel`` and
        ``residual``; with ``random_slopes``, also ``subject:<column>`` (the
        slope variance of each slope column of the design) and
        ``cov(subject, <column>)`` (its covariance with the intercept).
    support_ : ndarray of bool, shape (n_features,)
        Features (flattened) inside a significant cluster of any term.
    n_permutations_ : int
        Number of permutations used (enumerated count for ``'all'``).
    times_ : ndarray, shape (n_times,) | None
        Times in seconds (from ``times`` or the MNE input).
    ch_names_ : list of str | None
        Channel names of the first feature axis (MNE input with channels).
    freqs_ : ndarray | None
        Frequencies of an EpochsTFR input.
    feature_shape_ : tuple of int
        Shape of one observation (last axis: time).
    n_features_in_ : int
        Number of features (timepoints, or channels x times).

    See Also
    --------
    mne.stats.permutation_cluster_1samp_test : Sign-flip cluster test without
        random effects.
    mne.stats.spatio_temporal_cluster_1samp_test : The same over channels x
        time.

    Notes
    -----
    ``fit(X, y)`` without a design treats ``y`` as the only factor (a float
    ``y`` as a covariate) with no grouping: a one-way ANOVA (or regression)
    F at every timepoint with rows exchangeable. Rows with NaN in ``X`` are
    refused rather than dropped; drop them from ``X`` and ``design`` together
    (unbalanced designs are fitted exactly). With ``n_permutations`` random
    relabellings the smallest p-value is ``1 / (n_permutations + 1)``. A random
    relabelling that would leave a cell of the design empty (rank deficient) is
    drawn again. Satterthwaite degrees of freedom hold a variance estimated at
    0 fixed, as lmerTest; a feature without residual variance (a flat
    channel) gets NaN df and p-values.

    Random effects are given by ``groups``, ``nested`` and ``random_slopes``,
    not in ``formula`` (a ``(... | ...)`` term is an error). If a
    within-subject effect varies across subjects, the channels of a subject
    share its slope: the intercept-only model and within-channel swaps then
    treat channels as independent replicates of the effect and are
    anti-conservative. Give the factor in ``random_slopes`` (or test it on
    subject averages, one row per subject and condition, ``groups`` only).

    References
    ----------
    Maris E, Oostenveld R (2007). Nonparametric statistical testing of EEG- and
    MEG-data. J Neurosci Methods 164:177-190.

    Winkler AM et al. (2014). Permutation inference for the general linear
    model. NeuroImage 92:381-397.

    Kuznetsova A, Brockhoff PB, Christensen RHB (2017). lmerTest package:
    tests in linear mixed effects models. J Stat Softw 82(13):1-26.

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
        random_slopes=None,
        coding="sum",
        df_method="satterthwaite",
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
        times=None,
        adjacency=None,
        checkpoint=None,
        batch_size=50,
        n_jobs=None,
        random_state=None,
        verbose=None,
    ):
        self.formula = formula
        self.groups = groups
        self.nested = nested
        self.random_slopes = random_slopes
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
        self.times = times
        self.adjacency = adjacency
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
        """Fit the model at every feature and run the permutation test.

        Parameters
        ----------
        X : array, shape (n_obs, n_times) or (n_obs, ..., n_times) | Epochs | EpochsTFR
            One time series (or channels x time, frequencies x time, ...) per
            observation (row). An :class:`mne.Epochs` with one channel is a
            time course, with several channels a channels x time test; an
            :class:`mne.time_frequency.EpochsTFR` (power) is channels x
            frequencies x time. The ``metadata`` of an MNE input is the
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

    def _fit(self, X, y, design):
        tail, tfce_params = self._check_params()
        data, metadata = read_features(self, X, reset=True)
        design, formula, groups, nested, self._predict_from_design = read_design(
            data.X, y, design, metadata, self.formula, self.groups, self.nested
        )
        model = self._model(design, formula, groups, nested, len(data.X))
        adjacency = feature_adjacency(self.adjacency, data)

        # observed fit, statistics, degrees of freedom, parametric p-values
        if model["slopes"] is not None:
            fit, stats = fit_batch([model["X"]], [data.X], model["slopes"])
        else:
            fit, stats = self._fit_intercepts(model, data.X)
        stat_obs = term_statistics(fit, model["contrasts"], self.statistic)[0]
        df, stat_p = self._degrees_of_freedom(model, stats, fit, data.X, stat_obs)
        p_unc = parametric_p(stat_p, df, self.statistic, tail)
        self._store_model(fit, model)

        # permutation null
        null_stat, n_perm, exact = self._permutation_null(data.X, design, model, fit)

        # clusters
        params = dict(
            threshold=self.threshold,
            cluster_alpha=self.cluster_alpha,
            statistic=self.statistic,
            cluster_stat=self.cluster_stat,
            min_cluster_size=self.min_cluster_size,
            tfce_params=tfce_params,
            alpha=self.alpha,
        )
        result = cluster_inference(
            model["names"], stat_obs, null_stat, df, tail, params, exact, adjacency
        )
        self.clusters_, self.cluster_masks_ = cluster_frame(
            result["clusters"], data, self.alpha
        )

        shape = (len(model["names"]),) + data.feature_shape
        self.terms_ = model["names"]
        self.term_levels_ = model["levels"]
        self.stat_ = stat_obs.reshape(shape)
        self.df_num_ = df[:, 0, 0].copy()
        self.df_den_ = df[..., 1].reshape(shape)
        self.p_uncorrected_ = p_unc.reshape(shape)
        self.stat_kenward_roger_ = (
            stat_p.reshape(shape) if self.df_method == "kenward-roger" else None
        )
        self.p_corrected_ = result["p_corrected"].reshape(shape)
        self.threshold_ = result["threshold"].reshape(shape)
        self.null_max_ = result["null_max"]
        self.null_stat_ = null_stat.reshape(
            (len(model["names"]), n_perm) + data.feature_shape
        )
        self.support_ = (result["p_corrected"] <= self.alpha).any(axis=0)
        self.n_permutations_ = n_perm
        self.times_ = data.times
        self.ch_names_ = data.ch_names
        self.freqs_ = data.freqs
        self.feature_shape_ = data.feature_shape
        self.design_spec_ = model["spec"]
        return self

    def _fit_intercepts(self, model, Y):
        """REML fit of the nested random-intercept model and its statistics."""
        struct = model["struct"]
        X = model["X"]
        stats = stack_stats(
            [xy_stats(X, Y, x_stats(X, struct), y_stats(Y, struct), struct)]
        )
        return fit_reml(stats, struct), stats

    def _check_params(self):
        check_option("coding", self.coding, ("sum", "treatment"))
        check_option("df_method", self.df_method, DF_METHODS)
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

    def _model(self, design, formula, groups, nested, n_obs):
        """Fixed-effects coding, grouping, term levels and contrasts."""
        terms = parse_formula(formula)
        check_factor_columns(design, terms, groups, nested)
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
        subject, channel = grouping(design, groups, nested)
        struct = NestedStructure(subject, channel, n_obs)
        blocks = Blocks(subject, channel, n_obs)
        names = [term_name(t) for t in terms]
        levels = {}
        for term in terms:
            term_levels = [blocks.level_of(design[f].to_numpy()) for f in term]
            levels[term_name(term)] = min(term_levels, key=LEVELS.index)
        slopes = self._slope_model(design, terms, spec, struct, levels, groups)
        contrasts = [spec.contrast(n) for n in names]
        if self.statistic == "t" and any(len(L) > 1 for L in contrasts):
            raise ValueError(
                "statistic='t' needs one-column terms; a factor with more than two "
                "levels has a multi-column term. Use statistic='F'."
            )
        return dict(
            terms=terms,
            spec=spec,
            X=X_design,
            struct=struct,
            blocks=blocks,
            names=names,
            levels=levels,
            contrasts=contrasts,
            slopes=slopes,
        )

    def _slope_model(self, design, terms, spec, struct, levels, groups):
        """Check ``random_slopes`` and return its SlopeModel (None if unset)."""
        slopes = self.random_slopes
        if slopes is None:
            return None
        if isinstance(slopes, str):
            slopes = [slopes]
        if not isinstance(slopes, (list, tuple)) or not all(
            isinstance(f, str) for f in slopes
        ):
            raise TypeError(
                "random_slopes must be a factor name or a list of factor names, "
                f"got {self.random_slopes!r}."
            )
        if groups is None:
            raise ValueError(
                "random_slopes needs groups= (the subjects whose slopes vary)."
            )
        names = [term_name(t) for t in terms]
        for f in slopes:
            if f not in names:
                raise ValueError(
                    f"random_slopes names {f!r}, which is not a main effect of "
                    f"formula {self.formula!r}; its terms are {names}."
                )
            lv = spec.levels[f]
            if lv is None or len(lv) != 2:
                raise ValueError(
                    f"random_slopes supports two-level factors; {f!r} is "
                    + ("a covariate." if lv is None else f"a factor with levels {lv}.")
                    + " Average the rows of each subject x condition cell instead "
                    "(groups only), or fit it with lme4."
                )
            if levels[f] == "subject":
                raise ValueError(
                    f"random_slopes factor {f!r} is constant within subjects: a "
                    "per-subject slope is not identifiable. Remove it."
                )
        if self.df_method not in ("satterthwaite", "residual"):
            raise ValueError(
                f"df_method={self.df_method!r} is not available with "
                "random_slopes; use 'satterthwaite' or 'residual'."
            )
        if self.n_permutations == "all":
            raise ValueError(
                "n_permutations='all' is not available with random_slopes; use an "
                "integer n_permutations."
            )
        if self.permutation_scheme == "freedman-lane":
            raise ValueError(
                "permutation_scheme='freedman-lane' is not available with "
                "random_slopes (residual swaps break the slopes); use 'auto'."
            )
        columns = [
            i
            for f in slopes
            for i in range(spec.term_slices[f].start, spec.term_slices[f].stop)
        ]
        return SlopeModel(struct, columns)

    def _degrees_of_freedom(self, model, stats, fit, Y, stat_obs):
        """Df (n_terms, n_features, 2) and the statistic their p-values use."""
        names, spec, struct = model["names"], model["spec"], model["struct"]
        n_features = fit["sigma2"].shape[1]
        df = np.zeros((len(names), n_features, 2))
        df[..., 0] = [[len(c)] for c in model["contrasts"]]
        tests = [spec.test_contrast(n) for n in names]
        if model["slopes"] is not None and self.df_method == "satterthwaite":
            flat = {k: v[0] for k, v in fit.items()}
            df[..., 1] = satterthwaite_slopes(stats, flat, model["slopes"].ss, tests)
        elif self.df_method == "satterthwaite":
            df[..., 1] = satterthwaite_df(stats, fit, struct, tests)[:, 0]
        elif self.df_method == "kenward-roger":
            f_kr, df[..., 1] = kenward_roger(model["X"], Y, struct, fit, tests)
            if self.statistic == "t":
                return df, np.sign(stat_obs) * np.sqrt(f_kr)
            return df, f_kr
        else:
            df[..., 1] = stated_df(
                self.df_method, names, model["levels"], spec, struct, struct.n_obs
            )[:, None]
        return df, stat_obs

    def _permutation_null(self, X, design, model, fit):
        plans = plan_null(
            self.permutation_scheme,
            model["names"],
            model["terms"],
            model["levels"],
            model["spec"],
        )
        slopes = model["slopes"]
        if slopes is not None:
            # terms with a slope factor: exchange its levels in whole subjects
            slope_factors = set(np.atleast_1d(self.random_slopes))
            plans = []
            for i, term in enumerate(model["terms"]):
                swapped = [f for f in term if f in slope_factors]
                kind = "swap" if swapped else "labels"
                factors = swapped if swapped else list(term)
                plans.append({"terms": [i], "kind": kind, "factors": factors})
        rng = check_random_state(self.random_state)
        exact = self.n_permutations == "all"
        plans = [
            draw_null(
                group,
                rng,
                model["blocks"],
                design,
                X,
                model["spec"],
                self.n_permutations,
            )
            for group in plans
        ]
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
                stacklevel=4,
            )
        null_stat = run_null(
            plans,
            X,
            design,
            model["spec"],
            model["struct"] if slopes is None else slopes,
            model["contrasts"],
            model["names"],
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
            )
            + (() if slopes is None else (tuple(np.atleast_1d(self.random_slopes)),)),
            verbose=self.verbose,
        )
        return null_stat, n_perm, exact

    def _store_model(self, fit, model):
        struct = model["struct"]
        if model["slopes"] is not None:
            return self._store_slope_model(fit, model)
        beta = fit["beta"][0]
        se = np.sqrt(
            fit["sigma2"][0][:, None]
            * np.diagonal(fit["cov_unscaled"][0], axis1=-2, axis2=-1)
        )
        self.coef_ = beta.T
        self.tvalues_ = (beta / se).T
        self.coef_names_ = list(model["spec"].column_names)
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
                    "Singular fit at %d of %d features: the %s variance is "
                    "estimated at 0 there (REML pools the strata).",
                    n_zero,
                    len(gamma),
                    name,
                )

    def _store_slope_model(self, fit, model):
        beta = fit["beta"][0]
        sigma2 = fit["sigma2"][0]
        se = np.sqrt(
            sigma2[:, None] * np.diagonal(fit["cov_unscaled"][0], axis1=-2, axis2=-1)
        )
        self.coef_ = beta.T
        self.tvalues_ = (beta / se).T
        names = list(model["spec"].column_names)
        self.coef_names_ = names
        cov = fit["cov_subject"][0]
        components = {
            "subject": cov[:, 0, 0],
            "channel": fit["var_channel"][0],
            "residual": sigma2,
        }
        for j, col in enumerate(model["slopes"].columns, start=1):
            components[f"subject:{names[col]}"] = cov[:, j, j]
            components[f"cov(subject, {names[col]})"] = cov[:, 0, j]
        self.variance_components_ = pd.DataFrame(components)

    # -------------------------------------------------------------- results
    def _get_support_mask(self):
        check_is_fitted(self)
        return self.support_

    def transform(self, X):
        """Keep the features inside significant clusters.

        Parameters
        ----------
        X : array | Epochs | EpochsTFR
            Data like those given to ``fit``.

        Returns
        -------
        X_selected : ndarray, shape (n_obs, n_selected)
            The selected (flattened) features.
        """
        check_is_fitted(self)
        data, _ = read_features(self, X, reset=False)
        if data.feature_shape != self.feature_shape_:
            raise ValueError(
                f"X has feature shape {data.feature_shape}, but ClusterLMETest "
                f"was fitted on {self.feature_shape_}."
            )
        return super().transform(data.X)

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
        y_pred : ndarray, shape (n_rows, n_features)
            ``X_design @ coef_`` at every feature (flattened).
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
            ``'timecourse'``: one row per term and feature with the statistic,
            numerator and denominator df, uncorrected and corrected p, the
            threshold and the cluster id (plus ``time`` in seconds, and
            ``channel`` / ``freq`` for inputs with those axes);
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
        shape = self.feature_shape_
        n_features = int(np.prod(shape))
        coords = np.unravel_index(np.arange(n_features), shape)
        frames = []
        for i, name in enumerate(self.terms_):
            cluster_id = np.full(n_features, -1)
            for k in np.flatnonzero(self.clusters_["term"].to_numpy() == name):
                cluster_id[self.cluster_masks_[k].ravel()] = k
            columns = {"term": name, "time_index": coords[-1]}
            if self.times_ is not None:
                columns["time"] = self.times_[coords[-1]]
            if len(shape) > 1:
                if self.ch_names_ is not None:
                    columns["channel"] = np.asarray(self.ch_names_)[coords[0]]
                else:
                    columns["feature_index"] = np.arange(n_features)
                if self.freqs_ is not None:
                    columns["freq"] = self.freqs_[coords[-2]]
            columns.update(
                {
                    self.statistic: self.stat_[i].ravel(),
                    "df_num": self.df_num_[i],
                    "df_den": self.df_den_[i].ravel(),
                    "p_uncorrected": self.p_uncorrected_[i].ravel(),
                    "p_corrected": self.p_corrected_[i].ravel(),
                    "threshold": self.threshold_[i].ravel(),
                    "cluster": cluster_id,
                }
            )
            frames.append(pd.DataFrame(columns))
        return pd.concat(frames, ignore_index=True)

    @property
    def results_(self):
        """Tidy per-term, per-feature results (``to_frame()``)."""
        return self.to_frame()

    def plot(self, axes=None, show=False):
        """Plot the statistic of every term with significant clusters marked.

        A time course per term with clusters shaded (x axis in seconds when
        times are known); for inputs with extra axes an image per term
        (channels or frequencies x time) with significant clusters outlined.

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
        check_is_fitted(self)
        return plot_test(self, axes=axes, show=show)
