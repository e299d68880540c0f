"""Argument checks shared by the ops and layers.

Every check runs before any array code and raises a one-line error naming the op, the argument and
the value it got: ``TypeError`` when the kind of value is wrong (a float where a size is needed, a
list where a tensor is), ``ValueError`` when the value is (a negative size, ``eps <= 0``). What is
accepted follows PyTorch:

* an *int* is a Python or NumPy integer, not a bool and not a float (2.0 and 2.5 are refused, never
  truncated);
* a *number* is an int or a float (not a bool, not a string);
* a *flag* (``ceil_mode``, ``training``) is a bool;
* a *dim* is an int in [-ndim, ndim) (a 0-d tensor has the one dim 0 / -1, as in PyTorch);
* a *size* (a shape) is a sequence of ints >= 0, with at most one -1 (inferred) where the op infers.

The convolution's geometry (stride, padding, dilation, groups, kernel against input) is checked here
too, and turned into the ``Geometry`` that ``conv.py`` computes with.
"""
import contextlib
import math

import numpy as np

from ..tensor import Tensor, _fmt
from .im2col import Geometry


def is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_number(value):
    return is_int(value) or isinstance(value, (float, np.floating))


def tensor(value, name, op):
    if not isinstance(value, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(value).__name__}")
    return value


