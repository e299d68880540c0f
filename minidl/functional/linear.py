"""The fully connected layer.

    y = x W^T + b          x (*, in_features), W (out_features, in_features), b (out_features,),
                           y (*, out_features)

Gradients, with G = dL/dy flattened to (M, out_features) and x to (M, in_features):
    dx = G W,   dW = G^T x,   db = sum of G over its rows.

The products run on the thread pool (``minidl.parallel.matmul``), not on OpenBLAS's own threads; for a
few rows and many output features the forward runs as y^T = W x^T (see ``_few_rows``).
"""
import math

from ..autograd import Function
from ..parallel import matmul
from .im2col import transposed
from ..tensor import Tensor

__all__ = ["linear"]


def _rows(a):
    """(*, features) as a matrix (M, features), M the product of the leading sizes (0 allowed)."""
    return a.reshape(math.prod(a.shape[:-1]), a.shape[-1])


def _few_rows(rows, out_features):
    """Whether the forward runs as y^T = W x^T: for a batch of rows small next to the output features.
    OpenBLAS multiplies faster with the long side as the product's rows: fc6 of VGG-16 width 1/4 (32 rows,
    6272 -> 1024) took 7.9 ms at one thread as x W^T, 5.6 ms as W x^T plus the small transposed copy;
    at 512 rows of 1024 -> 1024 the two were even (2-core x86, OpenBLAS 0.3.31)."""
    return 8 * rows <= out_features


class LinearOp(Function):
    fresh_grads = (1, 2)  # dW and db are new arrays (see Function.fresh_grads)

    def forward(self, x, weight, bias):
        self.x, self.weight = x, weight
        rows = _rows(x)
        if _few_rows(rows.shape[0], weight.shape[0]):
            y = transposed(matmul(weight, rows.T))
        else:
            y = matmul(rows, weight.T)
        y = y.reshape(x.shape[:-1] + (weight.shape[0],))
        if bias is not None:
            y += bias
        return y

    def backward(self, grad):
        dx = dw = db = None
        g2 = _rows(grad)
        if self.needs_input_grad[0]:
            dx = matmul(g2, self.weight).reshape(self.x.shape)
        if self.needs_input_grad[1]:
            dw = matmul(g2.T, _rows(self.x))
        if self.needs_input_grad[2]:
            db = g2.sum(axis=0)
        return dx, dw, db


def linear(input, weight, bias=None):
    """y = input W^T + b for ``input`` (*, in_features), ``weight`` (out_features, in_features) and
    ``bias`` (out_features,) or None; returns (*, out_features)."""
    op = "linear"
    for name, t in (("input", input), ("weight", weight)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
    if bias is not None and not isinstance(bias, Tensor):
        raise TypeError(f"{op}: bias must be a Tensor or None, got {type(bias).__name__}")
    if input.ndim < 1:
        raise ValueError(f"{op}: input must have at least 1 dimension (*, in_features), got a scalar")
    if weight.ndim != 2:
        raise ValueError(f"{op}: weight must be 2-D (out_features, in_features), got shape {weight.shape}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: input must be floating point, got {input.dtype}")
    if input.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"{op}: input has {input.shape[-1]} features (last dimension of shape {input.shape}) "
            f"but weight expects {weight.shape[1]}"
        )
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"{op}: bias must have shape ({weight.shape[0]},), got {bias.shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is None:
            continue
        if t.dtype != input.dtype:
            raise TypeError(f"{op}: input is {input.dtype} but {name} is {t.dtype}; convert one of them")
        if t.device != input.device:
            raise ValueError(f"{op}: input is on {input.device} but {name} is on {t.device}")
    return LinearOp.apply(input, weight, bias)
