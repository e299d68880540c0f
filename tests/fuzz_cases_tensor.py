"""The drawn calls of ``tests/fuzz_ops.py`` for tensors and layers: shapes and views, joining, creation,
in-place methods, and the ``nn`` layers called as modules (the registry and ``Draw`` are in
``fuzz_draw.py``).
"""
import minidl
from minidl import nn
from fuzz_draw import BAD_INT, case, pair_arg, to_torch


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
