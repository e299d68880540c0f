"""The fully connected layer.

    y = x W^T + b          x (*, in_features), W (out_features, in_features), b (out_features,),
                           y (*, out_features)

Gradients, with G = dL/dy flattened to (M, out_features) and x to (M, in_features):
    dx = G W,   dW = G^T x,   db = sum of G over its rows.

The products run on the thread pool (``minidl.parallel.matmul``), not on OpenBLAS's own threads.
"""
import math

from ..autograd import Function
from ..parallel import matmul
from ..tensor import Tensor

__all__ = ["linear"]


def _rows(a):
    """(*, features) as a matrix (M, features), M the product of the leading sizes (0 allowed)."""
    return a.reshape(math.prod(a.shape[:-1]), a.shape[-1])


class LinearOp(Function):
    fresh_grads = (1, 2)  # dW and db are new arrays (see Function.fresh_grads)

    def forward(self, x, weight, bias):
        self.x, self.weight = x, weight
        y = matmul(_rows(x), weight.T).reshape(x.shape[:-1] + (weight.shape[0],))
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
