"""The reduction and shape methods of ``Tensor`` (``sum``, ``max``, ``reshape``, ``permute``, indexing...),
kept apart from ``minidl/tensor.py`` so that each file reads in one sitting. Like the arithmetic methods
there, they only route to the ``Function``s of ``minidl/functional/reduction.py`` and ``shape.py``.

Those modules import ``Tensor``, so they are bound here by ``minidl.tensor`` once ``Tensor`` exists
(``bind``), as ``minidl.tensor`` binds its own arithmetic module.
"""
import collections

import numpy as np

from . import autograd

MaxMin = collections.namedtuple("MaxMin", ["values", "indices"])

_R = _S = None  # minidl.functional.reduction and .shape, bound by bind()


def bind(reduction, shape):
    global _R, _S
    _R, _S = reduction, shape


class ReductionShapeMethods:
    """Mixed into ``Tensor``: expects ``data``, ``shape``, ``ndim``, ``numel``, ``requires_grad``, ``_xp``
    and the classmethod ``_wrap``."""

    # ----------------------------------------------------------------- reductions
    def sum(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        dim, keepdim = _R.resolve_dim_args(self, dim, keepdim, axis, keepdims, "sum")
        return _R.Sum.apply(self, dim=dim, keepdim=keepdim)

    def mean(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        dim, keepdim = _R.resolve_dim_args(self, dim, keepdim, axis, keepdims, "mean")
        return _R.Mean.apply(self, dim=dim, keepdim=keepdim)

    def var(self, dim=None, keepdim=False, unbiased=True):
        dim, keepdim = _R.resolve_dim_args(self, dim, keepdim, None, None, "var")
        centred = self - self.mean(dim, keepdim=True)
        n = self.numel() if dim is None else int(np.prod([self.shape[d] for d in dim]))
        return (centred * centred).sum(dim, keepdim=keepdim) / max(n - (1 if unbiased else 0), 1)

    def amax(self, dim=None, keepdim=False):
        dim, keepdim = _R.resolve_dim_args(self, dim, keepdim, None, None, "amax")
        return _R.Extreme.apply(self, dim=dim, keepdim=keepdim, largest=True)

    def amin(self, dim=None, keepdim=False):
        dim, keepdim = _R.resolve_dim_args(self, dim, keepdim, None, None, "amin")
        return _R.Extreme.apply(self, dim=dim, keepdim=keepdim, largest=False)

    def max(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        """Largest value; with ``dim``, ``(values, indices)`` as PyTorch. Tied maxima share the gradient."""
        return self._extreme(dim, keepdim, axis, keepdims, True)

    def min(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        """Smallest value; with ``dim``, ``(values, indices)`` as PyTorch. Tied minima share the gradient."""
        return self._extreme(dim, keepdim, axis, keepdims, False)

    def _extreme(self, dim, keepdim, axis, keepdims, largest):
        name = "max" if largest else "min"
        with_dim = dim is not None or axis is not None
        dims, keepdim = _R.resolve_dim_args(self, dim, keepdim, axis, keepdims, name)
        values = _R.Extreme.apply(self, dim=dims, keepdim=keepdim, largest=largest)
        if not with_dim or len(dims) != 1:
            return values
        arg = self.argmax if largest else self.argmin
        return MaxMin(values, arg(dims[0], keepdim=keepdim))

    def argmax(self, dim=None, keepdim=False):
        return _R.arg_extreme(self, dim, keepdim, largest=True)

    def argmin(self, dim=None, keepdim=False):
        return _R.arg_extreme(self, dim, keepdim, largest=False)

    def all(self):
        return type(self)._wrap(self._xp.all(self.data))

    def any(self):
        return type(self)._wrap(self._xp.any(self.data))

    # ----------------------------------------------------------------- shape
    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return _S.Reshape.apply(self, shape=tuple(int(s) for s in shape))

    view = reshape

    def view_as(self, other):
        return self.reshape(other.shape)

    def flatten(self, start_dim=0, end_dim=-1):
        return _S.flatten(self, start_dim, end_dim)

    def squeeze(self, dim=None):
        return _S.squeeze(self, dim)

    def unsqueeze(self, dim):
        return _S.unsqueeze(self, dim)

    def transpose(self, dim0, dim1):
        order = list(range(self.ndim))
        d0, d1 = _S.normalize_dim(dim0, self.ndim, "transpose"), _S.normalize_dim(dim1, self.ndim, "transpose")
        order[d0], order[d1] = order[d1], order[d0]
        return self.permute(*order)

    def permute(self, *dims):
        dims = dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        return _S.permute(self, dims)

    def expand(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return _S.expand(self, shape)

    def split(self, split_size_or_sections, dim=0):
        return _S.split(self, split_size_or_sections, dim)

    def chunk(self, chunks, dim=0):
        size = -(-self.shape[dim] // chunks)
        return _S.split(self, size, dim)

    def __getitem__(self, index):
        return _S.getitem(self, index)

    def __setitem__(self, index, value):
        if self.requires_grad and autograd.is_grad_enabled():
            raise RuntimeError(
                "a tensor that requires grad cannot be written in place while gradients are recorded; "
                "wrap the write in minidl.no_grad()"
            )
        index = _S.unwrap_index(index)
        value = value.data if isinstance(value, ReductionShapeMethods) else value
        self.data[index] = value
