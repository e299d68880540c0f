"""The cases of ``bench/kernels.py``: each CUDA kernel of ``minidl/kernels`` with the inputs it is
launched on, how to run it (the kernel on the GPU or the CuPy stand-in, its CPU twin on the CPU), its
reference (PyTorch's nearest equivalent, or for a Winograd transform its CPU twin or the transform
written out tile by tile), how to compare the two, and the bytes it has to move at the least.
"""
import numpy as np

import minidl
import minidl.functional as F
from minidl import backend
from minidl.functional import winograd
from minidl.functional.im2col import Geometry, col2im, im2col

try:
    import torch
    import torch.nn.functional as TF
except ImportError:
    torch = TF = None

DROPOUT_P = 0.5


class Bench:
    """Where the cases run: the array module, PyTorch's device, random inputs, how to launch a kernel.

    ``device``: ``"cuda"`` (a GPU: kernels launched, PyTorch on the GPU), ``"standin"`` (kernels
    launched on the installed CuPy stand-in, PyTorch on the CPU) or ``"cpu"`` (the CPU twins).
    """

    def __init__(self, device):
        self.gpu = device in ("cuda", "standin")
        self.xp = backend.cupy_module() if self.gpu else np
        self.torch_device = "cuda" if device == "cuda" else "cpu"
        self.rng = np.random.default_rng(0)
        self.modules = {}
        minidl.manual_seed(0)  # the CPU dropout mask, so that its statistics repeat run to run

    def randn(self, *shape):
        return self.xp.asarray(self.rng.standard_normal(shape, dtype=np.float32))

    def to_torch(self, array):
        """``array`` as a PyTorch tensor on ``torch_device`` (through the host unless both are on the GPU)."""
        if torch is None:
            return None
        if self.torch_device == "cpu":
            array = backend.to_numpy(array)
        return torch.as_tensor(array, device=self.torch_device)

    def launch(self, file, function, n, *args):
        """Run ``function`` of ``minidl/kernels/<file>.cu`` (float32 build) over ``n`` threads, compiled
        here as ``backend.load_kernel`` compiles it, so that its cache never mixes two array modules."""
        if file not in self.modules:
            source, options = backend.kernel_program(file, np.float32)
            self.modules[file] = self.xp.RawModule(code=source, options=options)
        backend.launch(self.modules[file].get_function(function), n, args)


def _i32(*values):
    return tuple(np.int32(v) for v in values)


def _host(array):
    if isinstance(array, minidl.Tensor):
        return array.numpy()
    if torch is not None and isinstance(array, torch.Tensor):
        return array.detach().cpu().numpy()
    return backend.to_numpy(array)


def _error(ours, theirs):
    """The largest absolute difference (over every output, where an op returns several)."""
    if isinstance(ours, tuple):
        return max(_error(o, t) for o, t in zip(ours, theirs))
    ours, theirs = _host(ours).astype(np.float64), _host(theirs).astype(np.float64)
    if ours.shape != theirs.shape:
        return float("inf")
    return float(np.max(np.abs(ours - theirs), initial=0.0))


class Autograd:
    """``op``'s forward, then its backward for the output gradient ``gy``, through autograd: minidl's
    (where on NumPy arrays the kernels' CPU twins run) or, for PyTorch tensors, PyTorch's."""

    def __init__(self, op, x, gy):
        self.op, self.x = op, x
        self.on_torch = torch is not None and isinstance(x, torch.Tensor)
        self.gy = gy if self.on_torch else minidl.Tensor(gy)

    def forward(self):
        if self.on_torch:
            self.leaf = self.x.detach().requires_grad_()
        else:
            self.leaf = minidl.Tensor(self.x, requires_grad=True)
        out = self.op(self.leaf)
        self.y = out[0] if isinstance(out, tuple) else out
        return out

    def backward(self):
        if self.on_torch:
            return torch.autograd.grad(self.y, self.leaf, self.gy, retain_graph=True)[0]
        self.leaf.grad = None
        self.y.backward(self.gy)
        return self.leaf.grad


class CpuTwin:
    """The reference of a kernel that PyTorch has no equivalent for (a Winograd transform alone): the
    kernel's CPU twin where the kernel ran, and where the twin itself ran, the transform written out tile
    by tile. It checks the result; there is nothing of PyTorch's to time beside it."""

    def __init__(self, run):
        self.run = run

    def __call__(self):
        return self.run()


# A case is (kernel function, run minidl, run PyTorch (or a CpuTwin) or None, compare(ours, theirs) ->
# error, bytes moved). "Run minidl" launches the kernel on the GPU and runs its CPU twin on the CPU.

