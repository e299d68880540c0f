"""Convolution and transposed convolution (NCHW), as im2col + one GEMM (and by phases, for strided
transposed convolutions).

conv2d (the lecture's convolutional layer; PyTorch's cross-correlation):

    out[n, co, oh, ow] = b[co] + sum_{c, i, j} W[co, c, i, j] x_pad[n, g*C_g + c, oh*s_h + i*d_h, ow*s_w + j*d_w]

where g = co // (C_out / groups) is the group of output channel co and C_g = C_in / groups.
Shapes: x (N, C_in, H, W) or unbatched (C_in, H, W); W (C_out, C_in / groups, kh, kw); b (C_out,);
out (N, C_out, OH, OW) with

    OH = floor((H + 2 p_h - d_h (kh - 1) - 1) / s_h) + 1      (and OW likewise).

Gradients, for an output gradient G:
    dW = G cols^T                          (per group; cols = im2col(x))
    dx = col2im(W^T G)                     (a transposed convolution of G)
    db = sum of G over n, oh, ow.

conv_transpose2d (the "learned upsampling" / deconvolution of FCN) is the adjoint of conv2d: its forward
is conv2d's input gradient, and its input gradient is a conv2d. Weight (C_in, C_out / groups, kh, kw);

    OH = (H - 1) s_h - 2 p_h + d_h (kh - 1) + output_padding_h + 1.

As the adjoint it runs GEMM + col2im: cols = W^T x, then every column entry is added onto the output
pixel it stands for (a kh kw-fold scatter-add over an output-sized image). With stride s > 1, dilation
1 and a kernel that is a multiple of the stride it instead runs by phases (``subpixel.py``; the
formula holds for any kernel, whose taps then pad to a multiple of s): output row y = s m + r only
receives the taps i = i_r + s t, i_r = (r + p) mod s, from input row m + q_r - t,
q_r = floor((r + p) / s), so

    out[n, co, s m + r, s m' + r'] = sum_{c, t, t'} W[c, co, i_r + s t, j_r' + s t']
                                                  x[n, c, m + q_r - t, m' + q_r' - t']

is, for each of the s_h s_w phases (r, r'), a stride-1 correlation of x with a ceil(k / s)-square
sub-kernel. The phases share one im2col of x and their sub-kernels stack into one
(s_h s_w C_out) x (C_in ceil(kh / s_h) ceil(kw / s_w)) matrix: one GEMM, then one interleaving copy per
phase into out[..., r::s_h, r'::s_w], no scatter. FCN's 4x4 stride-2 upsampling becomes 4 phases of
2x2: a 2x2 window's columns (4 times the input, not 16) and the same multiply count. ``subpixel.choose``
picks the path in one place.

The products below (``correlate``, ``correlate_adjoint``, ``correlate_weight_grad`` and
``correlate_with_weight_grad``, the last two from one set of columns) serve both ops; they work on
chunks of the batch so that the column matrix stays within the im2col budget, on every core
(``minidl.parallel``). In the code ``geo`` is a convolution's ``Geometry``; ``g`` above is a group.

A 3x3 stride-1 conv2d may instead run Winograd's F(m x m, 3 x 3) (``winograd.py``, where the kernel is
called g as in the paper): per t x t input tile d (t = m + 2) and 3x3 kernel W[co, c],

    Y = A^T [ (G W G^T) ⊙ (B^T d B) ] A,

its channel sum a batched GEMM per tile position; its input gradient is the same algorithm on the
flipped kernel, and its weight gradient the adjoint of the transforms. On small maps with padding a
conv2d may instead run by taps (``conv_taps.py``): one product W[:, :, i, j] x per kernel offset, made
only over the outputs where that offset reads the input rather than padding,

    out[n, :, o] = sum_{i, j} W[:, :, i, j] x_pad[n, :, o s + (i, j) d].

``Conv2dOp.forward`` picks among the three (``winograd.choose``, then ``conv_taps.chosen``;
``set_conv_algorithm`` forces one).
"""
from .. import backend
from ..autograd import Function, is_grad_enabled
from . import conv_taps, subpixel, validation, winograd
from .im2col import (  # noqa: F401
    Geometry, batch_chunks, batch_last, col2im, column_buffer, for_batch_chunks, get_im2col_budget, im2col,
    set_im2col_budget, sum_in_chunk_order, transposed,
)
from .winograd import get_conv_algorithm, set_conv_algorithm  # noqa: F401

