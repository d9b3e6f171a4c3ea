"""The README's Python blocks run as written, and show progress by default."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "mne_sample"


def _python_blocks():
    readme = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", readme, re.S)


def _block(keyword):
    blocks = [block for block in _python_blocks() if keyword in block]
    assert len(blocks) == 1, f"expected one README block using {keyword}"
    return blocks[0]


def _run(code, cwd, env_update=None):
    """Run ``code`` as a user would: a fresh process, no CI variable."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.pop("SK_EEG_LOGGING_LEVEL", None)
    env["MPLBACKEND"] = "Agg"
    env.update(env_update or {})
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _shows_progress(stderr):
    # a tqdm bar ("12%|##  | 120/1000") or an INFO line of ours
    return bool(re.search(r"\d+%\|", stderr)) or len(stderr.strip()) > 0


def test_readme_has_a_block_per_method():
    text = "\n".join(_python_blocks())
    for name in ("ClusterLMETest", "SparseSourceLocalizer", "MelSpecCNNClassifier"):
        assert name in text


@pytest.mark.slow
def test_readme_cluster_block_runs_and_shows_progress(tmp_path):
    result = _run(_block("ClusterLMETest"), cwd=tmp_path)
    assert re.search(r"\d+%\|", result.stderr), result.stderr[-2000:]
    assert "term" in result.stdout  # the cluster table was printed


@pytest.mark.slow
def test_readme_cluster_block_is_silent_with_verbose_false(tmp_path):
    code = _block("ClusterLMETest").replace(
        "random_state=0,\n)", "random_state=0,\n    verbose=False,\n)"
    )
    code = code.replace("n_permutations=1000", "n_permutations=50")
    code = code.split("# as a feature selector")[0]
    assert "verbose=False" in code
    result = _run(code, cwd=tmp_path)
    assert not re.search(r"\d+%\|", result.stderr), result.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.skipif(not SAMPLE.is_dir(), reason=f"no MNE sample subset at {SAMPLE}")
def test_readme_source_imaging_block_runs_on_the_sample_data():
    result = _run(_block("SparseSourceLocalizer"), cwd=SAMPLE)
    assert _shows_progress(result.stderr)


@pytest.mark.slow
def test_readme_deep_block_runs_and_shows_progress(tmp_path):
    pytest.importorskip("skorch")
    result = _run(_block("MelSpecCNNClassifier"), cwd=tmp_path)
    assert "epoch" in result.stderr, result.stderr[-2000:]
