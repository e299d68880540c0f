"""Checkpoint files: ``save(obj, path)`` and ``load(path, device=None)``, safetensors only.

A safetensors file is a JSON header (names, dtypes, shapes, offsets, and a string-to-string metadata
table) followed by raw array bytes. Reading one never runs code, unlike a pickle.

- A model's state dict (names to tensors) is saved under exactly its names, so ``safetensors.torch``
  reads it as a torchvision state dict, and ``load`` of a file written by torch gives the same dict.
- A training checkpoint, a nested dict such as ``{'model': ..., 'optimizer': opt.state_dict(),
  'scheduler': sched.state_dict(), 'epoch': 3, 'rng': minidl.random.get_rng_state()}``, is flattened:
  each array becomes an entry named by its dotted path (``optimizer.state.0.momentum_buffer``); the
  rest — dicts (with str or int keys), lists, tuples, numbers, strings, None — is kept as JSON in the
  metadata entry ``minidl.structure``, which ``load`` uses to rebuild the same nested object.
- A CRC-32 of each array's bytes (``minidl.crc32``) lets ``load`` catch damaged data, which the
  format alone would not notice.

Saving writes a temporary file in the target's folder, flushes it to disk and renames it over the
target, so a crash mid-save leaves the previous checkpoint intact. The temporary is named
``.<target name>.<pid>.<random hex>.tmp``; a process killed mid-write leaves it behind, so each
successful save removes the temporaries of the same target whose writing process no longer runs
(and those of the older ``.<target name>.<12 hex>.tmp`` form). Nothing else in the folder is touched.
"""
import contextlib
import json
import os
import re
import secrets
import zlib

import numpy as np
import safetensors
import safetensors.numpy

from . import backend
from .tensor import Tensor

__all__ = ["CheckpointError", "save", "load"]

STRUCTURE_KEY = "minidl.structure"
CHECKSUM_KEY = "minidl.crc32"


class CheckpointError(ValueError):
    """A file that is not a readable minidl/safetensors checkpoint (truncated, damaged, or another format)."""


def _is_array(value):
    return isinstance(value, (Tensor, np.ndarray)) or backend.is_gpu_array(value)


def _host_array(value, name):
    array = value.numpy() if isinstance(value, Tensor) else backend.to_numpy(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"save: '{name}' has dtype {array.dtype}; expected a bool, integer or float array")
    return _little_endian(array)


def _little_endian(array):
    return np.asarray(array, dtype=array.dtype.newbyteorder("<"), order="C")


def _crc(array):
    return zlib.crc32(_little_endian(array).reshape(-1).view(np.uint8))


def _join(path, key):
    return f"{path}.{key}" if path else str(key)


def _encode(value, path, tensors):
    """JSON-able description of ``value``; arrays go to ``tensors`` and are described by their entry name."""
    if _is_array(value):
        name, n = path, 1
        while name in tensors:  # {'a.b': x, 'a': {'b': y}} would otherwise collide
            name, n = f"{path}#{n}", n + 1
        tensors[name] = _host_array(value, path)
        return {"tensor": name}
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            if isinstance(key, np.integer):
                key = int(key)
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise TypeError(f"save: dict keys must be str or int, got {key!r} in '{path or '<top>'}'")
            items.append([key, _encode(item, _join(path, key), tensors)])
        return {"dict": items}
    if isinstance(value, (list, tuple)):
        kind = "tuple" if isinstance(value, tuple) else "list"
        return {kind: [_encode(item, _join(path, i), tensors) for i, item in enumerate(value)]}
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(
        f"save: cannot store a {type(value).__name__} at '{path}'; expected tensors, arrays, dicts, lists, "
        "tuples, numbers, strings or None"
    )


def _decode(node, arrays, path):
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, dict) and len(node) == 1:
        (kind, body), = node.items()
        if kind == "tensor" and body in arrays:
            return arrays[body]
        if kind == "dict" and isinstance(body, list) and all(
            isinstance(i, list) and len(i) == 2 and isinstance(i[0], (str, int)) for i in body
        ):
            return {key: _decode(item, arrays, path) for key, item in body}
        if kind in ("list", "tuple") and isinstance(body, list):
            items = [_decode(item, arrays, path) for item in body]
            return tuple(items) if kind == "tuple" else items
    raise CheckpointError(f"load: {path} has a damaged '{STRUCTURE_KEY}' entry (at {json.dumps(node)[:80]})")


