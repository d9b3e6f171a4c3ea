"""Package logger and the ``verbose`` convention shared by all estimators.

``verbose=None`` keeps the current package level (WARNING unless changed with
:func:`set_log_level`), ``True`` means INFO, ``False`` means WARNING, and a
level name or number is used as given.
"""

import logging
from contextlib import contextmanager

logger = logging.getLogger("sk_eeg")
if not logger.handlers:
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(_handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False


def _to_level(verbose):
    if verbose is None:
        return logger.level
    if isinstance(verbose, bool):
        return logging.INFO if verbose else logging.WARNING
    if isinstance(verbose, str):
        level = logging.getLevelName(verbose.upper())
        if not isinstance(level, int):
            raise ValueError(
                f"Invalid value for verbose: {verbose!r}. Use a bool, None or a level "
                "name such as 'INFO' or 'DEBUG'."
            )
        return level
    if isinstance(verbose, int):
        return verbose
    raise TypeError(f"verbose must be bool, str, int or None, got {verbose!r}.")


def set_log_level(verbose):
    """Set the sk_eeg log level for the session.

    Parameters
    ----------
    verbose : bool | str | int | None
        ``True`` = INFO, ``False`` = WARNING, or a level name / number.

    Returns
    -------
    old_level : int
        The previous level.
    """
    old = logger.level
    logger.setLevel(_to_level(verbose))
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
    old = set_log_level(verbose)
    try:
        yield logger.level
    finally:
        logger.setLevel(old)


def is_verbose(verbose):
    """Return True when ``verbose`` asks for INFO messages (and progress bars)."""
    return _to_level(verbose) <= logging.INFO
