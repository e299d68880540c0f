"""Fuzz the public ops against PyTorch: draw calls with bad and edge-case arguments, run each in minidl
and in PyTorch, and count what goes wrong.

    python tests/fuzz_ops.py [--calls 10000] [--seed 0] [--show 5]

Every drawn call falls in one of these outcomes:

* ``internal``  minidl raised from inside NumPy or Python's internals (the traceback's last frame is
                not in minidl) or raised something other than TypeError/ValueError/IndexError/RuntimeError;
* ``accepted``  minidl returned a result where PyTorch refuses the call;
* ``mismatch``  both returned, with different shapes, dtypes or values (NaN equal to NaN);
* ``unnamed``   minidl refused a call with a bad argument without naming it in the message;
* ``refused``   minidl refused a call PyTorch accepts (reported, not a failure: minidl is stricter in a
                few documented places);
* ``missing``   minidl has no such function or method;
* ``ok``        both agree (both refuse, or the same result).

The first three and ``unnamed`` should be 0. The same cases drive ``tests/test_op_arguments.py``.
"""
import argparse
import ast
import collections
import functools
import os
import random
import sys
import traceback
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import minidl  # noqa: E402
from minidl import nn  # noqa: E402

MINIDL_DIR = os.path.dirname(os.path.abspath(minidl.__file__))
CLEAN = (TypeError, ValueError, IndexError, RuntimeError)

# -------------------------------------------------------------------------------------------- drawing

# values that are wrong for most hyperparameters (each op's own list adds those wrong for it)
BAD_INT = [-1, -3, 0, 2.0, 2.5, True, None, "2", float("nan"), float("inf"), 10 ** 12, (1, 2, 3), [], 1j]
BAD_NUMBER = [-1.0, 0.0, float("nan"), float("inf"), -float("inf"), True, None, "0.1", (0.1,), 1j]
DTYPES = ["float32", "float64", "int64", "bool"]


class Draw:
    """One call's random choices; remembers which arguments were drawn from a bad pool."""

    def __init__(self, rng):
        self.rng = rng
        self.suspects = []
        self.drawn = {}  # argument name -> value, to print with an example

    def choice(self, seq):
        return seq[self.rng.randrange(len(seq))]

    def arg(self, name, good, bad=(), p_bad=0.25):
        """A value for argument ``name``: from ``good`` usually, else from ``bad`` (+ the common bad pool)."""
        if bad and self.rng.random() < p_bad:
            self.suspects.append(name)
            value = self.choice(list(bad))
        else:
            value = self.choice(list(good))
        self.drawn[name] = value
        return value

    def int_arg(self, name, good, p_bad=0.25):
        return self.arg(name, good, BAD_INT, p_bad)

    def number_arg(self, name, good, p_bad=0.25):
        return self.arg(name, good, BAD_NUMBER, p_bad)

    def shape(self, rank=None, sizes=(0, 1, 2, 3)):
        rank = self.choice([0, 1, 2, 3, 4]) if rank is None else rank
        weights = [1, 3, 4, 4][:len(sizes)]
        return tuple(self.rng.choices(sizes, weights=weights)[0] for _ in range(rank))

    def tensor(self, shape=None, dtype="float32", p_odd=0.1, special=0.1):
        """A tensor of ``shape`` (drawn when None); sometimes of an odd dtype, sometimes holding NaN/inf."""
        if shape is None:
            shape = self.shape()
        if self.rng.random() < p_odd:
            dtype = self.choice(DTYPES)
        g = np.random.default_rng(self.rng.randrange(2 ** 32))
        if dtype == "bool":
            array = g.random(shape) < 0.5
        elif dtype.startswith("int"):
            array = g.integers(-3, 4, size=shape).astype(dtype)
        else:
            array = g.standard_normal(shape).astype(dtype)
            if array.size and self.rng.random() < special:
                array.reshape(-1)[g.integers(array.size)] = self.choice([np.nan, np.inf, -np.inf])
        return minidl.tensor(array)

    def image(self, channels=None, rank=None, dtype="float32", p_odd=0.1):
        rank = self.choice([3, 4, 4, 4, 2, 5]) if rank is None else rank
        c = self.choice([1, 2, 3, 4]) if channels is None else channels
        spatial = tuple(self.choice([1, 2, 3, 4, 5, 7]) for _ in range(2))
        shape = {2: (c, spatial[0]), 3: (c,) + spatial, 4: (self.choice([0, 1, 2]), c) + spatial,
                 5: (1, c, 1) + spatial}[rank]
        return self.tensor(shape, dtype, p_odd)


