"""The command layer: one module per ``minidl`` subcommand, each with ``add_parser(subparsers)`` (its
arguments, help and defaults) and ``run(args) -> int``; ``nets/cli.py`` registers them."""
