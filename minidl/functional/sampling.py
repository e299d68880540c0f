"""Resampling and cropping: ``interpolate`` (nearest, bilinear), ``crop`` and ``center_crop``.

Interpolation is separable. Along each spatial axis an output index d reads one or two source indices
with fixed weights, which is a small linear map A (out x in) per axis:

    nearest:   out[d] = x[i0(d)]
    bilinear:  out[d] = l0(d) x[i0(d)] + l1(d) x[i1(d)],   l0 + l1 = 1

and 2-D bilinear applies the width map, then the height map: out = A_h x A_w^T. The forward gathers
(exactly PyTorch's arithmetic; a non-finite input stays local); the backward is the transpose,
dL/dx = A_h^T g A_w, a pair of small dense matrix products -- deterministic, with no scatter.

Source coordinates as PyTorch (scale = in/out when ``size`` is given, 1/scale_factor when
``scale_factor`` is given, unless ``recompute_scale_factor``):

    nearest (PyTorch's legacy 'nearest'):   i0 = min(floor(d * scale), in - 1)
    bilinear, align_corners=True:           src = d (in - 1) / (out - 1)    (0 when out == 1)
    bilinear, align_corners=False:          src = max(scale (d + 0.5) - 0.5, 0)
                                            i0 = floor(src), i1 = min(i0 + 1, in - 1), l1 = src - i0

An axis whose size does not change is copied, and nearest with out = 2 in takes i0 = d // 2, as in
PyTorch's CPU kernels. Coordinates are computed in the input's precision (float32 for float32), again
as PyTorch does, so that floor() falls on the same side.

FCN (Long et al., 2015) crops upsampled score maps back onto the input grid before fusing them with
skip connections; ``crop`` and ``center_crop`` take a window of the last two dimensions and their
backward pads the gradient back with zeros.
"""
import math

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor, _fmt
from . import validation as check

__all__ = ["interpolate", "crop", "center_crop"]

MODES = {"nearest": (3, 4, 5), "bilinear": (4,)}


def _nearest_source(n_in, n_out, scale, dtype):
    d = np.arange(n_out)
    if n_out == n_in:
        return d
    if n_out == 2 * n_in:
        return d // 2
    src = np.floor(d.astype(dtype) * scale)
    return np.minimum(src.astype(np.int64), n_in - 1)


def _linear_source(n_in, n_out, scale, align_corners, dtype):
    """(i0, i1, l0, l1) per output index of one axis."""
    d = np.arange(n_out)
    if n_out == n_in:
        ones = np.ones(n_out, dtype=dtype)
        return d, d, ones, ones * 0
    if align_corners:
        src = d.astype(dtype) * scale
    else:
        src = np.maximum(scale * (d.astype(dtype) + dtype.type(0.5)) - dtype.type(0.5), 0)
    i0 = src.astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    l1 = np.clip(src - i0.astype(dtype), 0, 1).astype(dtype)
    return i0, i1, (1 - l1).astype(dtype), l1


def _axis_scale(n_in, n_out, scale_factor, align_corners, dtype):
    """PyTorch's coordinate scale for one axis (area_pixel_compute_scale), in ``dtype``."""
    if align_corners:
        return dtype.type(n_in - 1) / dtype.type(n_out - 1) if n_out > 1 else dtype.type(0)
    if scale_factor is not None:
        return dtype.type(1.0 / scale_factor)
    return dtype.type(n_in) / dtype.type(n_out)


def _along(a, m, axis, xp):
    """Contract axis ``axis`` of ``a`` with the rows of ``m`` (the axis becomes m's column count)."""
    return xp.moveaxis(xp.moveaxis(a, axis, -1) @ m, -1, axis)


class Interpolate(Function):
    """Separable resampling of the trailing spatial axes; ``taps`` holds, per axis, the source
    indices and weights: (i0,) for nearest, (i0, i1, l0, l1) for linear."""

    def forward(self, x, taps):
        xp = backend.get_array_module(x)
        self.in_shape, self.taps = x.shape, taps
        first = x.ndim - len(taps)
        # last axis first: for bilinear this is PyTorch's order, rows of the width pass then heights
        for k in reversed(range(len(taps))):
            axis = first + k
            if len(taps[k]) == 1:
                x = xp.take(x, xp.asarray(taps[k][0]), axis=axis)
                continue
            i0, i1, l0, l1 = (xp.asarray(v) for v in taps[k])
            shape = (-1,) + (1,) * (x.ndim - 1 - axis)
            x = l0.reshape(shape) * xp.take(x, i0, axis=axis) + l1.reshape(shape) * xp.take(x, i1, axis=axis)
        return xp.ascontiguousarray(x)

    def backward(self, g):
        xp = backend.get_array_module(g)
        first = g.ndim - len(self.taps)
        for k, tap in enumerate(self.taps):
            g = _along(g, xp.asarray(_matrix(tap, self.in_shape[first + k], g.dtype)), first + k, xp)
        return xp.ascontiguousarray(g)


def _matrix(tap, n_in, dtype):
    """The dense (out, in) interpolation matrix of one axis; its transpose carries the gradient."""
    n_out = len(tap[0])
    a = np.zeros((n_out, n_in), dtype=dtype)
    rows = np.arange(n_out)
    if len(tap) == 1:
        a[rows, tap[0]] = 1
    else:
        i0, i1, l0, l1 = tap
        np.add.at(a, (rows, i0), l0)  # i0 == i1 at the last source index: the weights add up to 1
        np.add.at(a, (rows, i1), l1)
    return a


def _integer(value, op, name):
    return check.integer(value, name, op)


