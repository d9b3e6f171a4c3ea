"""Shared parameter documentation, written once and filled into docstrings."""

docdict = {
    "random_state": """random_state : int | RandomState | None
    Seed or random state for every random choice; the same value gives the
    same result for any ``n_jobs`` and joblib backend.""",
    "n_jobs": """n_jobs : int | None
    Number of parallel jobs. ``None`` means 1 unless inside a
    :class:`joblib.parallel_config` context; ``-1`` uses all cores.""",
    "verbose": """verbose : bool | str | int | None
    Logging level: ``True`` = INFO (with progress bars), ``False`` = WARNING,
    ``None`` keeps the package level, which follows MNE's
    (:func:`mne.set_log_level`; INFO, with progress bars, unless changed) or
    the ``SK_EEG_LOGGING_LEVEL`` environment variable.""",
    "X_3d": """X : array, shape (n_epochs, n_channels, n_times) | Epochs
    The epochs. An :class:`mne.Epochs` is read with ``get_data(copy=False)``.""",
    "device": """device : str
    Torch device: ``'auto'`` picks CUDA when available, else CPU; or any
    torch device string such as ``'cpu'`` or ``'cuda:0'``.""",
}


def fill_doc(obj):
    """Fill ``%(key)s`` placeholders in a docstring from :data:`docdict`.

    Indentation of multi-line entries follows the placeholder's indentation.

    Parameters
    ----------
    obj : callable | class
        The object whose docstring to fill.

    Returns
    -------
    obj : callable | class
        The same object, docstring filled.
    """
    doc = obj.__doc__
    if not doc:
        return obj
    lines = doc.splitlines()
    filled = []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("%(") and stripped.endswith(")s"):
            key = stripped[2:-2]
            if key not in docdict:
                raise KeyError(f"fill_doc: no entry {key!r} in docdict.")
            indent = line[: len(line) - len(line.lstrip())]
            filled.extend(indent + part for part in docdict[key].splitlines())
        else:
            filled.append(line)
    obj.__doc__ = "\n".join(filled)
    return obj
