"""IFEPanelRegressor: multichannel panel regression with interactive fixed effects."""

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils import TransformerTags
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils import check_option, check_type, fill_doc, logger, use_log_level
from ._between import (
    _between_fit,
    _identified_subject_columns,
)
from ._channel import _ChannelMixin
from ._em import _EMMixin
from ._ife import (
    _centered,
    _eigh_desc,
    _impute_gaussian,
    _resid_gram_raw,
    _sum_cells,
    _within_fit,
)
from ._inference import _between_se, _within_se
from ._rank import CRITERIA, _criteria_table, _cv_rank_errors, _max_rank, _select
from ._streaming import _StreamingMixin

_ALL_CRITERIA = ("consensus",) + CRITERIA + ("cv",)


def _reject_mne(y):
    """Point MNE objects passed as ``y`` to :func:`panel_from_mne`."""
    first = y[0] if isinstance(y, (list, tuple)) and len(y) else y
    if type(first).__module__.startswith("mne."):
        raise TypeError(
            f"y is an MNE {type(first).__name__}; convert recordings with "
            "panel = sk_eeg.panel.panel_from_mne(recordings, subjects) and fit "
            "with fit(panel.X, panel.y, groups=panel.groups)."
        )


@fill_doc
class IFEPanelRegressor(
    _StreamingMixin, _EMMixin, _ChannelMixin, RegressorMixin, BaseEstimator
):
    r"""Panel regression of multichannel signals with interactive fixed effects.

    For subject ``g`` and time ``t`` the ``p`` channels follow

    .. math:: y_t = \mu_g + C x_t + \Lambda_g f_t + \varepsilon_t

    with per-subject intercepts :math:`\mu_g` and loadings :math:`\Lambda_g`
    (``p x r_g``), latent factors :math:`f_t` and per-channel covariate
    effects :math:`C` pooled over subjects. Covariates that vary within
    subjects (time of day, spectral state) are estimated by pooled
    within-subject least squares; covariates that are constant within every
    subject (sex, age, task) are collinear with :math:`\mu_g` and are
    estimated across subjects, by regressing the intercepts on them
    (:math:`\mu_g = \mu_0 + C_a a_g + u_g`). The latent factors are
    normalised to be orthogonal to the covariates within each subject
    (:math:`F_g' X_g = 0`): with free factors and covariates shared by all
    channels, this is what identifies :math:`C`. The least-squares solution
    is then closed form, and is computed from ``p x p`` Gram matrices
    accumulated in streaming passes (never an SVD of the ``p x T`` residual):
    :math:`\Lambda_g` holds the leading eigenvectors of subject ``g``'s
    residual Gram matrix.

    Missing responses (NaN in ``y``) are filled by EM with the current
    low-rank fit (as in Gobillon & Magnac 2016 and ``fect``); missing
    time-varying covariates are replaced by their posterior expectation under
    ``x_t ~ N(m, S)`` and ``y_t | x_t ~ N(mu_g + C x_t, Psi_g)`` (``Psi_g``
    the subject's residual covariance) with the posterior covariance added to
    the normal equations; missing subject-level covariates get the same
    treatment at the subject level, given the subject's intercept. With
    ``robust='t'``, the residual ``y_t - mu_g - C x_t`` (factors included)
    follows a multivariate Student-t, fitted by iteratively reweighted least
    squares (one weight per time point, so the Gram form is kept).

    Parameters
    ----------
    n_factors : int | 'auto'
        Number of latent factors per subject; ``'auto'`` chooses it for each
        subject with ``factor_criterion`` among ``0..max_factors``.
    factor_criterion : str
        ``'consensus'`` (default: the edge choice when the residual beyond
        it looks white and it exceeds the ED and GR choices by at most two,
        else the median of the ED, edge and GR choices),
        ``'gr'`` (Ahn-Horenstein growth ratio), ``'er'`` (eigenvalue ratio),
        ``'ed'`` (Onatski edge distribution), ``'edge'`` (whitened
        eigenvalues above the edge of white noise of the data's size, a
        sequential 2.5% test calibrated by a seeded simulation),
        ``'white'`` (fewest factors leaving a residual that spreads like
        white noise), Bai-Ng ``'ic1'``, ``'ic2'``,
        ``'ic3'``, ``'pc1'``, ``'pc2'``, ``'pc3'``, or ``'cv'``
        (leave-one-channel-out prediction error on ``n_folds`` contiguous time
        blocks). All criteria are computed and stored in ``rank_criteria_``
        and ``rank_selection_`` whatever the choice. With small ``p`` and
        noise correlated across channels (volume conduction) the Bai-Ng
        criteria run to ``max_factors``; ED/GR and the consensus do not. With
        few channels (fixed ``p``), factors explaining a few percent of each
        channel are missed by the Bai-Ng and GR/ER criteria, whose penalties
        need many channels; ED and the edge rule find them.
    max_factors : int
        Largest rank considered (capped at ``min(p, T_g) - 2``).
    n_folds : int
        Time blocks per subject for ``factor_criterion='cv'``.
    robust : None | 't'
        ``'t'`` fits multivariate Student-t errors by IRLS.
    t_dof : float
        Degrees of freedom of the Student-t errors.
    max_iter : int
        Maximum EM / IRLS iterations (only used with missing values or
        ``robust='t'``; otherwise the fit is one pass).
    tol : float
        Relative change of the coefficients and imputed values that stops the
        iterations.
    chunk_size : int
        Samples read at a time when accumulating Gram matrices (bounds the
        memory used on memory-mapped data).
    %(random_state)s
        The estimator is deterministic; the argument is kept for pipelines.
    %(verbose)s

    Attributes
    ----------
    coef_ : array, shape (n_channels, n_features)
        Covariate effects per channel (time-varying columns from pooled
        within-subject least squares, subject-level columns from the
        between-subject regression; 0 when not identified).
    intercept_ : array, shape (n_channels,)
        Population intercept (used for subjects not seen in ``fit``).
    groups_ : array, shape (n_groups,)
        Subject labels (a single ``0`` when ``groups=None``).
    group_intercepts_ : array, shape (n_groups, n_channels)
        Per-subject intercepts :math:`\mu_g`.
    group_means_ : array, shape (n_groups, n_channels)
        Per-subject training means of ``y`` (the baseline of the held-out
        scores).
    loadings_ : list of array, shape (n_channels, n_factors_[g])
        Orthonormal loadings per subject.
    n_factors_ : array of int, shape (n_groups,)
        Rank per subject.
    eigenvalues_ : array, shape (n_groups, n_channels)
        Eigenvalues of each subject's residual Gram matrix divided by its
        number of samples (the scree).
    rank_criteria_ : dict
        Subject label -> DataFrame of every criterion over ranks
        ``0..kmax`` (rows).
    rank_selection_ : DataFrame
        Rank chosen by every criterion (columns) for every subject (rows).
    subject_level_ : array of bool, shape (n_features,)
        Columns constant within every subject.
    noise_variance_ : array, shape (n_groups, n_channels)
        Idiosyncratic variance per subject and channel.
    channel_coef_ : array, shape (n_regressors,)
        Coefficients of the channel-varying regressors (``channel_X`` in
        :meth:`fit`; empty without). For their standard errors use
        :func:`sk_eeg.panel.fit_bai_ife`.
    coef_se_ : array, shape (n_channels, n_features)
        Standard errors of ``coef_`` (NaN where not identified). Time-varying
        columns: ``psi_c (sum_g X_g' M_1 X_g)^-1``, with ``psi_c`` the
        idiosyncratic variance of channel ``c`` pooled over subjects
        (degrees of freedom of intercepts, covariates and factors removed);
        given the factors, which the normalisation makes orthogonal to the
        covariates. They assume errors uncorrelated over time: with serially
        correlated noise (e.g. overlapping windows) they are too small.
        Subject-level columns: ordinary least squares of the between-subject
        regression. See :meth:`conf_int`.
    coef_dof_ : array, shape (n_features,)
        Degrees of freedom of each column's interval (``inf``: normal).
    weights_ : array, shape (n_samples,) | None
        Student-t weights of the training samples (``robust='t'``).
    n_iter_ : int
        EM / IRLS iterations run.
    n_features_in_ : int
        Number of covariates.
    feature_names_in_ : array of str
        Covariate names when ``X`` was a DataFrame.

    See Also
    --------
    VonMisesFisherMixture : Spectral-state posteriors to use as covariates.
    TimeOfDayFeatures : Clock-time harmonics to use as covariates.
    sk_eeg.panel.evaluate_heldout : The three held-out scores per subject.

    Notes
    -----
    ``predict(X, groups)`` is the covariate-only prediction (factors at their
    mean, zero): it never looks at the held-out responses, and ``score`` is
    its :math:`R^2`. ``transform(X, y, groups)`` returns factor scores
    :math:`\hat f_t = \Lambda_g'(y_t - \mu_g - C x_t)`, as
    ``PLSRegression.transform(X, y)`` uses ``y``; ``reconstruct(X, y, groups)``
    adds :math:`\Lambda_g \hat f_t` to the prediction, which is the "test"
    reconstruction of the IFE research code and uses the held-out ``y``.

    Subject-level columns whose effects the subjects of ``fit`` cannot
    identify (constant across them, as sex in a cross-validation fold of
    one-sex subjects; collinear with earlier columns; or fewer than two
    subjects per parameter) are dropped from the between-subject regression
    with a ``UserWarning``: their ``coef_`` is 0 and their effect is absorbed
    in ``intercept_``. Subjects not seen in ``fit`` are predicted from the
    population part, ``intercept_`` plus the covariate effects. In a grouped
    cross-validation, route ``groups`` to ``fit`` (metadata routing, see the
    example of :class:`sk_eeg.panel.LeaveChannelsOutScorer`, the score to use
    when searching ``n_factors`` or ``factor_criterion``); without it all
    samples are pooled as one subject.

    Regressors that vary over channels and time (Bai 2009's ``x_it``, one
    coefficient each, shared by the channels) go in ``fit(..., channel_X=)``;
    :func:`sk_eeg.panel.fit_bai_ife` is the single-panel version with
    standard errors.

    References
    ----------
    .. [1] Bai, J. (2009). Panel data models with interactive fixed effects.
       Econometrica 77(4), 1229-1279.
    .. [2] Bai, J. & Ng, S. (2002). Determining the number of factors in
       approximate factor models. Econometrica 70(1), 191-221.
    .. [3] Ahn, S. C. & Horenstein, A. R. (2013). Eigenvalue ratio test for
       the number of factors. Econometrica 81(3), 1203-1227.
    .. [4] Gobillon, L. & Magnac, T. (2016). Regional policy evaluation:
       interactive fixed effects and synthetic controls. Review of Economics
       and Statistics 98(3), 535-551.

    Examples
    --------
    >>> from sk_eeg.datasets import make_panel_factors
    >>> from sk_eeg.panel import IFEPanelRegressor
    >>> data = make_panel_factors(n_subjects=4, n_times=300, random_state=0)
    >>> model = IFEPanelRegressor().fit(data.X, data.y, groups=data.groups)
    >>> model.n_factors_.tolist()
    [3, 3, 3, 3]
    """

    def __init__(
        self,
        n_factors="auto",
        factor_criterion="consensus",
        max_factors=8,
        n_folds=5,
        robust=None,
        t_dof=4.0,
        max_iter=100,
        tol=1e-6,
        chunk_size=65536,
        random_state=None,
        verbose=None,
    ):
        self.n_factors = n_factors
        self.factor_criterion = factor_criterion
        self.max_factors = max_factors
        self.n_folds = n_folds
        self.robust = robust
        self.t_dof = t_dof
        self.max_iter = max_iter
        self.tol = tol
        self.chunk_size = chunk_size
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.transformer_tags = TransformerTags()
        return tags

    # ------------------------------------------------------------------ checks
    def _check_params(self):
        if not (isinstance(self.n_factors, str) and self.n_factors == "auto"):
            check_type(self.n_factors, "int", "n_factors", "int or 'auto'")
            if self.n_factors < 0:
                raise ValueError(
                    f"n_factors must be >= 0 or 'auto', got {self.n_factors}."
                )
        check_option("factor_criterion", self.factor_criterion, _ALL_CRITERIA)
        check_type(self.max_factors, "int", "max_factors")
        if self.max_factors < 0:
            raise ValueError(f"max_factors must be >= 0, got {self.max_factors}.")
        check_type(self.n_folds, "int", "n_folds")
        if self.n_folds < 2:
            raise ValueError(f"n_folds must be >= 2, got {self.n_folds}.")
        check_option("robust", self.robust, (None, "t"))
        check_type(self.t_dof, "numeric", "t_dof")
        if self.t_dof <= 0:
            raise ValueError(f"t_dof must be > 0, got {self.t_dof}.")
        check_type(self.max_iter, "int", "max_iter")
        if self.max_iter < 1:
            raise ValueError(f"max_iter must be >= 1, got {self.max_iter}.")
        check_type(self.tol, "numeric", "tol")
        check_type(self.chunk_size, "int", "chunk_size")
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {self.chunk_size}.")

    def _validate_xy(self, X, y, reset, empty_x_ok=False):
        _reject_mne(y)
        X, y = validate_data(
            self,
            X,
            y,
            reset=reset,
            validate_separately=(
                {
                    "dtype": np.float64,
                    "ensure_all_finite": "allow-nan",
                    "ensure_min_samples": 2,
                    "ensure_min_features": 0,
                },
                {
                    "dtype": np.float64,
                    "ensure_all_finite": "allow-nan",
                    "ensure_2d": False,
                },
            ),
        )
        if y.ndim not in (1, 2):
            raise ValueError(
                f"y must have shape (n_samples,) or (n_samples, n_channels), got "
                f"{y.shape}."
            )
        if y.shape[0] != X.shape[0]:
            raise ValueError(
                f"X and y have different numbers of samples: {X.shape[0]} and "
                f"{y.shape[0]}."
            )
        if np.isinf(y).any():
            raise ValueError("Input y contains infinity; mark missing cells as NaN.")
        if np.isinf(X).any():
            raise ValueError("Input X contains infinity; mark missing values as NaN.")
        Y = y.reshape(y.shape[0], -1)
        empty = np.isnan(Y).all(0)
        if empty.any():
            raise ValueError(
                f"y has no observed value in channel(s) {np.flatnonzero(empty)[:10]}; "
                "drop those channels."
            )
        empty_x = np.isnan(X).all(0)
        if empty_x.any() and not empty_x_ok:
            raise ValueError(
                f"X column(s) {np.flatnonzero(empty_x)[:10]} are entirely missing; "
                "drop them."
            )
        return X, y, Y

    # --------------------------------------------------------------------- fit
    def fit(self, X, y, groups=None, channel_X=None):
        """Fit the panel model.

        Parameters
        ----------
        X : array-like or DataFrame, shape (n_samples, n_features)
            Covariates; NaN marks missing values. ``n_features = 0`` fits a
            pure factor model.
        y : array-like, shape (n_samples,) or (n_samples, n_channels)
            Responses (e.g. log band power per channel); NaN marks missing
            cells.
        groups : array-like, shape (n_samples,) | None
            Subject of each sample; None treats all samples as one subject.
            Samples of a subject must be in time order (for the CV folds).
        channel_X : array-like, shape (n_samples, n_channels, n_regressors) | None
            Regressors that vary over channels and time (Bai 2009's
            ``x_it``), each with one coefficient shared by all channels
            (``channel_coef_``), estimated by Bai's alternating least squares
            on streamed Gram matrices. Complete data and ``robust=None``
            only; ``predict``/``score``/``transform`` then need it too.

        Returns
        -------
        self : IFEPanelRegressor
            The fitted estimator.
        """
        self._check_params()
        X, y, Y = self._validate_xy(X, y, reset=True)
        if hasattr(self, "_stream"):
            del self._stream
        self.channel_coef_ = np.zeros(0)
        with use_log_level(self.verbose):
            if channel_X is not None:
                return self._fit_channel(X, Y, groups, channel_X)
            return self._fit(X, y, Y, groups)

    def _solve(self, mom_cells, cell_group, n_groups, n_folds, names_t):
        """Within fit, rank selection and loadings from cell moments."""
        mom = _sum_cells(mom_cells, cell_group, n_groups)
        coef, mu, grams = _within_fit(mom, names_t)
        n_channels = grams.shape[1]
        counts = mom["w"]
        loadings, ranks, tables, eigvals = [], [], [], []
        for g in range(n_groups):
            n_g = max(int(round(counts[g])), 1)
            vals, vecs = _eigh_desc(grams[g])
            kmax = _max_rank(n_channels, n_g, self.max_factors)
            table = _criteria_table(vals, n_channels, n_g, kmax, gram=grams[g])
            if n_folds > 1:
                cells = np.flatnonzero(cell_group == g)
                sub = {k: v[cells] for k, v in mom_cells.items()}
                tests = _resid_gram_raw(
                    sub, coef, np.repeat(mu[g][None], cells.size, 0)
                )
                trains = [grams[g] - t for t in tests]
                table["cv"] = _cv_rank_errors(trains, list(tests), kmax)
            if self.n_factors == "auto":
                rank = _select(table, self.factor_criterion)
                if rank == self.max_factors > 0:
                    logger.warning(
                        "Subject %d: the chosen rank %d is the largest considered; "
                        "increase max_factors.",
                        g,
                        rank,
                    )
            else:
                rank = self.n_factors
                if rank > n_channels:
                    raise ValueError(
                        f"n_factors={rank} exceeds the number of channels "
                        f"({n_channels}); use at most {n_channels}."
                    )
            loadings.append(vecs[:, :rank])
            ranks.append(rank)
            tables.append(table)
            eigvals.append(vals / n_g)
        xtx = _centered(mom)[4].sum(0)
        return {
            "xtx": xtx,
            "coef": coef,
            "mu": mu,
            "grams": grams,
            "counts": counts,
            "loadings": loadings,
            "ranks": np.array(ranks, dtype=int),
            "tables": tables,
            "eigvals": np.array(eigvals),
            "ybar": mom["sy"] / np.maximum(counts, 1e-300)[:, None],
        }

    def _store(self, state, labels, subject_level, table, names, strict=True):
        n_groups = labels.size
        mu = state["mu"]
        n_channels = mu.shape[1]
        coef = np.zeros((n_channels, subject_level.size))
        coef[:, ~subject_level] = state["coef"]
        n_subject_cov = int(subject_level.sum())
        self.subject_covariate_mean_ = np.zeros(n_subject_cov)
        self.subject_covariate_cov_ = np.zeros((n_subject_cov, n_subject_cov))
        intercept = mu.mean(0)
        se = np.full(coef.shape, np.nan)
        dof = np.full(subject_level.size, np.inf)
        if n_subject_cov:
            cols = np.array([n for n, s in zip(names, subject_level) if s])
            keep = _identified_subject_columns(table)
            if (~keep).any():
                self._warn_unidentified(cols[~keep].tolist(), n_groups, strict)
            if keep.any():
                intercept, coef_a, filled, a_mean, a_cov = _between_fit(
                    mu, table[:, keep]
                )
                sl_index = np.flatnonzero(subject_level)
                coef[:, sl_index[keep]] = coef_a
                se_a, dof_a = _between_se(mu, filled, intercept, coef_a)
                se[:, sl_index[keep]] = se_a
                dof[sl_index[keep]] = dof_a
                table = table.copy()
                table[:, keep] = filled
                self.subject_covariate_mean_[keep] = a_mean
                self.subject_covariate_cov_[np.ix_(keep, keep)] = a_cov
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                other = np.nan_to_num(np.nanmean(table[:, ~keep], axis=0))
            self.subject_covariate_mean_[~keep] = other
            self.subject_covariate_cov_[~keep, ~keep] = 1.0
        self.coef_ = coef
        self.intercept_ = intercept
        self.groups_ = labels
        self.group_intercepts_ = mu
        self.group_means_ = state["ybar"]
        self.subject_covariates_ = table
        self.subject_level_ = subject_level
        self.loadings_ = state["loadings"]
        self.n_factors_ = state["ranks"]
        self.eigenvalues_ = state["eigvals"]
        crit = ["consensus"] + list(state["tables"][0].keys())
        self.rank_criteria_ = {
            label: pd.DataFrame(tab, index=pd.RangeIndex(len(tab["gr"]), name="rank"))
            for label, tab in zip(labels, state["tables"])
        }
        self.rank_selection_ = pd.DataFrame(
            [[_select(tab, c) for c in crit] for tab in state["tables"]],
            index=pd.Index(labels, name="group"),
            columns=crit,
        )
        noise = np.empty((n_groups, n_channels))
        for g in range(n_groups):
            lam = state["loadings"][g]
            proj = np.eye(n_channels) - lam @ lam.T
            resid = proj @ state["grams"][g] @ proj
            noise[g] = np.diag(resid) / max(state["counts"][g], 1.0)
        self.noise_variance_ = noise
        counts = np.asarray(state["counts"], dtype=float)
        se[:, ~subject_level] = _within_se(
            state["xtx"],
            (noise * counts[:, None]).sum(0),
            counts,
            state["ranks"].astype(float),
            int((~subject_level).sum()),
        )
        self.coef_se_ = se
        self.coef_dof_ = dof

    def conf_int(self, level=0.95):
        """Confidence intervals of the covariate effects ``coef_``.

        Normal intervals for the time-varying columns and Student-t
        intervals with ``coef_dof_`` degrees of freedom for the subject-level
        columns (see ``coef_se_``); NaN where an effect is not identified.

        Parameters
        ----------
        level : float
            Confidence level, in ``(0, 1)``.

        Returns
        -------
        lower, upper : array, shape (n_channels, n_features)
            Interval bounds.
        """
        from scipy.stats import t as student_t

        check_is_fitted(self)
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}.")
        dof = np.where(np.isfinite(self.coef_dof_), self.coef_dof_, 1e12)
        dof = np.maximum(dof, 1)
        q = student_t.ppf(0.5 + level / 2, dof)
        half = self.coef_se_ * q[None, :]
        return self.coef_ - half, self.coef_ + half

    @staticmethod
    def _warn_unidentified(cols, n_groups, strict):
        if n_groups == 1:
            msg = (
                f"X columns {cols} are constant within the single subject: their "
                "effects are not identified and are set to 0. Pass groups to "
                "estimate them across subjects (in a cross-validation, route them "
                "with sklearn.set_config(enable_metadata_routing=True) and "
                "set_fit_request(groups=True))."
            )
        else:
            msg = (
                f"X columns {cols} are constant within subjects and their effects "
                f"cannot be estimated from these {n_groups} subjects (constant or "
                "collinear across them, or too few subjects): they are set to 0, "
                "i.e. absorbed in the population intercept."
            )
        if strict:
            warnings.warn(msg, UserWarning, stacklevel=5)
        else:
            logger.info(msg)

    # ----------------------------------------------------------------- predict
    def _group_index(self, groups, n_samples):
        """Index of each sample's subject in ``groups_`` (-1: unknown)."""
        if groups is None:
            return np.full(n_samples, -1)
        groups = np.asarray(groups)
        if groups.shape != (n_samples,):
            raise ValueError(
                f"groups must have one subject id per sample ({n_samples}), got "
                f"shape {groups.shape}."
            )
        lookup = {label: i for i, label in enumerate(self.groups_.tolist())}
        labels, inverse = np.unique(groups, return_inverse=True)
        codes = np.array([lookup.get(g, -1) for g in labels.tolist()], dtype=np.intp)
        return codes[inverse.ravel()]

    def _channel_part(self, channel_X, n_samples):
        beta = getattr(self, "channel_coef_", np.zeros(0))
        if beta.size == 0:
            if channel_X is not None:
                raise ValueError("channel_X given, but the model was fitted without.")
            return 0.0
        if channel_X is None:
            raise ValueError(
                "the model was fitted with channel_X: pass channel_X to predict too."
            )
        n_channels = self.group_intercepts_.shape[1]
        channel_X = self._check_channel_X(channel_X, n_samples, n_channels)
        if channel_X.shape[2] != beta.size:
            raise ValueError(
                f"channel_X has {channel_X.shape[2]} regressors, fit had {beta.size}."
            )
        return channel_X @ beta

    def _covariate_prediction(self, X, idx, channel_X=None):
        sl = self.subject_level_
        Xt = X[:, ~sl]
        if np.isnan(Xt).any():
            Xt, _ = _impute_gaussian(
                Xt, None, None, None, self.covariate_mean_, self.covariate_cov_
            )
        pred = Xt @ self.coef_[:, ~sl].T
        known = idx >= 0
        out = np.empty_like(pred)
        out[known] = pred[known] + self.group_intercepts_[idx[known]]
        if (~known).any():
            Xa = X[~known][:, sl]
            if np.isnan(Xa).any():
                Xa, _ = _impute_gaussian(
                    Xa,
                    None,
                    None,
                    None,
                    self.subject_covariate_mean_,
                    self.subject_covariate_cov_,
                )
            out[~known] = pred[~known] + self.intercept_ + Xa @ self.coef_[:, sl].T
        return out + self._channel_part(channel_X, X.shape[0])

    def predict(self, X, groups=None, channel_X=None):
        """Covariate-only prediction (factors at zero; ``y`` is never used).

        Parameters
        ----------
        X : array-like or DataFrame, shape (n_samples, n_features)
            Covariates; missing values get their expectation given the others.
        groups : array-like, shape (n_samples,) | None
            Subject of each sample. Known subjects use their own intercept;
            unknown subjects (and ``groups=None``) the population intercept
            plus the subject-level covariate effects.
        channel_X : array-like, shape (n_samples, n_channels, n_regressors) | None
            Channel-varying regressors (needed when ``fit`` had them).

        Returns
        -------
        y_pred : array, shape (n_samples,) or (n_samples, n_channels)
            Predicted responses.
        """
        X = self._check_post_fit_X(X)
        idx = self._group_index(groups, X.shape[0])
        if groups is None and self.groups_.size == 1:
            idx[:] = 0
        pred = self._covariate_prediction(X, idx, channel_X)
        return pred.ravel() if self._y_1d else pred

    def _check_post_fit_X(self, X):
        """Validate covariates after fit (NaN allowed, zero columns allowed)."""
        check_is_fitted(self)
        return validate_data(
            self,
            X,
            reset=False,
            dtype=np.float64,
            ensure_all_finite="allow-nan",
            ensure_min_features=0,
        )

    def _scores(self, X, y, groups, channel_X=None):
        X = self._check_post_fit_X(X)
        Y = np.asarray(y, dtype=np.float64).reshape(X.shape[0], -1)
        if Y.shape[1] != self.group_intercepts_.shape[1]:
            raise ValueError(
                f"y has {Y.shape[1]} channels, the model was fitted on "
                f"{self.group_intercepts_.shape[1]}."
            )
        idx = self._group_index(groups, X.shape[0])
        if groups is None and self.groups_.size == 1:
            idx[:] = 0
        if (idx < 0).any():
            bad = np.asarray(groups)[idx < 0][0]
            raise ValueError(
                f"Subject {bad!r} was not seen in fit: its loadings are unknown. "
                "Factor scores need a fitted subject (pass groups seen in fit)."
            )
        base = self._covariate_prediction(X, idx, channel_X)
        resid = Y - base
        width = int(self.n_factors_.max(initial=0))
        scores = np.zeros((X.shape[0], width))
        for g in np.unique(idx):
            sel = np.flatnonzero(idx == g)
            lam = self.loadings_[g]
            r = lam.shape[1]
            block = resid[sel]
            miss = np.isnan(block)
            scores[sel, :r] = np.where(miss, 0.0, block) @ lam
            for row in np.flatnonzero(miss.any(1)):
                obs = ~miss[row]
                sol, *_ = np.linalg.lstsq(lam[obs], block[row, obs], rcond=None)
                scores[sel[row], :r] = sol
        return scores, base, idx

    def transform(self, X, y=None, groups=None, channel_X=None):
        r"""Factor scores of observed responses, like ``PLSRegression.transform``.

        Parameters
        ----------
        X : array-like or DataFrame, shape (n_samples, n_features)
            Covariates.
        y : array-like, shape (n_samples,) or (n_samples, n_channels) | None
            Responses (NaN cells are skipped by least squares). Without
            ``y`` the result is the covariate-only expectation of the scores,
            which is 0: the factors are orthogonal to the covariates by
            construction (so ``transform(X)`` is consistent with
            :meth:`predict`).
        groups : array-like, shape (n_samples,) | None
            Subject of each sample (must be subjects seen in ``fit``; None
            only when ``fit`` had one subject).
        channel_X : array-like, shape (n_samples, n_channels, n_regressors) | None
            Channel-varying regressors (needed when ``fit`` had them).

        Returns
        -------
        scores : array, shape (n_samples, ``max(n_factors_)``)
            :math:`\hat f_t = \Lambda_g'(y_t - \mu_g - C x_t)`; columns
            beyond a subject's rank are zero.
        """
        if y is None:
            X = self._check_post_fit_X(X)
            return np.zeros((X.shape[0], int(self.n_factors_.max(initial=0))))
        return self._scores(X, y, groups, channel_X)[0]

    def fit_transform(self, X, y, groups=None):
        """Fit, then return the factor scores of the training responses.

        Parameters
        ----------
        X : array-like or DataFrame, shape (n_samples, n_features)
            Covariates.
        y : array-like, shape (n_samples,) or (n_samples, n_channels)
            Responses.
        groups : array-like, shape (n_samples,) | None
            Subject of each sample.

        Returns
        -------
        scores : array, shape (n_samples, ``max(n_factors_)``)
            ``fit(X, y, groups).transform(X, y, groups)``.
        """
        return self.fit(X, y, groups).transform(X, y, groups)

    def reconstruct(self, X, y, groups=None, channel_X=None):
        r"""Reconstruct responses from covariates plus factors fitted on ``y``.

        This is the held-out "prediction" of the IFE research code: the factor scores
        are estimated from the same ``y`` that is reconstructed, so its
        :math:`R^2` measures how stable the loadings are, not how well the
        covariates predict. See :func:`sk_eeg.panel.evaluate_heldout`.

        Parameters
        ----------
        X : array-like or DataFrame, shape (n_samples, n_features)
            Covariates.
        y : array-like, shape (n_samples,) or (n_samples, n_channels)
            Observed responses.
        groups : array-like, shape (n_samples,) | None
            Subject of each sample (seen in ``fit``).
        channel_X : array-like, shape (n_samples, n_channels, n_regressors) | None
            Channel-varying regressors (needed when ``fit`` had them).

        Returns
        -------
        y_rec : array, shape like ``y``
            Covariate prediction plus :math:`\Lambda_g \hat f_t`.
        """
        scores, base, idx = self._scores(X, y, groups, channel_X)
        out = base.copy()
        for g in np.unique(idx):
            sel = idx == g
            lam = self.loadings_[g]
            out[sel] += scores[sel, : lam.shape[1]] @ lam.T
        return out.ravel() if self._y_1d else out

    def score(self, X, y, groups=None, sample_weight=None, channel_X=None):
        """Held-out :math:`R^2` of the covariate-only prediction.

        Parameters
        ----------
        X : array-like or DataFrame, shape (n_samples, n_features)
            Covariates.
        y : array-like, shape (n_samples,) or (n_samples, n_channels)
            True responses.
        groups : array-like, shape (n_samples,) | None
            Subject of each sample (see :meth:`predict`).
        sample_weight : array-like, shape (n_samples,) | None
            Sample weights.
        channel_X : array-like, shape (n_samples, n_channels, n_regressors) | None
            Channel-varying regressors (needed when ``fit`` had them).

        Returns
        -------
        score : float
            :math:`R^2` averaged over channels (never uses ``y`` to predict).
        """
        pred = self.predict(X, groups, channel_X)
        return r2_score(y, pred, sample_weight=sample_weight)
