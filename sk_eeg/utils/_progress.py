"""Progress bars that follow the ``verbose`` convention."""

import os

from ._logging import is_verbose


def progress_bar(iterable=None, *, total=None, desc=None, verbose=None, **kwargs):
    """Wrap ``iterable`` in a tqdm progress bar shown only when verbose.

    Parameters
    ----------
    iterable : iterable | None
        What to iterate over; None makes a manual bar (call ``update``).
    total : int | None
        Number of steps when it cannot be read from ``iterable``.
    desc : str | None
        Label printed before the bar.
    verbose : bool | str | int | None
        The bar is shown at INFO level or below: by default (the package
        level follows MNE's, INFO unless changed) or with ``verbose=True``;
        ``verbose=False`` hides it, and it is never shown when the
        environment variable ``CI`` is set.
    **kwargs
        Passed to :class:`tqdm.tqdm`.

    Returns
    -------
    bar : tqdm.tqdm
        The progress bar (disabled when not verbose).
    """
    from tqdm.auto import tqdm

    disable = not is_verbose(verbose) or bool(os.environ.get("CI"))
    return tqdm(iterable, total=total, desc=desc, disable=disable, **kwargs)
