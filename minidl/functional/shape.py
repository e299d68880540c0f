"""Shape ops: reshape, permute, expand, indexing, concatenation, stacking, splitting, padding.

None of these changes a value, so each backward only moves the gradient back to where the value came
from: the inverse reshape or permutation, a scatter for indexing (summed where an index repeats), a
slice for concatenation.
"""
import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor, _fmt
from . import validation as check


def normalize_dim(dim, ndim, op, name="dim"):
    """``dim`` as an axis in [0, ndim) (an int in [-ndim, ndim); 0 and -1 for a 0-d tensor)."""
    return check.dim(dim, ndim, op, name)


def reshape(x, shape):
    """The same elements in ``shape`` (one entry may be -1: worked out from the others)."""
    shape = check.size(shape, "reshape", "shape", infer=True)
    return Reshape.apply(x, shape=shape)


class Reshape(Function):
    def forward(self, x, shape):
        self.in_shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {_fmt(x.shape)} ({x.size} elements) "
                f"into {_fmt(shape)}"
            ) from None

    def backward(self, g):
        return g.reshape(self.in_shape)


class Permute(Function):
    def forward(self, x, dims):
        self.inverse = tuple(np.argsort(dims))
        return x.transpose(dims)

    def backward(self, g):
        return g.transpose(self.inverse)


def permute(x, dims):
    check.tensor(x, "input", "permute")
    if not isinstance(dims, (tuple, list)):
        raise TypeError(f"permute: dims must be a tuple of ints, got {dims!r}")
    dims = tuple(dims)
    if len(dims) != x.ndim:
        raise ValueError(f"permute: got {len(dims)} dims for a tensor with {x.ndim} dimensions")
    dims = tuple(normalize_dim(d, x.ndim, "permute") for d in dims)
    if sorted(dims) != list(range(x.ndim)):
        raise ValueError(f"permute: {dims} is not a permutation of the dimensions")
    return Permute.apply(x, dims=dims)


def flatten(x, start_dim=0, end_dim=-1):
    check.tensor(x, "input", "flatten")
    s = normalize_dim(start_dim, x.ndim, "flatten", "start_dim")
    e = normalize_dim(end_dim, x.ndim, "flatten", "end_dim")
    if x.ndim == 0:
        return x.reshape(1)
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shape = x.shape[:s] + (int(np.prod(x.shape[s:e + 1])),) + x.shape[e + 1:]
    return x.reshape(shape)


ALL_DIMS = "all"  # squeeze's default: every size-1 dimension (an explicit None is refused, as in PyTorch)


def squeeze(x, dim=ALL_DIMS):
    """Drop dimension ``dim`` if its size is 1 (by default every size-1 dimension)."""
    check.tensor(x, "input", "squeeze")
    if isinstance(dim, str) and dim == ALL_DIMS:
        return x.reshape(tuple(n for n in x.shape if n != 1))
    d = normalize_dim(dim, x.ndim, "squeeze")
    if x.ndim == 0 or x.shape[d] != 1:
        return x
    return x.reshape(x.shape[:d] + x.shape[d + 1:])


def unsqueeze(x, dim):
    check.tensor(x, "input", "unsqueeze")
    d = normalize_dim(dim, x.ndim + 1, "unsqueeze")
    return x.reshape(x.shape[:d] + (1,) + x.shape[d:])


class Expand(Function):
    """Broadcast to a larger shape (a view); the gradient sums over the broadcast axes."""

    def forward(self, x, shape):
        self.in_shape = x.shape
        return backend.get_array_module(x).broadcast_to(x, shape)

    def backward(self, g):
        from .arithmetic import reduce_to_shape

        return reduce_to_shape(g, self.in_shape)


def expand(x, shape):
    """Broadcast to ``shape`` (a view): new dimensions go in front, -1 keeps an existing size."""
    if not isinstance(shape, (tuple, list)) or not all(check.is_int(s) for s in shape):
        raise TypeError(f"expand: size must be a tuple of ints, got {shape!r}")
    lead = len(shape) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: size {tuple(shape)} has fewer dimensions than the tensor's shape {_fmt(x.shape)}")
    sizes = []
    for i, s in enumerate(shape):
        if s == -1 and i >= lead:
            sizes.append(x.shape[i - lead])
        elif s < 0:
            raise ValueError(f"expand: size {tuple(shape)} has {s} at dimension {i}: sizes are >= 0, "
                             "or -1 to keep one of the tensor's own dimensions")
        else:
            sizes.append(int(s))
    shape = tuple(sizes)
    try:
        np.broadcast_shapes(x.shape, shape)
    except ValueError:
        raise ValueError(f"expand: shape {_fmt(x.shape)} cannot be expanded to {_fmt(shape)}") from None
    return Expand.apply(x, shape=shape)


class ToDevice(Function):
    def forward(self, x, device):
        self.source = backend.device_of(x)
        return backend.to_device(x, device)

    def backward(self, g):
        return backend.to_device(g, self.source)


# ---------------------------------------------------------------------- indexing