def optional_tensor(value, name, op):
    if value is not None and not isinstance(value, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor or None, got {type(value).__name__}")
    return value


def float_tensor(value, name, op):
    tensor(value, name, op)
    if value.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be a floating-point tensor, got dtype {value.dtype}")
    return value


def integer(value, name, op, minimum=None):
    if not is_int(value):
        raise TypeError(f"{op}: {name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        wanted = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"at least {minimum}")
        raise ValueError(f"{op}: {name} must be {wanted}, got {value}")
    return int(value)


def number(value, name, op, minimum=None, above=None, maximum=None):
    """A finite real number (NaN and inf are refused) within the bounds given; returned as a float."""
    if not is_number(value):
        raise TypeError(f"{op}: {name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{op}: {name} must be finite, got {value}")
    if minimum is not None and maximum is not None and not minimum <= value <= maximum:
        raise ValueError(f"{op}: {name} must be in [{minimum}, {maximum}], got {value}")
    if minimum is not None and value < minimum:
        wanted = "non-negative" if minimum == 0 else f"at least {minimum}"
        raise ValueError(f"{op}: {name} must be {wanted}, got {value}")
    if above is not None and value <= above:
        wanted = "positive" if above == 0 else f"greater than {above}"
        raise ValueError(f"{op}: {name} must be {wanted}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{op}: {name} must be at most {maximum}, got {value}")
    return value


def flag(value, name, op):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{op}: {name} must be a bool, got {value!r}")
    return bool(value)


def choice(value, name, op, allowed):
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{op}: unknown {name} {value!r}; expected {' or '.join(map(repr, allowed))}")
    return value


def dim(value, ndim, op, name="dim"):
    """``value`` as an axis in [0, ndim); a 0-d tensor accepts 0 and -1 as PyTorch."""
    if not is_int(value):
        raise TypeError(f"{op}: {name} must be an integer, got {value!r}")
    n = max(ndim, 1)
    if not -n <= value < n:
        raise ValueError(
            f"{op}: {name} {value} is out of range for a tensor with {ndim} dimensions "
            f"(expected {-n} <= {name} < {n})"
        )
    return int(value) % n


def dims(value, ndim, op, name="dim"):
    """``None``, an int or a sequence of ints -> None or a sorted tuple of distinct axes."""
    if value is None:
        return None
    items = (value,) if is_int(value) else value
    if not isinstance(items, (tuple, list)):
        raise TypeError(f"{op}: {name} must be an int or a tuple of ints, got {value!r}")
    out = [dim(d, ndim, op, name) for d in items]
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: {name} {tuple(items)} repeats an axis")
    return tuple(sorted(out))


def size(value, op, name="size", infer=False):
    """A shape: a sequence of ints >= 0 (with ``infer``, at most one -1 to be worked out)."""
    if is_int(value):
        value = (value,)
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"{op}: {name} must be a tuple of ints, got {value!r}")
    for s in value:
        if not is_int(s):
            raise TypeError(f"{op}: {name} must be a tuple of ints, got {tuple(value)!r} (element {s!r})")
    shape = tuple(int(s) for s in value)
    lowest = -1 if infer else 0
    if any(s < lowest for s in shape):
        raise ValueError(
            f"{op}: {name} {shape} has a negative entry"
            + (" other than a single -1 (inferred)" if infer else "")
        )
    if shape.count(-1) > 1:
        raise ValueError(f"{op}: {name} {shape} has more than one -1; only one dimension can be inferred")
    return shape


INT32_MAX = 2 ** 31 - 1  # the GPU kernels take sizes and window geometry as 32-bit ints, as PyTorch's do


def pair(value, name, op, minimum=None):
    """An int or a pair of ints as ``(h, w)``, as PyTorch's ``_pair`` (a 1-element sequence repeats);
    each must fit in a 32-bit int."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(items) == 1:
        items = items * 2
    if len(items) != 2 or not all(is_int(v) for v in items):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if minimum is not None and min(items) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    if max(items) > INT32_MAX:
        raise ValueError(f"{op}: {name} {value!r} does not fit in a 32-bit int")
    return tuple(int(v) for v in items)


@contextlib.contextmanager
def memory_for(op, what):
    """Run an allocation; if the sizes asked for are beyond memory (a huge ``scale_factor`` or size),
    say so in one line naming the op, instead of NumPy's MemoryError or "array is too big"."""
    try:
        yield
    except MemoryError:
        raise RuntimeError(f"{op}: not enough memory for {what}") from None
    except ValueError as e:
        if "too big" not in str(e) and "Maximum allowed size" not in str(e):
            raise
        raise RuntimeError(f"{op}: {what} is too large to allocate") from None


# ------------------------------------------------------------------------------------------ convolution


def _conv_tensors(op, x, weight, bias):
    tensor(x, "input", op)
    tensor(weight, "weight", op)
    optional_tensor(bias, "bias", op)
    if x.ndim not in (3, 4):
        raise ValueError(
            f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got a {x.ndim}-D input "
            f"of shape {_fmt(x.shape)}"
        )
    if weight.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D weight, got a {weight.ndim}-D weight of shape {_fmt(weight.shape)}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: input must be floating point, got {x.dtype}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is None:
            continue
        if t.dtype != x.dtype:
            raise TypeError(f"{op}: input is {x.dtype} but {name} is {t.dtype}; convert one of them")
        if t.device != x.device:
            raise ValueError(f"{op}: input is on {x.device} but {name} is on {t.device}")
    if min(weight.shape[2:]) < 1:
        raise ValueError(f"{op}: kernel size must be >= 1, got weight of shape {_fmt(weight.shape)}")


def _groups(op, groups, channels, what):
    if not is_int(groups) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if channels % groups:
        raise ValueError(f"{op}: groups={groups} does not divide the {channels} {what}")


def _conv_bias(op, bias, channels):
    if bias is not None and bias.shape != (channels,):
        raise ValueError(f"{op}: bias must have shape ({channels},), got {_fmt(bias.shape)}")


def _same_padding(kernel, dilation):
    """PyTorch's 'same': total d (k - 1) per dim, the odd extra pixel on the bottom / right."""
    pads = []
    for k, d in zip(kernel, dilation):
        total = d * (k - 1)
        pads.append((total // 2, total - total // 2))
    return pads[0] + pads[1]


def conv2d_geometry(input, weight, bias, stride, padding, dilation, groups):
    """Check ``conv2d``'s arguments; return the ``Geometry`` of the convolution."""
    op = "conv2d"
    _conv_tensors(op, input, weight, bias)
    stride = pair(stride, "stride", op, 1)
    dilation = pair(dilation, "dilation", op, 1)
    kernel = tuple(weight.shape[2:])
    if isinstance(padding, str):
        if padding == "valid":
            pads = (0, 0, 0, 0)
        elif padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{op}: padding='same' is not supported for strided convolutions (stride={stride})")
            pads = _same_padding(kernel, dilation)
        else:
            raise ValueError(f"{op}: padding must be 'same', 'valid', an int or a pair, got {padding!r}")
    else:
        ph, pw = pair(padding, "padding", op, 0)
        pads = (ph, ph, pw, pw)
    c_in, c_out = input.shape[-3], weight.shape[0]
    _groups(op, groups, c_in, "input channels")
    _groups(op, groups, c_out, "output channels of the weight")
    if c_in != weight.shape[1] * groups:
        raise ValueError(
            f"{op}: input has {c_in} channels but weight expects {weight.shape[1] * groups} "
            f"(weight.shape[1]={weight.shape[1]} x groups={groups})"
        )
    _conv_bias(op, bias, c_out)
    h, w = input.shape[-2:]
    padded = (h + pads[0] + pads[1], w + pads[2] + pads[3])
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if span[0] > padded[0] or span[1] > padded[1]:
        raise ValueError(
            f"{op}: the kernel ({span[0]} x {span[1]} after dilation) is larger than the padded "
            f"input ({padded[0]} x {padded[1]})"
        )
    out_size = tuple((p - s) // st + 1 for p, s, st in zip(padded, span, stride))
    return Geometry(kernel, stride, pads, dilation, (h, w), out_size)


def conv_transpose2d_geometry(input, weight, bias, stride, padding, output_padding, groups, dilation):
    """Check ``conv_transpose2d``'s arguments; return its ``Geometry`` (that of the conv2d it is the
    adjoint of) and the number of output channels."""
    op = "conv_transpose2d"
    _conv_tensors(op, input, weight, bias)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a pair, got {padding!r}")
    stride = pair(stride, "stride", op, 1)
    dilation = pair(dilation, "dilation", op, 1)
    ph, pw = pair(padding, "padding", op, 0)
    out_pad = pair(output_padding, "output_padding", op, 0)
    for o, s, d in zip(out_pad, stride, dilation):
        if o >= max(s, d):
            raise ValueError(
                f"{op}: output_padding {out_pad} must be smaller than either stride {stride} "
                f"or dilation {dilation}"
            )
    c_in = input.shape[-3]
    _groups(op, groups, c_in, "input channels")
    if c_in != weight.shape[0]:
        raise ValueError(f"{op}: input has {c_in} channels but weight expects {weight.shape[0]} (weight.shape[0])")
    c_out = weight.shape[1] * groups
    _conv_bias(op, bias, c_out)
    kernel = tuple(weight.shape[2:])
    h, w = input.shape[-2:]
    out_size = tuple(
        (i - 1) * s - 2 * p + d * (k - 1) + o + 1
        for i, s, p, d, k, o in zip((h, w), stride, (ph, pw), dilation, kernel, out_pad)
    )
    if min(out_size) < 1:
        raise ValueError(f"{op}: the output size {out_size} would be empty for input size {(h, w)}")
    return Geometry(kernel, stride, (ph, ph, pw, pw), dilation, out_size, (h, w)), c_out
