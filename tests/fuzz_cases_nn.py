"""The drawn calls of ``tests/fuzz_ops.py`` for the ops of ``minidl.nn.functional``: layers' functions
(linear, convolutions, pooling, normalisation, dropout), activations, losses, resizing and padding,
reductions, element-wise and unary ops (the registry and ``Draw`` are in ``fuzz_draw.py``).
"""
import numpy as np

import minidl
from fuzz_draw import BAD_INT, case, pair_arg


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
    call = lambda m: m.nn.functional.conv2d(x, w, b, stride, padding, dilation, groups)  # noqa: E731
    if padding not in (0, "valid") and not np.isfinite(w.numpy()).all():
        # a documented difference: minidl multiplies a NaN or inf weight by the zero padding as well (im2col
        # and Winograd compute those taps as 0 x w), so an output whose window reaches the padding is
        # NaN there; PyTorch's CPU kernels leave the padding out
        return call, "values, or lost over padding"
    return call


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
