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
    logger,
    spawn_seeds,
    use_log_level,
)
from ..utils._checks import _mne_kind
from ..utils._torch import resolve_device
from ._filters import _check_band, design_bandpass
from ._melbank import check_mel_params
from ._montage import (
    _epochs_ch_names,
    left_right_permutation,
    resolve_montage,
    validate_epochs,
)
from ._scoring import soft_targets

# Sampling frequency of arrays when ``sfreq`` is None (that of the HMS files).
DEFAULT_SFREQ = 200.0


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
    activity task (six ICU EEG pattern classes voted on by experts [1]_):
    raw EEG -> bipolar montage -> zero-phase FIR band-pass (the design of
    :func:`mne.filter.filter_data`) -> either a parallel 1D CNN on the
    derivations (the default) or a mel spectrogram in dB (torch STFT + HTK
    mel filterbank, ``top_db`` clamp per sample, scaled to [0, 1]) with the
    derivations stacked into one image for a timm 2D CNN such as
    ``mixnet_s`` [4]_ -> GeM pooling [3]_ -> linear head. The whole front
    end runs batched in torch on the model's device, in float32. Trained
    with the KL divergence on soft targets (expert vote distributions) by a
    skorch ``NeuralNet`` built in :meth:`fit`. ``benchmarks/bench_deep.py``
    compares its throughput with ShallowFBCSPNet [2]_.

    Parameters
    ----------
    backbone : str
        ``'parallel_cnn1d'`` (default), a parallel spatial / temporal 1D CNN
        with grouped convolutions on the band-passed derivations (no mel
        front end; 33k parameters, fast on a CPU); or a timm model name
        (``'mixnet_s'``, ``'efficientnet_b0'``, ``'resnet10t'``, ...) fed
        with the stacked mel image, built with ``in_chans=1`` and no weights
        unless ``checkpoint`` is given. The 2D backbones need more data and
        epochs than the defaults give (see Notes).
    montage : str | list | None
        ``'double_banana'`` (16 derivations), a list of channel names and
        ``(anode, cathode)`` pairs (see :class:`BipolarMontage`), or None to
        use the channels of ``X`` as they are.
    ch_names : list of str | None
        Names of the channels of ``X`` when it is an array and ``montage``
        uses names. Read from ``X.info`` for :class:`mne.Epochs`; names given
        here must then agree with them.
    sfreq : float | None
        Sampling frequency of ``X`` in Hz. None reads ``X.info['sfreq']``
        from :class:`mne.Epochs` and means 200 Hz (the HMS rate) for arrays.
        A value that disagrees with ``X.info['sfreq']`` is an error.
    bandpass : tuple of (float | None, float | None) | None
        Band-pass edges in Hz; None disables it. The zero-phase FIR filter of
        :func:`mne.filter.create_filter` (firwin, Hamming window, automatic
        length and transition bands), applied with ``filter_data``'s edge
        padding.
    decim : 'auto' | int
        Keep every ``decim``-th sample after the band-pass, which removes
        everything above its stop band, so nothing aliases; the network then
        works at ``sfreq / decim``. ``'auto'`` takes the largest factor that
        keeps the Nyquist frequency above the stop band for
        ``'parallel_cnn1d'`` (4 at 200 Hz with a 20 Hz low-pass) and 1 for
        the 2D backbones, whose mel parameters are in samples.
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
    flip : float
        Probability per training sample of swapping the left and right
        derivations (odd and even 10-20 numbers). Used when every derivation
        has a mirror image, as in ``'double_banana'``; otherwise ignored
        with an INFO message.
    time_shift : float
        Largest random circular shift of training samples in time, as a
        fraction of the window; 0 disables it.
    crop : float | None
        Length in seconds of the random crops that training draws from each
        (longer) window, e.g. 50 s crops of 70 s windows around the labelled
        segment; prediction uses the central crop. Filtering runs on the
        whole window first. None uses whole windows.
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
        its KL divergence has not improved for ``n_iter_no_change`` epochs,
        restoring the best weights. With ``groups`` passed to :meth:`fit`,
        whole groups (patients) are held out.
    validation_fraction : float
        Share held out for early stopping (of the groups, when given).
    n_iter_no_change : int
        Patience of early stopping in epochs.
    callbacks : list of skorch callbacks | None
        Extra skorch callbacks, e.g. ``skorch.callbacks.Checkpoint`` to save
        and resume training. They are copied at each fit.
    amp : {None, 'bf16', 'fp16'}
        Mixed precision for the backbone (``torch.autocast``; the front end
        stays in float32); ``'fp16'`` training uses a gradient scaler. Meant
        for CUDA; also runs on the CPU.
    warm_start : bool
        If True, :meth:`fit` on a fitted classifier continues training its
        network for ``max_epochs`` more epochs instead of starting anew.
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
    sfreq_ : float
        The sampling frequency of the input.
    decim_ : int
        The decimation factor used.
    ch_names_ : list of str | None
        Names of the input channels, when known.
    derivation_names_ : list of str
        Names of the channels after the montage.
    validation_mask_ : ndarray of bool, shape (n_epochs,) | None
        Which training epochs were held out for early stopping.
    net_ : skorch.NeuralNet
        The trained network (``net_.module_``, ``net_.history``).
    device_ : str
        The device used.
    seed_ : int
        The torch seed drawn from ``random_state``.

    See Also
    --------
    BipolarMontage : The montage as a NumPy transformer.
    kl_divergence_scorer : Scorer for :class:`~sklearn.model_selection.GridSearchCV`.

    Notes
    -----
    ``y`` is either class labels, shape ``(n_epochs,)``, or vote counts /
    probabilities, shape ``(n_epochs, n_classes)``, normalised per row. Both
    are trained with the KL divergence: on the one-hot targets of hard labels
    it equals the cross-entropy. Arrays are taken in the units they come in
    (the HMS files are in µV); :class:`mne.Epochs` are read in µV. The image
    is scaled per sample, so amplitudes matter only relative to each other.

    The defaults (``'parallel_cnn1d'`` on the derivations decimated to 50
    Hz, 15 epochs, AdamW at ``lr=3e-3`` cosine-annealed, mixup 0.4,
    left/right flip 0.5, time shift 0.2) were chosen on held-out patients of
    two different simulators (:func:`~sk_eeg.datasets.make_eeg_patterns` and
    :func:`~sk_eeg.datasets.make_hms_like`, 450 training windows of 10 s,
    three seeds), where they beat a band-power logistic regression by 31-39%
    and 19-23% in KL after under a minute of training on one CPU thread; a
    small mel CNN gained 8% in more time (``benchmarks/bench_deep.py``).

    Inputs shorter than ``n_fft // 2 + 1`` samples are zero-padded at the end
    (a 2D ``X`` is read as one time sample per epoch, as in
    :mod:`mne.decoding`).

    References
    ----------
    .. [1] Jing J, Ge W, Hong S, et al. (2023). Development of expert-level
           classification of seizures and rhythmic and periodic patterns
           during EEG interpretation. Neurology, 100(17), e1750-e1762.
    .. [2] Schirrmeister RT, Springenberg JT, Fiederer LDJ, et al. (2017).
           Deep learning with convolutional neural networks for EEG decoding
           and visualization. Human Brain Mapping, 38(11), 5391-5420.
    .. [3] Radenović F, Tolias G, Chum O (2019). Fine-tuning CNN image
           retrieval with no human annotation. IEEE TPAMI, 41(7), 1655-1668
           (GeM pooling).
    .. [4] Tan M, Le QV (2019). MixConv: mixed depthwise convolutional
           kernels. BMVC (``mixnet_s``).

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
        backbone="parallel_cnn1d",
        montage="double_banana",
        ch_names=None,
        sfreq=None,
        bandpass=(0.5, 20.0),
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
        mixup_alpha=0.4,
        cutout=0.0,
        window_mask=0.0,
        chain_drop=0.0,
        flip=0.5,
        time_shift=0.2,
        crop=None,
        decim="auto",
        max_epochs=15,
        lr=3e-3,
        weight_decay=1e-2,
        batch_size=32,
        clip_grad=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=3,
        callbacks=None,
        amp=None,
        warm_start=False,
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
        self.flip = flip
        self.time_shift = time_shift
        self.crop = crop
        self.decim = decim
        self.max_epochs = max_epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.clip_grad = clip_grad
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.callbacks = callbacks
        self.amp = amp
        self.warm_start = warm_start
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ checks
    def _check_params(self, sfreq):
        check_type(self.backbone, str, "backbone")
        check_option("pooling", self.pooling, ("gem", "avg", "max"))
        check_option("amp", self.amp, (None, "bf16", "fp16"))
        for name in ("max_epochs", "batch_size", "n_iter_no_change"):
            value = getattr(self, name)
            check_type(value, "int", name)
            if value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}.")
        for name in ("mixup_alpha", "lr", "weight_decay", "drop_rate"):
            value = getattr(self, name)
            check_type(value, "numeric", name)
            if value < 0:
                raise ValueError(f"{name} must be non-negative, got {value}.")
        for name in ("cutout", "window_mask", "chain_drop", "drop_rate", "flip"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} is a probability in [0, 1], got {value}.")
        check_type(self.time_shift, "numeric", "time_shift")
        if not 0 <= self.time_shift < 1:
            raise ValueError(
                f"time_shift is a fraction of the window in [0, 1), got "
                f"{self.time_shift}."
            )
        check_type(self.crop, ("numeric", None), "crop")
        if self.crop is not None and self.crop <= 0:
            raise ValueError(f"crop is a length in seconds > 0, got {self.crop}.")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(
                "validation_fraction must lie in (0, 1), got "
                f"{self.validation_fraction}."
            )
        check_type(self.clip_grad, ("numeric", None), "clip_grad")
        check_type(self.top_db, ("numeric",), "top_db")
        if self.top_db <= 0:
            raise ValueError(f"top_db must be positive, got {self.top_db}.")
        if self.bandpass is not None:
            if not isinstance(self.bandpass, (tuple, list)) or len(self.bandpass) != 2:
                raise ValueError(
                    "bandpass must be a pair (l_freq, h_freq) in Hz or None, got "
                    f"{self.bandpass!r}."
                )
            _check_band(sfreq, *self.bandpass)
        decim = self._resolve_decim(sfreq)
        if self.backbone != "parallel_cnn1d":
            check_mel_params(
                sfreq / decim,
                self.n_fft,
                self.win_length,
                self.hop_length,
                self.n_mels,
                self.fmin,
                self.fmax,
            )
        return decim

    def _resolve_decim(self, sfreq):
        """Decimation after the low-pass: 'auto' keeps the filter's stop band."""
        h_freq = None if self.bandpass is None else self.bandpass[1]
        stop = None
        if h_freq is not None:  # MNE's automatic transition band
            stop = h_freq + min(max(0.25 * h_freq, 2.0), sfreq / 2.0 - h_freq)
        if isinstance(self.decim, str) and self.decim == "auto":
            if self.backbone != "parallel_cnn1d" or stop is None:
                return 1
            return max(1, int(sfreq // (2 * stop)))
        check_type(self.decim, "int", "decim", "'auto' or a positive int")
        if self.decim < 1:
            raise ValueError(f"decim must be 'auto' or >= 1, got {self.decim}.")
        if self.decim > 1 and (stop is None or sfreq / self.decim / 2 < stop):
            raise ValueError(
                f"decim={self.decim} would alias: after it the Nyquist frequency is "
                f"{sfreq / self.decim / 2} Hz, below the stop band of the low-pass "
                f"({stop} Hz). Lower decim or set bandpass=(l_freq, h_freq)."
            )
        return int(self.decim)

    def _check_X(self, X, reset):
        """Return X in float32 (Epochs in µV, as the HMS files), names, sfreq."""
        names, sfreq = _epochs_ch_names(X), _info_sfreq(X)
        if _mne_kind(X) not in (None, "Epochs"):
            raise TypeError(
                f"X is an mne.{_mne_kind(X)}; MelSpecCNNClassifier needs epochs. "
                "Cut it into windows first (mne.make_fixed_length_epochs)."
            )
        X = validate_epochs(self, X, reset, scale_epochs=1e6, dtype=np.float32)
        return X, names, sfreq

    def _resolve_sfreq(self, info_sfreq):
        check_type(self.sfreq, ("numeric", None), "sfreq")
        if info_sfreq is None:
            return DEFAULT_SFREQ if self.sfreq is None else float(self.sfreq)
        if self.sfreq is not None and not np.isclose(self.sfreq, info_sfreq):
            raise ValueError(
                f"sfreq={self.sfreq} disagrees with X.info['sfreq']={info_sfreq}. "
                "Pass sfreq=None to read it from the epochs, or resample them "
                f"first (epochs.resample({self.sfreq}))."
            )
        return float(info_sfreq)

    def _resolve_ch_names(self, epochs_names, n_channels):
        if epochs_names is None:
            return None if self.ch_names is None else list(self.ch_names)
        if self.ch_names is not None and list(self.ch_names) != epochs_names:
            raise ValueError(
                f"ch_names={list(self.ch_names)} disagree with the channels of the "
                f"epochs {epochs_names}. Pass ch_names=None to read them from "
                "X.info, or pick / reorder the epochs first."
            )
        return epochs_names

    def _check_predict_input(self, names, sfreq):
        if sfreq is not None and not np.isclose(sfreq, self.sfreq_):
            raise ValueError(
                f"X.info['sfreq']={sfreq} but the classifier was fitted at "
                f"{self.sfreq_} Hz; resample the epochs (epochs.resample("
                f"{self.sfreq_})) first."
            )
        if names is not None and self.ch_names_ is not None and names != self.ch_names_:
            raise ValueError(
                f"The epochs have channels {names} but the classifier was fitted on "
                f"{self.ch_names_}; reorder them (epochs.reorder_channels) first."
            )

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

    # ------------------------------------------------------------- the net
    def _module_kwargs(self, n_chans, n_classes, sfreq):
        decim = getattr(self, "decim_", 1)
        fir = None
        if self.bandpass is not None:
            fir = design_bandpass(sfreq, *self.bandpass)
        flip_perm = None
        if self.flip > 0:
            try:
                flip_perm = left_right_permutation(self.derivation_names_).tolist()
            except ValueError as err:
                logger.info(f"flip={self.flip} is not used: {err}")
        return dict(
            module__n_chans=n_chans,
            module__n_classes=n_classes,
            module__anodes=self.anodes_.tolist(),
            module__cathodes=self.cathodes_.tolist(),
            module__fir=fir,
            module__flip_perm=flip_perm,
            module__flip=self.flip if flip_perm is not None else 0.0,
            module__time_shift=self.time_shift,
            module__crop=None
            if self.crop is None
            else int(round(self.crop * sfreq / decim)),
            module__decim=decim,
            module__amp=self.amp,
            module__backbone=self.backbone,
            module__sfreq=float(sfreq) / decim,
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

    def _build_net(self, n_chans, n_classes, n_samples, device, valid=None, sfreq=None):
        import torch
        from skorch.callbacks import EarlyStopping, GradientNormClipping, LRScheduler

        from ._net import EpochProgress, MelSpecNet, SoftTargetKLLoss, SoftTargetNet

        sfreq = DEFAULT_SFREQ if sfreq is None else sfreq
        if not hasattr(self, "anodes_"):  # built outside fit (tests)
            self.anodes_, self.cathodes_ = np.arange(n_chans), np.full(n_chans, -1)
            self.derivation_names_ = [f"ch{k}" for k in range(n_chans)]
        train_split = None
        n_train = n_samples
        if valid is not None:
            train_split = IndexSplit(np.flatnonzero(~valid), np.flatnonzero(valid))
            n_train = int((~valid).sum())
        if n_train < 2:
            raise ValueError(
                f"Training needs at least 2 epochs of data, got {n_train} (1 sample "
                "cannot train batch normalisation)."
            )
        batch_size = min(self.batch_size, n_train)
        callbacks = [
            (
                "progress",
                EpochProgress(verbose=self.verbose, n_batches=n_train // batch_size),
            ),
            (
                "lr_scheduler",
                LRScheduler(policy="CosineAnnealingLR", T_max=self.max_epochs),
            ),
        ]
        if valid is not None:
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
        cuda = torch.device(device).type == "cuda"
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
            iterator_train__pin_memory=cuda,
            iterator_valid__pin_memory=cuda,
            train_split=train_split,
            callbacks=callbacks,
            predict_nonlinearity=None,
            device=device,
            verbose=0,
            mixup_alpha=self.mixup_alpha,
            amp=self.amp,
            **self._module_kwargs(n_chans, n_classes, sfreq),
        )

    def _validation_mask(self, n_samples, groups, seed):
        """Epochs held out for early stopping: whole groups when given."""
        if not self.early_stopping:
            return None
        from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit

        if groups is None:
            warnings.warn(
                "early_stopping without groups holds out random windows, so windows "
                "of one patient / recording can sit on both sides and early "
                "stopping picks over-fitted epochs. Pass fit(X, y, groups=patients).",
                UserWarning,
                stacklevel=3,
            )
            split = ShuffleSplit(
                1, test_size=self.validation_fraction, random_state=seed
            )
            _, valid_idx = next(split.split(np.zeros(n_samples)))
        else:
            groups = np.asarray(groups)
            if groups.shape != (n_samples,):
                raise ValueError(
                    f"groups has shape {groups.shape} but X has {n_samples} epochs; "
                    "give one group (patient) per epoch."
                )
            if np.unique(groups).size < 2:
                raise ValueError(
                    "early_stopping needs at least 2 distinct groups to hold out "
                    "whole groups; got 1."
                )
            split = GroupShuffleSplit(
                1, test_size=self.validation_fraction, random_state=seed
            )
            _, valid_idx = next(split.split(np.zeros(n_samples), groups=groups))
        valid = np.zeros(n_samples, dtype=bool)
        valid[valid_idx] = True
        return valid

    # -------------------------------------------------------------------- fit
    @fill_doc
    def fit(self, X, y, sample_weight=None, groups=None):
        """Train the network.

        Parameters
        ----------
        %(X_3d)s
            Epochs are converted to µV. Arrays are used in float32: a float32
            :class:`numpy.memmap` (``np.load(path, mmap_mode='c')`` or
            ``'r+'``) is read window by window and never copied, so the
            training set need not fit in memory (a read-only memmap is
            copied).
        y : array, shape (n_epochs,) | array, shape (n_epochs, n_classes)
            Class labels, or vote counts / probabilities per class (soft
            targets, normalised per row).
        sample_weight : array, shape (n_epochs,) | None
            Weights of the epochs in the loss (e.g. by number of votes).
        groups : array, shape (n_epochs,) | None
            Group (patient) of each epoch; with ``early_stopping``, whole
            groups are held out for validation. In a
            :class:`~sklearn.model_selection.GridSearchCV`, enable metadata
            routing and call ``set_fit_request(groups=True)`` to receive the
            groups given to the search.

        Returns
        -------
        self : MelSpecCNNClassifier
            The fitted classifier.
        """
        torch = import_optional_dependency("torch", purpose="MelSpecCNNClassifier")
        if self.warm_start and hasattr(self, "net_"):
            return self._continue_fit(X, y, sample_weight, groups)
        X, epochs_names, info_sfreq = self._check_X(X, reset=True)
        sfreq = self._resolve_sfreq(info_sfreq)
        self.decim_ = self._check_params(sfreq)
        ch_names = self._resolve_ch_names(epochs_names, X.shape[1])
        targets, classes = self._encode_targets(y, X.shape[0])
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        self.anodes_, self.cathodes_, self.derivation_names_ = resolve_montage(
            self.montage, ch_names, X.shape[1]
        )
        device = str(resolve_device(self.device))
        seed = int(spawn_seeds(self.random_state, 1)[0])
        valid = self._validation_mask(X.shape[0], groups, seed)
        y_train = np.column_stack([targets, sample_weight]).astype(np.float32)
        net = self._build_net(
            X.shape[1], len(classes), X.shape[0], device, valid=valid, sfreq=sfreq
        )
        devices = [torch.device(device)] if device.startswith("cuda") else []
        with (
            use_log_level(self.verbose),
            _torch_threads(self.n_jobs),
            torch.random.fork_rng(devices=devices),
        ):
            torch.manual_seed(seed)
            net.fit(X, y_train)
        self.net_ = net
        self.classes_ = classes
        self.device_ = device
        self.seed_ = seed
        self.sfreq_ = sfreq
        self.ch_names_ = ch_names
        self.validation_mask_ = valid
        return self

    def _continue_fit(self, X, y, sample_weight, groups):
        """``warm_start``: train the fitted network for ``max_epochs`` more epochs."""
        import torch

        X, names, sfreq = self._check_X(X, reset=False)
        self._check_predict_input(names, sfreq)
        targets, classes = self._encode_targets(y, X.shape[0])
        if len(classes) != len(self.classes_) or np.any(classes != self.classes_):
            raise ValueError(
                "warm_start needs the classes of the first fit "
                f"{self.classes_.tolist()}, got {classes.tolist()}; pass "
                "classes=[...] or warm_start=False."
            )
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        y_train = np.column_stack([targets, sample_weight]).astype(np.float32)
        self.seed_ += 1
        valid = self._validation_mask(X.shape[0], groups, self.seed_)
        self.net_.train_split = (
            None
            if valid is None
            else IndexSplit(np.flatnonzero(~valid), np.flatnonzero(valid))
        )
        self.validation_mask_ = valid
        cuda = self.device_.startswith("cuda")
        devices = [torch.device(self.device_)] if cuda else []
        with (
            use_log_level(self.verbose),
            _torch_threads(self.n_jobs),
            torch.random.fork_rng(devices=devices),
        ):
            torch.manual_seed(self.seed_)
            self.net_.partial_fit(X, y_train)
        return self

    # ---------------------------------------------------------------- predict
    def _forward(self, X, what):
        import torch

        check_is_fitted(self)
        X, names, sfreq = self._check_X(X, reset=False)
        self._check_predict_input(names, sfreq)
        module = self.net_.module_
        module.eval()
        # The module's own device: a model pickled on CUDA and loaded where no
        # GPU exists is mapped to the CPU by skorch.
        device = next(module.parameters()).device
        outputs = []
        with (
            _torch_threads(self.n_jobs),
            torch.inference_mode(),
            _full_precision_convolutions(device, self.amp),
        ):
            for start in range(0, X.shape[0], self.batch_size):
                batch = torch.from_numpy(X[start : start + self.batch_size])
                if device.type == "cuda":
                    batch = batch.pin_memory()
                batch = batch.to(device, non_blocking=True)
                out = module.embed(batch) if what == "embed" else module(batch)
                outputs.append(out.double().cpu().numpy())
        return np.concatenate(outputs, axis=0)

    @fill_doc
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

    @fill_doc
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

    @fill_doc
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

    @fill_doc
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

    @fill_doc
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

    @fill_doc
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


@contextmanager
def _full_precision_convolutions(device, amp):
    """No TF32 in cuDNN convolutions (float32 predictions match the CPU's)."""
    import torch

    if device.type != "cuda" or amp is not None:
        yield
        return
    old = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = old


def _info_sfreq(X):
    """``X.info['sfreq']`` of an MNE object, None for anything else."""
    return float(X.info["sfreq"]) if _mne_kind(X) is not None else None


class IndexSplit:
    """skorch ``train_split`` that returns fixed train / validation subsets."""

    def __init__(self, train_index, valid_index):
        self.train_index = train_index
        self.valid_index = valid_index

    def __call__(self, dataset, y=None, groups=None):
        """Return ``(train_subset, valid_subset)`` of ``dataset``."""
        from torch.utils.data import Subset

        return Subset(dataset, self.train_index), Subset(dataset, self.valid_index)


def _cuda_available():
    try:
        import torch
    except ImportError:  # pragma: no cover - deep extra missing
        return False
    return torch.cuda.is_available()
