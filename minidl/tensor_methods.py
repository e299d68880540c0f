"""The arithmetic, reduction and shape methods of ``Tensor`` (``+``, ``exp``, ``sum``, ``max``, ``reshape``,
``permute``, indexing...), kept apart from ``minidl/tensor.py`` so that each file reads in one sitting.
They only route to the ``Function``s of ``minidl/functional/arithmetic.py``, ``reduction.py`` and
``shape.py``.
"""
import collections

import numpy as np

from . import autograd
from .inplace import check_not_read_only

MaxMin = collections.namedtuple("MaxMin", ["values", "indices"])

# The op modules import Tensor, so they cannot be imported before minidl/tensor.py has defined it;
# that module imports them at its end and hands them over with connect_ops().
arithmetic = reduction = shape_ops = None


def connect_ops(arithmetic_module, reduction_module, shape_module):
    global arithmetic, reduction, shape_ops
    arithmetic, reduction, shape_ops = arithmetic_module, reduction_module, shape_module


class ArithmeticMethods:
    """Mixed into ``Tensor``: operators and elementwise functions."""

    def __add__(self, other):
        return arithmetic.binary(arithmetic.Add, self, other, "add")

    def __radd__(self, other):
        return arithmetic.binary(arithmetic.Add, other, self, "add")

    def __sub__(self, other):
        return arithmetic.binary(arithmetic.Sub, self, other, "sub")

    def __rsub__(self, other):
        return arithmetic.binary(arithmetic.Sub, other, self, "sub")

    def __mul__(self, other):
        return arithmetic.binary(arithmetic.Mul, self, other, "mul")

    def __rmul__(self, other):
        return arithmetic.binary(arithmetic.Mul, other, self, "mul")

    def __truediv__(self, other):
        return arithmetic.binary(arithmetic.Div, self, other, "div")

    def __rtruediv__(self, other):
        return arithmetic.binary(arithmetic.Div, other, self, "div")

    def __pow__(self, other):
        return arithmetic.power(self, other)

    def __rpow__(self, other):
        return arithmetic.binary(arithmetic.Pow, other, self, "pow")

    def __matmul__(self, other):
        return arithmetic.matmul(self, other)

    def __rmatmul__(self, other):
        return arithmetic.matmul(other, self)

    def __neg__(self):
        if self.dtype.kind == "b":
            raise TypeError("neg: negation of a bool tensor is not supported; to invert a mask use ~")
        return arithmetic.Neg.apply(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return self.abs()

    def __lt__(self, other):
        return arithmetic.compare(self, other, "lt")

    def __le__(self, other):
        return arithmetic.compare(self, other, "le")

    def __gt__(self, other):
        return arithmetic.compare(self, other, "gt")

    def __ge__(self, other):
        return arithmetic.compare(self, other, "ge")

    def __eq__(self, other):
        return arithmetic.compare(self, other, "eq")

    def __ne__(self, other):
        return arithmetic.compare(self, other, "ne")

    def __invert__(self):
        if self.dtype.kind not in "biu":
            raise TypeError(f"~ needs a bool or integer tensor, got {self.dtype}")
        return type(self)._wrap(~self.data)

    def __and__(self, other):
        return arithmetic.bitwise(self, other, "and")

    def __or__(self, other):
        return arithmetic.bitwise(self, other, "or")

    def add(self, other, *, alpha=1):
        """self + alpha * other."""
        return self + (other if alpha == 1 else arithmetic.scaled(other, alpha, "add"))

    def sub(self, other, *, alpha=1):
        """self - alpha * other."""
        return self - (other if alpha == 1 else arithmetic.scaled(other, alpha, "sub"))

    def mul(self, other):
        return self * other

    def div(self, other):
        return self / other

    def pow(self, other):
        return self ** other

    def matmul(self, other):
        return self @ other

    def neg(self):
        return -self

    def exp(self):
        return arithmetic.Exp.apply(arithmetic.as_float(self, "exp"))

    def log(self):
        return arithmetic.Log.apply(arithmetic.as_float(self, "log"))

    def sqrt(self):
        return arithmetic.Sqrt.apply(arithmetic.as_float(self, "sqrt"))

    def abs(self):
        if self.dtype.kind == "b":
            raise TypeError("abs: not defined for a bool tensor")
        return arithmetic.Abs.apply(self)

    def clip(self, min=None, max=None):
        """Clamp into [min, max]; the gradient passes where min <= x <= max, as in PyTorch."""
        return arithmetic.clip(self, min, max)

    clamp = clip

    def relu(self):
        from .functional import relu

        return relu(self)

    def sigmoid(self):
        from .functional import sigmoid

        return sigmoid(self)

    def tanh(self):
        from .functional import tanh

        return tanh(self)

    def softmax(self, dim):
        from .functional import softmax

        return softmax(self, dim)

    def log_softmax(self, dim):
        from .functional import log_softmax

        return log_softmax(self, dim)


class ReductionShapeMethods:
    """Mixed into ``Tensor``: expects ``data``, ``shape``, ``ndim``, ``numel``, ``requires_grad``, ``_xp``
    and the classmethod ``_wrap``."""

    # ----------------------------------------------------------------- reductions
    def sum(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        dim, keepdim = reduction.resolve_dim_args(self, dim, keepdim, axis, keepdims, "sum")
        return reduction.Sum.apply(self, dim=dim, keepdim=keepdim)

    def mean(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        dim, keepdim = reduction.resolve_dim_args(self, dim, keepdim, axis, keepdims, "mean")
        return reduction.Mean.apply(self, dim=dim, keepdim=keepdim)

    def var(self, dim=None, keepdim=False, unbiased=True):
        dim, keepdim = reduction.resolve_dim_args(self, dim, keepdim, None, None, "var")
        centred = self - self.mean(dim, keepdim=True)
        n = self.numel() if dim is None else int(np.prod([self.shape[d] for d in dim]))
        # one value has no unbiased variance, no values none at all: 0 / 0 = NaN, as PyTorch gives
        return (centred * centred).sum(dim, keepdim=keepdim) / max(n - 1 if unbiased else n, 0)

    def amax(self, dim=None, keepdim=False):
        dim, keepdim = reduction.resolve_dim_args(self, dim, keepdim, None, None, "amax")
        return reduction.Extreme.apply(self, dim=dim, keepdim=keepdim, largest=True)

    def amin(self, dim=None, keepdim=False):
        dim, keepdim = reduction.resolve_dim_args(self, dim, keepdim, None, None, "amin")
        return reduction.Extreme.apply(self, dim=dim, keepdim=keepdim, largest=False)

    def max(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        """Largest value; with ``dim``, ``(values, indices)`` as PyTorch. Tied maxima share the gradient."""
        return self._extreme(dim, keepdim, axis, keepdims, True)

    def min(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        """Smallest value; with ``dim``, ``(values, indices)`` as PyTorch. Tied minima share the gradient."""
        return self._extreme(dim, keepdim, axis, keepdims, False)

    def _extreme(self, dim, keepdim, axis, keepdims, largest):
        name = "max" if largest else "min"
        with_dim = dim is not None or axis is not None
        dims, keepdim = reduction.resolve_dim_args(self, dim, keepdim, axis, keepdims, name)
        values = reduction.Extreme.apply(self, dim=dims, keepdim=keepdim, largest=largest)
        if with_dim and self.ndim == 0:
            return MaxMin(values, type(self)._wrap(self._xp.zeros((), dtype=np.int64)))
        if not with_dim or len(dims) != 1:
            return values
        arg = self.argmax if largest else self.argmin
        return MaxMin(values, arg(dims[0], keepdim=keepdim))

    def argmax(self, dim=None, keepdim=False):
        return reduction.arg_extreme(self, dim, keepdim, largest=True)

    def argmin(self, dim=None, keepdim=False):
        return reduction.arg_extreme(self, dim, keepdim, largest=False)

    def all(self):
        return type(self)._wrap(self._xp.all(self.data))

    def any(self):
        return type(self)._wrap(self._xp.any(self.data))

    # ----------------------------------------------------------------- shape
    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return shape_ops.reshape(self, shape)

    view = reshape

    def view_as(self, other):
        return self.reshape(other.shape)

    def flatten(self, start_dim=0, end_dim=-1):
        return shape_ops.flatten(self, start_dim, end_dim)

    def squeeze(self, dim="all"):
        """Drop dimension ``dim`` if its size is 1 (by default every size-1 dimension)."""
        return shape_ops.squeeze(self, dim)

    def unsqueeze(self, dim):
        return shape_ops.unsqueeze(self, dim)

    def transpose(self, dim0, dim1):
        order = list(range(self.ndim))
        d0 = shape_ops.normalize_dim(dim0, self.ndim, "transpose", "dim0")
        d1 = shape_ops.normalize_dim(dim1, self.ndim, "transpose", "dim1")
        if self.ndim == 0:
            return self
        order[d0], order[d1] = order[d1], order[d0]
        return self.permute(*order)

    @property
    def T(self):
        return self.permute(*reversed(range(self.ndim)))

    def t(self):
        """The transpose of a matrix; a 0-d or 1-D tensor comes back as it is (``torch.Tensor.t``)."""
        if self.ndim > 2:
            raise ValueError(f"t: expects a tensor with at most 2 dimensions, got shape {tuple(self.shape)}; "
                             "use transpose(dim0, dim1) or permute")
        return self if self.ndim < 2 else self.transpose(0, 1)

    def permute(self, *dims):
        dims = dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        return shape_ops.permute(self, dims)

    def expand(self, *shape):
        if not shape:
            raise TypeError("expand: size is missing (give the new shape, e.g. x.expand(3, 4))")
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return shape_ops.expand(self, shape)

    def split(self, split_size_or_sections, dim=0):
        return shape_ops.split(self, split_size_or_sections, dim)

    def chunk(self, chunks, dim=0):
        """``chunks`` pieces of equal size along ``dim`` (the last may be smaller; fewer if they run out)."""
        return shape_ops.chunk(self, chunks, dim)

    def __getitem__(self, index):
        return shape_ops.getitem(self, index)

    def __setitem__(self, index, value):
        if self.requires_grad and autograd.is_grad_enabled():
            raise RuntimeError(
                "a tensor that requires grad cannot be written in place while gradients are recorded; "
                "wrap the write in minidl.no_grad()"
            )
        check_not_read_only(self, "setitem")
        index = shape_ops.unwrap_index(index)
        value = value.data if isinstance(value, ReductionShapeMethods) else value
        self.data[index] = value
        self._version_counter.value += 1
