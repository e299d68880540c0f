"""Reductions: sum, mean, max/min (amax/amin), argmax/argmin.

The gradient of a reduction spreads the output's gradient back over the reduced axes: a sum copies it
to every element, a mean copies it divided by the count, and a max gives it to the elements that
attained the maximum, shared equally among ties (as ``torch.amax``).
"""
import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from . import validation as check


def resolve_dim_args(t, dim, keepdim, axis, keepdims, op):
    """Accept PyTorch's ``dim``/``keepdim`` and NumPy's ``axis``/``keepdims`` spellings."""
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{op}: give dim or axis, not both")
        dim = axis
    if keepdims is not None:
        keepdim = keepdims
    dims = check.dims(dim, t.ndim, op)
    # a 0-d tensor's one dim (0 or -1) is the whole tensor
    return (None if t.ndim == 0 else dims), check.flag(keepdim, "keepdim", op)


def _expand_back(g, in_shape, dims, keepdim):
    """Put the reduced axes back (size 1) so ``g`` broadcasts against the input."""
    if dims is None:
        return g.reshape((1,) * len(in_shape))
    if not keepdim:
        g = g.reshape(tuple(1 if i in dims else n for i, n in enumerate(in_shape)))
    return g


class Sum(Function):
    """y = sum_i x_i over ``dim``;  dy/dx_i = 1."""

    def forward(self, x, dim, keepdim):
        self.shape, self.dim, self.keepdim = x.shape, dim, keepdim
        return x.sum(axis=dim, keepdims=keepdim)

    def backward(self, g):
        xp = backend.get_array_module(g)
        return xp.broadcast_to(_expand_back(g, self.shape, self.dim, self.keepdim), self.shape).copy()


class Mean(Function):
    """y = (1/n) sum_i x_i over ``dim``;  dy/dx_i = 1/n."""

    def forward(self, x, dim, keepdim):
        self.shape, self.dim, self.keepdim = x.shape, dim, keepdim
        self.count = x.size if dim is None else int(np.prod([x.shape[d] for d in dim]))
        if x.dtype.kind != "f":
            raise TypeError(f"mean: needs a floating-point tensor, got {x.dtype}")
        return x.mean(axis=dim, keepdims=keepdim)

    def backward(self, g):
        xp = backend.get_array_module(g)
        g = _expand_back(g, self.shape, self.dim, self.keepdim) / self.count
        return xp.broadcast_to(g, self.shape).astype(g.dtype)


class Extreme(Function):
    """y = max (or min) over ``dim``;  dy/dx_i = [x_i == y] / (number of ties)."""

    def forward(self, x, dim, keepdim, largest):
        if x.size == 0 and (dim is None or any(x.shape[d] == 0 for d in dim)):
            raise ValueError(f"{'max' if largest else 'min'}: the reduced dimensions of shape {x.shape} are empty "
                             f"(dim={dim})")
        self.x, self.dim, self.keepdim = x, dim, keepdim
        y = x.max(axis=dim, keepdims=True) if largest else x.min(axis=dim, keepdims=True)
        self.y_kept = y
        return y if keepdim else y.reshape(_drop(y.shape, dim))

    def backward(self, g):
        hit = (self.x == self.y_kept).astype(g.dtype)
        ties = hit.sum(axis=self.dim, keepdims=True)
        return hit * (_expand_back(g, self.x.shape, self.dim, self.keepdim) / ties)


def _drop(shape, dims):
    return () if dims is None else tuple(n for i, n in enumerate(shape) if i not in dims)


def arg_extreme(t, dim, keepdim, largest):
    """Index of the largest (smallest) element, flat or along ``dim``, as int64 (no gradient)."""
    op = "argmax" if largest else "argmin"
    keepdim = check.flag(keepdim, "keepdim", op)
    if t.dtype.kind == "b":
        raise TypeError(f"{op}: input must not be a bool tensor")
    xp = t._xp
    f = xp.argmax if largest else xp.argmin
    if dim is None:
        if t.numel() == 0:
            raise ValueError(f"{op}: the tensor is empty")
        flat = xp.asarray(f(t.data)).astype(np.int64)
        return Tensor._wrap(flat.reshape((1,) * t.ndim) if keepdim else flat)
    d = check.dim(dim, t.ndim, op)
    if t.ndim == 0:
        return Tensor._wrap(xp.zeros((), dtype=np.int64))
    if t.shape[d] == 0:
        raise ValueError(f"{op}: dim {dim} of shape {tuple(t.shape)} is empty")
    out = f(t.data, axis=d).astype(np.int64)
    if keepdim:
        out = xp.expand_dims(out, d)
    return Tensor._wrap(out)


def sum(x, dim=None, keepdim=False):
    return x.sum(dim, keepdim)


def mean(x, dim=None, keepdim=False):
    return x.mean(dim, keepdim)


def amax(x, dim=None, keepdim=False):
    return x.amax(dim, keepdim)


def amin(x, dim=None, keepdim=False):
    return x.amin(dim, keepdim)
