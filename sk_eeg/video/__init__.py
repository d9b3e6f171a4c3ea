"""EEG-to-video: spectral features, EEG encoders and EEG-conditioned video diffusion.

Importing this subpackage loads neither torch nor diffusers: the torch modules
(:mod:`sk_eeg.video._encoders`, :mod:`sk_eeg.video._diffusion`,
:mod:`sk_eeg.video._pipeline`) are imported inside ``fit`` / ``load``.
"""

from ._classifier import (
    EEGEncoderClassifier,
    LeaveOneBlockOut,
    check_no_clip_split,
    cross_validate_blocks,
)
from ._features import SEED_DV_BANDS, BandPower, DifferentialEntropy
from ._generator import EEG2VIDEO_PRESETS, EEG2VideoGenerator
from ._metrics import (
    IdentificationScore,
    make_video_classifier,
    n_way_chance_level,
    n_way_identification,
    reconstruction_baselines,
    video_mse,
    video_psnr,
    video_ssim,
)
from ._viz import plot_video_frames, save_video_gif

__all__ = [
    "EEG2VIDEO_PRESETS",
    "SEED_DV_BANDS",
    "BandPower",
    "DifferentialEntropy",
    "EEG2VideoGenerator",
    "EEGEncoderClassifier",
    "IdentificationScore",
    "LeaveOneBlockOut",
    "make_video_classifier",
    "check_no_clip_split",
    "cross_validate_blocks",
    "n_way_chance_level",
    "n_way_identification",
    "plot_video_frames",
    "reconstruction_baselines",
    "save_video_gif",
    "video_mse",
    "video_psnr",
    "video_ssim",
]