def _per_axis(value, n, name):
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(
                f"interpolate: {name} {tuple(value)} has {len(value)} entries for {n} spatial dimensions"
            )
        return list(value)
    return [value] * n


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None):
    """Resize the spatial dimensions of (N, C, L), (N, C, H, W) or (N, C, D, H, W) input.

    Give exactly one of ``size`` (int or one per spatial dimension) and ``scale_factor`` (output size
    floor(in * scale_factor)). ``mode``: 'nearest' (3-, 4- or 5-D) or 'bilinear' (4-D);
    ``align_corners`` (bilinear only, default False) maps the corner pixels' centres onto each other.
    ``recompute_scale_factor=True`` uses in/out instead of 1/scale_factor in the coordinate map.
    'nearest' also resizes integer label maps (PyTorch refuses int64 there; a segmentation mask needs it).
    Formulas: see the module docstring.
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"interpolate: input must be a Tensor, got {type(input).__name__}")
    check.choice(mode, "mode", "interpolate", tuple(MODES))
    if align_corners is not None:
        check.flag(align_corners, "align_corners", "interpolate")
    if input.ndim not in MODES[mode]:
        ranks = " or ".join(f"{r}-D" for r in MODES[mode])
        raise ValueError(f"interpolate: mode {mode!r} needs {ranks} input, got shape {_fmt(input.shape)}")
    if mode == "nearest" and align_corners is not None:
        raise ValueError(
            "interpolate: align_corners can only be set with mode 'bilinear', not 'nearest'"
        )
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    if mode == "bilinear" and input.dtype.kind != "f":
        raise TypeError(f"interpolate: bilinear needs a floating-point input, got {input.dtype}")
    if input.dtype.kind == "b":
        raise TypeError("interpolate: input must be floating point (or integer labels for 'nearest'), got bool")
    spatial = input.shape[2:]
    n = len(spatial)
    if size is not None:
        out = [_integer(s, "interpolate", "size") for s in _per_axis(size, n, "size")]
        scales = [None] * n
    else:
        scales = [check.number(s, "scale_factor", "interpolate", above=0.0)
                  for s in _per_axis(scale_factor, n, "scale_factor")]
        out = [math.floor(i * s) for i, s in zip(spatial, scales)]
        if recompute_scale_factor:
            scales = [None] * n
    if any(o < 1 for o in out) or any(i < 1 for i in spatial):
        raise ValueError(
            f"interpolate: input and output sizes must be positive, got input {_fmt(input.shape)} "
            f"and output size {tuple(out)}"
        )
    with check.memory_for("interpolate", f"an output of size {tuple(out)}"):
        return _resample(input, mode, out, scales, bool(align_corners))


def _resample(input, mode, out, scales, corners):
    """The per-axis taps (source indices and weights) of the resampling, and the op that applies them."""
    coord = np.dtype(input.dtype) if input.dtype.kind == "f" else np.dtype(np.float32)
    taps = []
    for n_in, n_out, sf in zip(input.shape[2:], out, scales):
        if mode == "nearest":
            taps.append((_nearest_source(n_in, n_out, _axis_scale(n_in, n_out, sf, False, coord), coord),))
        else:
            scale = _axis_scale(n_in, n_out, sf, corners, coord)
            taps.append(_linear_source(n_in, n_out, scale, corners, coord))
    return Interpolate.apply(input, taps=tuple(taps))


class Crop(Function):
    """y = x[..., top:top + height, left:left + width]; dL/dx is dL/dy padded back with zeros."""

    def forward(self, x, top, left, height, width):
        xp = backend.get_array_module(x)
        h, w = x.shape[-2:]
        self.widths = [(0, 0)] * (x.ndim - 2) + [(top, h - top - height), (left, w - left - width)]
        return xp.ascontiguousarray(x[..., top:top + height, left:left + width])

    def backward(self, g):
        return backend.get_array_module(g).pad(g, self.widths)


def _check_image(x, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    if x.ndim < 2:
        raise ValueError(f"{op}: input needs at least 2 dimensions (..., H, W), got shape {_fmt(x.shape)}")


def crop(x, top, left, height, width):
    """The window of ``height`` x ``width`` at (``top``, ``left``) of the last two dimensions
    (torchvision's ``crop``; a window that leaves the input is an error, not padded)."""
    _check_image(x, "crop")
    top, left, height, width = (
        _integer(v, "crop", name) for v, name in zip((top, left, height, width), ("top", "left", "height", "width"))
    )
    h, w = x.shape[-2:]
    if height < 1 or width < 1:
        raise ValueError(f"crop: height and width must be positive, got {height} x {width}")
    if top < 0 or left < 0 or top + height > h or left + width > w:
        raise ValueError(
            f"crop: window rows {top}..{top + height - 1}, columns {left}..{left + width - 1} "
            f"leaves the input of size {h} x {w} (shape {_fmt(x.shape)})"
        )
    return Crop.apply(x, top=top, left=left, height=height, width=width)


def center_crop(x, size):
    """The central ``size`` window (int for a square, or (height, width)) of the last two dimensions.

    Offsets round((H - height) / 2) and round((W - width) / 2), as torchvision's ``center_crop``.
    """
    if isinstance(size, (list, tuple)):
        if len(size) not in (1, 2):
            raise ValueError(f"center_crop: size must be an int or (height, width), got {tuple(size)}")
        height, width = (size[0], size[0]) if len(size) == 1 else size
    else:
        height = width = size
    height, width = _integer(height, "center_crop", "size"), _integer(width, "center_crop", "size")
    _check_image(x, "center_crop")
    h, w = x.shape[-2:]
    if height > h or width > w:
        raise ValueError(
            f"center_crop: window {height} x {width} is larger than the input's {h} x {w} "
            f"(shape {_fmt(x.shape)})"
        )
    return crop(x, int(round((h - height) / 2.0)), int(round((w - width) / 2.0)), height, width)
