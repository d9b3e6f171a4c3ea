"""The commands a new user reads are the ones CI runs."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_top_commands_are_make_demo_and_make_test():
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()]
    assert commands == ["make demo", "make test"]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test\b", ci, re.M)


def test_makefile_targets_install_from_nothing():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("demo", "test", "doc"):
        assert re.search(rf"^{target}: .*(\$\(STAMP\)|lint)", makefile, re.M), target
    assert "-m venv" in makefile
    assert 'pip install --quiet --progress-bar off -e ".[all,dev]"' in makefile


def test_every_benchmark_imports_and_parses_its_arguments():
    import subprocess
    import sys

    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        result = subprocess.run(
            [sys.executable, str(script), "--help"],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert result.returncode == 0, f"{script.name}: {result.stderr[-500:]}"
