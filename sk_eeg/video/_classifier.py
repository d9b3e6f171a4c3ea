"""EEG-VP baselines: EEG encoders as a scikit-learn classifier, block-wise CV."""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ..utils import (
    check_option,
    check_type,
    fill_doc,
    import_optional_dependency,
    logger,
    spawn_seeds,
    use_log_level,
)
from ._validation import validate_3d

_ENCODERS = ("glmnet", "shallownet", "eegnet", "conformer", "mlp")


@fill_doc
class EEGEncoderClassifier(ClassifierMixin, BaseEstimator):
    """EEG encoder (GLMNet, ShallowNet, EEGNet, Conformer, MLP) + linear head.

    The EEG-VP baselines of EEG2Video as a scikit-learn classifier: a torch
    encoder maps each epoch to an embedding, a linear layer to class logits,
    trained with cross-entropy and AdamW. The per-channel standardisation is fit
    on the training data only (fitting a separate scaler on the test block, as
    EEG2Video's released scripts do, leaks test statistics). Evaluate it with
    :class:`LeaveOneBlockOut` / :func:`cross_validate_blocks`, which never put
    windows of one clip on both sides.

    ``X`` is ``(n_epochs, n_channels, n_times)``, an :class:`mne.Epochs`, or 2D
    ``(n_epochs, n_features)`` read as one time sample per epoch (as in
    :mod:`mne.decoding`); 2D suits ``encoder='mlp'`` on features such as
    :class:`DifferentialEntropy` output.

    Parameters
    ----------
    encoder : str
        ``'glmnet'`` (global ShallowNet on all channels + local ShallowNet on
        ``local_channels``), ``'shallownet'``, ``'eegnet'``, ``'conformer'`` or
        ``'mlp'`` (on the flattened input).
    emb_dim : int
        Embedding size.
    local_channels : list of int | None
        GLMNet's local (occipital) channels; None uses the last 12 channels
        (SEED-DV's occipital channels are 50-61).
    dropout : float
        Dropout rate.
    max_epochs : int
        Training epochs.
    lr : float
        AdamW learning rate.
    weight_decay : float
        AdamW weight decay.
    batch_size : int
        Minibatch size.
    standardize : bool
        Standardise each channel with the training mean and std.
    demean : bool
        Remove each epoch's per-channel mean (its DC offset) before the
        encoder, so offsets that drift between blocks carry no weight; ignored
        for 2D input (one sample per epoch).
    %(device)s
    n_jobs : int | None
        CPU threads torch uses during fit and predict (``-1``: all cores);
        None leaves torch's setting unchanged.
    %(random_state)s
    %(verbose)s

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of channels.
    n_times_ : int
        Time samples per epoch.
    module_ : torch.nn.Module
        The trained encoder with its classification head.
    device_ : torch.device
        Device used.
    loss_curve_ : list of float
        Mean training loss per epoch.

    See Also
    --------
    cross_validate_blocks : Leave-one-block-out evaluation with chance levels.
    EEG2VideoGenerator : The same encoders conditioning a video diffusion model.

    Examples
    --------
    >>> from sk_eeg.datasets import make_eeg_video
    >>> from sk_eeg.video import EEGEncoderClassifier
    >>> data = make_eeg_video(n_blocks=2, n_classes=3, n_clips=2, n_channels=8,
    ...                       sfreq=100.0, random_state=0)
    >>> clf = EEGEncoderClassifier(encoder="shallownet", max_epochs=2,
    ...                            random_state=0).fit(data.X, data.y)
    >>> clf.predict_proba(data.X).shape
    (12, 3)
    """

    def __init__(
        self,
        encoder="shallownet",
        emb_dim=64,
        local_channels=None,
        dropout=0.25,
        max_epochs=100,
        lr=1e-3,
        weight_decay=0.0,
        batch_size=64,
        standardize=True,
        demean=True,
        device="auto",
        n_jobs=None,
        random_state=None,
        verbose=None,
    ):
        self.encoder = encoder
        self.emb_dim = emb_dim
        self.local_channels = local_channels
        self.dropout = dropout
        self.max_epochs = max_epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.standardize = standardize
        self.demean = demean
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self):
        check_option("encoder", self.encoder, _ENCODERS)
        for name in ("emb_dim", "max_epochs", "batch_size"):
            value = check_type(getattr(self, name), "int", name)
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}.")
        for name in ("lr", "weight_decay", "dropout"):
            check_type(getattr(self, name), "numeric", name)
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}.")
        check_type(self.standardize, bool, "standardize")
        check_type(self.demean, bool, "demean")

    @fill_doc
    def fit(self, X, y):
        """Train the encoder and head.

        Parameters
        ----------
        %(X_3d)s
            A 2D array is read as ``(n_epochs, n_channels, 1)``.
        y : array, shape (n_epochs,)
            Class labels.

        Returns
        -------
        self : EEGEncoderClassifier
            The fitted classifier.
        """
        self._check_params()
        X, y = validate_3d(self, X, y=y, reset=True)
        check_classification_targets(y)
        X = self._demean(X)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        self.n_times_ = X.shape[2]
        if self.standardize:
            from ._training import channel_scaler

            self.mean_, self.scale_ = channel_scaler(X)
        else:
            self.mean_ = np.zeros(X.shape[1])
            self.scale_ = np.ones(X.shape[1])
        with use_log_level(self.verbose):
            self._train(X, y_index)
        return self

    def _train(self, X, y_index):
        torch = import_optional_dependency("torch", purpose="EEGEncoderClassifier")
        from ._encoders import EEGEncoder
        from ._training import (
            Phase,
            resolve_device,
            run_phases,
            seeded,
            to_tensor,
            torch_threads,
        )

        self.device_ = resolve_device(self.device)
        init_seed, shuffle_seed = spawn_seeds(self.random_state, 2)
        with seeded(init_seed), torch_threads(self.n_jobs):
            module = EEGEncoder(
                self.encoder,
                X.shape[1],
                X.shape[2],
                self.emb_dim,
                self.local_channels,
                self.dropout,
                n_classes=len(self.classes_),
            ).to(self.device_)
            generator = torch.Generator().manual_seed(int(shuffle_seed))
            Xt = to_tensor(X, self.mean_, self.scale_, self.device_)
            yt = torch.as_tensor(y_index, dtype=torch.long, device=self.device_)

            def step(index):
                logits = module.classify(Xt[index])
                return torch.nn.functional.cross_entropy(logits, yt[index])

            # BatchNorm needs two samples per batch in training mode.
            phase = Phase(
                "EEGEncoderClassifier", self.max_epochs, list(module.parameters()),
                step, len(X), self.batch_size, lambda: module.train(len(X) > 1),
                record=True,
            )  # fmt: skip
            self.loss_curve_ = run_phases(
                [lambda: phase],
                lr=self.lr,
                weight_decay=self.weight_decay,
                generator=generator,
                device=self.device_,
                verbose=self.verbose,
            )
            logger.info(
                "EEGEncoderClassifier: final training loss %.4f", self.loss_curve_[-1]
            )
        # Inference in float64: scores do not depend on the batch composition.
        self.module_ = module.double().eval()

    def _demean(self, X):
        if self.demean and X.shape[2] > 1:
            return X - X.mean(axis=2, keepdims=True)
        return X

    def _validate_predict(self, X):
        check_is_fitted(self)
        X = validate_3d(self, X, reset=False)
        if X.shape[2] != self.n_times_:
            raise ValueError(
                f"X must have shape (n_epochs, {self.n_features_in_}, {self.n_times_}) "
                f"as in fit; got {X.shape}."
            )
        return self._demean(X)

    @fill_doc
    def decision_function(self, X):
        """Class logits.

        Parameters
        ----------
        %(X_3d)s

        Returns
        -------
        logits : ndarray, shape (n_epochs, n_classes)
            Unnormalised class scores.
        """
        X = self._validate_predict(X)
        torch = import_optional_dependency("torch")
        from ._training import to_tensor, torch_threads

        out = []
        with torch.inference_mode(), torch_threads(self.n_jobs):
            for start in range(0, len(X), 256):
                xt = to_tensor(
                    X[start : start + 256],
                    self.mean_,
                    self.scale_,
                    self.device_,
                    dtype=torch.float64,
                )
                out.append(self.module_.classify(xt).double().cpu().numpy())
        logits = np.concatenate(out)
        return logits[:, 1] - logits[:, 0] if len(self.classes_) == 2 else logits

    @fill_doc
    def predict_proba(self, X):
        """Class probabilities (softmax of the logits).

        Parameters
        ----------
        %(X_3d)s

        Returns
        -------
        proba : ndarray, shape (n_epochs, n_classes)
            Probabilities.
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            scores = np.column_stack([np.zeros_like(scores), scores])
        scores = scores - scores.max(axis=1, keepdims=True)
        proba = np.exp(scores)
        return proba / proba.sum(axis=1, keepdims=True)

    @fill_doc
    def predict(self, X):
        """Most probable class.

        Parameters
        ----------
        %(X_3d)s

        Returns
        -------
        y_pred : ndarray, shape (n_epochs,)
            Predicted labels.
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    @fill_doc
    def score(self, X, y, sample_weight=None):
        """Top-1 accuracy (n-way concept classification).

        Parameters
        ----------
        %(X_3d)s
        y : array, shape (n_epochs,)
            True labels.
        sample_weight : array, shape (n_epochs,) | None
            Weights.

        Returns
        -------
        score : float
            Mean accuracy; its chance level is ``1 / n_classes``.
        """
        return super().score(X, y, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.non_deterministic = self.device != "cpu"
        return tags


class LeaveOneBlockOut(BaseCrossValidator):
    """Leave-one-block-out splits (SEED-DV's 7-fold EEG-VP protocol).

    ``groups`` gives each sample's recording block; every block is the test set
    once. Pass ``clips`` (an id per sample, e.g. for sliding windows cut from
    one clip) to check that no clip is split across training and test.

    Parameters
    ----------
    clips : array, shape (n_samples,) | None
        Clip id of each sample, checked by :func:`check_no_clip_split`.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_eeg.video import LeaveOneBlockOut
    >>> blocks = np.repeat([0, 1, 2], 4)
    >>> [test.tolist() for _, test in LeaveOneBlockOut().split(blocks, groups=blocks)]
    [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    """

    def __init__(self, clips=None):
        self.clips = clips

    def _blocks(self, groups):
        if groups is None:
            raise ValueError(
                "LeaveOneBlockOut needs groups: the block of each sample (e.g. "
                "data.blocks from make_eeg_video)."
            )
        groups = np.asarray(groups)
        blocks = np.unique(groups)
        if len(blocks) < 2:
            raise ValueError(
                f"groups holds {len(blocks)} block; at least 2 are needed to split."
            )
        return groups, blocks

    def get_n_splits(self, X=None, y=None, groups=None):
        """Return the number of blocks.

        Parameters
        ----------
        X, y : object
            Ignored.
        groups : array, shape (n_samples,)
            Block of each sample.

        Returns
        -------
        n_splits : int
            Number of folds.
        """
        return len(self._blocks(groups)[1])

    def _iter_test_masks(self, X=None, y=None, groups=None):
        groups, blocks = self._blocks(groups)
        for block in blocks:
            yield groups == block

    def split(self, X, y=None, groups=None):
        """Yield ``(train, test)`` indices, one block out at a time.

        Parameters
        ----------
        X : array-like
            The data (only its length is used).
        y : object
            Ignored.
        groups : array, shape (n_samples,)
            Block of each sample.

        Yields
        ------
        train, test : ndarray
            Indices of the training and test samples.
        """
        for train, test in super().split(X, y, groups):
            if self.clips is not None:
                check_no_clip_split(train, test, self.clips)
            yield train, test


def check_no_clip_split(train, test, clips):
    """Raise if a clip has samples in both ``train`` and ``test``.

    Parameters
    ----------
    train, test : array of int
        Sample indices.
    clips : array, shape (n_samples,)
        Clip id of each sample.

    Returns
    -------
    n_shared : int
        0 (the function raises otherwise).
    """
    clips = np.asarray(clips)
    shared = np.intersect1d(clips[train], clips[test])
    if len(shared):
        raise ValueError(
            f"{len(shared)} clip(s) (e.g. {shared[:3].tolist()}) have samples in both "
            "train and test: windows of one clip are not independent. Split by "
            "block (LeaveOneBlockOut) or group by clip."
        )
    return 0


def cross_validate_blocks(estimator, X, y, blocks, *, clips=None, top_k=(1, 5)):
    """Leave-one-block-out accuracy of a classifier, with chance levels.

    Every preprocessing step inside ``estimator`` (e.g. scaling) is fit on the
    training blocks only; windows of one clip never straddle train and test.

    Parameters
    ----------
    estimator : classifier
        Cloned for each fold; needs ``predict_proba`` for top-k > 1.
    X : array, shape (n_samples, ...)
        The data.
    y : array, shape (n_samples,)
        Labels.
    blocks : array, shape (n_samples,)
        Block of each sample.
    clips : array, shape (n_samples,) | None
        Clip id of each sample (checked not to be split).
    top_k : tuple of int
        Top-k accuracies to report (chance ``k / n_classes``).

    Returns
    -------
    results : dict
        ``'top{k}'``: per-fold accuracies (ndarray), ``'top{k}_mean'``,
        ``'chance_top{k}'``, ``'test_blocks'``.
    """
    X = np.asarray(X) if not hasattr(X, "get_data") else X.get_data(copy=False)
    y = np.asarray(y)
    classes = np.unique(y)
    cv = LeaveOneBlockOut(clips=clips)
    results = {f"top{k}": [] for k in top_k}
    results["test_blocks"] = []
    for train, test in cv.split(X, y, groups=blocks):
        model = clone(estimator).fit(X[train], y[train])
        proba = model.predict_proba(X[test])
        # Columns follow model.classes_; map them onto all classes.
        full = np.full((len(test), len(classes)), -np.inf)
        full[:, np.searchsorted(classes, model.classes_)] = proba
        rank = np.argsort(-full, axis=1)
        truth = np.searchsorted(classes, y[test])
        for k in top_k:
            hit = (rank[:, :k] == truth[:, None]).any(axis=1)
            results[f"top{k}"].append(hit.mean())
        results["test_blocks"].append(np.asarray(blocks)[test][0])
    for k in top_k:
        results[f"top{k}"] = np.asarray(results[f"top{k}"])
        results[f"top{k}_mean"] = float(results[f"top{k}"].mean())
        results[f"chance_top{k}"] = min(1.0, k / len(classes))
    return results