def im2col_case(b, n, c, size, k, stride, pad):
    x = b.randn(n, c, size, size)
    out = (size + 2 * pad - k) // stride + 1
    g = Geometry((k, k), (stride, stride), (pad,) * 4, (1, 1), (size, size), (out, out))
    cols = b.xp.empty((c * k * k, n * out * out), dtype=np.float32)

    def ours():
        if not b.gpu:
            return im2col(x, g).copy()
        b.launch("im2col", "im2col", cols.size, x, cols, np.int64(cols.size),
                 *_i32(n, c, size, size, k, k, stride, stride, pad, pad, 1, 1, out, out))
        return cols

    xt = b.to_torch(x)
    theirs = None if torch is None else (lambda: TF.unfold(xt, k, padding=pad, stride=stride))
    as_torch = lambda cols: _host(cols).reshape(c * k * k, n, -1).transpose(1, 0, 2)  # noqa: E731
    return "im2col", ours, theirs, lambda o, t: _error(as_torch(o), t), x.nbytes + cols.nbytes


def col2im_case(b, n, c, size, k, stride, pad):
    out = (size + 2 * pad - k) // stride + 1
    g = Geometry((k, k), (stride, stride), (pad,) * 4, (1, 1), (size, size), (out, out))
    cols = b.randn(c * k * k, n * out * out)
    image = b.xp.empty((n, c, size, size), dtype=np.float32)

    def ours():
        if not b.gpu:
            return col2im(cols, g, n, c)
        b.launch("col2im", "col2im", image.size, cols, image, np.int64(image.size),
                 *_i32(n, c, size, size, k, k, stride, stride, pad, pad, 1, 1, out, out))
        return image

    torch_cols = b.to_torch(b.xp.ascontiguousarray(cols.reshape(c * k * k, n, -1).transpose(1, 0, 2)))
    theirs = None if torch is None else (
        lambda: TF.fold(torch_cols, (size, size), k, padding=pad, stride=stride))
    return "col2im", ours, theirs, _error, cols.nbytes + image.nbytes


def op_cases(b, name, x, gy, ops, kernels, nbytes):
    """The forward and backward kernels of one op. ``ops``: (minidl's op, PyTorch's op) of a tensor;
    ``kernels``: (launch forward, launch backward) on the GPU; ``nbytes``: what each moves."""
    minidl_op, torch_op = ops
    if b.gpu:
        forward, backward = kernels
    else:
        ours = Autograd(minidl_op, x, gy)
        forward, backward = ours.forward, ours.backward
    theirs = None if torch is None else Autograd(torch_op, b.to_torch(x), b.to_torch(gy))
    return [(f"{name}_forward", forward, theirs and theirs.forward, _error, nbytes[0]),
            (f"{name}_backward", backward, theirs and theirs.backward, _error, nbytes[1])]


def max_pool_cases(b, n, c, size, k, stride, pad):
    x = b.randn(n, c, size, size)
    out = (size + 2 * pad - k) // stride + 1
    y, gy = b.xp.empty((n, c, out, out), dtype=np.float32), b.randn(n, c, out, out)
    index, gx = b.xp.empty(y.shape, dtype=np.int64), b.xp.empty_like(x)
    geometry = _i32(size, size, out, out, k, k, stride, stride, pad, pad, 1, 1)

    def forward():
        b.launch("max_pool2d", "max_pool2d_forward", y.size, x, y, index, np.int64(y.size), *geometry)
        return y, index

    def backward():
        b.launch("max_pool2d", "max_pool2d_backward", gx.size, gy, index, gx, np.int64(gx.size), *geometry)
        return gx

    ops = (lambda t: F.max_pool2d(t, k, stride, pad, return_indices=True),
           lambda t: TF.max_pool2d(t, k, stride, pad, return_indices=True))
    return op_cases(b, "max_pool2d", x, gy, ops, (forward, backward),
                    (x.nbytes + y.nbytes + index.nbytes, gy.nbytes + index.nbytes + gx.nbytes))


def avg_pool_cases(b, n, c, size, k, stride, pad):
    x = b.randn(n, c, size, size)
    out = (size + 2 * pad - k) // stride + 1
    y, gy, gx = b.xp.empty((n, c, out, out), dtype=np.float32), b.randn(n, c, out, out), b.xp.empty_like(x)
    # count_include_pad=1 and no divisor_override, PyTorch's defaults
    geometry = _i32(size, size, out, out, k, k, stride, stride, pad, pad, 1, 0)

    def forward():
        b.launch("avg_pool2d", "avg_pool2d_forward", y.size, x, y, np.int64(y.size), *geometry)
        return y

    def backward():
        b.launch("avg_pool2d", "avg_pool2d_backward", gx.size, gy, gx, np.int64(gx.size), *geometry)
        return gx

    ops = (lambda t: F.avg_pool2d(t, k, stride, pad), lambda t: TF.avg_pool2d(t, k, stride, pad))
    return op_cases(b, "avg_pool2d", x, gy, ops, (forward, backward),
                    (x.nbytes + y.nbytes, gy.nbytes + gx.nbytes))


