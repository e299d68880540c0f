"""Losses: cross-entropy over class indices, negative log-likelihood, mean squared error.

Shapes follow ``torch.nn.functional``: the class axis is axis 1 of a batched input (N, C) or
(N, C, d1, d2, ...) with target (N,) or (N, d1, d2, ...), e.g. (N, C, H, W) score maps against
(N, H, W) label maps for segmentation; an unbatched input (C,) takes a 0-d target. Every op here views
the input as (N, C, K) with K = d1 * d2 * ..., a free reshape, and works along axis 1, so a
segmentation map is never transposed.

Per element i with class y_i, class weight w (all ones when not given), mask m_i = [y_i != ignore_index]:

    nll:            l_i = -m_i w[y_i] x[i, y_i]                      (x holds log-probabilities)
    cross-entropy:  log p[i, c] = z[i, c] - log sum_k exp z[i, k]    (max-subtracted: log-sum-exp)
                    l_i = m_i [ (1 - eps) w[y_i] (-log p[i, y_i]) + eps / C sum_c w[c] (-log p[i, c]) ]

with label smoothing eps. Reduction 'none' keeps l (shape of the target), 'sum' adds it up, 'mean'
divides the sum by sum_i m_i w[y_i] -- the weight of the counted targets, not their number (PyTorch's
rule, smoothing term included), so a mean over targets that are all ignored is 0/0 = nan.

The cross-entropy gradient is fused: with a_{ic} = m_i [(1 - eps) w[y_i] [c = y_i] + eps / C w[c]] the
loss is l_i = -sum_c a_{ic} log p[i, c], hence

    dl_i / dz[i, c] = p[i, c] sum_k a_{ik} - a_{ic}          (softmax minus the smoothed one-hot)

Class weights are constants here: neither loss differentiates with respect to ``weight``.
"""
import warnings

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor, _fmt
from . import validation as check
from .arithmetic import reduce_to_shape

__all__ = ["cross_entropy", "nll_loss", "mse_loss"]

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction, op):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: unknown reduction {reduction!r}; expected 'mean', 'sum' or 'none'")


class _ClassLoss(Function):
    """What cross-entropy and nll share: target gathering, weights, the reduction and its gradient."""

    def _targets(self, x3, t2, weight, ignore_index):
        """Keep the mask, safe indices and per-element weights m_i w[y_i] (all shaped (N, K))."""
        xp = backend.get_array_module(x3)
        self.mask = t2 != ignore_index
        # ignored positions gather class 0 so indexing stays in range; the mask zeroes them later
        self.index = xp.where(self.mask, t2, 0)
        if weight is None:
            self.w_t = self.mask.astype(x3.dtype)
        else:
            self.w_t = xp.where(self.mask, weight[self.index], 0).astype(x3.dtype)
        return xp.take_along_axis(x3, self.index[:, None, :], axis=1)[:, 0, :]

    def _reduce(self, loss, reduction, target_shape):
        xp = backend.get_array_module(loss)
        self.reduction = reduction
        if reduction == "none":
            return loss.reshape(target_shape)
        total = loss.sum()
        if reduction == "sum":
            return xp.asarray(total, dtype=loss.dtype)
        self.denominator = self.w_t.sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            return xp.asarray(total / self.denominator, dtype=loss.dtype)

    def _element_grad(self, g):
        """dL/dl_i as an (N, K) array, zero at ignored targets (also when the mean is 0/0)."""
        xp = backend.get_array_module(g)
        if self.reduction == "none":
            g = g.reshape(self.mask.shape)
        elif self.reduction == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                g = g / self.denominator
        return xp.where(self.mask, g, 0).astype(g.dtype)


