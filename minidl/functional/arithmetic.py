"""Elementwise arithmetic with NumPy broadcasting, and matrix products.

Broadcasting and its gradient: if ``z = x + y`` broadcasts ``x`` from shape (3, 1) to (2, 3, 4), every
copy of an element of ``x`` receives the gradient of its copy in ``z``, so dL/dx is dL/dz summed over
the axes that broadcasting added or stretched (``reduce_to_shape``).
"""
import numpy as np

from .. import backend
from ..autograd import Function
from ..parallel import matmul as matmul_on_pool
from ..tensor import DEFAULT_DTYPE, Tensor, _fmt
from .promotion import as_operand, check_broadcast, result_dtype
from .validation import is_number


def reduce_to_shape(grad, shape, dtype=None):
    """Sum ``grad`` over the axes broadcasting added or stretched, so that it has ``shape`` again."""
    shape = tuple(shape)
    if tuple(grad.shape) != shape:
        extra = grad.ndim - len(shape)
        axes = tuple(range(extra)) + tuple(
            i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1
        )
        if axes:
            grad = grad.sum(axis=axes, keepdims=True)
        grad = grad.reshape(shape)
    if dtype is not None and grad.dtype != dtype:
        grad = grad.astype(dtype)
    return grad


def scaled(other, alpha, op):
    """alpha * other, for ``add``/``sub``'s ``alpha`` (a number)."""
    if not is_number(alpha):
        raise TypeError(f"{op}: alpha must be a number, got {alpha!r}")
    return other * alpha


def binary(fn_class, a, b, op):
    python_bool = isinstance(a, (bool, np.bool_)) or isinstance(b, (bool, np.bool_))
    a, b = as_operand(a, b, op)
    check_broadcast(a, b, op)
    if fn_class is Sub and (python_bool or a.dtype.kind == "b" or b.dtype.kind == "b"):
        raise TypeError("sub: subtraction with a bool tensor is not supported; to invert a mask use ~ "
                        "(or logical_xor for two masks)")
    dtype = result_dtype(a.data, b.data)
    if fn_class is Div and dtype.kind != "f":
        dtype = DEFAULT_DTYPE  # true division of integers gives floats, as in PyTorch
    return fn_class.apply(a, b, dtype=dtype)


class _Binary(Function):
    def forward(self, a, b, dtype):
        self.a_meta, self.b_meta = (a.shape, a.dtype), (b.shape, b.dtype)
        if a.dtype != dtype:
            a = a.astype(dtype)
        if b.dtype != dtype:
            b = b.astype(dtype)
        return self.compute(a, b)

    def reduce(self, ga, gb):
        return (
            None if ga is None else reduce_to_shape(ga, *self.a_meta),
            None if gb is None else reduce_to_shape(gb, *self.b_meta),
        )


class Add(_Binary):
    """z = a + b;  dz/da = 1, dz/db = 1."""

    def compute(self, a, b):
        return a + b

    def backward(self, g):
        return self.reduce(g if self.needs_input_grad[0] else None, g if self.needs_input_grad[1] else None)


class Sub(_Binary):
    """z = a - b;  dz/da = 1, dz/db = -1."""

    def compute(self, a, b):
        return a - b

    def backward(self, g):
        return self.reduce(g if self.needs_input_grad[0] else None, -g if self.needs_input_grad[1] else None)


class Mul(_Binary):
    """z = a * b;  dz/da = b, dz/db = a."""

    def compute(self, a, b):
        # keep only what a needed gradient reads (x * 2.0 keeps nothing of x, as in PyTorch)
        self.a = a if self.needs_input_grad[1] else None
        self.b = b if self.needs_input_grad[0] else None
        return a * b

    def backward(self, g):
        return self.reduce(
            g * self.b if self.needs_input_grad[0] else None,
            g * self.a if self.needs_input_grad[1] else None,
        )


class Div(_Binary):
    """z = a / b;  dz/da = 1/b, dz/db = -a/b^2."""

    def compute(self, a, b):
        self.a = a if self.needs_input_grad[1] else None
        self.b = b
        return a / b

    def backward(self, g):
        ga = g / self.b if self.needs_input_grad[0] else None
        gb = -g * self.a / (self.b * self.b) if self.needs_input_grad[1] else None
        return self.reduce(ga, gb)


