"""``--resume CHECKPOINT``: the run's options come from the checkpoint.

A checkpoint's meta records, under ``args``, every option that shapes the run (network, data, recipe,
seed). On resume each option left out takes the recorded value, and each option given must agree with
it, else one line names both; ``--epochs`` alone may differ, to train further. Options that do not
change the result (device, workers, progress bars, where downloads live) are free. A checkpoint written
before ``args`` was recorded gives what it has: network, data, the settings and the network's options.
"""
import os

from .common import UserError, read_checkpoint

FREE = ("epochs",)


def recorded(meta):
    """The options ``meta`` records, reading older checkpoints' ``settings`` too."""
    if "args" in meta:
        return dict(meta["args"])
    found = {"net": meta.get("net"), "data": meta.get("data"), **(meta.get("settings") or {})}
    options = meta.get("net_options") or {}
    for name in ("width", "batch_norm", "dropout"):
        if name in options:
            found[name] = options[name]
    return {k: v for k, v in found.items() if v is not None or k == "width"}


def _same(given, saved):
    if isinstance(given, str) and isinstance(saved, str) and os.path.exists(given):
        return os.path.abspath(given) == os.path.abspath(saved)
    if isinstance(given, (int, float)) and isinstance(saved, (int, float)) and not isinstance(given, bool):
        return float(given) == float(saved)
    return given == saved


def _flag(name):
    return "--" + name.replace("_", "-")


def apply(args, names, command):
    """Fill ``args`` from ``args.resume``'s checkpoint for the options ``names``; return the checkpoint.

    Raises ``UserError`` when a given option disagrees with the checkpoint, or when the checkpoint is
    another command's (a segmentation run resumed by ``train`` and the reverse).
    """
    path = args.resume
    ckpt, meta = read_checkpoint(path, "--resume")
    task = meta.get("task", "classify")
    wanted = "segment" if command == "segment" else "classify"
    if task != wanted:
        other = "minidl segment" if task == "segment" else "minidl train"
        raise UserError(f"--resume {path}: a {task} run of {meta['net']}; resume it with {other} --resume {path}")
    saved = recorded(meta)
    for name in names:
        if name not in saved:
            continue
        given = getattr(args, name, None)
        if given is None or name in FREE:
            if given is None:
                setattr(args, name, saved[name])
            continue
        if not _same(given, saved[name]):
            raise UserError(f"{_flag(name)} {given} disagrees with --resume {path}, which was trained with "
                            f"{_flag(name)} {saved[name]} (leave the option out to use the checkpoint's)")
    if args.out is None:
        args.out = os.path.dirname(os.path.abspath(path))
    return ckpt


def finished(ckpt, epochs, path):
    """The one line to print when the checkpoint's run has nothing left to do, else None."""
    done = int(ckpt.get("epoch", 0))
    if done >= epochs:  # a checkpoint inside epoch done + 1 is past the end too
        return (f"{path}: the run has finished its {done} epochs; nothing to do "
                f"(pass --epochs N with N > {done} to train further)")
    return None