class CrossEntropy(_ClassLoss):
    def forward(self, x, target, weight, ignore_index, reduction, label_smoothing, shape3):
        # an inf logit gives NaN where PyTorch gives it (inf - inf), without NumPy's warning
        with np.errstate(invalid="ignore"):
            return self._forward(x, target, weight, ignore_index, reduction, label_smoothing, shape3)

    def _forward(self, x, target, weight, ignore_index, reduction, label_smoothing, shape3):
        xp = backend.get_array_module(x)
        n, c, k = shape3
        x3 = x.reshape(shape3)
        t2 = target.reshape(n, k)
        z_max = x3.max(axis=1, keepdims=True)
        e = xp.exp(x3 - z_max)
        s = e.sum(axis=1, keepdims=True)
        lse = (z_max + xp.log(s))[:, 0, :]
        self.p = e / s
        self.in_shape, self.weight, self.eps, self.num_classes = x.shape, weight, label_smoothing, c
        z_t = self._targets(x3, t2, weight, ignore_index)
        # where(), not a product with the mask: an ignored row's lse - z may be inf - inf = NaN
        loss = xp.where(self.mask, (1 - label_smoothing) * self.w_t * (lse - z_t), 0)
        if label_smoothing > 0:
            if weight is None:
                smooth = c * lse - x3.sum(axis=1)
            else:
                smooth = weight.sum() * lse - xp.einsum("nck,c->nk", x3, weight)
            loss = loss + xp.where(self.mask, (label_smoothing / c) * smooth, 0)
        return self._reduce(loss.astype(x.dtype), reduction, target.shape)

    def backward(self, g):
        xp = backend.get_array_module(g)
        gi = self._element_grad(g)
        c, eps = self.num_classes, self.eps
        w_sum = c if self.weight is None else self.weight.sum()
        # sum_k a_ik, the factor on the softmax
        a_total = (1 - eps) * self.w_t + xp.where(self.mask, eps / c * w_sum, 0)
        grad = self.p * (gi * a_total)[:, None, :]
        onehot = self.index[:, None, :] == xp.arange(c)[None, :, None]
        grad -= xp.where(onehot, ((1 - eps) * gi * self.w_t)[:, None, :], 0)
        if eps > 0:
            w = xp.ones(c, dtype=grad.dtype) if self.weight is None else self.weight
            grad -= (eps / c) * w[None, :, None] * gi[:, None, :]
        return grad.astype(g.dtype).reshape(self.in_shape), None


class NLLLoss(_ClassLoss):
    def forward(self, x, target, weight, ignore_index, reduction, shape3):
        n, c, k = shape3
        self.in_shape, self.num_classes = x.shape, c
        x_t = self._targets(x.reshape(shape3), target.reshape(n, k), weight, ignore_index)
        with np.errstate(invalid="ignore"):  # ignored rows may hold NaN or inf: 0 * inf
            loss = backend.get_array_module(x).where(self.mask, -self.w_t * x_t, 0)
        return self._reduce(loss.astype(x.dtype), reduction, target.shape)

    def backward(self, g):
        xp = backend.get_array_module(g)
        gi = self._element_grad(g)
        onehot = self.index[:, None, :] == xp.arange(self.num_classes)[None, :, None]
        grad = xp.where(onehot, (-gi * self.w_t)[:, None, :], 0).astype(g.dtype)
        return grad.reshape(self.in_shape), None