class Pow(_Binary):
    """z = a ** b;  dz/da = b a^(b-1),  dz/db = a^b ln a (taken as 0 where a = 0, as PyTorch)."""

    def compute(self, a, b):
        self.a, self.b = a, b
        self.z = a ** b
        return self.z

    def backward(self, g):
        xp = backend.get_array_module(g)
        ga = g * self.b * self.a ** (self.b - 1) if self.needs_input_grad[0] else None
        gb = None
        if self.needs_input_grad[1]:
            safe = xp.where(self.a > 0, self.a, 1)
            gb = g * self.z * xp.where(self.a > 0, xp.log(safe), 0)
        return self.reduce(ga, gb)


class PowScalar(Function):
    """z = x ** p for a constant p;  dz/dx = p x^(p-1)."""

    def forward(self, x, p):
        self.x, self.p = x, p
        return x ** p

    def backward(self, g):
        return g * (self.p * self.x ** (self.p - 1)).astype(g.dtype, copy=False)


def power(x, exponent):
    """x ** exponent; integers keep their dtype under a non-negative integer exponent, as PyTorch."""
    if isinstance(exponent, Tensor):
        if x.dtype.kind in "biu" and exponent.dtype.kind in "biu" and bool((exponent.data < 0).any()):
            raise ValueError("pow: integers to negative integer powers are not allowed (exponent has a negative entry)")
        return binary(Pow, x, exponent, "pow")
    if not is_number(exponent):
        raise TypeError(f"pow: exponent must be a number or a Tensor, got {exponent!r}")
    if x.dtype.kind in "biu":
        if isinstance(exponent, (float, np.floating)):
            x = x.float()
        elif exponent < 0:
            raise ValueError(f"pow: integers to negative integer powers are not allowed, got exponent {exponent}")
        elif x.dtype.kind == "b":
            x = x.long()
    return PowScalar.apply(x, p=exponent)


def as_float(x, op):
    """Integer and bool tensors go through exp, log, sqrt... as float32, as PyTorch."""
    if x.dtype.kind == "f":
        return x
    if x.dtype.kind in "biu":
        return x.to(DEFAULT_DTYPE)
    raise TypeError(f"{op}: unsupported dtype {x.dtype}")


def clip(x, min, max):
    """Clamp into [min, max] (numbers; NaN propagates); an integer tensor with a float bound gives float32."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    for name, bound in (("min", min), ("max", max)):
        if bound is not None and not is_number(bound):
            raise TypeError(f"clamp: {name} must be a number or None, got {bound!r}")
        if bound is not None and isinstance(bound, (float, np.floating)) and x.dtype.kind in "biu":
            x = x.to(DEFAULT_DTYPE)
    if x.dtype.kind == "b":
        raise TypeError("clamp: a bool tensor cannot be clamped")
    return Clip.apply(x, min=min, max=max)


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, g):
        return -g


class Exp(Function):
    """y = e^x;  dy/dx = y."""

    def forward(self, x):
        self.y = backend.get_array_module(x).exp(x)
        return self.y

    def backward(self, g):
        return g * self.y


class Log(Function):
    """y = ln x;  dy/dx = 1/x."""

    def forward(self, x):
        self.x = x
        return backend.get_array_module(x).log(x)

    def backward(self, g):
        return g / self.x


class Sqrt(Function):
    """y = sqrt(x);  dy/dx = 1 / (2 y)."""

    def forward(self, x):
        self.y = backend.get_array_module(x).sqrt(x)
        return self.y

    def backward(self, g):
        return g / (2 * self.y)


class Abs(Function):
    """y = |x|;  dy/dx = sign(x) (0 at 0, as PyTorch)."""

    def forward(self, x):
        self.x = x
        return abs(x)

    def backward(self, g):
        return g * backend.get_array_module(g).sign(self.x).astype(g.dtype, copy=False)


class Clip(Function):
    """y = min(max(x, lo), hi);  dy/dx = 1 where lo <= x <= hi, else 0."""

    def forward(self, x, min, max):
        xp = backend.get_array_module(x)
        self.keep = xp.ones(x.shape, dtype=bool)
        if min is not None:
            self.keep &= x >= min
        if max is not None:
            self.keep &= x <= max
        return xp.clip(x, min, max).astype(x.dtype, copy=False)

    def backward(self, g):
        return g * self.keep


class Cast(Function):
    """Change dtype; the gradient is cast back to the input's dtype."""

    def forward(self, x, dtype):
        self.in_dtype = x.dtype
        return x.astype(dtype)

    def backward(self, g):
        return g.astype(self.in_dtype) if self.in_dtype.kind == "f" else None


class Clone(Function):
    def forward(self, x):
        return x.copy()

    def backward(self, g):
        return g


