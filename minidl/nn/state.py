"""Loading a ``state_dict`` into a module: checked as a whole, then copied in place."""
import collections
import collections.abc

import numpy as np

from .. import backend
from ..autograd import no_grad
from ..tensor import Tensor, _fmt


class StateDictError(RuntimeError, ValueError):
    """``load_state_dict`` refused a state: a RuntimeError as in PyTorch, a ValueError by this project's rule."""


IncompatibleKeys = collections.namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _as_array(value, key):
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, np.ndarray) or backend.is_gpu_array(value):
        return value
    if isinstance(value, (np.generic, int, float, bool)):
        return np.asarray(value)
    raise TypeError(
        f"load_state_dict: value for {key!r} is a {type(value).__name__}; "
        "expected a minidl Tensor, a NumPy array or a CuPy array"
    )


def load_state(module, state_dict, strict):
    """``Module.load_state_dict``: find every problem first, report them in one error, then copy."""
    if not isinstance(state_dict, collections.abc.Mapping):
        raise TypeError(f"load_state_dict: expected a dict-like state, got {type(state_dict).__name__}")
    own = module.state_dict(keep_vars=True)
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    mismatches, pairs = [], []
    for key, target in own.items():
        if key not in state_dict:
            continue
        array = _as_array(state_dict[key], key)
        if tuple(array.shape) != target.shape:
            mismatches.append(
                f"size mismatch for {key}: copying a param with shape {_fmt(array.shape)} from checkpoint, "
                f"the shape in current model is {_fmt(target.shape)}."
            )
        pairs.append((target, array))
    errors = list(mismatches)
    if strict and unexpected:
        errors.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
    if strict and missing:
        errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
    if errors:
        raise StateDictError(
            f"Error(s) in loading state_dict for {type(module).__name__}:\n\t" + "\n\t".join(errors)
        )
    with no_grad():
        for target, array in pairs:
            target.data[...] = backend.to_device(array, target.device).astype(target.dtype, copy=False)
    return IncompatibleKeys(missing, unexpected)
