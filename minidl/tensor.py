"""``Tensor``: an n-dimensional array (NumPy on the CPU, CuPy on the GPU) that remembers how it was made.

The arithmetic lives in ``minidl/functional/arithmetic.py``, ``reduction.py`` and ``shape.py``, one
``Function`` per operation with its backward next to its forward; the methods here (and the reduction
and shape methods in ``minidl/tensor_methods.py``, mixed into ``Tensor``) only route to them.

dtypes follow PyTorch: ``Tensor(ndarray)`` keeps the array's dtype (as ``torch.from_numpy``),
``Tensor([1, 2])`` and ``Tensor(3)`` are float32 (as ``torch.Tensor``), ``minidl.tensor(data)`` infers
as ``torch.tensor`` (bool, int64 or float32). A Python scalar never upcasts a tensor:
``float32_tensor * 2.5`` stays float32; float combined with int gives the float type.
"""
import numpy as np

from . import autograd, backend
from .tensor_methods import MaxMin, ReductionShapeMethods  # noqa: F401  (MaxMin: minidl.tensor.MaxMin)

float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
bool_ = np.dtype(np.bool_)
long = int64
double = float64
half = float16

DEFAULT_DTYPE = float32



def _fmt(shape):
    return str(tuple(int(s) for s in shape))


def _dtype_or_none(dtype):
    return None if dtype is None else np.dtype(dtype)