__all__ = ["conv2d", "conv_transpose2d"]


def _grouped(w, groups):
    """(C_out, C_g, kh, kw) -> (groups, C_out / groups, C_g * kh * kw): one GEMM operand per group."""
    return w.reshape(groups, w.shape[0] // groups, -1)


def _each_chunk(work, n, channels, geo, array):
    """``work(a, b)`` over batch chunks whose columns (channels * kh * kw * OH * OW per sample) fit the
    im2col budget and, on the CPU, the thread pool's chunk size (see ``minidl.parallel``)."""
    per_sample = channels * geo.taps * geo.out_pixels * array.dtype.itemsize
    return for_batch_chunks(work, n, per_sample, backend.get_array_module(array))


def _columns(x, geo, groups, a, b):
    """im2col of samples a:b as (groups, C_g * kh * kw, (b - a) * OH * OW); on small maps the columns are
    in (oh, ow, n) order (``im2col.batch_last``), else in (n, oh, ow) order."""
    last = batch_last(geo, backend.get_array_module(x))
    return im2col(x[a:b], geo, last).reshape(groups, -1, (b - a) * geo.out_pixels)


def _product_into(out, cols, w, groups, a, b, geo):
    """out[a:b] = W cols (per group): the forward GEMM of one chunk."""
    xp = backend.get_array_module(cols)
    product = xp.matmul(_grouped(w, groups), cols)
    if batch_last(geo, xp):
        out[a:b] = product.reshape(w.shape[0], out.shape[2], out.shape[3], b - a).transpose(3, 0, 1, 2)
    else:
        out[a:b] = product.reshape(w.shape[0], b - a, out.shape[2], out.shape[3]).transpose(1, 0, 2, 3)


def _weight_grad_part(cols, y, groups, a, b, geo):
    """This chunk's share of dW^T = cols y^T, (groups, C_g * kh * kw, C_out / groups).

    Both operands contiguous: OpenBLAS multiplies (K, NP) by (NP, C_out) 10-20x faster than the same
    product as y cols^T, whose (C_out, K) output is small next to its long inner dimension NP (measured
    on a 2-core CPU, K = 576, NP = 32768). y's rows follow the columns' order.
    """
    xp = backend.get_array_module(cols)
    c_out, pixels = y.shape[1], y.shape[2] * y.shape[3]
    yg = y[a:b].reshape(b - a, groups, c_out // groups, pixels)
    yt = yg.transpose(1, 3, 0, 2) if batch_last(geo, xp) else yg.transpose(1, 0, 3, 2)
    return xp.matmul(cols, yt.reshape(groups, (b - a) * pixels, c_out // groups))


def _sum_weight_grad(parts, w_shape, xp, dtype):
    """Add the chunks' parts in chunk order (the same bits for any thread count) and lay out as W."""
    if not parts:  # an empty batch
        return xp.zeros(w_shape, dtype=dtype)
    return transposed(sum_in_chunk_order(parts, None, xp, dtype)).reshape(w_shape)


def _pointwise(x, w, groups, geo, c_out):
    """A 1x1 stride-1 convolution (or its adjoint, with ``w`` (groups, C_out / groups, C / groups)
    already transposed): the input already is each sample's column matrix, one GEMM per sample and no
    copy. The samples go over the pool in chunks: a product left to OpenBLAS's own threads would leave
    its worker spinning after it returns, taking a core from the next pooled op (FCN's 1x1 score
    layers did that: 100 ms of a 270 ms step spent spinning on 2 cores)."""
    xp = backend.get_array_module(x)
    n, c = x.shape[:2]
    out = xp.empty((n, c_out, geo.oh, geo.ow), dtype=x.dtype)
    xs = x.reshape(n, groups, c // groups, geo.out_pixels)
    outs = out.reshape(n, groups, c_out // groups, geo.out_pixels)

    def work(a, b):
        xp.matmul(w, xs[a:b], out=outs[a:b])

    for_batch_chunks(work, n, (c + c_out) * geo.out_pixels * x.dtype.itemsize, xp)
    return out


def correlate(x, w, geo, groups):
    """conv2d without bias by im2col + GEMM: x (N, C, H, W), w (C_out, C / groups, kh, kw) -> (N, C_out, OH, OW)."""
    if geo.is_pointwise():
        return _pointwise(x, _grouped(w, groups), groups, geo, w.shape[0])
    xp = backend.get_array_module(x)
    n, c = x.shape[:2]
    out = xp.empty((n, w.shape[0], geo.oh, geo.ow), dtype=x.dtype)
    _each_chunk(lambda a, b: _product_into(out, _columns(x, geo, groups, a, b), w, groups, a, b, geo),
                n, c, geo, x)
    return out


def correlate_weight_grad(x, y, geo, groups, w_shape):
    """dW[co, c, i, j] = sum_{n, oh, ow} y[n, co, oh, ow] x_pad[n, c, oh s + i d, ow s + j d]."""
    xp = backend.get_array_module(x)
    n, c = x.shape[:2]
    parts = _each_chunk(lambda a, b: _weight_grad_part(_columns(x, geo, groups, a, b), y, groups, a, b, geo),
                        n, c, geo, x)
    return _sum_weight_grad(parts, w_shape, xp, x.dtype)


def correlate_with_weight_grad(x, w, y, geo, groups):
    """(correlate(x, w), correlate_weight_grad(x, y)) from one im2col of x per chunk.

    conv_transpose2d's backward needs both from the columns of its output gradient; building them once
    halves its memory traffic.
    """
    xp = backend.get_array_module(x)
    n, c = x.shape[:2]
    out = xp.empty((n, w.shape[0], geo.oh, geo.ow), dtype=x.dtype)

    def work(a, b):
        cols = _columns(x, geo, groups, a, b)
        _product_into(out, cols, w, groups, a, b, geo)
        return _weight_grad_part(cols, y, groups, a, b, geo)

    parts = _each_chunk(work, n, c, geo, x)
    return out, _sum_weight_grad(parts, w.shape, xp, x.dtype)


def correlate_adjoint(y, w, geo, groups, n, c):
    """The adjoint of ``correlate``: y (N, C_out, OH, OW) -> col2im(W^T y), shape (N, C, H, W)."""
    xp = backend.get_array_module(y)
    c_out = w.shape[0]
    wt = _grouped(w, groups).transpose(0, 2, 1)
    if geo.is_pointwise():
        return _pointwise(y, wt, groups, geo, c)
    x = xp.empty((n, c, geo.h, geo.w), dtype=y.dtype)
    last = batch_last(geo, xp)

    def work(a, b):
        # y's columns in the order the columns take (``im2col.batch_last``)
        yt = y[a:b].transpose(1, 2, 3, 0) if last else y[a:b].transpose(1, 0, 2, 3)
        yt = yt.reshape(groups, c_out // groups, (b - a) * geo.out_pixels)
        cols = column_buffer((groups, wt.shape[1], yt.shape[2]), y.dtype, xp)
        xp.matmul(wt, yt, out=cols)
        col2im(cols.reshape(c * geo.taps, (b - a) * geo.out_pixels), geo, b - a, c, out=x[a:b], batch_last=last)

    _each_chunk(work, n, c, geo, y)
    return x


def reading_part(geo):
    """A stride-1 conv2d whose padding reaches past its kernel (FCN's conv1_1 pads a 3x3 kernel by 100
    pixels) has a border of outputs whose windows read padding only: those are the bias alone. Returns
    the geometry of the outputs that read the input (the same convolution with each padding cut to the
    kernel's reach d (k - 1)) and where they sit in the output, (top, left); None when there is no
    such border. For the FCN's 128x128 inputs the part is 130x130 of 326x326: a sixth of the work."""
    if (geo.sh, geo.sw) != (1, 1):
        return None
    reach_h, reach_w = geo.dh * (geo.kh - 1), geo.dw * (geo.kw - 1)
    pt, pb, pl, pr = min(geo.pt, reach_h), min(geo.pb, reach_h), min(geo.pl, reach_w), min(geo.pr, reach_w)
    if (pt, pb, pl, pr) == (geo.pt, geo.pb, geo.pl, geo.pr):
        return None
    out_size = (geo.h + pt + pb - reach_h, geo.w + pl + pr - reach_w)
    part = Geometry((geo.kh, geo.kw), (1, 1), (pt, pb, pl, pr), (geo.dh, geo.dw), (geo.h, geo.w), out_size)
    return part, (geo.pt - pt, geo.pl - pl)


class Conv2dOp(Function):
    """conv2d by the algorithm picked for its shape (``winograd.choose``, then ``conv_taps.chosen``:
    Winograd, taps, or im2col + GEMM); the backward uses the same one. Outputs that read padding only
    are not computed (``reading_part``)."""
    fresh_grads = (1, 2)  # dW and db are new arrays (see Function.fresh_grads)

    def forward(self, x, weight, bias, *, geometry, groups):
        xp = backend.get_array_module(x)
        part = reading_part(geometry)
        self.full, self.offset = geometry, None
        if part is not None:
            geometry, self.offset = part
        self.x, self.weight, self.geo, self.groups = x, weight, geometry, groups
        self.m = winograd.choose(x.shape, weight.shape, geometry, groups, x)
        self.by_taps = not self.m and conv_taps.chosen(geometry, groups, x, winograd.get_conv_algorithm())
        if self.m:
            # keep the transformed input for the weight gradient when there will be one
            if is_grad_enabled() and self.needs_input_grad[1]:
                out, self.tiles = winograd.correlate(x, weight, geometry, groups, self.m, keep=True)
            else:
                out, self.tiles = winograd.correlate(x, weight, geometry, groups, self.m), None
        elif self.by_taps:
            self.tap_weights = conv_taps.tap_weights(weight)
            out = conv_taps.correlate(x, self.tap_weights, geometry)
        else:
            out = correlate(x, weight, geometry, groups)
        if self.offset is not None:
            whole = xp.zeros((x.shape[0], weight.shape[0], self.full.oh, self.full.ow), dtype=out.dtype)
            whole[self._part()] = out
            out = whole
        if bias is not None:
            out += bias.reshape(1, -1, 1, 1)
        return out

    def _part(self):
        """The index of the computed outputs in the whole output."""
        (top, left), geo = self.offset, self.geo
        return slice(None), slice(None), slice(top, top + geo.oh), slice(left, left + geo.ow)

    def backward(self, grad):
        x, weight, geo, groups, m = self.x, self.weight, self.geo, self.groups, self.m
        dx = dw = db = None
        if self.needs_input_grad[2]:
            db = grad.sum(axis=(0, 2, 3))
        if self.offset is not None:  # the bias-only border gives no gradient to x or W
            grad = backend.get_array_module(grad).ascontiguousarray(grad[self._part()])
        if self.needs_input_grad[0]:
            if m:
                dx = winograd.correlate_adjoint(grad, weight, geo, groups, m)
            elif self.by_taps:
                dx = conv_taps.correlate_adjoint(grad, self.tap_weights, geo)
            else:
                dx = correlate_adjoint(grad, weight, geo, groups, x.shape[0], x.shape[1])
        if self.needs_input_grad[1]:
            if m:
                dw = winograd.correlate_weight_grad(x, grad, geo, groups, m, self.tiles)
            elif self.by_taps:
                dw = conv_taps.correlate_weight_grad(x, grad, geo, weight.shape)
            else:
                dw = correlate_weight_grad(x, grad, geo, groups, weight.shape)
        return dx, dw, db


class ConvTranspose2dOp(Function):
    """conv_transpose2d by phases (``subpixel``) where ``subpixel.choose`` takes them, else as
    conv2d's input gradient (GEMM + col2im); the backward uses the same path."""
    fresh_grads = (1, 2)  # dW and db are new arrays (see Function.fresh_grads)

    def forward(self, x, weight, bias, *, geometry, groups, out_channels):
        self.x, self.weight, self.geo, self.groups = x, weight, geometry, groups
        self.phases = subpixel.Phases(geometry, weight, groups) if subpixel.choose(geometry) else None
        if self.phases is not None:
            return self.phases.forward(x, out_channels, bias)
        out = correlate_adjoint(x, weight, geometry, groups, x.shape[0], out_channels)
        if bias is not None:
            out += bias.reshape(1, -1, 1, 1)
        return out

    def backward(self, grad):
        x, weight, geo, groups = self.x, self.weight, self.geo, self.groups
        dx = dw = db = None
        need_dx, need_dw = self.needs_input_grad[:2]
        if self.phases is not None:
            return self.phases.backward(x, grad, need_dx, need_dw, self.needs_input_grad[2])
        if need_dx and need_dw:
            dx, dw = correlate_with_weight_grad(grad, weight, x, geo, groups)
        elif need_dw:
            dw = correlate_weight_grad(grad, x, geo, groups, weight.shape)
        elif need_dx:
            dx = correlate(grad, weight, geo, groups)
        if self.needs_input_grad[2]:
            db = grad.sum(axis=(0, 2, 3))
        return dx, dw, db


def _batched(x):
    return x if x.ndim == 4 else x.reshape(1, *x.shape)


def _unbatched_like(x, out):
    return out if x.ndim == 4 else out.reshape(*out.shape[1:])


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) of ``input`` (N, C_in, H, W) or (C_in, H, W) with ``weight``
    (C_out, C_in / groups, kh, kw), plus ``bias`` (C_out,); see the module docstring for the formula.

    ``padding`` is an int, a pair, ``'valid'`` (no padding) or ``'same'`` (output size = input size;
    stride must be 1; when the total padding d (k - 1) is odd the extra pixel goes bottom/right).
    On the im2col and Winograd paths the padding's zeros are multiplied like any input (0 x inf and
    0 x NaN are NaN), so a NaN or inf weight can make outputs whose window reaches the padding NaN;
    PyTorch's CPU kernels leave the padding out and keep those outputs finite.
    """
    geo = validation.conv2d_geometry(input, weight, bias, stride, padding, dilation, groups)
    with validation.memory_for("conv2d", f"an output of {geo.oh} x {geo.ow}"):
        out = Conv2dOp.apply(_batched(input), weight, bias, geometry=geo, groups=groups)
    return _unbatched_like(input, out)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 2-D convolution ("deconvolution", learned upsampling) of ``input`` (N, C_in, H, W)
    or (C_in, H, W) with ``weight`` (C_in, C_out / groups, kh, kw), plus ``bias`` (C_out,).

    It is the gradient of conv2d with respect to its input: every input pixel scatters W[c_in] times
    itself onto a kh x kw window of the output, windows s apart. ``output_padding`` (smaller than
    stride or dilation) adds rows/columns at the bottom/right to choose among the output sizes that
    a stride-s conv2d maps to the same input size.
    """
    geo, c_out = validation.conv_transpose2d_geometry(input, weight, bias, stride, padding, output_padding,
                                                      groups, dilation)
    with validation.memory_for("conv_transpose2d", f"an output of {geo.h} x {geo.w}"):
        out = ConvTranspose2dOp.apply(_batched(input), weight, bias, geometry=geo, groups=groups, out_channels=c_out)
    return _unbatched_like(input, out)
