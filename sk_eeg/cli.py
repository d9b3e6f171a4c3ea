"""The ``sk-eeg`` command.

``sk-eeg --version``, ``sk-eeg demo`` and one subcommand per method. Each
method's CLI lives in its subpackage as a ``_cli`` module that defines

- ``NAME``: the section name used by ``sk-eeg demo --only``;
- ``add_parser(subparsers)``: adds its subcommand(s) to the parser;
- ``demo(args)``: its section of ``sk-eeg demo`` (simulated data, a few seconds
  to a few minutes on a laptop, prints what it found).

The modules are listed in :data:`_METHOD_CLIS`; they must import heavy
libraries (torch, diffusers) only inside their functions.
"""

import argparse
import sys
import time
from importlib import import_module

_METHOD_CLIS = [
    "sk_eeg.stats._cli",
    "sk_eeg.inverse._cli",
    "sk_eeg.panel._cli",
    "sk_eeg.deep._cli",
    "sk_eeg.video._cli",
]


class _Parser(argparse.ArgumentParser):
    """Argument parser whose help shows every option's default.

    Subcommand parsers are made with the class of their parent, so every
    ``sk-eeg`` subcommand inherits this.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(*args, **kwargs)


def _method_clis():
    return [import_module(name) for name in _METHOD_CLIS]


def _section_names(module):
    """Names that select a demo section: its subcommand and its subpackage."""
    return {module.NAME, module.__name__.split(".")[1]}


def _run_demo(args):
    import sk_eeg
    from sk_eeg.utils import all_estimators

    print(f"sk_eeg {sk_eeg.__version__}")
    print("Registered estimators:")
    for name, cls in all_estimators():
        print(f"  {name:<28s} {cls.__module__}")
    print("Demo sections: " + ", ".join(m.NAME for m in _method_clis()))
    if args.list:
        return 0
    for module in _method_clis():
        if args.only and not _section_names(module) & set(args.only):
            continue
        print(f"\n== {module.NAME} ==")
        start = time.perf_counter()
        module.demo(args)
        print(f"[{module.NAME}: {time.perf_counter() - start:.1f} s]")
    return 0


def build_parser():
    """Build the ``sk-eeg`` argument parser.

    Returns
    -------
    parser : argparse.ArgumentParser
        The parser with all subcommands.
    """
    import sk_eeg

    parser = _Parser(
        prog="sk-eeg",
        description="scikit-learn / MNE estimators for EEG statistics, source "
        "imaging and deep decoding.",
    )
    parser.add_argument(
        "--version", action="version", version=f"sk_eeg {sk_eeg.__version__}"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = subparsers.add_parser(
        "demo", help="run every estimator on built-in simulated data"
    )
    sections = sorted(set().union(*map(_section_names, _method_clis())))
    demo.add_argument(
        "--only",
        nargs="+",
        default=None,
        choices=sections,
        metavar="SECTION",
        help="run only these sections; one of: "
        + ", ".join(sections)
        + " (None runs all)",
    )
    demo.add_argument(
        "--list",
        action="store_true",
        help="list the registered estimators and demo sections, run nothing",
    )
    demo.add_argument(
        "--random-state", type=int, default=0, help="seed of the simulations"
    )
    demo.add_argument(
        "--out-dir",
        default="sk_eeg_demo",
        help="folder for the figures and files the demo writes",
    )
    demo.set_defaults(func=_run_demo)
    for module in _method_clis():
        module.add_parser(subparsers)
    return parser


def main(argv=None):
    """Run the ``sk-eeg`` command.

    Parameters
    ----------
    argv : list of str | None
        Arguments; None reads ``sys.argv``.

    Returns
    -------
    status : int
        The exit status.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    try:
        return args.func(args) or 0
    except (ValueError, TypeError, FileNotFoundError, ImportError) as err:
        print(f"sk-eeg {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
