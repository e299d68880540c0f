"""The in-place methods of ``Tensor`` (``add_``, ``mul_``, ``clamp_``, ``copy_``, ``zero_``, ``x -= y``...).

Each one runs its out-of-place twin and writes the result into the tensor's own memory; the rules that
keep this from corrupting gradients, and the version counter behind them, are in
``minidl/versions.py``.
"""
import numpy as np

from . import backend
from .autograd import Function, is_grad_enabled, no_grad


class Overwrite(Function):
    """y = src broadcast to ``x``'s shape and dtype (``copy_``, ``fill_``, ``zero_``): dL/dx = 0 and dL/dsrc is
    dL/dy summed back to src's shape."""

    def forward(self, x, src):
        self.src_shape, self.src_dtype = src.shape, src.dtype
        return backend.get_array_module(x).broadcast_to(src.astype(x.dtype), x.shape).copy()

    def backward(self, g):
        from .functional.arithmetic import reduce_to_shape

        grad_src = reduce_to_shape(g, self.src_shape, self.src_dtype) if self.needs_input_grad[1] else None
        return (g * 0 if self.needs_input_grad[0] else None), grad_src


def check_not_read_only(t, op):
    """An ``expand()`` view is read-only memory (every write, ``x[i] = v`` included, is refused)."""
    if isinstance(t.data, np.ndarray) and not t.data.flags.writeable:
        raise RuntimeError(f"{op}: the tensor is read-only (an expand() view); clone() it first")


def _check_writable(t, op, recording):
    """Refuse the in-place writes PyTorch refuses, before anything is computed."""
    check_not_read_only(t, op)
    if not is_grad_enabled():
        return
    if t.requires_grad and t.is_leaf:
        raise RuntimeError(
            f"{op}: a leaf tensor that requires grad cannot be modified in place while gradients are "
            "recorded; do it under minidl.no_grad() (as an optimizer step does) or use the out-of-place op"
        )
    if recording and t._version_counter.shared:
        raise RuntimeError(
            f"{op}: this tensor shares its memory with another tensor (a view such as reshape, permute, "
            "indexing or detach), and changing it in place while gradients are recorded would leave the "
            "other one's gradient wrong; use the out-of-place op, or clone() first"
        )


def apply_inplace(t, op, compute, others=(), cast_any=False):
    """Write ``compute(t)`` (an out-of-place op giving a tensor of ``t``'s shape) into ``t``'s memory.

    ``others`` are the op's other operands (for the grad-mode checks). ``cast_any`` lets the result be
    of any dtype (``copy_``); otherwise it must be one that ``t`` can hold, as PyTorch's rule: no float
    into an integer tensor, nothing but bool into a bool tensor.
    """
    recording = is_grad_enabled() and (
        t.requires_grad or any(getattr(o, "requires_grad", False) for o in others))
    _check_writable(t, op, recording)
    if recording:
        # the twin runs on a copy of the old value, which it may keep for its backward: the write
        # below cannot reach that copy
        before = type(t)._wrap(t.data.copy())
        before.requires_grad, before._ctx, before._out_index = t.requires_grad, t._ctx, t._out_index
        result = compute(before)
    else:
        with no_grad():
            result = compute(t)
    if result.shape != t.shape:
        raise ValueError(
            f"{op}: the result has shape {tuple(result.shape)} but the tensor written in place has shape "
            f"{tuple(t.shape)}; an in-place op cannot change the shape (the other operand must broadcast to it)"
        )
    if not cast_any and not _can_hold(t.dtype, result.dtype):
        raise TypeError(f"{op}: the result is {result.dtype}, which a {t.dtype} tensor cannot hold in place")
    t.data[...] = result.data
    t._version_counter.value += 1
    if recording:
        t._ctx, t._out_index, t.requires_grad = result._ctx, result._out_index, result.requires_grad
    return t


def _can_hold(target, result):
    if target.kind == "b":
        return result.kind == "b"
    return not (target.kind in "iu" and result.kind == "f")


class InPlaceMethods:
    """Mixed into ``Tensor``: the in-place twins of its ops, named with PyTorch's trailing underscore."""

    def add_(self, other, *, alpha=1):
        return apply_inplace(self, "add_", lambda t: t.add(other, alpha=alpha), (other,))

    def sub_(self, other, *, alpha=1):
        return apply_inplace(self, "sub_", lambda t: t.sub(other, alpha=alpha), (other,))

    def mul_(self, other):
        return apply_inplace(self, "mul_", lambda t: t * other, (other,))

    def div_(self, other):
        return apply_inplace(self, "div_", lambda t: t / other, (other,))

    def pow_(self, exponent):
        return apply_inplace(self, "pow_", lambda t: t ** exponent, (exponent,))

    def neg_(self):
        return apply_inplace(self, "neg_", lambda t: -t)

    def abs_(self):
        return apply_inplace(self, "abs_", lambda t: t.abs())

    def exp_(self):
        return apply_inplace(self, "exp_", lambda t: t.exp())

    def log_(self):
        return apply_inplace(self, "log_", lambda t: t.log())

    def sqrt_(self):
        return apply_inplace(self, "sqrt_", lambda t: t.sqrt())

    def clamp_(self, min=None, max=None):
        return apply_inplace(self, "clamp_", lambda t: t.clamp(min, max), (min, max))

    clip_ = clamp_

    def relu_(self):
        return apply_inplace(self, "relu_", lambda t: t.relu())

    def sigmoid_(self):
        return apply_inplace(self, "sigmoid_", lambda t: t.sigmoid())

    def tanh_(self):
        return apply_inplace(self, "tanh_", lambda t: t.tanh())

    def copy_(self, src):
        """Copy ``src`` (a tensor or array broadcasting to this shape, any dtype, any device) into this tensor."""
        from .tensor import Tensor

        if not isinstance(src, Tensor):
            if not backend.is_array(src) and not isinstance(src, (bool, int, float, np.bool_, np.integer, np.floating)):
                raise TypeError(f"copy_: src must be a Tensor, an array or a number, got {type(src).__name__}")
            src = Tensor(self._xp.asarray(src))
        _check_broadcast_into(src.shape, self.shape, "copy_", "src")
        if src.device != self.device:
            src = src.to(self.device)
        return apply_inplace(self, "copy_", lambda t: Overwrite.apply(t, src), (src,), cast_any=True)

    def fill_(self, value):
        """Set every element to ``value`` (a number, or a 0-d tensor)."""
        from .tensor import Tensor

        if isinstance(value, Tensor):
            if value.ndim != 0:
                raise ValueError(f"fill_: value must be a number or a 0-d tensor, got shape {tuple(value.shape)}")
            src = value
        elif isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)):
            src = Tensor._wrap(self._xp.asarray(value))
        else:
            raise TypeError(f"fill_: value must be a number or a 0-d tensor, got {type(value).__name__}")
        return apply_inplace(self, "fill_", lambda t: Overwrite.apply(t, src), (src,), cast_any=True)

    def zero_(self):
        return self.fill_(0)

    # x += y and friends write in place, as in PyTorch (a manual SGD step ``w -= lr * w.grad`` under
    # no_grad keeps ``w`` the same tensor)
    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)


def _check_broadcast_into(shape, target, op, name):
    try:
        fits = np.broadcast_shapes(tuple(shape), tuple(target)) == tuple(target)
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"{op}: {name} of shape {tuple(shape)} does not broadcast to the tensor's shape {tuple(target)}"
        )
