"""Shared helpers: validation, randomness, logging, progress and optional imports."""

from ._checks import (
    check_3d_data,
    check_mne_data,
    check_option,
    check_type,
    to_3d_array,
)
from ._docs import docdict, fill_doc
from ._logging import get_log_level, logger, set_log_level, use_log_level
from ._optional import import_optional_dependency
from ._progress import progress_bar
from ._random import check_random_state, check_torch_generator, spawn_seeds
from .discovery import all_estimators

__all__ = [
    "all_estimators",
    "check_3d_data",
    "check_mne_data",
    "check_option",
    "check_random_state",
    "check_torch_generator",
    "check_type",
    "docdict",
    "fill_doc",
    "get_log_level",
    "import_optional_dependency",
    "logger",
    "progress_bar",
    "set_log_level",
    "spawn_seeds",
    "to_3d_array",
    "use_log_level",
]