class Tensor(ReductionShapeMethods):
    """An array with an optional gradient and a link to the op that produced it."""

    __array_priority__ = 1000
    __array_ufunc__ = None  # let ``ndarray * Tensor`` fall through to Tensor.__rmul__
    __hash__ = object.__hash__

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        dtype = _dtype_or_none(dtype)
        if isinstance(data, Tensor):
            array = data.data
        elif isinstance(data, np.ndarray) or backend.is_gpu_array(data):
            array = data
        elif isinstance(data, np.generic):
            array = np.asarray(data)
        else:
            array = np.asarray(data, dtype=dtype or DEFAULT_DTYPE)
            if device is None:
                device = backend.get_default_device()
        if dtype is not None and array.dtype != dtype:
            array = array.astype(dtype)
        if device is not None:
            array = backend.to_device(array, device)
        self.data = array
        self.grad = None
        self._ctx = None
        self._out_index = 0
        self._retain_grad = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array):
        t = cls.__new__(cls)
        t.data = array
        t.grad = None
        t._ctx = None
        t._out_index = 0
        t._retain_grad = False
        t.requires_grad = False
        return t

    # ----------------------------------------------------------------- properties
    @property
    def shape(self):
        return tuple(self.data.shape)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def device(self):
        return backend.device_of(self.data)

    @property
    def _xp(self):
        return backend.get_array_module(self.data)

    @property
    def is_leaf(self):
        return self._ctx is None

    @property
    def grad_fn(self):
        return self._ctx

    @property
    def T(self):
        return self.permute(*reversed(range(self.ndim)))

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def dim(self):
        return self.ndim

    def numel(self):
        return int(self.data.size)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    # ----------------------------------------------------------------- grad plumbing
    def requires_grad_(self, flag=True):
        if flag and self.dtype.kind not in "fc":
            raise TypeError(
                f"only floating-point tensors can require gradients; this tensor is {self.dtype} "
                "(convert it first, e.g. t.float())"
            )
        self.requires_grad = bool(flag)
        return self

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf tensor after ``backward`` (leaves always keep it)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: the tensor does not require grad")
        self._retain_grad = True
        return self

    def _accumulate(self, g):
        if g.dtype != self.dtype:
            g = g.astype(self.dtype)
        if self.grad is None:
            self.grad = Tensor._wrap(g.copy())
        else:
            self.grad = Tensor._wrap(self.grad.data + g)

    def backward(self, gradient=None, retain_graph=False):
        autograd.backward(self, gradient, retain_graph=retain_graph)

    def detach(self):
        """The same data, cut from the graph."""
        return Tensor._wrap(self.data)

    def zero_grad(self):
        self.grad = None

    # ----------------------------------------------------------------- conversions
    def to(self, *args, dtype=None, device=None):
        """``t.to('cuda')``, ``t.to(minidl.float64)``, ``t.to(device, dtype)``; differentiable."""
        device, dtype = parse_to_args(args, {"device": device, "dtype": dtype}, "Tensor")
        out = self
        if device is not None and device != self.device:
            out = _S.ToDevice.apply(out, device=device)
        if dtype is not None and dtype != self.dtype:
            out = _A.Cast.apply(out, dtype=dtype)
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def float(self):
        return self.to(float32)

    def double(self):
        return self.to(float64)

    def half(self):
        return self.to(float16)

    def long(self):
        return self.to(int64)

    def int(self):
        return self.to(int32)

    def bool(self):
        return self.to(bool_)

    def type(self, dtype):
        return self.to(dtype)

    astype = type

    def numpy(self):
        """The data as a NumPy array (copied to the host when the tensor is on the GPU)."""
        return backend.to_numpy(self.data)

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted, got shape {_fmt(self.shape)}")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def clone(self):
        return _A.Clone.apply(self)

    def contiguous(self):
        return self

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self.data.size} elements is ambiguous; use .any() or .all()"
            )
        return bool(self.item())

    def __index__(self):
        if self.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(self.item())

    def __repr__(self):
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extra = []
        if self.device != "cpu":
            extra.append(f"device='{self.device}'")
        if self.dtype != float32 and self.dtype != int64 and self.dtype != bool_:
            extra.append(f"dtype={self.dtype}")
        if self._ctx is not None:
            extra.append(f"grad_fn=<{type(self._ctx).__name__}>")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extra) + ")"

    # ----------------------------------------------------------------- arithmetic
    def _operand(self, other, op):
        return _A.as_operand(self, other, op)

    def __add__(self, other):
        return _A.binary(_A.Add, self, other, "add")

    def __radd__(self, other):
        return _A.binary(_A.Add, other, self, "add")

    def __sub__(self, other):
        return _A.binary(_A.Sub, self, other, "sub")

    def __rsub__(self, other):
        return _A.binary(_A.Sub, other, self, "sub")

    def __mul__(self, other):
        return _A.binary(_A.Mul, self, other, "mul")

    def __rmul__(self, other):
        return _A.binary(_A.Mul, other, self, "mul")

    def __truediv__(self, other):
        return _A.binary(_A.Div, self, other, "div")

    def __rtruediv__(self, other):
        return _A.binary(_A.Div, other, self, "div")

    def __pow__(self, other):
        return _A.power(self, other)

    def __rpow__(self, other):
        return _A.binary(_A.Pow, other, self, "pow")

    def __matmul__(self, other):
        return _A.matmul(self, other)

    def __rmatmul__(self, other):
        return _A.matmul(other, self)

    def __neg__(self):
        return _A.Neg.apply(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return self.abs()

    def __lt__(self, other):
        return _A.compare(self, other, "lt")

    def __le__(self, other):
        return _A.compare(self, other, "le")

    def __gt__(self, other):
        return _A.compare(self, other, "gt")

    def __ge__(self, other):
        return _A.compare(self, other, "ge")

    def __eq__(self, other):
        return _A.compare(self, other, "eq")

    def __ne__(self, other):
        return _A.compare(self, other, "ne")

    def __invert__(self):
        if self.dtype != bool_:
            raise TypeError(f"~ needs a bool tensor, got {self.dtype}")
        return Tensor._wrap(~self.data)

    def __and__(self, other):
        return Tensor._wrap(self.data & _A.as_operand(self, other, "and")[1].data)

    def __or__(self, other):
        return Tensor._wrap(self.data | _A.as_operand(self, other, "or")[1].data)

    def add(self, other):
        return self + other

    def sub(self, other):
        return self - other

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
        return _A.Exp.apply(self)

    def log(self):
        return _A.Log.apply(self)

    def sqrt(self):
        return _A.Sqrt.apply(self)

    def abs(self):
        return _A.Abs.apply(self)

    def clip(self, min=None, max=None):
        """Clamp into [min, max]; the gradient passes where min <= x <= max, as in PyTorch."""
        if min is None and max is None:
            raise ValueError("clip: at least one of min and max must be given")
        return _A.Clip.apply(self, min=min, max=max)

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

    # ----------------------------------------------------------------- in-place helpers (no graph)
    def zero_(self):
        self.data[...] = 0
        return self

    def fill_(self, value):
        self.data[...] = value
        return self

    def copy_(self, other):
        src = other.data if isinstance(other, Tensor) else other
        if tuple(src.shape) != self.shape:
            raise ValueError(f"copy_: source shape {_fmt(src.shape)} differs from {_fmt(self.shape)}")
        self.data[...] = backend.to_device(src, self.device).astype(self.dtype, copy=False)
        return self


def parse_to_args(args, kwargs, who):
    """Split ``to(...)`` arguments (devices, dtypes, a tensor to match) into (device, dtype), each or None."""
    device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
    if kwargs:
        raise TypeError(f"{who}.to: unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
            continue
        try:
            device = backend.canonical_device(a)
        except ValueError:
            try:
                dtype = np.dtype(a)
            except TypeError:
                raise ValueError(f"{who}.to: {a!r} is neither a device ('cpu', 'cuda') nor a dtype") from None
    return (None if device is None else backend.canonical_device(device),
            None if dtype is None else np.dtype(dtype))


from .functional import arithmetic as _A  # noqa: E402  (the ops need Tensor defined first)
from .functional import reduction as _R  # noqa: E402
from .functional import shape as _S  # noqa: E402
from . import tensor_methods as _methods  # noqa: E402

_methods.bind(_R, _S)
