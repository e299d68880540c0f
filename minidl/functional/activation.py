"""Activations: ReLU, leaky ReLU, sigmoid, tanh, softmax and log-softmax.

These run on every activation of every training step, so each keeps what its backward needs in the
cheapest form (usually its own output, which the graph holds anyway) and allocates few temporaries.
NumPy's and CuPy's elementwise functions are one pass each on either device, so no custom kernel is
needed here.
"""
from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from . import validation as check
from .im2col import for_batch_chunks
from .shape import normalize_dim

__all__ = ["relu", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax"]


def check_float_tensor(x, op):
    """Raise a clear ``TypeError`` unless ``x`` is a floating-point ``Tensor``."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor as input, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point tensor, got dtype {x.dtype}")


def _by_rows(fn, out, *arrays):
    """``fn(*rows, out=out_rows)`` over chunks of the leading axis, in the thread pool on the CPU."""
    xp = backend.get_array_module(out)
    if out.ndim == 0 or out.shape[0] == 0:
        fn(*arrays, out=out)
        return out
    for_batch_chunks(lambda a, b: fn(*(r[a:b] for r in arrays), out=out[a:b]), out.shape[0],
                     out[:1].nbytes, xp)
    return out


def _relu_grad(g, y, out):
    """g where y > 0, else 0: one pass (the mask is cast to g's dtype inside the multiply)."""
    backend.get_array_module(g).multiply(g, y > 0, out=out)


class ReLU(Function):
    """max(0, x) and its gradient, over batch chunks on every core (``minidl.parallel``)."""

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.y = _by_rows(lambda rows, out: xp.maximum(rows, 0, out=out), xp.empty_like(x), x)
        return self.y

    def backward(self, g):
        xp = backend.get_array_module(g)
        return _by_rows(_relu_grad, xp.empty(g.shape, g.dtype), g, self.y)


def relu(input, inplace=False):
    """ReLU(x) = max(0, x), elementwise; any shape.

    Why it does not vanish (the lecture's first AlexNet point): its gradient is exactly 1 wherever the
    unit is active, so a product of many layers' local gradients keeps its size, while the sigmoid's
    gradient is at most 1/4 and tanh's is below 1 away from 0, so deep stacks of those shrink the
    gradient geometrically. It is also cheap (one comparison) and leaves many units at exactly 0
    (sparse activations).

    ``inplace`` is accepted for PyTorch compatibility and ignored: minidl never overwrites a tensor
    that the graph may still need, so the result is always a new tensor.
    """
    check_float_tensor(input, "relu")
    return ReLU.apply(input)


class LeakyReLU(Function):
    def forward(self, x, negative_slope):
        # y = x * f with f = 1 where x > 0 and the slope elsewhere; f is also dy/dx, so the backward
        # is one multiply. f is built as (slope or 0) + (0 or 1), which is exact, because a masked
        # select (np.where) is several times slower on the CPU. The input's sign, not the output's,
        # picks the branch: with a slope <= 0 they differ.
        xp = backend.get_array_module(x)
        f = xp.multiply(x <= 0, negative_slope, dtype=x.dtype)
        f += x > 0
        self.factor = f
        return x * f

    def backward(self, g):
        return g * self.factor


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """LeakyReLU(x) = x for x > 0, ``negative_slope`` * x otherwise; any shape.

    The small slope keeps a gradient flowing through units that a plain ReLU would switch off for good.
    ``inplace`` is accepted and ignored, as for ``relu``.
    """
    check_float_tensor(input, "leaky_relu")
    negative_slope = check.number(negative_slope, "negative_slope", "leaky_relu")
    return LeakyReLU.apply(input, negative_slope=negative_slope)


class Sigmoid(Function):
    def forward(self, x):
        xp = backend.get_array_module(x)
        # e = e^-|x| lies in (0, 1]: it never overflows, and underflows quietly to exactly 0, which
        # gives the exact limits 1 (x >> 0) and 0 (x << 0) without any inf/inf
        shape = x.shape
        x = x.reshape(-1)  # NumPy makes 0-d results scalars, which the out= arguments below cannot take
        e = xp.abs(x)
        xp.negative(e, out=e)
        xp.exp(e, out=e)
        r = e + 1
        xp.reciprocal(r, out=r)
        # sigma(x) = r for x >= 0 and e * r for x < 0. The factor (e or 1) is made by exact arithmetic
        # (e * 1 + 0 or e * 0 + 1) instead of np.where, which is several times slower on the CPU.
        e *= x < 0
        e += x >= 0
        e *= r
        self.y = e.reshape(shape)
        return self.y

    def backward(self, g):
        y = self.y
        return g * y * (1 - y)


def sigmoid(input):
    """sigma(x) = 1 / (1 + e^-x), elementwise; any shape. d sigma/dx = sigma (1 - sigma) <= 1/4.

    Computed as 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) for x < 0, so that the exponential's
    argument is never positive: no overflow and no warning even at |x| = 1000.
    """
    check_float_tensor(input, "sigmoid")
    return Sigmoid.apply(input)


class Tanh(Function):
    def forward(self, x):
        xp = backend.get_array_module(x)
        self.y = xp.tanh(x)
        return self.y

    def backward(self, g):
        y = self.y
        return g * (1 - y * y)


def tanh(input):
    """tanh(x) = (e^x - e^-x) / (e^x + e^-x) = 2 sigma(2x) - 1, elementwise; any shape.

    d tanh/dx = 1 - tanh(x)^2: 1 at 0, vanishing for large |x| like the sigmoid's.
    """
    check_float_tensor(input, "tanh")
    return Tanh.apply(input)


class _SoftmaxLike(Function):
    """softmax and log-softmax along ``dim``: both first subtract the maximum along ``dim`` (which leaves
    the result unchanged and keeps every exponent <= 0), then ``normalise`` the shifted values. The output
    is kept for backward."""

    def forward(self, x, dim):
        self.dim = dim
        if x.size == 0:
            self.y = x.copy()
        else:
            self.y = self.normalise(x - x.max(axis=dim, keepdims=True), dim)
        return self.y


class Softmax(_SoftmaxLike):
    def normalise(self, z, dim):
        """e^z / sum(e^z), in place in the shifted copy."""
        xp = backend.get_array_module(z)
        xp.exp(z, out=z)
        z /= z.sum(axis=dim, keepdims=True)
        return z

    def backward(self, g):
        y = self.y
        gy = g * y
        # dy_i/dx_j = y_i (delta_ij - y_j)  =>  dx = y * (g - sum(g * y))
        gy -= y * gy.sum(axis=self.dim, keepdims=True)
        return gy


class LogSoftmax(_SoftmaxLike):
    def normalise(self, z, dim):
        """z - log(sum(e^z)): computed from the shifted values, never as log of a softmax that can be 0."""
        xp = backend.get_array_module(z)
        z -= xp.log(xp.exp(z).sum(axis=dim, keepdims=True))
        return z

    def backward(self, g):
        xp = backend.get_array_module(g)
        # d log_softmax_i / dx_j = delta_ij - softmax_j  =>  dx = g - softmax * sum(g)
        return g - xp.exp(self.y) * g.sum(axis=self.dim, keepdims=True)


def _softmax_family(fn, input, dim, op):
    check_float_tensor(input, op)
    if dim is None:
        raise ValueError(
            f"{op}: pass dim explicitly (PyTorch's implicit choice of dim is deprecated), "
            f"e.g. {op}(x, dim=1) for a tensor of shape (N, C)"
        )
    if input.ndim == 0:
        normalize_dim(dim, 1, op)
        return fn.apply(input.reshape(1), dim=0).reshape(())
    return fn.apply(input, dim=normalize_dim(dim, input.ndim, op))


def softmax(input, dim=None):
    """softmax(x)_i = e^{x_i} / sum_j e^{x_j} along ``dim``; same shape as ``input``.

    Computed as e^{x_i - m} / sum_j e^{x_j - m} with m the maximum along ``dim`` (no overflow).
    Backward in closed form: dx = y * (g - sum(g * y)) with y the output.
    """
    return _softmax_family(Softmax, input, dim, "softmax")


def log_softmax(input, dim=None):
    """log_softmax(x)_i = x_i - log sum_j e^{x_j} along ``dim``; same shape as ``input``.

    Computed as (x_i - m) - log sum_j e^{x_j - m} with m the maximum along ``dim``, which is exact
    where log(softmax(x)) would round tiny probabilities to log(0) = -inf.
    Backward in closed form: dx = g - softmax(x) * sum(g).
    """
    return _softmax_family(LogSoftmax, input, dim, "log_softmax")
