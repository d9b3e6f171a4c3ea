"""Package logger and the ``verbose`` convention shared by all estimators.

The package level follows MNE, so an MNE script needs one setting for both:

1. a level set with :func:`set_log_level` (``None`` goes back to 2. and 3.);
2. else the environment variable ``SK_EEG_LOGGING_LEVEL`` (``"info"``,
   ``"warning"``, ...);
3. else MNE's current level (:func:`mne.set_log_level`, ``MNE_LOGGING_LEVEL``),
   which is INFO unless changed: progress is shown by default, as in MNE.

An estimator's ``verbose=None`` keeps the package level, ``True`` means INFO,
``False`` means WARNING, and a level name or number is used as given.
"""

import logging
import os
import sys
from contextlib import contextmanager


class _StderrHandler(logging.StreamHandler):
    """Write to the ``sys.stderr`` of the moment (notebooks and pytest swap it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


logger = logging.getLogger("sk_eeg")
if not logger.handlers:
    _handler = _StderrHandler()
    _handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(_handler)
    logger.propagate = False

_ENV_LEVEL = "SK_EEG_LOGGING_LEVEL"
# the level set with set_log_level / use_log_level; None follows env and MNE
_explicit_level = [None]


def _package_level():
    if _explicit_level[0] is not None:
        return _explicit_level[0]
    env = os.environ.get(_ENV_LEVEL)
    if env:
        return _to_level(env, name=_ENV_LEVEL)
    return logging.getLogger("mne").getEffectiveLevel()


class _FollowPackageLevel(logging.Filter):
    """Drop records below the package level, read when the record is made."""

    def filter(self, record):
        return record.levelno >= _package_level()


if not any(isinstance(f, _FollowPackageLevel) for f in logger.filters):
    logger.addFilter(_FollowPackageLevel())
# the filter decides; the logger itself lets everything through to it
logger.setLevel(logging.DEBUG)


def _to_level(verbose, name="verbose"):
    if verbose is None:
        return _package_level()
    if isinstance(verbose, bool):
        return logging.INFO if verbose else logging.WARNING
    if isinstance(verbose, str):
        level = logging.getLevelName(verbose.upper())
        if not isinstance(level, int):
            raise ValueError(
                f"Invalid value for {name}: {verbose!r}. Use a bool, None or a level "
                "name such as 'INFO', 'WARNING' or 'DEBUG'."
            )
        return level
    if isinstance(verbose, int):
        return verbose
    raise TypeError(f"{name} must be bool, str, int or None, got {verbose!r}.")


def get_log_level():
    """Return the sk_eeg log level now in effect.

    Returns
    -------
    level : int
        The :mod:`logging` level (e.g. ``logging.INFO`` = 20).
    """
    return _package_level()


def set_log_level(verbose):
    """Set the sk_eeg log level for the session.

    Parameters
    ----------
    verbose : bool | str | int | None
        ``True`` = INFO, ``False`` = WARNING, or a level name / number.
        ``None`` drops the setting: the level follows ``SK_EEG_LOGGING_LEVEL``
        or, if unset, MNE's level (:func:`mne.set_log_level`).

    Returns
    -------
    old_level : int | None
        The previous explicit level (None when it followed MNE).
    """
    old = _explicit_level[0]
    _explicit_level[0] = None if verbose is None else _to_level(verbose)
    return old


@contextmanager
def use_log_level(verbose):
    """Temporarily use the log level that ``verbose`` stands for.

    Parameters
    ----------
    verbose : bool | str | int | None
        As in :func:`set_log_level`; None leaves the level unchanged.

    Yields
    ------
    level : int
        The level in effect inside the block.
    """
    old = _explicit_level[0]
    if verbose is not None:
        _explicit_level[0] = _to_level(verbose)
    try:
        yield _package_level()
    finally:
        _explicit_level[0] = old


def is_verbose(verbose):
    """Return True when ``verbose`` asks for INFO messages (and progress bars)."""
    return _to_level(verbose) <= logging.INFO
