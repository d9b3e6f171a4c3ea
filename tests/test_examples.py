"""Every gallery example runs to the end, so that the docs cannot rot unseen.

``make doc`` executes the examples too, but only ``make test`` runs in CI.
Each example runs in its own process (as sphinx-gallery would), from a
temporary working directory, with a non-interactive matplotlib backend.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("plot_*.py"))


def test_every_method_has_an_example():
    names = {path.stem for path in EXAMPLES}
    for method in ("stats", "inverse", "panel", "deep", "video"):
        assert any(name.startswith(f"plot_{method}_") for name in names), method


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(path, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONWARNINGS="ignore")
    result = subprocess.run(
        [sys.executable, str(path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
