"""MelSpecCNNClassifier: a plain scikit-learn classifier around a skorch net."""

import copy
import warnings
from contextlib import contextmanager

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from ..utils import (
    check_option,
    check_type,
    fill_doc,
    import_optional_dependency,
    spawn_seeds,
    use_log_level,
)
from ..utils._torch import resolve_device
from ._filters import apply_filter, butter_sos
from ._melbank import check_mel_params
from ._montage import (
    _epochs_ch_names,
    apply_montage,
    resolve_montage,
    validate_epochs,
)
from ._scoring import soft_targets


@contextmanager
def _torch_threads(n_jobs):
    """Use ``n_jobs`` CPU threads for torch inside the block."""
    import torch

    if n_jobs is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(max(1, n_jobs if n_jobs > 0 else torch.get_num_threads()))
    try:
        yield
    finally:
        torch.set_num_threads(old)


@fill_doc
class MelSpecCNNClassifier(ClassifierMixin, TransformerMixin, BaseEstimator):
    """Mel-spectrogram CNN for EEG pattern classification with soft labels.

    The pipeline of the strongest public recipes for the HMS harmful brain
    activity task: raw EEG -> bipolar montage -> Butterworth band-pass (both in
    NumPy) -> mel spectrogram in dB computed on the device (pure torch STFT +
    HTK mel filterbank, ``top_db`` clamp per sample, scaled to [0, 1]) ->
    derivations stacked into one image -> timm 2D CNN (``pretrained=False``)
    -> GeM pooling -> linear head. Trained with the KL divergence on soft
    targets (expert vote distributions) by a skorch ``NeuralNet`` built in
    :meth:`fit`.

    Parameters
    ----------
    backbone : str
        A timm model name (``'mixnet_s'``, ``'efficientnet_b0'``,
        ``'resnet10t'``, ...), built with ``in_chans=1`` and no weights unless
        ``checkpoint`` is given; or ``'parallel_cnn1d'``, a parallel spatial /
        temporal 1D CNN with grouped convolutions on the raw derivations (no
        mel front end).
    montage : str | list | None
        ``'double_banana'`` (16 derivations), a list of channel names and
        ``(anode, cathode)`` pairs (see :class:`BipolarMontage`), or None to
        use the channels of ``X`` as they are.
    ch_names : list of str | None
        Names of the channels of ``X`` when it is an array and ``montage``
        uses names (read from ``X.info`` for :class:`mne.Epochs`).
    sfreq : float
        Sampling frequency of ``X`` in Hz.
    bandpass : tuple of (float | None, float | None) | None
        Band-pass edges in Hz (zero-phase Butterworth); None disables it.
    filter_order : int
        Butterworth order.
    n_mels, n_fft, win_length, hop_length : int
        Mel bands, FFT size, Hann window length and hop of the STFT.
    fmin, fmax : float
        Frequency range of the mel filterbank in Hz.
    top_db : float
        Dynamic range kept below each sample's maximum, in dB.
    pooling : {'gem', 'avg', 'max'}
        Global pooling; GeM has a trainable exponent (initial 3).
    drop_rate : float
        Dropout before the linear head.
    checkpoint : path-like | None
        Local timm / torch weights for the backbone (never downloaded).
    classes : array-like | None
        Class names of the columns of soft targets (default ``0..K-1``), or,
        with hard labels, the class order.
    mixup_alpha : float
        Mixup of the raw signals and their targets with ``Beta(a, a)``
        weights; 0 disables it.
    cutout : float
        Probability per sample of zeroing one time-frequency rectangle.
    window_mask : float
        Probability per sample of zeroing one time window in all derivations.
    chain_drop : float
        Probability per sample of zeroing random whole derivations.
    max_epochs : int
        Training epochs.
    lr : float
        AdamW learning rate (cosine-annealed over ``max_epochs``).
    weight_decay : float
        AdamW weight decay.
    batch_size : int
        Mini-batch size (the last incomplete batch of an epoch is dropped so
        that batch normalisation never sees a single sample).
    clip_grad : float | None
        Maximal gradient norm; None disables clipping.
    early_stopping : bool
        Hold out ``validation_fraction`` of the training data and stop when
        its loss has not improved for ``n_iter_no_change`` epochs, restoring
        the best weights.
    validation_fraction : float
        Share held out for early stopping.
    n_iter_no_change : int
        Patience of early stopping in epochs.
    callbacks : list of skorch callbacks | None
        Extra skorch callbacks, e.g. ``skorch.callbacks.Checkpoint`` to save
        and resume training. They are copied at each fit.
    %(device)s
    n_jobs : int | None
        CPU threads used by torch in :meth:`fit` and prediction; None keeps
        torch's setting.
    %(random_state)s
        Seeds the weights, the batch order and the augmentations (through a
        forked torch random state, so the global one is untouched).
    %(verbose)s

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
        The class labels.
    n_features_in_ : int
        Number of input channels.
    derivation_names_ : list of str
        Names of the channels after the montage.
    net_ : skorch.NeuralNet
        The trained network (``net_.module_``, ``net_.history``).
    device_ : str
        The device used.
    seed_ : int
        The torch seed drawn from ``random_state``.

    See Also
    --------
    BipolarMontage, BandpassFilter : The NumPy front end, usable alone.
    kl_divergence_scorer : Scorer for :class:`~sklearn.model_selection.GridSearchCV`.

    Notes
    -----
    ``y`` is either class labels, shape ``(n_epochs,)``, or vote counts /
    probabilities, shape ``(n_epochs, n_classes)``, normalised per row. Both
    are trained with the KL divergence: on the one-hot targets of hard labels
    it equals the cross-entropy. Arrays are taken in the units they come in
    (the HMS files are in µV); :class:`mne.Epochs` are read in µV. The image
    is scaled per sample, so amplitudes matter only relative to each other.

    Inputs shorter than ``n_fft // 2 + 1`` samples are zero-padded at the end
    (a 2D ``X`` is read as one time sample per epoch, as in
    :mod:`mne.decoding`).

    Examples
    --------
    >>> from sk_eeg.datasets import make_eeg_patterns
    >>> from sk_eeg.deep import MelSpecCNNClassifier
    >>> X, votes, patients, ch_names = make_eeg_patterns(
    ...     n_epochs=12, n_times=400, random_state=0)
    >>> clf = MelSpecCNNClassifier(
    ...     backbone="test_efficientnet", ch_names=ch_names, n_mels=16,
    ...     n_fft=64, win_length=64, hop_length=16, max_epochs=1, random_state=0)
    >>> clf.fit(X, votes).predict_proba(X[:2]).shape
    (2, 6)
    """

    def __init__(
        self,
        backbone="mixnet_s",
        montage="double_banana",
        ch_names=None,
        sfreq=200.0,
        bandpass=(0.5, 20.0),
        filter_order=4,
        n_mels=64,
        n_fft=512,
        win_length=128,
        hop_length=32,
        fmin=0.5,
        fmax=30.0,
        top_db=80.0,
        pooling="gem",
        drop_rate=0.2,
        checkpoint=None,
        classes=None,
        mixup_alpha=0.0,
        cutout=0.0,
        window_mask=0.0,
        chain_drop=0.0,
        max_epochs=10,
        lr=1e-3,
        weight_decay=1e-2,
        batch_size=32,
        clip_grad=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=3,
        callbacks=None,
        device="auto",
        n_jobs=None,
        random_state=None,
        verbose=None,
    ):
        self.backbone = backbone
        self.montage = montage
        self.ch_names = ch_names
        self.sfreq = sfreq
        self.bandpass = bandpass
        self.filter_order = filter_order
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.win_length = win_length
        self.hop_length = hop_length
        self.fmin = fmin
        self.fmax = fmax
        self.top_db = top_db
        self.pooling = pooling
        self.drop_rate = drop_rate
        self.checkpoint = checkpoint
        self.classes = classes
        self.mixup_alpha = mixup_alpha
        self.cutout = cutout
        self.window_mask = window_mask
        self.chain_drop = chain_drop
        self.max_epochs = max_epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.clip_grad = clip_grad
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.callbacks = callbacks
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ checks
    def _check_params(self):
        check_type(self.backbone, str, "backbone")
        check_option("pooling", self.pooling, ("gem", "avg", "max"))
        check_type(self.sfreq, "numeric", "sfreq")
        for name in ("max_epochs", "batch_size", "filter_order", "n_iter_no_change"):
            value = getattr(self, name)
            check_type(value, "int", name)
            if value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}.")
        for name in ("mixup_alpha", "lr", "weight_decay", "drop_rate"):
            value = getattr(self, name)
            check_type(value, "numeric", name)
            if value < 0:
                raise ValueError(f"{name} must be non-negative, got {value}.")
        for name in ("cutout", "window_mask", "chain_drop", "drop_rate"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} is a probability in [0, 1], got {value}.")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(
                "validation_fraction must lie in (0, 1), got "
                f"{self.validation_fraction}."
            )
        check_type(self.clip_grad, ("numeric", None), "clip_grad")
        check_type(self.top_db, ("numeric",), "top_db")
        if self.top_db <= 0:
            raise ValueError(f"top_db must be positive, got {self.top_db}.")
        if self.backbone != "parallel_cnn1d":
            check_mel_params(
                self.sfreq,
                self.n_fft,
                self.win_length,
                self.hop_length,
                self.n_mels,
                self.fmin,
                self.fmax,
            )
        if self.bandpass is not None:
            if not isinstance(self.bandpass, (tuple, list)) or len(self.bandpass) != 2:
                raise ValueError(
                    "bandpass must be a pair (l_freq, h_freq) in Hz or None, got "
                    f"{self.bandpass!r}."
                )
            butter_sos(self.sfreq, *self.bandpass, self.filter_order)

    def _check_X(self, X, reset):
        # Epochs in volts -> microvolts, the unit of the HMS files.
        return validate_epochs(self, X, reset, scale_epochs=1e6), _epochs_ch_names(X)

    def _encode_targets(self, y, n_samples):
        """Return (targets (n, K) float64 rows summing to 1, classes)."""
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                "is None. Pass class labels or vote counts."
            )
        y = np.asarray(y) if not hasattr(y, "shape") else y
        if getattr(y, "ndim", 1) == 2 and y.shape[1] == 1:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected; it is "
                "read as class labels.",
                DataConversionWarning,
                stacklevel=3,
            )
            y = np.asarray(y)[:, 0]
        y = np.asarray(y)
        if y.shape[0] != n_samples:
            raise ValueError(
                f"y has {y.shape[0]} rows but X has {n_samples} epochs; they must "
                "match."
            )
        if y.ndim == 2:
            targets = soft_targets(y, name="y")
            classes = (
                np.arange(y.shape[1])
                if self.classes is None
                else np.asarray(self.classes)
            )
            if len(classes) != y.shape[1]:
                raise ValueError(
                    f"classes has {len(classes)} entries but the soft targets y "
                    f"have {y.shape[1]} columns."
                )
        elif y.ndim == 1:
            check_classification_targets(y)
            found = np.unique(y)
            classes = found if self.classes is None else np.asarray(self.classes)
            missing = np.setdiff1d(found, classes)
            if missing.size:
                raise ValueError(
                    f"y contains labels {missing.tolist()} that are not in classes."
                )
            targets = (y[:, None] == classes[None, :]).astype(np.float64)
        else:
            raise ValueError(
                "y must be class labels (n_epochs,) or vote counts / probabilities "
                f"(n_epochs, n_classes), got shape {y.shape}."
            )
        if len(classes) < 2:
            raise ValueError(
                f"The classifier needs at least 2 classes; got 1 class "
                f"({classes.tolist()})."
            )
        return targets, classes

    # ------------------------------------------------------------- front end
    def _preprocess(self, X):
        X = apply_montage(X, self.anodes_, self.cathodes_)
        if self.bandpass is not None:
            sos = butter_sos(self.sfreq, *self.bandpass, self.filter_order)
            X = apply_filter(X, sos, phase="zero")
        return np.ascontiguousarray(X, dtype=np.float32)

    def _module_kwargs(self, n_chans, n_classes):
        return dict(
            module__n_chans=n_chans,
            module__n_classes=n_classes,
            module__backbone=self.backbone,
            module__sfreq=float(self.sfreq),
            module__n_fft=self.n_fft,
            module__win_length=self.win_length,
            module__hop_length=self.hop_length,
            module__n_mels=self.n_mels,
            module__fmin=self.fmin,
            module__fmax=self.fmax,
            module__top_db=self.top_db,
            module__pooling=self.pooling,
            module__drop_rate=self.drop_rate,
            module__checkpoint=self.checkpoint,
            module__cutout=self.cutout,
            module__window_mask=self.window_mask,
            module__chain_drop=self.chain_drop,
        )

    def _build_net(self, n_chans, n_classes, n_samples, device):
        import torch
        from skorch.callbacks import EarlyStopping, GradientNormClipping, LRScheduler
        from skorch.dataset import ValidSplit

        from ._net import EpochProgress, MelSpecNet, SoftTargetKLLoss, SoftTargetNet

        n_train = n_samples
        train_split = None
        callbacks = [
            ("progress", EpochProgress(verbose=self.verbose)),
            (
                "lr_scheduler",
                LRScheduler(policy="CosineAnnealingLR", T_max=self.max_epochs),
            ),
        ]
        if self.early_stopping:
            train_split = ValidSplit(self.validation_fraction, stratified=False)
            n_train = n_samples - int(np.ceil(self.validation_fraction * n_samples))
            callbacks.append(
                (
                    "early_stopping",
                    EarlyStopping(patience=self.n_iter_no_change, load_best=True),
                )
            )
        if self.clip_grad is not None:
            callbacks.append(
                ("clip_grad", GradientNormClipping(gradient_clip_value=self.clip_grad))
            )
        for k, callback in enumerate(copy.deepcopy(self.callbacks or [])):
            callbacks.append((f"user_{k}", callback))
        if n_train < 2:
            raise ValueError(
                f"Training needs at least 2 epochs of data, got {n_train} (1 sample "
                "cannot train batch normalisation)."
            )
        batch_size = min(self.batch_size, n_train)
        return SoftTargetNet(
            MelSpecNet,
            criterion=SoftTargetKLLoss,
            optimizer=torch.optim.AdamW,
            optimizer__weight_decay=self.weight_decay,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=batch_size,
            iterator_train__shuffle=True,
            iterator_train__drop_last=True,
            train_split=train_split,
            callbacks=callbacks,
            predict_nonlinearity=None,
            device=device,
            verbose=0,
            mixup_alpha=self.mixup_alpha,
            **self._module_kwargs(n_chans, n_classes),
        )

    # -------------------------------------------------------------------- fit
    def fit(self, X, y, sample_weight=None):
        """Train the network.

        Parameters
        ----------
        %(X_3d)s
            Epochs are converted to µV.
        y : array, shape (n_epochs,) | array, shape (n_epochs, n_classes)
            Class labels, or vote counts / probabilities per class (soft
            targets, normalised per row).
        sample_weight : array, shape (n_epochs,) | None
            Weights of the epochs in the loss (e.g. by number of votes).

        Returns
        -------
        self : MelSpecCNNClassifier
            The fitted classifier.
        """
        torch = import_optional_dependency("torch", purpose="MelSpecCNNClassifier")
        self._check_params()
        X, epochs_names = self._check_X(X, reset=True)
        targets, classes = self._encode_targets(y, X.shape[0])
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        ch_names = self.ch_names if self.ch_names is not None else epochs_names
        self.anodes_, self.cathodes_, self.derivation_names_ = resolve_montage(
            self.montage, ch_names, X.shape[1]
        )
        X_pre = self._preprocess(X)
        device = str(resolve_device(self.device))
        seed = int(spawn_seeds(self.random_state, 1)[0])
        y_train = np.column_stack([targets, sample_weight]).astype(np.float32)
        net = self._build_net(X_pre.shape[1], len(classes), X.shape[0], device)
        devices = [torch.device(device)] if device.startswith("cuda") else []
        with (
            use_log_level(self.verbose),
            _torch_threads(self.n_jobs),
            torch.random.fork_rng(devices=devices),
        ):
            torch.manual_seed(seed)
            net.fit(X_pre, y_train)
        self.net_ = net
        self.classes_ = classes
        self.device_ = device
        self.seed_ = seed
        return self

    # ---------------------------------------------------------------- predict
    def _forward(self, X, what):
        import torch

        check_is_fitted(self)
        X, _ = self._check_X(X, reset=False)
        X_pre = self._preprocess(X)
        module = self.net_.module_
        module.eval()
        # The module's own device: a model pickled on CUDA and loaded where no
        # GPU exists is mapped to the CPU by skorch.
        device = next(module.parameters()).device
        outputs = []
        with _torch_threads(self.n_jobs), torch.inference_mode():
            for start in range(0, X_pre.shape[0], self.batch_size):
                batch = torch.from_numpy(X_pre[start : start + self.batch_size])
                batch = batch.to(device)
                out = module.embed(batch) if what == "embed" else module(batch)
                outputs.append(out.double().cpu().numpy())
        return np.concatenate(outputs, axis=0)

    def decision_function(self, X):
        """Class logits.

        Parameters
        ----------
        %(X_3d)s

        Returns
        -------
        logits : ndarray, shape (n_epochs, n_classes) | shape (n_epochs,)
            Unnormalised log-probabilities; with two classes, as in sklearn,
            the log-odds of the second class.
        """
        logits = self._forward(X, "logits")
        return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        %(X_3d)s

        Returns
        -------
        proba : ndarray, shape (n_epochs, n_classes)
            Softmax of the logits; rows sum to 1.
        """
        logits = self._forward(X, "logits")
        logits = logits - logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`.

        Parameters
        ----------
        %(X_3d)s

        Returns
        -------
        log_proba : ndarray, shape (n_epochs, n_classes)
            Log-softmax of the logits.
        """
        logits = self._forward(X, "logits")
        logits = logits - logits.max(axis=1, keepdims=True)
        return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))

    def predict(self, X):
        """Most probable class.

        Parameters
        ----------
        %(X_3d)s

        Returns
        -------
        y_pred : ndarray, shape (n_epochs,)
            Labels from ``classes_``.
        """
        logits = self._forward(X, "logits")
        return self.classes_[np.argmax(logits, axis=1)]

    def transform(self, X):
        """Pooled backbone embeddings (the input of the linear head).

        Parameters
        ----------
        %(X_3d)s

        Returns
        -------
        embeddings : ndarray, shape (n_epochs, n_features_out)
            GeM- (or avg/max-) pooled features.
        """
        return self._forward(X, "embed")

    def score(self, X, y, sample_weight=None):
        """Accuracy; soft targets are compared through their most voted class.

        Parameters
        ----------
        %(X_3d)s
        y : array, shape (n_epochs,) | array, shape (n_epochs, n_classes)
            Labels, or vote counts / probabilities.
        sample_weight : array, shape (n_epochs,) | None
            Weights.

        Returns
        -------
        score : float
            Mean accuracy.
        """
        from sklearn.metrics import accuracy_score

        y_pred = self.predict(X)
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] > 1:
            y = self.classes_[np.argmax(y, axis=1)]
        return accuracy_score(y, y_pred, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.classifier_tags.poor_score = True
        tags.non_deterministic = self.device != "cpu" and _cuda_available()
        return tags


def _cuda_available():
    try:
        import torch
    except ImportError:  # pragma: no cover - deep extra missing
        return False
    return torch.cuda.is_available()
