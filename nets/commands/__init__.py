"""The ``minidl`` commands, one module each (``nets.cli.COMMANDS`` lists them).

Contract: a command module has ``add_parser(subparsers)``, which adds its subparser (every argument with
help text showing its default) and calls ``set_defaults(func=run)``, and ``run(args) -> int``, the exit
status. Bad input raises ``common.UserError``, shown as one line ``minidl: error: ...`` with status 2.
Shared pieces: ``common`` (errors, device, output folder, checkpoints, the closing report),
``arguments`` (checked value types, the training options), ``building`` (data and networks),
``resuming`` (``--resume``), ``segmentation`` (the parts of ``segment`` around its training loop).
"""
