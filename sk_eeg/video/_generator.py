"""EEG2VideoGenerator: an EEG encoder conditioning a video diffusion model."""

import hashlib
import os
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..utils import (
    check_option,
    check_type,
    fill_doc,
    import_optional_dependency,
    logger,
    progress_bar,
    spawn_seeds,
    use_log_level,
)
from ._classifier import _ENCODERS
from ._features import SEED_DV_BANDS, _check_bands
from ._validation import validate_3d

_BETA_SCHEDULES = ("squaredcos_cap_v2", "linear", "scaled_linear")
_PREDICTION_TYPES = ("epsilon", "sample", "v_prediction")
_PRECISIONS = ("float32", "bfloat16", "float16")

# The two training configurations of EEG2VideoGenerator, as the parameters in
# which they differ. "cpu" is the constructor's defaults: ``sk-eeg eeg2video
# train --simulate`` (120 clips of 8 x 32 x 32) in 6 to 9 minutes on 2 CPU
# cores. "gpu" is the model of EEG2Video (GLMNet on raw EEG, full-resolution
# UNet sampled from pure noise): about 100 minutes on 2 CPU cores, minutes on
# a data-centre GPU. ``EEG2VideoGenerator.from_preset`` and the CLI's
# ``--preset`` read them from here.
EEG2VIDEO_PRESETS = {
    "cpu": dict(
        encoder="mlp", features="de", window_length=1.0, patch_size=4,
        encoder_epochs=60, max_epochs=8, num_inference_steps=10,
        init_strength=0.1, batch_size=8,
    ),
    "gpu": dict(
        encoder="glmnet", features=None, window_length=None, patch_size=1,
        encoder_epochs=20, max_epochs=50, num_inference_steps=25,
        init_strength=1.0, batch_size=8,
    ),
}  # fmt: skip


def clip_seeds(X, seed):
    """One 63-bit seed per clip, from ``seed`` and the bytes of the clip's EEG."""
    seeds = []
    for clip in np.ascontiguousarray(X, dtype=np.float64):
        digest = hashlib.blake2b(clip.tobytes(), digest_size=8, key=str(seed).encode())
        seeds.append(int.from_bytes(digest.digest(), "little") >> 1)
    return seeds


def _check_videos(y, n_clips):
    """Return float videos in [0, 1], shape (n, F, H, W, 3), and whether uint8."""
    if y is None:
        raise ValueError(
            "EEG2VideoGenerator requires y to be passed, but the target y is None. "
            "y is the videos, an array of shape (n_clips, n_frames, height, "
            "width, 3)."
        )
    y = np.asarray(y)
    if y.ndim != 5 or y.shape[-1] != 3:
        raise ValueError(
            "y must be the videos, an array of shape (n_clips, n_frames, height, "
            f"width, 3) (uint8 0..255 or float 0..1); got shape {y.shape}."
        )
    if len(y) != n_clips:
        raise ValueError(f"X has {n_clips} clips but y has {len(y)} videos.")
    if y.dtype == np.uint8:
        return y.astype(np.float32) / 255.0, True
    if not np.issubdtype(y.dtype, np.floating):
        raise ValueError(f"y must be uint8 or float; got dtype {y.dtype}.")
    if not np.all(np.isfinite(y)) or y.min() < -1e-6 or y.max() > 1 + 1e-6:
        raise ValueError(
            "float videos y must lie in [0, 1] (pass uint8 frames as they are)."
        )
    return y.astype(np.float32), False


