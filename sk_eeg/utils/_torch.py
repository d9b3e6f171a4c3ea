"""Torch device handling shared by the deep estimators (torch imported lazily)."""

from ._optional import import_optional_dependency


def resolve_device(device):
    """Turn ``'auto'`` / ``'cpu'`` / ``'cuda[:i]'`` into a :class:`torch.device`.

    Parameters
    ----------
    device : str | torch.device
        ``'auto'`` picks CUDA when available, else the CPU.

    Returns
    -------
    device : torch.device
        A device that exists on this machine.

    Raises
    ------
    TypeError
        If ``device`` is neither a string nor a :class:`torch.device`.
    ValueError
        If the device string is invalid, or names a CUDA device that does not
        exist here.
    """
    torch = import_optional_dependency("torch", purpose="GPU/CPU device selection")
    if not isinstance(device, str | torch.device):
        raise TypeError(
            f"device must be a str such as 'auto' or 'cpu'; got {device!r}."
        )
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except RuntimeError as err:
        raise ValueError(
            f"Invalid value for device: {device!r}. Use 'auto', 'cpu' or 'cuda[:i]'."
        ) from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={str(device)!r} but no CUDA device is available; use "
            "device='auto' or 'cpu'."
        )
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(
            f"device={str(device)!r} but only {torch.cuda.device_count()} CUDA "
            "device(s) exist; use device='cuda' or 'cuda:0'."
        )
    return device