def adaptive_max_pool_cases(b, n, c, size, out):
    x = b.randn(n, c, size, size)
    y, gy = b.xp.empty((n, c, out, out), dtype=np.float32), b.randn(n, c, out, out)
    index, gx = b.xp.empty(y.shape, dtype=np.int64), b.xp.empty_like(x)
    name, geometry = "adaptive_max_pool2d", _i32(size, size, out, out)

    def forward():
        b.launch(name, name + "_forward", y.size, x, y, index, np.int64(y.size), *geometry)
        return y, index

    def backward():
        b.launch(name, name + "_backward", gx.size, gy, index, gx, np.int64(gx.size), *geometry)
        return gx

    ops = (lambda t: F.adaptive_max_pool2d(t, out, return_indices=True),
           lambda t: TF.adaptive_max_pool2d(t, out, return_indices=True))
    return op_cases(b, name, x, gy, ops, (forward, backward),
                    (x.nbytes + y.nbytes + index.nbytes, gy.nbytes + index.nbytes + gx.nbytes))


def lrn_cases(b, n, c, size, window, alpha=1e-4, beta=0.75, k=2.0):
    """PyTorch's form: window c - size/2 .. c + (size-1)/2, alpha divided by the window size."""
    x, gy = b.randn(n, c, size, size), b.randn(n, c, size, size)
    y, scale, gx = (b.xp.empty_like(x) for _ in range(3))
    shape = _i32(c) + (np.int64(size * size),) + _i32(window // 2, (window - 1) // 2)
    coef = np.float32(alpha / window)

    def forward():
        b.launch("lrn", "lrn_forward", x.size, x, y, scale, np.int64(x.size), *shape, coef,
                 np.float32(k), np.float32(beta))
        return y

    def backward():
        b.launch("lrn", "lrn_backward", x.size, x, y, scale, gy, gx, np.int64(x.size), *shape, coef,
                 np.float32(beta))
        return gx

    ops = (lambda t: F.local_response_norm(t, window, alpha, beta, k),
           lambda t: TF.local_response_norm(t, window, alpha, beta, k))
    # forward: reads x, writes y and scale; backward: reads x, y, scale, gy, writes gx
    return op_cases(b, "lrn", x, gy, ops, (forward, backward), (3 * x.nbytes, 5 * x.nbytes))


def dropout_case(b, elements):
    """The mask alone; PyTorch's ``bernoulli_`` draws the same 0/1 pattern without the 1 / (1 - p) scale."""
    mask = b.xp.empty(elements, dtype=np.float32)
    scale = 1.0 / (1.0 - DROPOUT_P)

    def ours():
        if not b.gpu:
            return F.dropout(minidl.Tensor(np.ones(elements, dtype=np.float32)), DROPOUT_P).numpy()
        seed = np.uint64(b.rng.integers(0, 2**63))
        b.launch("dropout", "dropout_mask", mask.size, mask, np.int64(mask.size), seed,
                 np.float64(DROPOUT_P), np.float32(scale))
        return mask

    def statistics(values, unused_theirs=None):
        """How far the kept share is from 1 - p, in standard deviations; inf if a value is not 0 or scale."""
        values = _host(values)
        if not np.all((values == 0) | np.isclose(values, scale)):
            return float("inf")
        kept = np.count_nonzero(values) / values.size
        return abs(kept - (1 - DROPOUT_P)) / np.sqrt(DROPOUT_P * (1 - DROPOUT_P) / values.size)

    theirs = None
    if torch is not None:
        target = torch.empty(elements, device=b.torch_device)
        theirs = lambda: target.bernoulli_(1 - DROPOUT_P)  # noqa: E731
    return "dropout_mask", ours, theirs, statistics, mask.nbytes


def _relative_error(ours, theirs):
    """The largest absolute difference over the largest magnitude of the reference (at least 1): the
    Winograd transforms add up to (m + 2)^2 terms with coefficients up to 5 for m = 4."""
    scale = max(1.0, float(np.max(np.abs(_host(theirs)), initial=0.0)))
    return _error(ours, theirs) / scale


def _tiles(a, pad, counts, m):
    """(N, C, TH, TW, t, t): the t x t tiles, m apart, of ``a`` zero-padded by ``pad`` at the top left
    (and as far as the last tile needs at the bottom right); t = m + 2 for the input, m for the output."""
    n, c, h, w = a.shape
    t = m + 2 if pad else m
    padded = np.zeros((n, c, counts[0] * m + t - m, counts[1] * m + t - m))
    padded[:, :, pad:pad + h, pad:pad + w] = _host(a)
    return np.lib.stride_tricks.sliding_window_view(padded, (t, t), axis=(2, 3))[:, :, ::m, ::m]


def winograd_cases(b, n, c, size, m):
    """The three transforms of F(m x m, 3 x 3) for a 3x3 convolution with padding 1 (size x size in and
    out, C channels in and out). Each is checked against its CPU twin in ``minidl/functional/winograd.py``;
    the twin itself (CPU mode) against the transform written out with einsum, in float64:

        input   V[(a, b), c, (n, th, tw)] = sum_ij BT[a, i] BT[b, j] x_pad[n, c, th m + i, tw m + j]
        output  Y[n, c, th m + r, tw m + s] = sum_ab AT[r, a] AT[s, b] M[(a, b), c, (n, th, tw)]
        grad    dM[(a, b), (n, th, tw), c] = sum_rs AT[r, a] AT[s, b] dy[n, c, th m + r, tw m + s]
    """
    t2, counts = (m + 2) ** 2, winograd._tile_counts((size, size), m)
    tiles = n * counts[0] * counts[1]
    bt, at = (np.array(winograd.MATRICES[m][k], dtype=np.float64) for k in ("BT", "AT"))
    kb, _, ka = (b.xp.asarray(k) for k in winograd.transforms(m, np.float32))
    x, prod, gy = b.randn(n, c, size, size), b.randn(t2, c, tiles), b.randn(n, c, size, size)
    v, y, dm = (b.xp.zeros(shape, dtype=np.float32) for shape in ((t2, c, tiles), (n, c, size, size),
                                                                  (t2, tiles, c)))
    sizes = _i32(n, c, size, size)

    def input_twin():
        return winograd._transformed_input(_host(x), (1, 1), counts, m).copy()

    def output_twin():
        out = np.empty((n, c, size, size), dtype=np.float32)
        winograd._transformed_output(_host(prod), out, counts, m)
        return out

    def grad_twin():
        return winograd._output_gradient_tiles(_host(gy), counts, m).copy()

    def input_formula():
        return np.einsum("ai,bj,nchwij->abcnhw", bt, bt, _tiles(x, 1, counts, m)).reshape(t2, c, tiles)

    def output_formula():
        products = _host(prod).astype(np.float64).reshape(m + 2, m + 2, c, n, *counts)
        full = np.einsum("ra,sb,abcnhw->nchrws", at, at, products)
        return full.reshape(n, c, counts[0] * m, counts[1] * m)[:, :, :size, :size]

    def grad_formula():
        return np.einsum("ra,sb,nchwrs->abnhwc", at, at, _tiles(gy, 0, counts, m)).reshape(t2, tiles, c)

    def case(name, inputs, output, twin, formula, geometry):
        """The kernel ``name`` (arguments: inputs, output, its size, sizes, geometry) and its reference:
        its twin where the kernel runs, the formula where the twin itself runs."""
        def ours():
            if not b.gpu:
                return twin()
            b.launch(name, name, output.size, *inputs, output, np.int64(output.size), *sizes, *_i32(*geometry))
            return output

        nbytes = sum(a.nbytes for a in inputs) + output.nbytes
        return name, ours, CpuTwin(twin if b.gpu else formula), _relative_error, nbytes

    return [case("winograd_input", (x, kb), v, input_twin, input_formula, (1, 1, *counts, m)),
            case("winograd_output", (prod, ka), y, output_twin, output_formula, (*counts, m)),
            case("winograd_grad_tiles", (gy, ka), dm, grad_twin, grad_formula, (*counts, m))]


def cases(b, big):
    """Every kernel function, at a GPU-sized shape (``big``) or a small one for the CPU check."""
    if big:
        found = [im2col_case(b, 32, 64, 56, 3, 1, 1), col2im_case(b, 32, 64, 56, 3, 1, 1)]
        found += max_pool_cases(b, 64, 64, 112, 3, 2, 1) + avg_pool_cases(b, 64, 64, 112, 3, 2, 1)
        found += adaptive_max_pool_cases(b, 64, 512, 28, 7) + lrn_cases(b, 64, 96, 55, 5)
        return found + [dropout_case(b, 64 * 2**20)] + winograd_cases(b, 32, 64, 56, 4)
    found = [im2col_case(b, 2, 3, 9, 3, 2, 1), col2im_case(b, 2, 3, 9, 3, 2, 1)]
    found += max_pool_cases(b, 2, 3, 9, 3, 2, 1) + avg_pool_cases(b, 2, 3, 9, 3, 2, 1)
    found += adaptive_max_pool_cases(b, 2, 3, 10, 4) + lrn_cases(b, 2, 7, 5, 5)
    return found + [dropout_case(b, 40_000)] + winograd_cases(b, 2, 3, 9, 4)
