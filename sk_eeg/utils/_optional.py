"""Import of the heavy optional libraries, with the extra to install named."""

from importlib import import_module

# Module -> the sk_eeg extra that installs it.
_EXTRA_OF = {
    "torch": "deep",
    "skorch": "deep",
    "timm": "deep",
    "pyarrow": "deep",
    "diffusers": "video",
    "dask": "dist",
    "distributed": "dist",
    "statsmodels": "test",
}


def import_optional_dependency(name, extra=None, purpose=None):
    """Import an optional dependency or raise an ``ImportError`` saying what to do.

    Parameters
    ----------
    name : str
        Module to import, e.g. ``"torch"`` or ``"diffusers"``.
    extra : str | None
        The sk_eeg extra that provides it; looked up from ``name`` if None.
    purpose : str | None
        What the module is needed for, added to the message.

    Returns
    -------
    module : module
        The imported module.
    """
    try:
        return import_module(name)
    except ImportError as err:
        top = name.split(".")[0]
        extra = extra or _EXTRA_OF.get(top, "all")
        why = f" for {purpose}" if purpose else ""
        raise ImportError(
            f"{top!r} is needed{why} but could not be imported ({err}). "
            f'Install it with: pip install "sk_eeg[{extra}]"'
        ) from err