# -------------------------------------------------------------------------------------------- cases
# Each case draws one call: it returns (minidl_call, torch_call or None, compare) where the calls take
# the module (minidl or torch) and compare is "values", "shape" (random results) or None.

CASES = {}


def case(name, compare="values"):
    def register(fn):
        CASES[name] = (fn, compare)
        return fn
    return register


def pair_arg(d, name, good=(1, 2, (1, 2), (2, 1))):
    return d.arg(name, good, BAD_INT + [(1,), (1, 2, 3), (1, -1), (0, 1), (1.5, 1)])


@case("linear")
def _linear(d):
    fin = d.choice([0, 1, 3])
    x = d.tensor(d.choice([(2, fin), (fin,), (0, fin), (2, 1, fin), (2, fin + 1), ()]))
    w = d.tensor(d.choice([(4, fin), (0, fin), (4,), (4, fin, 1)]))
    b = d.choice([None, d.tensor((4,)), d.tensor((3,)), d.tensor(())])
    return lambda m: m.nn.functional.linear(x, w, b)


@case("conv2d")
def _conv2d(d):
    c = d.choice([1, 2, 4])
    x = d.image(channels=c)
    groups = d.int_arg("groups", [1, 1, 2])
    k = d.arg("weight", [(1, 1), (2, 2), (3, 1)], [(0, 1), (8, 8)])
    w = d.tensor((d.choice([2, 4]), max(c // (groups if isinstance(groups, int) and groups > 0 else 1), 1)) + k)
    b = d.choice([None, d.tensor((w.shape[0],)), d.tensor((1,))])
    stride, dilation = pair_arg(d, "stride"), pair_arg(d, "dilation")
    padding = d.arg("padding", [0, 1, (1, 0), "same", "valid"], BAD_INT + ["full", (-1, 0)])
    return lambda m: m.nn.functional.conv2d(x, w, b, stride, padding, dilation, groups)


@case("conv_transpose2d")
def _conv_transpose2d(d):
    c = d.choice([1, 2, 4])
    x = d.image(channels=c)
    w = d.tensor((c, d.choice([1, 2])) + d.arg("weight", [(1, 1), (2, 2), (3, 2)], [(0, 1)]))
    stride, dilation = pair_arg(d, "stride"), pair_arg(d, "dilation")
    padding = d.int_arg("padding", [0, 1])
    output_padding = d.int_arg("output_padding", [0, 0, 1])
    return lambda m: m.nn.functional.conv_transpose2d(x, w, None, stride, padding, output_padding, 1, dilation)


@case("max_pool2d")
def _max_pool2d(d):
    x = d.image()
    k = pair_arg(d, "kernel_size", (1, 2, 3, (2, 1)))
    s = d.arg("stride", [None, 1, 2], BAD_INT)
    p = d.int_arg("padding", [0, 0, 1])
    dil = d.int_arg("dilation", [1, 1, 2])
    ceil = d.arg("ceil_mode", [False, True], ["yes", None, 2])
    return lambda m: m.nn.functional.max_pool2d(x, k, s, p, dil, ceil)


@case("avg_pool2d")
def _avg_pool2d(d):
    x = d.image()
    k = pair_arg(d, "kernel_size", (1, 2, 3, (2, 1)))
    s = d.arg("stride", [None, 1, 2], BAD_INT)
    p = d.int_arg("padding", [0, 0, 1])
    ceil = d.arg("ceil_mode", [False, True], ["yes", None, 2])
    include = d.arg("count_include_pad", [True, False], ["no", None])
    div = d.arg("divisor_override", [None, None, 2], [0, -1, 1.5, True, "2"])
    return lambda m: m.nn.functional.avg_pool2d(x, k, s, p, ceil, include, div)


@case("adaptive_avg_pool2d")
def _adaptive_avg_pool2d(d):
    x = d.image()
    out = d.arg("output_size", [1, 2, 3, (2, 1), (None, 2), 5], BAD_INT + [(2, 0), (2, 2, 2)])
    return lambda m: m.nn.functional.adaptive_avg_pool2d(x, out)


@case("adaptive_max_pool2d")
def _adaptive_max_pool2d(d):
    x = d.image()
    out = d.arg("output_size", [1, 2, 3, (2, 1), (None, 2), 5], BAD_INT + [(2, 0), (2, 2, 2)])
    return lambda m: m.nn.functional.adaptive_max_pool2d(x, out)


@case("activations")
def _activations(d):
    x = d.tensor()
    name = d.choice(["relu", "sigmoid", "tanh", "leaky_relu", "softmax", "log_softmax"])
    if name == "leaky_relu":
        slope = d.number_arg("negative_slope", [0.01, 0.2, -1.0, 0])
        return lambda m: m.nn.functional.leaky_relu(x, slope)
    if name in ("softmax", "log_softmax"):
        dim = d.int_arg("dim", [0, -1, 1])
        return lambda m: getattr(m.nn.functional, name)(x, dim)
    return lambda m: getattr(m.nn.functional, name)(x)


@case("batch_norm")
def _batch_norm(d):
    x = d.tensor(d.choice([(2, 3), (4, 3, 2), (1, 3), (0, 3), (2, 3, 2, 2), (3,)]))
    stats = d.arg("running_mean", [True, True], [None])
    rm = d.tensor((3,)) if stats else None
    rv = minidl.tensor(np.abs(d.tensor((3,)).numpy()).astype(np.float32)) if stats else None
    weight = d.choice([None, d.tensor((3,)), d.tensor((2,))])
    training = d.arg("training", [True, False], ["yes", None])
    momentum = d.number_arg("momentum", [0.1, 0.0, 1.0])
    eps = d.arg("eps", [1e-5, 1e-3], [0.0, -1e-5, float("nan"), "1e-5", None])
    return lambda m: m.nn.functional.batch_norm(x, rm, rv, weight, None, training, momentum, eps)


@case("local_response_norm")
def _lrn(d):
    x = d.image()
    size = d.int_arg("size", [1, 2, 3, 5])
    alpha = d.number_arg("alpha", [1e-4, 1.0], 0.1)
    beta = d.number_arg("beta", [0.75, 0.5], 0.1)
    k = d.number_arg("k", [1.0, 2.0], 0.1)
    return lambda m: m.nn.functional.local_response_norm(x, size, alpha, beta, k)


@case("dropout")
def _dropout(d):
    x = d.tensor()
    p = d.number_arg("p", [0.0, 0.5, 1.0])
    training = d.choice([False, True])
    call = lambda m: m.nn.functional.dropout(x, p, training)  # noqa: E731
    return (call, "shape") if training and p not in (0.0, 1.0) else call


@case("losses")
def _losses(d):
    name = d.choice(["cross_entropy", "nll_loss", "mse_loss"])
    n, c = d.choice([0, 1, 3]), d.choice([1, 3])
    x = d.tensor(d.choice([(n, c), (c,), (n, c, 2), (n,)]))
    if name == "mse_loss":
        t = d.tensor(d.choice([x.shape, x.shape, (1,), (5,)]))
        red = d.arg("reduction", ["mean", "sum", "none"], ["avg", None, 1])
        return lambda m: m.nn.functional.mse_loss(x, t, reduction=red)
    t_shape = (() if x.ndim == 1 else (x.shape[0],) + x.shape[2:])
    t = minidl.tensor(np.random.default_rng(d.rng.randrange(99)).integers(0, c, size=t_shape))
    if d.rng.random() < 0.3:
        t = minidl.tensor(np.where(np.arange(t.numel()).reshape(t.shape) % 2 == 0, -100, t.numpy()))
    if d.rng.random() < 0.1:
        t = t.float()
    weight = d.choice([None, None, minidl.tensor(np.abs(d.tensor((c,)).numpy())), d.tensor((c + 1,))])
    red = d.arg("reduction", ["mean", "sum", "none"], ["avg", None, 1])
    ii = d.arg("ignore_index", [-100, 0], [1.5, None, "x"])
    if name == "nll_loss":
        return lambda m: m.nn.functional.nll_loss(x, t, weight, ignore_index=ii, reduction=red)
    ls = d.number_arg("label_smoothing", [0.0, 0.1, 1.0], 0.2)
    return lambda m: m.nn.functional.cross_entropy(x, t, weight, ignore_index=ii, reduction=red,
                                                   label_smoothing=ls)


@case("interpolate")
def _interpolate(d):
    mode = d.arg("mode", ["nearest", "bilinear"], ["linear", "cubic", None])
    # float inputs only: 'nearest' on integer label maps is a deliberate extension (PyTorch refuses int64)
    x = d.image(rank=d.choice([3, 4, 4, 5]), dtype=d.choice(["float32", "float64"]), p_odd=0)
    use_size = d.choice([True, False])
    size = d.arg("size", [1, 2, 5, (3, 4)], BAD_INT) if use_size else None
    bad_scales = [0, -1.0, float("nan"), float("inf"), 1e10, "2", (2, 2, 2)]
    sf = None if use_size else d.arg("scale_factor", [0.5, 2, 1.5, 3.0], bad_scales)
    ac = d.choice([None, True, False]) if mode == "bilinear" else None
    return lambda m: m.nn.functional.interpolate(x, size, sf, mode, ac)


@case("pad")
def _pad(d):
    x = d.tensor()
    pad = d.arg("pad", [(1, 1), (0, 1), (1, 0, 2, 1), (2, 2)],
                [(1,), (-1, 0), (1.5, 1), 1, None, (1,) * 10])
    mode = d.arg("mode", ["constant", "constant", "reflect", "replicate"], ["wrap", None])
    return lambda m: m.nn.functional.pad(x, pad, mode)


@case("reductions")
def _reductions(d):
    x = d.tensor()
    name = d.choice(["sum", "mean", "amax", "amin", "max", "min", "argmax", "argmin"])
    dim = d.arg("dim", [None, 0, -1, 1, (0, 1)], [1.0, 5, -7, "0", (0, 0), True, 1.5])
    keepdim = d.choice([False, True])
    if name in ("max", "min", "argmax", "argmin") and isinstance(dim, tuple):
        dim = 0
    if dim is None and name in ("max", "min"):
        return lambda m: getattr(m, name)(x)
    if d.rng.random() < 0.15:
        return lambda m: m.Tensor.var(x, dim=dim, keepdim=keepdim)
    return lambda m: getattr(m, name)(x, dim=dim, keepdim=keepdim)


@case("elementwise")
def _elementwise(d):
    name = d.choice(["add", "sub", "mul", "div", "pow", "matmul", "where", "__and__", "__or__"])
    a = d.tensor(p_odd=0.3)
    b = d.choice([d.tensor(p_odd=0.3), d.tensor(a.shape, p_odd=0.3), d.tensor((), p_odd=0.5),
                  2, 2.5, True, -1, d.arg("exponent" if name == "pow" else "other", [1], ["x", None, [1, 2], 1j])])
    if name == "where":
        cond = d.tensor(a.shape, "bool")
        return lambda m: m.where(cond, a, b)
    if name.startswith("__"):
        return lambda m: getattr(m.Tensor, name)(a, b)
    return lambda m: getattr(m, name)(a, b)


@case("unary")
def _unary(d):
    name = d.choice(["exp", "log", "sqrt", "abs", "neg", "clamp", "t", "relu", "sigmoid", "tanh", "__invert__"])
    x = d.tensor(p_odd=0.3)
    if name == "clamp":
        lo = d.arg("min", [None, -0.5, 0], ["a", 1j])
        hi = d.arg("max", [0.5, 1, None], ["a", 1j])
        return lambda m: m.clamp(x, lo, hi)
    if name == "__invert__":
        return lambda m: m.Tensor.__invert__(x)
    return lambda m: getattr(m, name)(x)


@case("shapes")
def _shapes(d):
    x = d.tensor()
    name = d.choice(["reshape", "permute", "transpose", "flatten", "squeeze", "unsqueeze", "split", "expand",
                     "view"])
    if name in ("reshape", "view"):
        shape = d.arg("shape", [(-1,), x.shape, (x.numel(),), (1, -1), (x.numel(), 1)],
                      [(-2,), (-1, -1), (2.0,), (x.numel() + 1,), ("a",), (-3, 0)])
        return lambda m: (m.reshape(x, shape) if name == "reshape" else m.Tensor.view(x, shape))
    if name == "permute":
        dims = d.arg("dims", [tuple(range(x.ndim)), tuple(reversed(range(x.ndim)))],
                     [(0,) * max(x.ndim, 1), (1.0,) * x.ndim, tuple(range(x.ndim + 1))])
        return lambda m: m.permute(x, dims)
    if name == "transpose":
        d0, d1 = d.int_arg("dim0", [0, -1]), d.int_arg("dim1", [0, -1, 1])
        return lambda m: m.transpose(x, d0, d1)
    if name == "flatten":
        s, e = d.int_arg("start_dim", [0, 1]), d.int_arg("end_dim", [-1, 1])
        return lambda m: m.flatten(x, s, e)
    if name in ("squeeze", "unsqueeze"):
        dim = d.int_arg("dim", [0, -1, 1])
        return lambda m: getattr(m, name)(x, dim)
    if name == "split":
        size = d.int_arg("split_size_or_sections", [1, 2, [x.shape[0] if x.ndim else 1]])
        dim = d.int_arg("dim", [0, -1])
        return lambda m: m.split(x, size, dim)
    shape = d.arg("size", [x.shape, (2,) + x.shape, (-1,) * x.ndim], [(-2,) * x.ndim, (2.0,) * x.ndim, (0,)])
    return lambda m: m.Tensor.expand(x, *shape)


@case("joining")
def _joining(d):
    name = d.choice(["cat", "stack"])
    a = d.tensor()
    parts = [a, d.choice([d.tensor(a.shape), d.tensor(), d.tensor(a.shape, "float64")])]
    parts = d.arg("tensors", [parts, parts[:1]], [[], [a, 1.0], a, None])
    dim = d.int_arg("dim", [0, -1, 1])
    return lambda m: getattr(m, name)(parts, dim)


@case("creation", compare="shape")
def _creation(d):
    name = d.choice(["zeros", "ones", "empty", "rand", "randn", "full", "eye", "arange", "linspace", "randint"])
    if name == "eye":
        n = d.int_arg("n", [0, 1, 3])
        cols = d.arg("m", [2], [-1, 2.5, "2"])
        return lambda m: m.eye(n, cols)
    if name == "arange":
        end = d.number_arg("end", [5, 2.5, 0])
        step = d.arg("step", [1, 2, 0.5, -1], [0, 0.0, float("nan"), "1"])
        return lambda m: m.arange(0, end, step)
    if name == "linspace":
        steps = d.int_arg("steps", [0, 1, 5])
        return lambda m: m.linspace(0.0, 1.0, steps)
    if name == "randint":
        high = d.int_arg("high", [1, 5])
        size = d.arg("size", [(2, 3), (0,), ()], [(-1,), (2.5,), 3, None, [2.0]])
        return lambda m: m.randint(0, high, size)
    shape = d.arg("size", [(2, 3), (0,), (), (1, 1, 1)], [(-1,), (-2, 3), (2.0,), ("a",), (True,), None])
    if name == "full":
        return lambda m: m.full(shape, 1.5)
    return lambda m: getattr(m, name)(shape)


@case("inplace")
def _inplace(d):
    x = d.tensor(p_odd=0.3)
    name = d.choice(["add_", "sub_", "mul_", "div_", "clamp_", "zero_", "fill_", "copy_"])
    other = d.choice([1, 2.5, True, d.tensor(x.shape, p_odd=0.3), d.tensor((), p_odd=0.3), d.tensor(p_odd=0.3)])
    return lambda m: _run_inplace(m, x, name, other)


def _run_inplace(m, x, name, other):
    t = x.clone() if m is minidl else m.from_numpy(x.numpy().copy())
    o = other if not isinstance(other, minidl.Tensor) or m is minidl else m.from_numpy(other.numpy())
    if name == "zero_":
        return t.zero_()
    if name == "clamp_":
        return t.clamp_(-0.5, o if not hasattr(o, "shape") else 0.5)
    if name == "fill_":
        return t.fill_(o if not hasattr(o, "shape") or o.ndim == 0 else 1)
    return getattr(t, name)(o)


@case("layers")
def _layers(d):
    name = d.choice(["Conv2d", "Linear", "BatchNorm2d", "BatchNorm1d", "MaxPool2d", "AvgPool2d", "Dropout",
                     "LeakyReLU", "Softmax", "Flatten", "LocalResponseNorm", "AdaptiveAvgPool2d", "CrossEntropyLoss",
                     "ConvTranspose2d"])
    x = d.image(channels=2, rank=d.choice([2, 3, 4, 4]))
    if name in ("Conv2d", "ConvTranspose2d"):
        args = (d.int_arg("in_channels", [2, 2]), d.int_arg("out_channels", [1, 3]), pair_arg(d, "kernel_size"))
        kwargs = {"stride": pair_arg(d, "stride"), "padding": d.int_arg("padding", [0, 1]),
                  "groups": d.int_arg("groups", [1, 2])}
    elif name == "Linear":
        x = d.tensor(d.choice([(2, 3), (3,), (0, 3), (2, 4)]))
        args, kwargs = (d.int_arg("in_features", [3]), d.int_arg("out_features", [2, 1])), {}
    elif name.startswith("BatchNorm"):
        if name == "BatchNorm1d":
            x = d.tensor(d.choice([(3, 2), (3, 2, 4), (1, 2), (2,)]))
        args = (d.int_arg("num_features", [2]),)
        kwargs = {"eps": d.arg("eps", [1e-5], [0.0, -1.0, "1e-5", None]),
                  "momentum": d.arg("momentum", [0.1, None], [-0.5, "0.1", 2j]),
                  "track_running_stats": d.choice([True, False])}
    elif name in ("MaxPool2d", "AvgPool2d"):
        args, kwargs = (pair_arg(d, "kernel_size", (1, 2, 3)),), {"padding": d.int_arg("padding", [0, 1])}
    elif name == "Dropout":
        args, kwargs = (d.number_arg("p", [0.0, 1.0]),), {}
    elif name == "LeakyReLU":
        args, kwargs = (d.number_arg("negative_slope", [0.01, 0.0]),), {}
    elif name in ("Softmax",):
        args, kwargs = (d.int_arg("dim", [0, 1, -1]),), {}
    elif name == "Flatten":
        args, kwargs = (d.int_arg("start_dim", [0, 1]), d.int_arg("end_dim", [-1])), {}
    elif name == "LocalResponseNorm":
        args, kwargs = (d.int_arg("size", [1, 3]),), {"alpha": d.number_arg("alpha", [1e-4], 0.1)}
    elif name == "AdaptiveAvgPool2d":
        args, kwargs = (d.arg("output_size", [1, 2, (None, 1)], BAD_INT),), {}
    else:
        x = d.tensor((3, 2))
        args = ()
        kwargs = {"label_smoothing": d.number_arg("label_smoothing", [0.0, 0.5]),
                  "reduction": d.arg("reduction", ["mean", "sum"], ["avg", None])}
        target = minidl.tensor([0, 1, 1])
        return lambda m: _run_layer(m, name, args, kwargs, x, target)
    train = d.choice([True, False])
    return lambda m: _run_layer(m, name, args, kwargs, x, None, train)


def _run_layer(m, name, args, kwargs, x, target=None, train=True):
    """Build the layer in ``m`` (minidl or torch); torch's layer takes the weights of minidl's."""
    minidl.manual_seed(0)
    if m is minidl:
        layer = getattr(nn, name)(*args, **kwargs)
    else:
        layer = getattr(m._torch.nn, name)(*args, **kwargs)
        x, target = to_torch(m._torch, x), to_torch(m._torch, target)
        try:
            minidl.manual_seed(0)
            mine = getattr(nn, name)(*args, **kwargs)
        except (TypeError, ValueError):
            mine = None
        if mine is not None:
            with m._torch.no_grad():
                for key, value in mine.state_dict().items():
                    layer.state_dict()[key].copy_(m.from_numpy(value.numpy()))
    layer.train(train)
    if target is not None:
        return layer(x, target)
    return layer(x)


# -------------------------------------------------------------------------------------------- running


def to_torch(torch, value):
    if isinstance(value, minidl.Tensor):
        return torch.from_numpy(value.numpy().copy())
    if isinstance(value, (list, tuple)):
        return type(value)(to_torch(torch, v) for v in value)
    return value


class TorchModule:
    """``torch`` seen through minidl's spelling: the same attribute names, minidl tensors in the
    arguments converted to torch tensors."""

    def __init__(self, torch, path=()):
        self._torch, self._path = torch, path

    def __getattr__(self, name):
        target = self._torch
        for p in self._path + (name,):
            target = getattr(target, p)
        if callable(target) and not isinstance(target, (type(self._torch), type)):
            def call(*args, **kwargs):
                kwargs = {n: to_torch(self._torch, v) for n, v in kwargs.items()}
                return target(*to_torch(self._torch, args), **kwargs)
            return call
        return TorchModule(self._torch, self._path + (name,))


def run_minidl(call):
    """(result, None) or (None, exception info) for one minidl call."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with np.errstate(all="ignore"):
                return call(minidl), None
    except Exception as e:  # noqa: BLE001 - classifying every exception is the point
        return None, e


def is_clean(exc):
    """An exception of an allowed type raised by minidl's own code: the traceback ends on a ``raise``
    line inside minidl (not in NumPy, and not in a NumPy function called from minidl)."""
    if not isinstance(exc, CLEAN):
        return False
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames or not os.path.abspath(frames[-1].filename).startswith(MINIDL_DIR):
        return False
    return frames[-1].lineno in _raise_lines(frames[-1].filename)


@functools.lru_cache(maxsize=None)
def _raise_lines(filename):
    """Every line number that belongs to a ``raise`` statement of a source file (one may span lines)."""
    with open(filename) as f:
        tree = ast.parse(f.read())
    return frozenset(n for node in ast.walk(tree) if isinstance(node, ast.Raise)
                     for n in range(node.lineno, node.end_lineno + 1))


def as_numpy_list(result):
    if isinstance(result, (tuple, list)):
        return [a for r in result for a in as_numpy_list(r)]
    if hasattr(result, "detach"):
        result = result.detach()
    if hasattr(result, "numpy"):
        return [np.asarray(result.numpy())]
    return [np.asarray(result)]


def same(mine, theirs, compare):
    """Equal shapes, dtypes and values; a NaN where PyTorch has an inf (or the reverse) counts as the
    same, since both say the value is lost (PyTorch's fused formulas turn some infs into NaN)."""
    a, b = as_numpy_list(mine), as_numpy_list(theirs)
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        if compare == "values":
            if x.dtype.kind == "b" or y.dtype.kind == "b":
                if not np.array_equal(x, y):
                    return False
                continue
            x, y = x.astype(np.float64), y.astype(np.float64)
            lost = ~np.isfinite(x)
            if not np.array_equal(lost, ~np.isfinite(y)):
                return False
            if not np.allclose(np.where(lost, 0, x), np.where(lost, 0, y), rtol=1e-4, atol=1e-5):
                return False
    return True


def classify(name, draw, compare, torch):
    """The outcome of one drawn call, with a line describing it."""
    call = draw
    mine, error = run_minidl(call)
    theirs = their_error = None
    if torch is not None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                theirs = call(TorchModule(torch))
        except Exception as e:  # noqa: BLE001
            their_error = e
    if error is not None:
        if isinstance(error, AttributeError) and ("module 'minidl" in str(error) or "'Tensor' object" in str(error)):
            return "missing", str(error)
        if not is_clean(error):
            frame = traceback.extract_tb(error.__traceback__)[-1]
            return "internal", f"{type(error).__name__}: {error} [{frame.filename}:{frame.lineno}]"
        if torch is not None and their_error is None:
            return "refused", f"{type(error).__name__}: {error}"
        return "ok", ""
    if torch is None:
        return "ok", ""
    if their_error is not None and "allocate" not in str(their_error):
        return "accepted", f"PyTorch: {type(their_error).__name__}: {str(their_error)[:200]}"
    if their_error is None and not same(mine, theirs, compare):
        return "mismatch", f"minidl {_describe(mine)} vs PyTorch {_describe(theirs)}"
    return "ok", ""


# the tensor arguments of the ops: an error about one of them names a real problem of the call even
# when a bad hyperparameter was drawn as well
TENSOR_ARGUMENTS = ("input", "weight", "bias", "target", "other", "tensors", "running_mean", "running_var", "src",
                    "self", "condition", "shape", "channels", "features", "dtype", "empty")


def names_an_argument(message, suspects):
    return any(s in message for s in list(suspects) + list(TENSOR_ARGUMENTS))


def _describe(result):
    arrays = as_numpy_list(result)
    return "; ".join(f"{a.dtype}{a.shape} {np.array2string(a.ravel()[:6], precision=4)}" for a in arrays)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10000, help="number of drawn calls (default: 10000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the draws (default: 0)")
    parser.add_argument("--show", type=int, default=3, help="examples printed per op and outcome (default: 3)")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        torch = None
        print("PyTorch is not installed: only 'internal' and 'unnamed' can be counted")
    rng = random.Random(args.seed)
    counts = collections.Counter()
    examples = collections.defaultdict(list)
    names = sorted(CASES)
    for i in range(args.calls):
        name = names[i % len(names)]
        builder, compare = CASES[name]
        d = Draw(random.Random(rng.randrange(2 ** 32)))
        call = builder(d)
        if isinstance(call, tuple):
            call, compare = call
        outcome, line = classify(name, call, compare, torch)
        if outcome == "refused" and d.suspects:
            outcome = "ok"  # a bad argument refused: only PyTorch is more lenient with it
        if outcome in ("ok", "refused") and line and d.suspects and not names_an_argument(line, d.suspects):
            outcome = "unnamed"
            line += f" (drawn bad: {d.suspects})"
        counts[outcome] += 1
        if outcome != "ok" and len(examples[(name, outcome)]) < args.show:
            drawn = ", ".join(f"{k}={v!r}" for k, v in d.drawn.items())
            examples[(name, outcome)].append(f"{line}  <{drawn}>")
    for (name, outcome), lines in sorted(examples.items()):
        for line in lines:
            print(f"[{outcome}] {name}: {line}")
    total = sum(counts.values())
    print(f"\n{total} calls: " + ", ".join(f"{k} {counts[k]}" for k in
                                        ("internal", "accepted", "mismatch", "unnamed", "refused", "missing", "ok")))
    return 0 if counts["internal"] == counts["accepted"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
