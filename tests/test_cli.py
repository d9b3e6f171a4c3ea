"""The ``sk-eeg`` command."""

import argparse
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

    assert main(["demo", "--list"]) == 0
    out = capsys.readouterr().out
    assert f"sk_eeg {sk_eeg.__version__}" in out
    for name, _ in all_estimators():
        assert name in out
    for section in ("cluster-lme", "inverse", "panel", "deep", "eeg2video"):
        assert section in out


def test_demo_only_rejects_unknown_section_listing_valid_ones(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--only", "bogus"])
    assert exc.value.code != 0
    err = capsys.readouterr().err
    assert "bogus" in err
    for section in ("cluster-lme", "inverse", "panel", "deep", "eeg2video", "stats"):
        assert section in err


def _all_parsers(parser, prefix="sk-eeg"):
    """Yield (command path, parser) for the parser and all its subcommands."""
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _all_parsers(sub, f"{prefix} {name}")


def test_every_option_of_every_subcommand_has_help_and_default():
    missing = []
    for path, parser in _all_parsers(build_parser()):
        for action in parser._actions:
            if not action.option_strings or action.dest in ("help", "version"):
                continue
            text = action.help or ""
            if not text or text == argparse.SUPPRESS:
                missing.append(f"{path} {action.option_strings[0]}: no help")
        shows_defaults = issubclass(
            parser.formatter_class, argparse.ArgumentDefaultsHelpFormatter
        )
        assert shows_defaults, f"{path}: --help does not show defaults"
        has_options = any(
            a.option_strings and a.dest not in ("help", "version")
            for a in parser._actions
        )
        if has_options:
            assert "(default:" in parser.format_help(), path
    assert not missing, "\n".join(missing)


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "usage: sk-eeg" in capsys.readouterr().out


def test_every_subcommand_has_help():
    parser = build_parser()
    actions = [a for a in parser._actions if a.dest == "command"]
    for name, sub in actions[0].choices.items():
        assert sub.format_help(), name


@pytest.mark.slow
def test_demo_sections_each_leave_one_figure_and_no_data(tmp_path, capsys):
    # the deep section trains for minutes on 2 cores; its figure is checked by
    # running `sk-eeg demo` by hand (make demo)
    sections = ["cluster-lme", "inverse", "panel", "eeg2video"]
    assert main(["demo", "--only", *sections, "--out-dir", str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert written == [
        "cluster_lme.png",
        "eeg2video_frames.png",
        "inverse_sources.png",
        "panel_scree.png",
    ]