def _check_class_args(op, input, target, weight, ignore_index, reduction):
    """Validate a class-index loss call; return (N, C, K), the view every computation uses."""
    check_reduction(reduction, op)
    check.integer(ignore_index, "ignore_index", op)
    if not isinstance(input, Tensor) or not isinstance(target, Tensor):
        raise TypeError(
            f"{op}: input and target must be Tensors, got {type(input).__name__} and {type(target).__name__}"
        )
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: input must be a floating-point tensor, got {input.dtype}")
    if target.dtype.kind not in "iu":
        raise TypeError(
            f"{op}: target must hold class indices (an int64 or int32 tensor), got {target.dtype}; "
            "probability (float) targets are not supported"
        )
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have a class dimension, got a 0-d tensor")
    expected = () if input.ndim == 1 else input.shape[:1] + input.shape[2:]
    if target.shape != expected:
        raise ValueError(
            f"{op}: input of shape {_fmt(input.shape)} expects a target of shape {_fmt(expected)}, "
            f"got {_fmt(target.shape)}"
        )
    if target.device != input.device:
        raise ValueError(f"{op}: input is on {input.device} but target is on {target.device}")
    c = input.shape[0] if input.ndim == 1 else input.shape[1]
    if c == 0:
        raise ValueError(f"{op}: input of shape {_fmt(input.shape)} has no classes (its class dimension is empty)")
    if weight is not None:
        if not isinstance(weight, Tensor):
            raise TypeError(f"{op}: weight must be a Tensor or None, got {type(weight).__name__}")
        if weight.shape != (c,):
            raise ValueError(f"{op}: weight must have shape ({c},), one per class, got {_fmt(weight.shape)}")
        if weight.dtype != input.dtype:
            raise TypeError(f"{op}: weight is {weight.dtype} but input is {input.dtype}")
        if weight.device != input.device:
            raise ValueError(f"{op}: input is on {input.device} but weight is on {weight.device}")
    t = target.data
    bad = (t != ignore_index) & ((t < 0) | (t >= c))
    if bool(bad.any()):
        value = int(t[bad].reshape(-1)[0])
        raise ValueError(
            f"{op}: target value {value} is out of range for {c} classes "
            f"(expected 0 <= target < {c}, or ignore_index={ignore_index})"
        )
    if input.ndim == 1:
        return 1, c, 1
    return input.shape[0], c, int(np.prod(input.shape[2:], dtype=np.int64))


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy against class indices, as ``torch.nn.functional.cross_entropy``.

    input (N, C) or (N, C, d1, ...) or (C,) raw scores; target (N,) or (N, d1, ...) or () integer
    classes in [0, C) or ``ignore_index``; weight (C,) or None. Returns a scalar ('mean', 'sum') or a
    tensor shaped like the target ('none'). Formula and gradient: see the module docstring.
    """
    shape3 = _check_class_args("cross_entropy", input, target, weight, ignore_index, reduction)
    label_smoothing = check.number(label_smoothing, "label_smoothing", "cross_entropy", minimum=0.0, maximum=1.0)
    w = None if weight is None else weight.data
    return CrossEntropy.apply(
        input, target, weight=w, ignore_index=int(ignore_index), reduction=reduction,
        label_smoothing=label_smoothing, shape3=shape3,
    )


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities ``input`` at the target classes (``F.nll_loss``).

    Shapes as ``cross_entropy``; ``nll_loss(log_softmax(z, 1), y) == cross_entropy(z, y)``.
    """
    shape3 = _check_class_args("nll_loss", input, target, weight, ignore_index, reduction)
    w = None if weight is None else weight.data
    return NLLLoss.apply(
        input, target, weight=w, ignore_index=int(ignore_index), reduction=reduction, shape3=shape3,
    )


class MSELoss(Function):
    """l = (x - y)^2 elementwise; dl/dx = 2 (x - y), dl/dy = -2 (x - y), each reduced to its shape."""

    def forward(self, x, y, reduction):
        xp = backend.get_array_module(x)
        self.diff = x - y
        self.x_shape, self.y_shape, self.reduction = x.shape, y.shape, reduction
        sq = self.diff * self.diff
        if reduction == "none":
            return sq
        return xp.asarray(sq.sum() if reduction == "sum" else sq.mean(), dtype=sq.dtype)

    def backward(self, g):
        grad = 2 * self.diff * g
        if self.reduction == "mean":
            grad = grad / self.diff.size
        gx = reduce_to_shape(grad, self.x_shape) if self.needs_input_grad[0] else None
        gy = reduce_to_shape(-grad, self.y_shape) if self.needs_input_grad[1] else None
        return gx, gy


def mse_loss(input, target, reduction="mean"):
    """Mean squared error: mean (or sum, or each) of (input - target)^2, as ``F.mse_loss``.

    Both arguments may require gradients. Different shapes broadcast with a warning, as in PyTorch.
    """
    check_reduction(reduction, "mse_loss")
    if not isinstance(input, Tensor) or not isinstance(target, Tensor):
        raise TypeError(
            f"mse_loss: input and target must be Tensors, got {type(input).__name__} and "
            f"{type(target).__name__}"
        )
    if input.dtype.kind != "f" or input.dtype != target.dtype:
        raise TypeError(
            f"mse_loss: input and target must share one floating-point dtype, got {input.dtype} "
            f"and {target.dtype}"
        )
    if input.device != target.device:
        raise ValueError(f"mse_loss: input is on {input.device} but target is on {target.device}")
    if input.shape != target.shape:
        try:
            np.broadcast_shapes(input.shape, target.shape)
        except ValueError:
            raise ValueError(
                f"mse_loss: input shape {_fmt(input.shape)} and target shape {_fmt(target.shape)} "
                "do not broadcast"
            ) from None
        warnings.warn(
            f"mse_loss: target shape {_fmt(target.shape)} differs from input shape {_fmt(input.shape)}; "
            "they are broadcast, which is rarely what a loss wants",
            UserWarning,
            stacklevel=2,
        )
    return MSELoss.apply(input, target, reduction=reduction)
