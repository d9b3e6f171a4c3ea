"""The ``sk-eeg`` command."""

import subprocess
import sys

import pytest

import sk_eeg
from sk_eeg.cli import build_parser, main


def test_version_flag_prints_installed_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert sk_eeg.__version__ in capsys.readouterr().out


def test_console_script_is_installed():
    out = subprocess.run(
        [sys.executable, "-m", "sk_eeg.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert sk_eeg.__version__ in out


def test_demo_skeleton_lists_registered_estimators(capsys):
    from sk_eeg.utils import all_estimators

    assert main(["demo", "--only", "no-such-section"]) == 0
    out = capsys.readouterr().out
    assert f"sk_eeg {sk_eeg.__version__}" in out
    for name, _ in all_estimators():
        assert name in out


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "usage: sk-eeg" in capsys.readouterr().out


def test_every_subcommand_has_help():
    parser = build_parser()
    actions = [a for a in parser._actions if a.dest == "command"]
    for name, sub in actions[0].choices.items():
        assert sub.format_help(), name