def bitwise(a, b, op):
    """a & b, a | b on bool (logical) or integer (bitwise) tensors; no gradient."""
    a, b = as_operand(a, b, op)
    check_broadcast(a, b, op)
    for name, t in (("input", a), ("other", b)):
        if t.dtype.kind not in "biu":
            raise TypeError(f"{op}: {name} must be a bool or integer tensor, got {t.dtype}")
    xp = backend.get_array_module(a.data)
    f = xp.bitwise_and if op == "and" else xp.bitwise_or
    return Tensor._wrap(f(a.data, b.data).astype(result_dtype(a.data, b.data), copy=False))


def compare(a, b, op):
    a, b = as_operand(a, b, op)
    check_broadcast(a, b, op)
    fn = {"lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal",
          "eq": "equal", "ne": "not_equal"}[op]
    return Tensor._wrap(getattr(backend.get_array_module(a.data), fn)(a.data, b.data))


class MatMul(Function):
    """C = A @ B over the last two axes (batched, broadcast);  dA = dC B^T,  dB = A^T dC.

    A 1-D operand is treated as a row (left) or column (right) vector, as in NumPy.
    """

    def forward(self, a, b):
        self.a, self.b = a, b
        return matmul_on_pool(a, b)

    def backward(self, g):
        a, b = self.a, self.b
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        out_shape = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2]) + (a2.shape[-2], b2.shape[-1])
        g2 = g.reshape(out_shape)
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = reduce_to_shape(matmul_on_pool(g2, b2.swapaxes(-1, -2)), a2.shape).reshape(a.shape)
        if self.needs_input_grad[1]:
            gb = reduce_to_shape(matmul_on_pool(a2.swapaxes(-1, -2), g2), b2.shape).reshape(b.shape)
        return ga, gb


def matmul(a, b):
    a, b = as_operand(a, b, "matmul")
    if a.dtype != b.dtype:
        raise TypeError(f"matmul: both operands must have the same dtype, got {a.dtype} and other {b.dtype}")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: both operands need at least one dimension (use * for scalars)")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(
            f"matmul: shapes {_fmt(a.shape)} and {_fmt(b.shape)} cannot be multiplied ({k_a} != {k_b})"
        )
    if a.ndim > 2 or b.ndim > 2:
        try:
            np.broadcast_shapes(a.shape[:-2], b.shape[:-2] if b.ndim > 1 else ())
        except ValueError:
            raise ValueError(
                f"matmul: batch dimensions of {_fmt(a.shape)} and {_fmt(b.shape)} do not broadcast"
            ) from None
    return MatMul.apply(a, b)


def where(condition, x, y):
    """Elements of ``x`` where ``condition`` holds, else of ``y``; the gradient follows the choice.

    ``condition`` holds bools: a tensor on the operands' device, or plain flags (an array or a list),
    which are data like an index array and go where the operands are.
    """
    if not isinstance(x, Tensor) and not isinstance(y, Tensor):
        raise TypeError("where: input or other must be a Tensor")
    x, y = as_operand(x, y, "where")
    if isinstance(condition, Tensor):
        if condition.device != x.device:
            raise ValueError(f"where: condition is on {condition.device} but the operands are on {x.device}")
        cond = condition.data
    elif isinstance(condition, (list, tuple)) or backend.is_array(condition):
        cond = backend.to_device(condition, x.device)
    else:
        raise TypeError(f"where: condition must be a bool tensor (or array), got {type(condition).__name__}")
    if cond.dtype.kind != "b":
        raise TypeError(f"where: condition must be a bool tensor, got {cond.dtype}")
    try:
        np.broadcast_shapes(cond.shape, x.shape, y.shape)
    except ValueError:
        raise ValueError(f"where: condition {_fmt(cond.shape)}, input {_fmt(x.shape)} and other "
                         f"{_fmt(y.shape)} do not broadcast") from None
    return _Where.apply(x, y, cond=cond, dtype=result_dtype(x.data, y.data))


class _Where(_Binary):
    def forward(self, a, b, cond, dtype):
        self.cond = cond
        return super().forward(a, b, dtype)

    def compute(self, a, b):
        return backend.get_array_module(a).where(self.cond, a, b)

    def backward(self, g):
        zero = g.dtype.type(0)
        xp = backend.get_array_module(g)
        ga = xp.where(self.cond, g, zero) if self.needs_input_grad[0] else None
        gb = xp.where(self.cond, zero, g) if self.needs_input_grad[1] else None
        return self.reduce(ga, gb)
