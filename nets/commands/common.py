"""What every command shares: the one-line ``UserError``, the device, the output folder, reading a
training checkpoint back (network, weights, metadata), and the lines that end a training run.

A ``UserError`` is shown as ``minidl: error: ...`` with exit status 2 and no traceback; ``user_errors()``
turns the engine's clear errors about input (``ValueError``, ``TypeError``, ``OSError``, a damaged
checkpoint) into one.
"""
import contextlib
import os
import re

import minidl
from minidl.checkpoint import CheckpointError


class UserError(Exception):
    """Bad input from the person at the keyboard: shown as one line, without a traceback."""


@contextlib.contextmanager
def user_errors():
    """Turn the engine's clear errors about input (files, names, shapes) into one-line ``UserError``s."""
    try:
        yield
    except (ValueError, TypeError, OSError, CheckpointError) as e:
        raise UserError(str(e)) from None


def pick_device(name):
    """``--device``: auto (the GPU when CuPy finds one), cpu, or the GPU as cuda, cuda:N or gpu."""
    text = str(name).strip().lower()
    index = re.fullmatch(r"cuda:(\d+)", text)
    if text == "cpu":
        return "cpu"
    if text == "auto":
        return "cuda" if minidl.gpu_available() else "cpu"
    if text not in ("cuda", "gpu") and index is None:
        raise UserError(f"--device {name}: expected auto, cpu, cuda, cuda:N or gpu")
    if not minidl.gpu_available():
        raise UserError(f"--device {name}: CuPy finds no CUDA device (use --device auto or cpu)")
    if index is not None:
        cupy = minidl.backend.cupy_module()
        count = cupy.cuda.runtime.getDeviceCount()
        if int(index.group(1)) >= count:
            raise UserError(f"--device {name}: there are {count} CUDA device(s), numbered from 0")
        cupy.cuda.Device(int(index.group(1))).use()
    return "cuda"


def prepare_out(path):
    """Create the output folder ``path`` (``--out``); a problem with it is one line naming the path."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"--out {path}: exists and is not a folder")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise UserError(f"--out {path}: cannot create the folder ({e.strerror or e})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"--out {path}: the folder is not writable")
    return path


def read_checkpoint(path, option="checkpoint"):
    """The training checkpoint at ``path`` as ``(checkpoint dict, its meta)``; anything else is one line
    that names ``option`` (the argument it came from) and the file."""
    if not os.path.exists(path):
        raise UserError(f"{option} {path}: no such checkpoint")
    with user_errors():
        ckpt = minidl.load(path)
    meta = ckpt.get("meta")
    if not isinstance(meta, dict) or "net" not in meta or "model" not in ckpt:
        what = "weights only (a plain state dict)" if all(isinstance(v, minidl.Tensor) for v in ckpt.values()) \
            else "no network recorded in it"
        raise UserError(f"{option} {path}: not a minidl training checkpoint ({what}); "
                        "expected last.safetensors, best.safetensors or interrupted.safetensors of a run")
    return ckpt, meta


def rebuild(ckpt, meta, device):
    """The network a checkpoint was trained as, with its weights, in eval mode on ``device``."""
    import nets

    with user_errors():
        model = nets.create(meta["net"], num_classes=meta["num_classes"], **(meta.get("net_options") or {}))
        model.load_state_dict(ckpt["model"])
        model.to(device)
    model.eval()
    return model


def load_trained(path, device):
    """``rebuild(read_checkpoint(path))``: the trained network and the checkpoint's meta."""
    ckpt, meta = read_checkpoint(path)
    return rebuild(ckpt, meta, device), meta


def report_files(out, plots_written):
    """The lines after a run: where its checkpoints, metrics and plots are. ``plots_written`` is a
    function that draws the run's plots and returns their paths; it runs only when matplotlib is there."""
    from minidl.training import plots

    print(f"checkpoints: {os.path.join(out, 'best.safetensors')} (best), "
          f"{os.path.join(out, 'last.safetensors')} (last)")
    print(f"metrics: {os.path.join(out, 'metrics.csv')}, {os.path.join(out, 'metrics.json')}")
    if not plots.available():
        print("plots: skipped (matplotlib is missing although minidl requires it: pip install matplotlib)")
        return
    print(f"plots: {', '.join(plots_written())}")