def unwrap_index(index):
    """Tensors inside an index become their arrays; lists become integer/bool arrays."""
    if isinstance(index, tuple):
        return tuple(unwrap_index(i) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _is_advanced(index):
    parts = index if isinstance(index, tuple) else (index,)
    return any(hasattr(p, "dtype") and p.dtype.kind in "iu" and getattr(p, "ndim", 0) > 0 for p in parts)


class GetItem(Function):
    """y = x[index] (basic slicing or integer/bool arrays); dL/dx scatters dL/dy back, adding repeats."""

    def forward(self, x, index):
        self.in_shape, self.dtype, self.index = x.shape, x.dtype, index
        try:
            return x[index]
        except IndexError as e:
            raise IndexError(f"index: {e} (tensor shape {_fmt(x.shape)})") from None

    def backward(self, g):
        xp = backend.get_array_module(g)
        gx = xp.zeros(self.in_shape, dtype=g.dtype)
        if _is_advanced(self.index):
            if xp is np:
                np.add.at(gx, self.index, g)
            else:
                import cupyx

                cupyx.scatter_add(gx, self.index, g)
        else:
            gx[self.index] = g
        return gx


def getitem(x, index):
    index = unwrap_index(index)
    if x.device == "cuda":
        index = _index_to_device(index, x)
    return GetItem.apply(x, index=index)


def _index_to_device(index, x):
    if isinstance(index, tuple):
        return tuple(_index_to_device(i, x) for i in index)
    if isinstance(index, np.ndarray):
        return backend.to_device(index, "cuda")
    return index


# ---------------------------------------------------------------------- joining and splitting


class Concat(Function):
    """y = [x_1, x_2, ...] along ``dim``; each input's gradient is its slice of dL/dy."""

    def forward(self, *xs, dim):
        self.dim = dim
        self.sizes = [x.shape[dim] for x in xs]
        return backend.get_array_module(*xs).concatenate(xs, axis=dim)

    def backward(self, g):
        bounds = np.cumsum(self.sizes)[:-1]
        parts = backend.get_array_module(g).split(g, bounds, axis=self.dim)
        return tuple(p if need else None for p, need in zip(parts, self.needs_input_grad))


def _same_dtype(tensors, op):
    from .promotion import result_dtype

    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = result_dtype(np.empty(0, dtype), np.empty(0, t.dtype))
    return [t if t.dtype == dtype else t.to(dtype) for t in tensors]


def _tensor_list(tensors, op):
    if not isinstance(tensors, (tuple, list)):
        raise TypeError(f"{op}: tensors must be a list or tuple of Tensors, got {type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{op}: tensors must hold at least one tensor")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: tensors[{i}] is a {type(t).__name__}, not a Tensor")
    return list(tensors)


def concat(tensors, dim=0):
    """Join tensors along an existing dimension (``torch.cat``)."""
    tensors = _tensor_list(tensors, "concat")
    ref = tensors[0]
    if ref.ndim == 0:
        raise ValueError("concat: zero-dimensional tensors cannot be concatenated; use stack")
    d = normalize_dim(dim, ref.ndim, "concat")
    for i, t in enumerate(tensors):
        if t.device != ref.device:
            raise ValueError(f"concat: tensors on different devices: {ref.device} and {t.device}")
        if t.ndim != ref.ndim or t.shape[:d] + t.shape[d + 1:] != ref.shape[:d] + ref.shape[d + 1:]:
            raise ValueError(
                f"concat: shapes {_fmt(ref.shape)} and {_fmt(t.shape)} differ outside dim {dim}"
            )
    return Concat.apply(*_same_dtype(tensors, "concat"), dim=d)


cat = concat


def stack(tensors, dim=0):
    """Join equal-shaped tensors along a new dimension."""
    tensors = _tensor_list(tensors, "stack")
    for t in tensors[1:]:
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: shapes {_fmt(tensors[0].shape)} and {_fmt(t.shape)} differ")
    d = normalize_dim(dim, tensors[0].ndim + 1, "stack")
    return concat([unsqueeze(t, d) for t in tensors], dim=d)


class Split(Function):
    def forward(self, x, sections, dim):
        self.dim, self.shape, self.dtype = dim, x.shape, x.dtype
        bounds = np.cumsum(sections)[:-1]
        return tuple(backend.get_array_module(x).split(x, bounds, axis=dim))

    def backward(self, *gs):
        return backend.get_array_module(gs[0]).concatenate(gs, axis=self.dim)


def chunk(x, chunks, dim=0):
    """``torch.chunk``: ``chunks`` pieces of equal size along ``dim`` (the last may be smaller, and
    there are fewer when the size runs out)."""
    chunks = check.integer(chunks, "chunks", "chunk", minimum=1)
    if x.ndim == 0:
        raise ValueError("chunk: a 0-d tensor cannot be chunked")
    n = x.shape[normalize_dim(dim, x.ndim, "chunk")]
    return split(x, max(-(-n // chunks), 1), dim)


def split(x, split_size_or_sections, dim=0):
    """``torch.split``: an int is the size of each chunk (the last may be smaller); a list gives sizes."""
    check.tensor(x, "input", "split")
    if x.ndim == 0:
        raise ValueError("split: a 0-d tensor cannot be split")
    d = normalize_dim(dim, x.ndim, "split")
    n = x.shape[d]
    name = "split_size_or_sections"
    if check.is_int(split_size_or_sections):
        size = int(split_size_or_sections)
        if size < 0 or (size == 0 and n > 0):
            raise ValueError(f"split: {name} must be positive, got {size}")
        sections = [size] * (n // size) + ([n % size] if n % size else []) if size else [0]
    else:
        sections = list(check.size(split_size_or_sections, "split", name))
        if sum(sections) != n:
            raise ValueError(f"split: sections {sections} add up to {sum(sections)}, but dim {dim} has {n}")
        if not sections:  # an empty dim split into no pieces, as torch: no op to record
            return ()
    return Split.apply(x, sections=sections, dim=d)


# ---------------------------------------------------------------------- padding


class Pad(Function):
    """Pad with a constant, or mirror ('reflect', edge not repeated) or repeat the edge ('replicate').

    The gradient of constant padding is the centre slice; for reflect/replicate the mirrored copies
    add their gradients back onto the elements they copied (NumPy's ``pad`` and ``add.at`` on indices).
    """

    def forward(self, x, widths, mode, value):
        xp = backend.get_array_module(x)
        self.widths, self.mode, self.in_shape = widths, mode, x.shape
        if mode == "constant":
            return xp.pad(x, widths, mode="constant", constant_values=value)
        self.index = [
            np.pad(np.arange(n), w, mode={"reflect": "reflect", "replicate": "edge"}[mode])
            for n, w in zip(x.shape, widths)
        ]
        return xp.pad(x, widths, mode={"reflect": "reflect", "replicate": "edge"}[mode])

    def backward(self, g):
        xp = backend.get_array_module(g)
        if self.mode == "constant":
            sl = tuple(slice(lo, g.shape[i] - hi) for i, (lo, hi) in enumerate(self.widths))
            return g[sl]
        for axis, idx in enumerate(self.index):
            if len(idx) == self.in_shape[axis] and self.widths[axis] == (0, 0):
                continue
            out_shape = list(g.shape)
            out_shape[axis] = self.in_shape[axis]
            # one-hot matrix from padded positions to source positions: a small matmul, no loop
            onehot = xp.zeros((len(idx), self.in_shape[axis]), dtype=g.dtype)
            onehot[xp.arange(len(idx)), xp.asarray(idx)] = 1
            g = xp.moveaxis(xp.tensordot(xp.moveaxis(g, axis, -1), onehot, axes=(-1, 0)), -1, axis)
        return xp.ascontiguousarray(g)


def pad(x, pad, mode="constant", value=0.0):
    """``torch.nn.functional.pad``: ``pad`` lists (left, right) widths from the last dimension backwards.

    ``pad=(1, 1, 2, 0)`` pads the last dimension by 1 on each side and the one before by 2 on top.
    Modes: 'constant' (with ``value``), 'reflect' (width below the size), 'replicate'.
    """
    check.tensor(x, "input", "pad")
    if not isinstance(pad, (tuple, list)) or not all(check.is_int(p) for p in pad):
        raise TypeError(f"pad: pad must be a tuple of ints, got {pad!r}")
    if not check.is_number(value) and not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"pad: value must be a number, got {value!r}")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: needs an even number of widths, at most 2 per dimension; got {pad}")
    if any(p < 0 for p in pad):
        raise ValueError(f"pad: negative widths are not supported, got {pad}")
    if mode not in ("constant", "reflect", "replicate"):
        raise ValueError(f"pad: unknown mode {mode!r}; expected 'constant', 'reflect' or 'replicate'")
    widths = [(0, 0)] * x.ndim
    for k in range(len(pad) // 2):
        widths[x.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    if mode != "constant":
        padded = len(pad) // 2
        if not (1 <= padded <= 3 and x.ndim - 2 <= padded <= x.ndim - 1):
            raise ValueError(
                f"pad: mode {mode!r} pads the spatial dimensions of a (C, *) or (N, C, *) input, 1 to 3 of "
                f"them: {padded} with a {x.ndim}-D input is not supported (pad {pad})"
            )
        if x.dtype.kind == "b":
            raise TypeError(f"pad: mode {mode!r} does not support a bool input")
        batched = padded == x.ndim - 2
        if 0 in x.shape[1 if batched else 0:]:
            raise ValueError(f"pad: mode {mode!r} needs non-empty dimensions (all but the batch), "
                             f"got input shape {_fmt(x.shape)}")
    if mode == "reflect":
        for axis, (lo, hi) in enumerate(widths):
            if max(lo, hi) >= x.shape[axis] and (lo or hi):
                raise ValueError(
                    f"pad: reflect padding {(lo, hi)} must be smaller than the dimension's size "
                    f"{x.shape[axis]} (input shape {_fmt(x.shape)})"
                )
    return Pad.apply(x, widths=tuple(widths), mode=mode, value=value)