@fill_doc
class EEG2VideoGenerator(TransformerMixin, BaseEstimator):
    """Generate the video a subject watched from their EEG (EEG2Video, tiny).

    An EEG encoder (GLMNet, ShallowNet, EEGNet, Conformer or MLP) maps each
    clip's EEG to ``n_tokens`` condition tokens that a diffusers
    ``UNet3DConditionModel`` (built from config, nothing downloaded) attends
    to through ``encoder_hidden_states``. Both are trained end to end with
    DDPM noise prediction; the condition is dropped (zeroed) with probability
    ``cond_dropout`` so that sampling can use classifier-free guidance.
    Optional parts from EEG2Video: a latent predictor (the encoder also
    regresses the clean video / latents, EEG2Video's Seq2Seq ẑ0; sampling can
    start from it with ``init_strength < 1``), dynamic-aware noise (DANA,
    ``dana_beta``) and a tiny ``AutoencoderKL`` latent space (``use_vae``).

    - ``fit(X, y)``: ``X`` EEG, ``y`` the videos
      ``(n_clips, n_frames, height, width, 3)`` (uint8 or float in [0, 1]);
      ``labels`` (optional) adds an auxiliary classification loss on the
      embedding.
    - ``predict(X)``: generated videos (DDIM sampling, seeded by
      ``random_state``), same dtype convention as the ``y`` seen in fit.
    - ``transform(X)``: the EEG embeddings ``(n_clips, emb_dim)``.
    - ``save(path)`` / ``load(path)``: a diffusers pipeline directory that
      loads in any process and on any device.

    Parameters
    ----------
    encoder : str
        ``'glmnet'``, ``'shallownet'``, ``'eegnet'``, ``'conformer'`` or ``'mlp'``
        (the default; EEG2Video's is GLMNet, see Notes).
    features : {None, 'de', 'log_power'}
        None feeds the raw (standardised) EEG to the encoder; ``'de'`` its
        differential entropy and ``'log_power'`` its log band power per channel
        (as :class:`DifferentialEntropy`, computed inside the pipeline in torch,
        then standardised with training statistics). EEG2Video's semantic
        predictor works on DE.
    sfreq : float
        Sampling frequency of ``X`` (used by ``features``, so it must be that
        of the data unless ``features=None``).
    bands : sequence of (float, float)
        Frequency bands of ``features`` (default: the SEED-DV bands).
    window_length : float | None
        Window of ``features`` in seconds (None: the whole clip); the clips
        must be at least that long.
    frames, height, width : int | None
        Size of the generated videos; None takes it from ``y``. Training videos
        of another size are resampled (trilinear).
    emb_dim : int
        EEG embedding size.
    n_tokens : int
        Number of condition tokens.
    cross_attention_dim : int
        Size of each condition token.
    unet_channels : tuple of int
        ``block_out_channels`` of the UNet (one level per entry; every level but
        the deepest has cross-attention).
    layers_per_block : int
        ResNet layers per UNet level.
    attention_head_dim : int
        Passed to the UNet (diffusers reads it as the number of heads).
    patch_size : int
        Without a VAE, fold ``patch_size`` x ``patch_size`` pixel patches into
        channels (lossless space-to-depth, ``3 * patch_size**2`` channels), so
        the UNet runs on a grid ``patch_size`` times smaller: a 32 x 32 clip
        with ``patch_size=4`` costs about as much as an 8 x 8 one.
    use_vae : bool
        Diffuse in the latent space of a tiny ``AutoencoderKL`` (4 channels,
        ``2 ** (len(vae_channels) - 1)`` x downsampling), trained first for
        ``vae_epochs`` epochs on the training frames.
    vae_channels : tuple of int
        ``block_out_channels`` of the VAE.
    vae_epochs : int
        Epochs of VAE training.
    encoder_epochs : int
        Epochs of encoder warm-up before the joint training: the encoder and
        its latent predictor (and label head) alone, which is cheap and gives
        the diffusion model an informative condition from the start (EEG2Video
        trains its predictors separately too).
    num_train_timesteps : int
        Diffusion steps of the training schedule.
    beta_schedule : str
        ``'squaredcos_cap_v2'``, ``'linear'`` or ``'scaled_linear'``.
    prediction_type : {'epsilon', 'sample', 'v_prediction'}
        What the UNet predicts: the noise (DDPM, EEG2Video), the clean
        video / latents, or the velocity ``v``. ``'sample'`` and
        ``'v_prediction'`` give clean (if blurry) clips after little
        training, where an undertrained noise predictor leaves visible noise.
    num_inference_steps : int
        DDIM sampling steps.
    guidance_scale : float
        Classifier-free guidance weight (1 = no guidance, one UNet pass per
        step).
    cond_dropout : float
        Probability of dropping the condition in training.
    latent_predictor : bool
        Train a head that regresses the clean video / latents from the EEG
        embedding.
    latent_weight : float
        Weight of the latent predictor's MSE in the loss.
    init_strength : float
        1 samples from pure noise; below 1, sampling starts from the latent
        prediction noised to that fraction of the schedule (SDEdit-style, as
        EEG2Video starts from its Seq2Seq latents).
    dana_beta : float | None
        Shared-noise fraction of the initial noise (DANA; EEG2Video uses 0.2 /
        0.3); None draws i.i.d. noise.
    local_channels : list of int | None
        GLMNet's local channels (default: the last 12).
    dropout : float
        Encoder dropout.
    pretrained_path : str | None
        A local pipeline directory (from :meth:`save`) to start from; ``fit``
        then fine-tunes it for ``max_epochs`` epochs (0: load only).
    max_epochs : int
        Training epochs.
    lr : float
        AdamW learning rate.
    batch_size : int
        Minibatch size (training and sampling).
    checkpoint_dir : path-like | None
        Folder where ``fit`` writes its training state (``checkpoint.pt``:
        weights, optimizer, random generators) every ``checkpoint_every``
        epochs and at the end of each phase. If it already holds a checkpoint
        of the same settings and data, ``fit`` resumes from it and ends with
        the weights of an uninterrupted run (rerun an interrupted command to
        continue it). None writes nothing.
    checkpoint_every : int
        Epochs between checkpoints.
    checkpoint_minutes : float | None
        Also write a checkpoint at the end of an epoch when this many minutes
        have passed since the last one (for runs whose epochs are long); None
        counts epochs only.
    %(device)s
    precision : {'float32', 'bfloat16', 'float16'}
        Mixed precision (``torch.autocast``) for training and sampling;
        ``'float16'`` (CUDA only) adds a gradient scaler. The weights stay
        float32.
    n_jobs : int | None
        CPU threads torch uses during fit and predict (``-1``: all cores);
        None leaves torch's setting unchanged (by default, all cores). On a
        machine busy with other processes, ``n_jobs=1`` can be several times
        faster: torch's threads wait for each other.
    %(random_state)s
    %(verbose)s

    Attributes
    ----------
    pipeline_ : EEG2VideoPipeline
        The trained diffusers pipeline (UNet, scheduler, EEG encoder, VAE).
    n_features_in_ : int
        Number of EEG channels.
    n_times_ : int
        EEG samples per clip.
    video_shape_ : tuple of int
        ``(frames, height, width)`` of the generated videos.
    device_ : torch.device
        Device used.
    loss_curve_ : list of float
        Mean training loss per epoch.

    See Also
    --------
    EEGEncoderClassifier : The same encoders as EEG classifiers.
    sk_eeg.video.video_ssim, sk_eeg.video.n_way_identification : Scoring.
    sk_eeg.video.reconstruction_baselines : SSIM / PSNR beside trivial clips.

    Notes
    -----
    The full EEG2Video inflates Stable Diffusion 1.4 (about 1 B parameters,
    512 x 288 frames) and needs a large GPU; this estimator builds a tiny model
    from config (8 frames at 32 x 32: about 1.5 M UNet parameters).

    **Two configurations.** The defaults are sized for a CPU: an MLP on the
    differential entropy of 1 s windows, 4 x 4 pixel patches folded into
    channels, 60 encoder warm-up and 8 joint epochs, and sampling that runs
    only the last of 10 DDIM steps from the encoder's latent prediction
    (``init_strength=0.1``), so the clips are mostly that regression.
    ``sk-eeg eeg2video train --simulate`` (120 clips of 8 x 32 x 32, 62
    channels, 2 s at 200 Hz) fits them in 6 to 9 minutes on 2 CPU cores
    (7 CPU-minutes); on the held-out block its clips are identified 4-way
    at 1.00 (chance 0.25), with SSIM 0.51 to the true clips against 0.36
    from shuffled EEG, 0.44 for the mean training clip and 0.71 for the
    class-mean clip.
    The GPU-sized configuration is EEG2Video's model: GLMNet on the raw EEG,
    the full-resolution UNet, 20 encoder and 50 joint epochs, 25 DDIM steps
    from pure noise::

        encoder='glmnet', features=None, window_length=None, patch_size=1,
        encoder_epochs=20, max_epochs=50, num_inference_steps=25,
        init_strength=1.0, batch_size=8

    ``EEG2VideoGenerator.from_preset('gpu')`` builds it (both sets are in
    :data:`sk_eeg.video.EEG2VIDEO_PRESETS`, which ``sk-eeg eeg2video train
    --preset`` reads). On the same data it needs about 100 minutes on 2 CPU
    cores; on an NVIDIA H200 a training step of batch 8 takes about 0.1 s
    (0.095 s, against 1.16 s on 16 CPU cores) and sampling is about 11 times
    faster than on those cores, so it trains in minutes. ``device='auto'``
    uses CUDA when present, with either configuration;
    ``precision='bfloat16'`` adds mixed precision.

    Long runs should set ``checkpoint_dir`` so that they can be resumed. Score
    generated clips with :func:`reconstruction_baselines`: SSIM rewards a
    clean background, so the mean training clip is a strong reference. A
    larger fine-tuned pipeline saved with :meth:`save` can be used through
    ``pretrained_path``.

    References
    ----------
    .. [1] Liu X-H, Liu Y-K, Wang Y, et al. (2024). EEG2Video: Towards
           decoding dynamic visual perception from EEG signals. Advances in
           Neural Information Processing Systems, 37.
    .. [2] Ho J, Jain A, Abbeel P (2020). Denoising diffusion probabilistic
           models. Advances in Neural Information Processing Systems, 33,
           6840-6851.
    .. [3] Song J, Meng C, Ermon S (2021). Denoising diffusion implicit
           models. International Conference on Learning Representations.
    .. [4] Wang Z, Bovik AC, Sheikh HR, Simoncelli EP (2004). Image quality
           assessment: from error visibility to structural similarity. IEEE
           Transactions on Image Processing, 13(4), 600-612.

    Examples
    --------
    >>> from sk_eeg.datasets import make_eeg_video
    >>> from sk_eeg.video import EEG2VideoGenerator
    >>> data = make_eeg_video(n_blocks=1, n_classes=2, n_clips=2, n_frames=4,
    ...                       height=16, width=16, n_channels=8, sfreq=200.0,
    ...                       random_state=0)
    >>> gen = EEG2VideoGenerator(sfreq=data.sfreq, unet_channels=(16,),
    ...                          encoder_epochs=2, max_epochs=1,
    ...                          device="cpu", random_state=0)
    >>> gen.fit(data.X, data.videos).predict(data.X[:1]).shape
    (1, 4, 16, 16, 3)

    The GPU-sized configuration (see Notes):

    >>> EEG2VideoGenerator.from_preset("gpu", device="cuda").encoder
    'glmnet'
    """

    def __init__(
        self,
        encoder="mlp",
        features="de",
        sfreq=200.0,
        bands=SEED_DV_BANDS,
        window_length=1.0,
        frames=None,
        height=None,
        width=None,
        emb_dim=64,
        n_tokens=4,
        cross_attention_dim=64,
        unet_channels=(32, 64),
        layers_per_block=1,
        attention_head_dim=8,
        patch_size=4,
        use_vae=False,
        vae_channels=(32, 64),
        vae_epochs=20,
        encoder_epochs=60,
        num_train_timesteps=1000,
        beta_schedule="squaredcos_cap_v2",
        prediction_type="epsilon",
        num_inference_steps=10,
        guidance_scale=1.0,
        cond_dropout=0.1,
        latent_predictor=True,
        latent_weight=1.0,
        init_strength=0.1,
        dana_beta=None,
        local_channels=None,
        dropout=0.25,
        pretrained_path=None,
        max_epochs=8,
        lr=1e-3,
        batch_size=8,
        checkpoint_dir=None,
        checkpoint_every=1,
        checkpoint_minutes=None,
        device="auto",
        precision="float32",
        n_jobs=None,
        random_state=None,
        verbose=None,
    ):
        self.encoder = encoder
        self.features = features
        self.sfreq = sfreq
        self.bands = bands
        self.window_length = window_length
        self.frames = frames
        self.height = height
        self.width = width
        self.emb_dim = emb_dim
        self.n_tokens = n_tokens
        self.cross_attention_dim = cross_attention_dim
        self.unet_channels = unet_channels
        self.layers_per_block = layers_per_block
        self.attention_head_dim = attention_head_dim
        self.patch_size = patch_size
        self.use_vae = use_vae
        self.vae_channels = vae_channels
        self.vae_epochs = vae_epochs
        self.encoder_epochs = encoder_epochs
        self.num_train_timesteps = num_train_timesteps
        self.beta_schedule = beta_schedule
        self.prediction_type = prediction_type
        self.num_inference_steps = num_inference_steps
        self.guidance_scale = guidance_scale
        self.cond_dropout = cond_dropout
        self.latent_predictor = latent_predictor
        self.latent_weight = latent_weight
        self.init_strength = init_strength
        self.dana_beta = dana_beta
        self.local_channels = local_channels
        self.dropout = dropout
        self.pretrained_path = pretrained_path
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.checkpoint_minutes = checkpoint_minutes
        self.device = device
        self.precision = precision
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ checks
    def _check_params(self):
        check_option("encoder", self.encoder, _ENCODERS)
        check_option("beta_schedule", self.beta_schedule, _BETA_SCHEDULES)
        check_option("prediction_type", self.prediction_type, _PREDICTION_TYPES)
        check_option("features", self.features, (None, "de", "log_power"))
        check_option("precision", self.precision, _PRECISIONS)
        if self.checkpoint_dir is not None:
            check_type(self.checkpoint_dir, "path-like", "checkpoint_dir")
        if self.checkpoint_minutes is not None:
            check_type(self.checkpoint_minutes, "numeric", "checkpoint_minutes")
            if self.checkpoint_minutes < 0:
                raise ValueError(
                    f"checkpoint_minutes must be >= 0 or None, got "
                    f"{self.checkpoint_minutes}."
                )
        if self.features is not None:
            check_type(self.sfreq, "numeric", "sfreq")
            _check_bands(self.bands, float(self.sfreq))
        positive = (
            "emb_dim", "n_tokens", "cross_attention_dim", "layers_per_block",
            "patch_size",
            "attention_head_dim", "num_train_timesteps", "num_inference_steps",
            "batch_size", "checkpoint_every",
        )  # fmt: skip
        for name in positive:
            value = check_type(getattr(self, name), "int", name)
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}.")
        for name in ("max_epochs", "vae_epochs", "encoder_epochs"):
            if check_type(getattr(self, name), "int", name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}.")
        for name in ("frames", "height", "width"):
            if getattr(self, name) is not None:
                if check_type(getattr(self, name), "int", name) < 1:
                    raise ValueError(f"{name} must be >= 1 or None.")
        for name in ("guidance_scale", "lr", "latent_weight"):
            check_type(getattr(self, name), "numeric", name)
        for name in ("cond_dropout", "dropout"):
            if not 0 <= check_type(getattr(self, name), "numeric", name) < 1:
                raise ValueError(
                    f"{name} must be in [0, 1), got {getattr(self, name)}."
                )
        if not 0 < check_type(self.init_strength, "numeric", "init_strength") <= 1:
            raise ValueError(
                f"init_strength must be in (0, 1], got {self.init_strength}."
            )
        if self.init_strength < 1 and not self.latent_predictor:
            raise ValueError(
                "init_strength < 1 starts sampling from the latent prediction; set "
                "latent_predictor=True."
            )
        if self.dana_beta is not None:
            check_type(self.dana_beta, "numeric", "dana_beta")
            if not 0 <= self.dana_beta <= 1:
                raise ValueError(f"dana_beta must be in [0, 1], got {self.dana_beta}.")
        for name in ("unet_channels", "vae_channels"):
            channels = getattr(self, name)
            if not (
                isinstance(channels, list | tuple)
                and len(channels) >= 1
                and all(isinstance(c, int) and c >= 1 for c in channels)
            ):
                raise ValueError(
                    f"{name} must be a tuple of positive ints, e.g. (32, 64)."
                )
        if self.unet_channels[0] < 8:
            raise ValueError("unet_channels must be >= 8 (GroupNorm groups).")
        for name in ("use_vae", "latent_predictor"):
            check_type(getattr(self, name), bool, name)
        if self.pretrained_path is not None:
            check_type(self.pretrained_path, "path-like", "pretrained_path")
            if not (Path(self.pretrained_path) / "model_index.json").exists():
                raise FileNotFoundError(
                    f"pretrained_path={os.fspath(self.pretrained_path)!r} is not a "
                    "pipeline directory (no model_index.json); create one with "
                    "EEG2VideoGenerator.save()."
                )
        elif self.max_epochs < 1:
            raise ValueError("max_epochs must be >= 1 unless pretrained_path is set.")

    def _validate_X(self, X, reset):
        X = validate_3d(self, X, reset=reset)
        if not reset and X.shape[2] != self.n_times_:
            raise ValueError(
                f"X must have {self.n_times_} time samples per clip as in fit; got "
                f"{X.shape[2]}."
            )
        return X

    # --------------------------------------------------------------------- fit
    @fill_doc
    def fit(self, X, y, labels=None):
        """Train the EEG encoder and the video diffusion model end to end.

        Parameters
        ----------
        %(X_3d)s
            A 2D array is read as ``(n_clips, n_channels, 1)``.
        y : array, shape (n_clips, n_frames, height, width, 3)
            The videos watched (uint8 0..255 or float 0..1).
        labels : array, shape (n_clips,) | None
            Optional class labels for an auxiliary classification loss.

        Returns
        -------
        self : EEG2VideoGenerator
            The fitted generator.
        """
        self._check_params()
        X = self._validate_X(X, reset=True)
        videos, self.uint8_output_ = _check_videos(y, len(X))
        self.n_times_ = X.shape[2]
        label_index = None
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != (len(X),):
                raise ValueError(
                    f"labels must have shape ({len(X)},); got {labels.shape}."
                )
            self.classes_, label_index = np.unique(labels, return_inverse=True)
        from ._training import torch_threads

        with use_log_level(self.verbose), torch_threads(self.n_jobs):
            self._fit_torch(X, videos, label_index)
        return self

    def _video_shape(self, videos):
        frames = self.frames or videos.shape[1]
        height = self.height or videos.shape[2]
        width = self.width or videos.shape[3]
        factor = 2 ** (len(self.unet_channels) - 1)
        if self.use_vae:
            factor *= 2 ** (len(self.vae_channels) - 1)
        else:
            factor *= self.patch_size
        if height % factor or width % factor:
            raise ValueError(
                f"height and width ({height}, {width}) must be multiples of {factor} "
                "for this UNet / VAE depth; resize the videos or set height/width."
            )
        return frames, height, width

    def _build_pipeline(self, n_channels, n_times, n_classes, video_shape):
        from ._diffusion import build_schedulers, build_unet, build_vae
        from ._encoders import EEGConditionEncoder
        from ._pipeline import EEG2VideoPipeline

        frames, height, width = video_shape
        vae = None
        p = self.patch_size
        channels, lat_h, lat_w = 3 * p * p, height // p, width // p
        if self.use_vae:
            vae = build_vae(self.vae_channels, sample_size=height)
            down = 2 ** (len(self.vae_channels) - 1)
            channels, lat_h, lat_w = 4, height // down, width // down
        unet = build_unet(
            channels, self.unet_channels, self.layers_per_block,
            self.cross_attention_dim, self.attention_head_dim, sample_size=lat_h,
        )  # fmt: skip
        eeg_encoder = EEGConditionEncoder(
            architecture=self.encoder,
            n_channels=n_channels,
            n_times=n_times,
            emb_dim=self.emb_dim,
            local_channels=self.local_channels,
            dropout=self.dropout,
            n_tokens=self.n_tokens,
            cross_attention_dim=self.cross_attention_dim,
            latent_shape=(channels, frames, lat_h, lat_w),
            latent_predictor=self.latent_predictor,
            n_classes=n_classes,
            features=self.features,
            sfreq=float(self.sfreq),
            bands=tuple(tuple(float(f) for f in band) for band in self.bands),
            window_length=self.window_length,
        )
        _, ddim = build_schedulers(
            self.num_train_timesteps, self.beta_schedule, self.prediction_type
        )
        return EEG2VideoPipeline(
            unet=unet, scheduler=ddim, eeg_encoder=eeg_encoder, vae=vae
        )

    def _fit_torch(self, X, videos, label_index):
        torch = import_optional_dependency("torch", purpose="EEG2VideoGenerator")
        import_optional_dependency("diffusers", purpose="EEG2VideoGenerator")
        from ._fit import fingerprint, train_generator
        from ._persistence import load_pipeline
        from ._training import resolve_device, seeded

        self.device_ = resolve_device(self.device)
        if self.precision == "float16" and self.device_.type != "cuda":
            raise ValueError(
                "precision='float16' needs a CUDA device; use 'bfloat16' on the CPU."
            )
        # The fourth seed drives torch's global RNG (dropout) during training,
        # on the CPU and on CUDA; the first three are unchanged by it.
        init_seed, train_seed, self._sample_seed, dropout_seed = (
            int(s) for s in spawn_seeds(self.random_state, 4)
        )
        n_classes = 0 if label_index is None else len(self.classes_)
        generator = torch.Generator().manual_seed(train_seed)
        with seeded(init_seed):
            if self.pretrained_path is not None:
                pipe = load_pipeline(self.pretrained_path)
                self._check_pretrained(pipe, X, videos, n_classes)
                _, frames, lat_h, lat_w = pipe.eeg_encoder.config.latent_shape
                if pipe.vae is not None:
                    down = 2 ** (len(pipe.vae.config.block_out_channels) - 1)
                else:
                    down = pipe.patch_size
                self.video_shape_ = (int(frames), lat_h * down, lat_w * down)
            else:
                self.video_shape_ = self._video_shape(videos)
                pipe = self._build_pipeline(
                    X.shape[1], X.shape[2], n_classes, self.video_shape_
                )
                pipe.eeg_encoder.set_input_stats(
                    torch.as_tensor(X, dtype=torch.float32)
                )
            pipe.set_progress_bar_config(disable=True)
            pipe.to(self.device_)
        checkpoint = None
        if self.checkpoint_dir is not None:
            checkpoint = {
                "directory": Path(self.checkpoint_dir),
                "every": self.checkpoint_every,
                "minutes": self.checkpoint_minutes,
                "fingerprint": fingerprint(self, X, videos, label_index),
            }
        with seeded(dropout_seed):
            self.loss_curve_ = train_generator(
                self, pipe, X, videos, label_index, generator, checkpoint
            )
        if self.loss_curve_:
            logger.info(
                "EEG2VideoGenerator: final training loss %.4f", self.loss_curve_[-1]
            )
        self.pipeline_ = pipe

    def _check_pretrained(self, pipe, X, videos, n_classes):
        cfg = pipe.eeg_encoder.config
        if (cfg.n_channels, cfg.n_times) != X.shape[1:]:
            raise ValueError(
                f"pretrained_path expects EEG with {cfg.n_channels} channels and "
                f"{cfg.n_times} samples; X has shape {X.shape[1:]}."
            )
        if n_classes and cfg.n_classes != n_classes:
            raise ValueError(
                f"pretrained_path has {cfg.n_classes} classes in its head; labels "
                f"hold {n_classes}."
            )
        kind = pipe.scheduler.config.prediction_type
        if kind != self.prediction_type:
            raise ValueError(
                f"pretrained_path was trained with prediction_type={kind!r}; set "
                f"prediction_type={kind!r} to fine-tune it."
            )

    # ----------------------------------------------------------------- predict
    @fill_doc
    def transform(self, X):
        """EEG embeddings.

        Parameters
        ----------
        %(X_3d)s

        Returns
        -------
        embeddings : ndarray, shape (n_clips, emb_dim)
            The encoder's output.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        torch = import_optional_dependency("torch")
        from ._training import torch_threads

        with torch.inference_mode(), torch_threads(self.n_jobs):
            eeg = torch.as_tensor(X, dtype=torch.float32, device=self.device_)
            out = [
                self.pipeline_.eeg_encoder.embed(eeg[i : i + 256])
                .double()
                .cpu()
                .numpy()
                for i in range(0, len(eeg), 256)
            ]
        return np.concatenate(out)

    @fill_doc
    def predict(self, X, *, random_state=None):
        """Generate videos from EEG (DDIM sampling).

        Parameters
        ----------
        %(X_3d)s
        random_state : int | RandomState | None
            Seed of the initial noise; None derives it from the estimator's
            ``random_state``. Each clip's noise is seeded from this seed and
            the clip's EEG, so the same seed gives the same video for the same
            EEG, whatever else is in ``X`` and in which order.

        Returns
        -------
        videos : ndarray, shape (n_clips, frames, height, width, 3)
            uint8 when the training videos were uint8, else float in [0, 1].
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        torch = import_optional_dependency("torch")
        from ._training import autocast, torch_threads

        seed = (
            self._sample_seed
            if random_state is None
            else int(spawn_seeds(random_state, 1)[0])
        )
        # One noise generator per clip, seeded from the seed and the clip's own
        # EEG: a clip's sample depends neither on its batch nor on its position.
        seeds = clip_seeds(X, seed)
        eeg = torch.as_tensor(X, dtype=torch.float32)
        out = []
        bar = progress_bar(
            range(0, len(X), self.batch_size), desc="sampling", verbose=self.verbose
        )
        with torch_threads(self.n_jobs), autocast(self.device_, self.precision):
            for start in bar:
                stop = start + self.batch_size
                out.append(
                    self.pipeline_(
                        eeg[start:stop],
                        num_inference_steps=self.num_inference_steps,
                        guidance_scale=self.guidance_scale,
                        generator=[
                            torch.Generator().manual_seed(s) for s in seeds[start:stop]
                        ],
                        init_strength=self.init_strength,
                        dana_beta=self.dana_beta,
                    )
                )
        videos = np.concatenate(out)
        if self.uint8_output_:
            return np.round(videos * 255).astype(np.uint8)
        return videos

    @fill_doc
    def score(self, X, y):
        """Mean SSIM between generated and true videos.

        Parameters
        ----------
        %(X_3d)s
        y : array, shape (n_clips, frames, height, width, 3)
            The true videos, of the generated size.

        Returns
        -------
        ssim : float
            :func:`sk_eeg.video.video_ssim` of ``predict(X)`` against ``y``.
        """
        from ._metrics import video_ssim

        pred = self.predict(X)
        side = min(pred.shape[2:4])
        # The largest odd window up to skimage's default of 7.
        return video_ssim(y, pred, win_size=min(7, side - 1 + side % 2))

    # ----------------------------------------------------------------- presets
    @classmethod
    def from_preset(cls, preset, **params):
        """Build a generator with one of the two training configurations.

        Parameters
        ----------
        preset : {'cpu', 'gpu'}
            ``'cpu'``: the constructor's defaults (minutes on 2 CPU cores);
            ``'gpu'``: EEG2Video's model (GLMNet on raw EEG, full-resolution
            UNet, 50 epochs, 25 DDIM steps from noise), sized for a GPU. The
            values are :data:`sk_eeg.video.EEG2VIDEO_PRESETS` (see Notes of
            :class:`EEG2VideoGenerator`).
        **params
            Other constructor parameters; they override the preset's values.

        Returns
        -------
        generator : EEG2VideoGenerator
            An unfitted generator.
        """
        check_option("preset", preset, tuple(EEG2VIDEO_PRESETS))
        return cls(**{**EEG2VIDEO_PRESETS[preset], **params})

    # --------------------------------------------------------------- save/load
    def save(self, path):
        """Save as a diffusers pipeline directory (plus the estimator's settings).

        The directory loads with :meth:`load` in any process, on any device.

        Parameters
        ----------
        path : path-like
            Directory to write (created if needed).

        Returns
        -------
        path : pathlib.Path
            The directory.
        """
        check_is_fitted(self)
        from ._persistence import save_generator

        return save_generator(self, path)

    @classmethod
    def load(cls, path, device="auto"):
        """Load a generator saved with :meth:`save` (no network access).

        Parameters
        ----------
        path : path-like
            The directory.
        device : str
            Torch device to put the pipeline on (``'auto'``: CUDA when
            available); weights saved on another device are mapped to it.

        Returns
        -------
        generator : EEG2VideoGenerator
            The fitted generator.
        """
        import_optional_dependency("diffusers", purpose="EEG2VideoGenerator.load")
        from ._persistence import load_generator

        return load_generator(cls, path, device)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.target_tags.required = True
        tags.non_deterministic = self.device != "cpu"
        return tags