def save(obj, path):
    """Write ``obj`` (a state dict or a nested checkpoint dict) to the safetensors file ``path``.

    Tensors on the GPU are copied to the host. The file appears complete or not at all: it is written
    beside ``path`` under a temporary name, flushed to disk, then renamed into place.
    """
    if not isinstance(obj, dict):
        raise TypeError(f"save: expected a dict (a state dict or a checkpoint), got {type(obj).__name__}")
    path = os.fspath(path)
    tensors = {}
    if all(isinstance(k, str) for k in obj) and all(_is_array(v) for v in obj.values()):
        # A plain state dict keeps its names exactly, so other safetensors readers see the usual keys.
        tensors = {k: _host_array(v, k) for k, v in obj.items()}
        structure = {"dict": [[k, {"tensor": k}] for k in obj]}
    else:
        structure = _encode(obj, "", tensors)
    metadata = {
        "format": "pt",
        STRUCTURE_KEY: json.dumps(structure),
        CHECKSUM_KEY: json.dumps({name: _crc(a) for name, a in tensors.items()}),
    }
    _atomic_write(path, safetensors.numpy.save(tensors, metadata=metadata))


def _atomic_write(path, data):
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"save: folder {folder} does not exist")
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            _write_all(f, data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)
    _remove_stale_temporaries(folder, os.path.basename(path))


def _remove_stale_temporaries(folder, name):
    """Delete the temporaries that killed saves of ``name`` left in ``folder`` (see the module docstring)."""
    pattern = re.compile(rf"\.{re.escape(name)}\.(?:(\d+)\.[0-9a-f]{{12}}|[0-9a-f]{{12}})\.tmp")
    for entry in os.listdir(folder):
        match = pattern.fullmatch(entry)
        if match is None:
            continue
        pid = match.group(1)
        if pid is not None and (int(pid) == os.getpid() or _process_running(int(pid))):
            continue  # another save of the same file may be writing it right now
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(folder, entry))


def _process_running(pid):
    if os.name == "nt":
        return True  # os.kill would end the process on Windows: keep the file rather than guess
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it runs, as another user
    return True


def _write_all(f, data):
    """The one place checkpoint bytes reach the disk (tests make it fail midway)."""
    f.write(data)


def _fsync_folder(folder):
    # Makes the rename itself durable on POSIX; folders cannot be opened this way on Windows.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _what_it_looks_like(path):
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"PK\x03\x04"):
        return "it looks like a zip archive (torch.save's format, a pickle inside), which minidl never loads"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "it looks like a pickle, which minidl never loads because unpickling can run code"
    if head.startswith(b"\x93NUMPY"):
        return "it looks like a NumPy .npy file"
    return "it may be truncated, damaged, or in another format"


def load(path, device=None):
    """Read a checkpoint written by ``save`` (or any safetensors file) back as the object that was saved.

    Arrays come back as ``Tensor``s on ``device`` (default the CPU); a file without minidl's structure
    entry (e.g. written by ``safetensors.torch.save_file``) gives a flat dict of name to Tensor.
    Anything that is not an intact safetensors file raises ``CheckpointError`` naming the file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load: no checkpoint file {path}")
    device = "cpu" if device is None else backend.canonical_device(device)
    try:
        with safetensors.safe_open(path, framework="np") as f:
            metadata = f.metadata() or {}
            arrays = {name: f.get_tensor(name) for name in f.keys()}
    except safetensors.SafetensorError as e:
        raise CheckpointError(
            f"load: {path} is not a valid safetensors checkpoint: {_what_it_looks_like(path)} ({e})"
        ) from None
    try:
        checksums = json.loads(metadata.get(CHECKSUM_KEY, "{}"))
        structure = json.loads(metadata[STRUCTURE_KEY]) if STRUCTURE_KEY in metadata else None
    except ValueError:
        raise CheckpointError(f"load: {path} has damaged minidl metadata (not valid JSON)") from None
    damaged = sorted(name for name, crc in checksums.items()
                     if name not in arrays or _crc(arrays[name]) != crc)
    if damaged:
        raise CheckpointError(
            f"load: {path} is damaged: the bytes of {', '.join(damaged)} fail their checksum"
        )
    tensors = {name: Tensor._wrap(backend.to_device(a, device)) for name, a in arrays.items()}
    if structure is None:
        return tensors
    return _decode(structure, tensors, path)
