"""``Tensor``: an n-dimensional array (NumPy on the CPU, CuPy on the GPU) that remembers how it was made.

The arithmetic lives in ``minidl/functional/arithmetic.py``, ``reduction.py`` and ``shape.py``, one
``Function`` per operation with its backward next to its forward. ``Tensor``'s methods only route to
them: the arithmetic, reduction and shape methods are mixed in from ``minidl/tensor_methods.py``, the
in-place ones (``add_``, ``zero_``, ``x -= y``) from ``minidl/inplace.py``; this file keeps what makes a
tensor (its array, gradient, history and version counter) and the conversions.

dtypes follow PyTorch: ``Tensor(ndarray)`` keeps the array's dtype (as ``torch.from_numpy``),
``Tensor([1, 2])`` and ``Tensor(3)`` are float32 (as ``torch.Tensor``), ``minidl.tensor(data)`` infers
as ``torch.tensor`` (bool, int64 or float32). A Python scalar never upcasts a tensor:
``float32_tensor * 2.5`` stays float32; float combined with int gives the float type.
"""
import numpy as np

from . import autograd, backend, tensor_methods
from .inplace import InPlaceMethods
from .tensor_methods import ArithmeticMethods, MaxMin, ReductionShapeMethods  # noqa: F401  (minidl.tensor.MaxMin)
from .versions import VersionCounter, share_counter

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


def _to(target):
    """The method ``t.to(target)`` under a name of its own (``Tensor.float``, ``Tensor.cpu``, ...)."""
    def convert(self):
        return self.to(target)

    convert.__doc__ = f"``self.to({str(target)!r})``: differentiable, a no-op when already there."
    return convert


class Tensor(ArithmeticMethods, ReductionShapeMethods, InPlaceMethods):
    """An array with an optional gradient and a link to the op that produced it."""

    __array_priority__ = 1000
    __array_ufunc__ = None  # let ``ndarray * Tensor`` fall through to Tensor.__rmul__
    __hash__ = object.__hash__

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        dtype = _dtype_or_none(dtype)
        if isinstance(data, Tensor):
            array = data.data
        elif backend.is_array(data):
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
        self._fresh(array)
        if isinstance(data, Tensor) and array is data.data:
            share_counter(self, data)
        if requires_grad:
            self.requires_grad_(True)

    def _fresh(self, array):
        """Hold ``array`` with no gradient, no history and a version counter of its own."""
        self.data = array
        self.grad = None
        self._ctx = None
        self._out_index = 0
        self._retain_grad = False
        self._version_counter = VersionCounter()
        self.requires_grad = False

    @classmethod
    def _wrap(cls, array):
        """A tensor around ``array`` as it is (no copy, no dtype or device change): how ops return results."""
        t = cls.__new__(cls)
        t._fresh(array)
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
    def _version(self):
        """How many in-place writes this tensor's memory has seen (``minidl/versions.py``)."""
        return self._version_counter.value

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

    def _accumulate(self, g, owned=False):
        """Add ``g`` into ``.grad``; ``owned``: nothing else holds ``g``, so it may be kept as it is."""
        if g.dtype != self.dtype:
            g, owned = g.astype(self.dtype), True
        if self.grad is None:
            self.grad = Tensor._wrap(g if owned else g.copy())
        else:
            self.grad = Tensor._wrap(self.grad.data + g)

    def backward(self, gradient=None, retain_graph=False):
        autograd.backward(self, gradient, retain_graph=retain_graph)

    def detach(self):
        """The same data (and version counter), cut from the graph."""
        out = Tensor._wrap(self.data)
        share_counter(out, self)
        return out

    def zero_grad(self):
        self.grad = None

    # ----------------------------------------------------------------- conversions
    def to(self, *args, dtype=None, device=None):
        """``t.to('cuda')``, ``t.to(minidl.float64)``, ``t.to(device, dtype)``; differentiable."""
        device, dtype = parse_to_args(args, {"device": device, "dtype": dtype}, "Tensor")
        out = self
        if device is not None and device != self.device:
            out = shape_ops.ToDevice.apply(out, device=device)
        if dtype is not None and dtype != self.dtype:
            out = arithmetic.Cast.apply(out, dtype=dtype)
        return out

    # PyTorch's shorthands for ``to``: ``t.float()`` is ``t.to(float32)``, ``t.cuda()`` is ``t.to("cuda")``
    cpu = _to("cpu")
    cuda = _to("cuda")
    float = _to(float32)
    double = _to(float64)
    half = _to(float16)
    long = _to(int64)
    int = _to(int32)
    bool = _to(bool_)

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
        return arithmetic.Clone.apply(self)

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


from .functional import arithmetic, reduction  # noqa: E402  (they import Tensor: after it)
from .functional import shape as shape_ops  # noqa: E402

tensor_methods.connect_ops(arithmetic, reduction, shape_ops)
