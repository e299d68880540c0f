"""The ``minidl`` command line: the parser, assembled from one module per command, and ``main``.

Each module in ``nets/commands/`` listed in ``COMMANDS`` has ``add_parser(subparsers)`` (its options,
each with help text and its default) and ``run(args) -> int``. Bad input (an unknown network, a value
out of range, an unreadable checkpoint, ...) ends with one line ``minidl: error: ...`` and exit status
2, never a traceback.
"""
import argparse
import importlib
import os
import sys

import minidl

from .commands.common import UserError

COMMANDS = ("train", "evaluate", "predict", "summary", "nets_list", "segment", "gradcheck", "graph", "inspect")


class Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (the usage is one ``--help`` away)."""

    def error(self, message):
        self.exit(2, f"minidl: error: {message} (see '{self.prog} --help')\n")


def build_parser():
    parser = Parser(prog="minidl", description="minidl: train and inspect the lecture's image networks.")
    parser.add_argument("--version", action="version", version=f"minidl {minidl.__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__package__}.commands.{name}").add_parser(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or a bad argument (already reported on one line)
        return e.code if isinstance(e.code, int) else 2
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except UserError as e:
        print(f"minidl: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader of the output went away (minidl nets | head)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
