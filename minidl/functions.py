"""The top-level functions a PyTorch tutorial calls, with ``torch``'s names and signatures:
``minidl.exp(x)``, ``minidl.matmul(a, b)``, ``minidl.sum(x, dim=1)``, ``minidl.softmax(x, dim=1)``,
``minidl.transpose(x, 0, 1)``...

Each checks that ``input`` is a tensor and routes to the ``Tensor`` method or the op of the same name,
where the formula, its gradient and the remaining argument checks live. (``cat``, ``stack``, ``split``
and ``where`` come from ``minidl.functional``; the constructors from ``minidl/creation.py``.)
"""
from . import functional as F
from .functional import shape as shape_ops
from .functional import validation as check
from .tensor import Tensor


def _input(value, op):
    return check.tensor(value, "input", op)


# ---------------------------------------------------------------------- arithmetic


def add(input, other, *, alpha=1):
    """input + alpha * other."""
    return _input(input, "add").add(other, alpha=alpha)


def sub(input, other, *, alpha=1):
    """input - alpha * other."""
    return _input(input, "sub").sub(other, alpha=alpha)


def mul(input, other):
    return _input(input, "mul") * other


def div(input, other):
    return _input(input, "div") / other


def pow(input, exponent):
    return _input(input, "pow") ** exponent


def matmul(input, other):
    return _input(input, "matmul") @ other


def neg(input):
    return -_input(input, "neg")


def exp(input):
    return _input(input, "exp").exp()


def log(input):
    return _input(input, "log").log()


def sqrt(input):
    return _input(input, "sqrt").sqrt()


def abs(input):
    return _input(input, "abs").abs()


def clamp(input, min=None, max=None):
    return _input(input, "clamp").clamp(min, max)


clip = clamp


def relu(input):
    return F.relu(input)


def sigmoid(input):
    return F.sigmoid(input)


def tanh(input):
    return F.tanh(input)


def softmax(input, dim):
    return F.softmax(input, dim)


def log_softmax(input, dim):
    return F.log_softmax(input, dim)


# ---------------------------------------------------------------------- reductions


def sum(input, dim=None, keepdim=False):
    return _input(input, "sum").sum(dim, keepdim)


def mean(input, dim=None, keepdim=False):
    return _input(input, "mean").mean(dim, keepdim)


def amax(input, dim=None, keepdim=False):
    return _input(input, "amax").amax(dim, keepdim)


def amin(input, dim=None, keepdim=False):
    return _input(input, "amin").amin(dim, keepdim)


def max(input, dim=None, keepdim=False):
    """The largest value, or with ``dim`` the (values, indices) pair, as ``torch.max``."""
    return _input(input, "max").max(dim, keepdim)


def min(input, dim=None, keepdim=False):
    """The smallest value, or with ``dim`` the (values, indices) pair, as ``torch.min``."""
    return _input(input, "min").min(dim, keepdim)


def argmax(input, dim=None, keepdim=False):
    return _input(input, "argmax").argmax(dim, keepdim)


def argmin(input, dim=None, keepdim=False):
    return _input(input, "argmin").argmin(dim, keepdim)


# ---------------------------------------------------------------------- shapes


def reshape(input, shape):
    return _input(input, "reshape").reshape(shape)


def flatten(input, start_dim=0, end_dim=-1):
    return F.flatten(input, start_dim, end_dim)


def squeeze(input, dim=shape_ops.ALL_DIMS):
    return F.squeeze(input, dim)


def unsqueeze(input, dim):
    return F.unsqueeze(input, dim)


def transpose(input, dim0, dim1):
    return _input(input, "transpose").transpose(dim0, dim1)


def permute(input, dims):
    return F.permute(input, dims)


def t(input):
    return _input(input, "t").t()


def chunk(input, chunks, dim=0):
    return _input(input, "chunk").chunk(chunks, dim)


# ---------------------------------------------------------------------- about tensors


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(input):
    return _input(input, "numel").numel()
