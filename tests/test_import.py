"""``import sk_eeg`` stays light: no torch, diffusers or dask."""

import subprocess
import sys

import pytest

import sk_eeg

HEAVY = ("torch", "diffusers", "dask", "skorch", "timm", "distributed")


@pytest.mark.parametrize(
    "statement",
    [
        "import sk_eeg",
        "import sk_eeg.utils",
        "import sk_eeg.datasets",
        "import sk_eeg.cli",
    ],
)
def test_import_does_not_load_heavy_libraries(statement):
    code = (
        f"import sys; {statement}; "
        f"loaded = [m for m in {HEAVY!r} if m in sys.modules]; "
        "print(','.join(loaded))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"{statement} imported {out}"


def test_every_public_name_resolves():
    for name in sk_eeg.__all__:
        assert getattr(sk_eeg, name) is not None


def test_unknown_attribute_raises_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'NotThere'"):
        sk_eeg.NotThere  # noqa: B018
