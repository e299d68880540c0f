"""How the two operands of an elementwise op become tensors of one dtype on one device, by PyTorch's rules.

* A Python or NumPy number becomes a 0-d tensor typed so that it never upcasts the tensor it meets:
  ``float32_tensor * 2.5`` stays float32, ``int_tensor * 2.5`` is float32 (the default float type).
* Two tensors: a float meets an integer -> the float; otherwise NumPy's promotion (int32 + int64 is int64).
* A 0-d operand (a 0-d tensor, or a number made into one) decides the dtype only when its category
  (bool < integer < float) is higher than the other's: ``float32 (3,) + float64 0-d`` is float32,
  ``int64 (3,) + float64 0-d`` is float64.
* Lists are not operands (``x + [1, 2]`` is an error, as in PyTorch); arrays are, as tensors.
"""
import numpy as np

from .. import backend
from ..tensor import DEFAULT_DTYPE, Tensor, _fmt


def _category(dtype):
    return {"b": 0, "i": 1, "u": 1, "f": 2}.get(dtype.kind, 3)


def result_dtype(a, b):
    """The dtype of an elementwise op on arrays ``a`` and ``b`` (the rules in the module docstring)."""
    if (a.ndim == 0) != (b.ndim == 0):
        shaped, zero_d = (b, a) if a.ndim == 0 else (a, b)
        return zero_d.dtype if _category(zero_d.dtype) > _category(shaped.dtype) else shaped.dtype
    fa, fb = a.dtype.kind == "f", b.dtype.kind == "f"
    if fa and not fb:
        return a.dtype
    if fb and not fa:
        return b.dtype
    if a.dtype.kind == "b" and b.dtype.kind == "b":
        return a.dtype
    return np.result_type(a.dtype, b.dtype)


def _scalar_array(value, like, op):
    """A Python/NumPy scalar as an array on ``like``'s device, typed so it never upcasts ``like``."""
    xp = backend.get_array_module(like.data)
    kind = like.dtype.kind
    if isinstance(value, (bool, np.bool_)):
        dtype = like.dtype
    elif isinstance(value, (int, np.integer)):
        dtype = like.dtype if kind in "fiu" else np.dtype(np.int64)
    elif isinstance(value, (float, np.floating)):
        dtype = like.dtype if kind == "f" else DEFAULT_DTYPE
    else:
        raise TypeError(f"{op}: other must be a Tensor or a number, got {value!r}")
    return Tensor._wrap(xp.asarray(value, dtype=dtype))


def as_operand(a, b, op):
    """Turn both operands of a binary op into tensors on one device, or raise a clear error."""
    if not isinstance(a, Tensor):
        a = _coerce(a, b, op)
    if not isinstance(b, Tensor):
        b = _coerce(b, a, op)
    if a.device != b.device:
        raise ValueError(f"{op}: tensors on different devices: {a.device} and {b.device}")
    return a, b


def _coerce(value, like, op):
    if backend.is_array(value):
        return Tensor(value)
    return _scalar_array(value, like, op)


def check_broadcast(a, b, op):
    try:
        return np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{op}: shapes {_fmt(a.shape)} and {_fmt(b.shape)} do not broadcast") from None
