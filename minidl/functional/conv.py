"""Convolution and transposed convolution (NCHW), as im2col + one GEMM.

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

The three products below (``correlate``, ``correlate_adjoint``, ``correlate_weight_grad``) serve both
ops; they work on chunks of the batch so that the column matrix stays within the im2col budget.
"""
from .. import backend
from ..autograd import Function
from . import validation
from .im2col import (  # noqa: F401
    Geometry, batch_chunks, col2im, column_buffer, get_im2col_budget, im2col, set_im2col_budget,
)

__all__ = ["conv2d", "conv_transpose2d"]


def _grouped(w, groups):
    """(C_out, C_g, kh, kw) -> (groups, C_out / groups, C_g * kh * kw): one GEMM operand per group."""
    return w.reshape(groups, w.shape[0] // groups, -1)


def _column_bytes(channels, g, itemsize):
    return channels * g.taps * g.out_pixels * itemsize


def correlate(x, w, g, groups):
    """conv2d without bias: x (N, C, H, W), w (C_out, C / groups, kh, kw) -> (N, C_out, OH, OW)."""
    if g.is_pointwise():
        # the input already is the column matrix of each sample: one GEMM per sample, no copy
        xp = backend.get_array_module(x)
        n, c = x.shape[:2]
        c_out = w.shape[0]
        out = xp.empty((n, c_out, g.oh, g.ow), dtype=x.dtype)
        xs = x.reshape(n, groups, c // groups, g.out_pixels)
        xp.matmul(_grouped(w, groups), xs, out=out.reshape(n, groups, c_out // groups, g.out_pixels))
        return out
    return _column_products(x, g, groups, w=w)[0]


def correlate_weight_grad(x, y, g, groups, w_shape):
    """dW[co, c, i, j] = sum_{n, oh, ow} y[n, co, oh, ow] x_pad[n, c, oh s + i d, ow s + j d]."""
    return _column_products(x, g, groups, y=y, w_shape=w_shape)[1]


def _column_products(x, g, groups, w=None, y=None, w_shape=None):
    """The products that read the columns of x, chunk by chunk: (correlate(x, w) if w is given,
    correlate_weight_grad(x, y) if y is given).

    conv_transpose2d's backward needs both from im2col(grad); building the columns once for the two
    halves its memory traffic.
    """
    xp = backend.get_array_module(x)
    n, c = x.shape[:2]
    out = None if w is None else xp.empty((n, w.shape[0], g.oh, g.ow), dtype=x.dtype)
    dw = None
    for a, b in batch_chunks(n, _column_bytes(c, g, x.dtype.itemsize)):
        cols = im2col(x[a:b], g).reshape(groups, -1, (b - a) * g.out_pixels)
        if w is not None:
            product = xp.matmul(_grouped(w, groups), cols)
            out[a:b] = product.reshape(w.shape[0], b - a, g.oh, g.ow).transpose(1, 0, 2, 3)
        if y is not None:
            # dW^T = cols y^T with both operands contiguous: OpenBLAS multiplies (K, NP) by (NP, C_out)
            # 10-20x faster than the same product as y cols^T, whose (C_out, K) output is small next
            # to its long inner dimension NP (measured on a 2-core CPU, K = 576, NP = 32768)
            c_out = y.shape[1]
            yt = y[a:b].reshape(b - a, groups, c_out // groups, g.out_pixels).transpose(1, 0, 3, 2)
            yt = yt.reshape(groups, (b - a) * g.out_pixels, c_out // groups)
            part = xp.matmul(cols, yt)
            if dw is None:
                dw = part
            else:
                dw += part
    if y is None:
        return out, None
    if dw is None:  # an empty batch
        return out, xp.zeros(w_shape, dtype=x.dtype)
    return out, xp.ascontiguousarray(dw.transpose(0, 2, 1)).reshape(w_shape)


def correlate_adjoint(y, w, g, groups, n, c):
    """The adjoint of ``correlate``: y (N, C_out, OH, OW) -> col2im(W^T y), shape (N, C, H, W)."""
    xp = backend.get_array_module(y)
    c_out = w.shape[0]
    wt = _grouped(w, groups).transpose(0, 2, 1)
    x = xp.empty((n, c, g.h, g.w), dtype=y.dtype)
    if g.is_pointwise():
        ys = y.reshape(n, groups, c_out // groups, g.out_pixels)
        xp.matmul(wt, ys, out=x.reshape(n, groups, c // groups, g.out_pixels))
        return x
    for a, b in batch_chunks(n, _column_bytes(c, g, y.dtype.itemsize)):
        yt = y[a:b].transpose(1, 0, 2, 3).reshape(groups, c_out // groups, (b - a) * g.out_pixels)
        cols = column_buffer((groups, wt.shape[1], yt.shape[2]), y.dtype, xp)
        xp.matmul(wt, yt, out=cols)
        col2im(cols.reshape(c * g.taps, (b - a) * g.out_pixels), g, b - a, c, out=x[a:b])
    return x


class Conv2dOp(Function):
    def forward(self, x, weight, bias, *, geometry, groups):
        self.x, self.weight, self.g, self.groups = x, weight, geometry, groups
        out = correlate(x, weight, geometry, groups)
        if bias is not None:
            out += bias.reshape(1, -1, 1, 1)
        return out

    def backward(self, grad):
        x, weight, g, groups = self.x, self.weight, self.g, self.groups
        dx = dw = db = None
        if self.needs_input_grad[0]:
            dx = correlate_adjoint(grad, weight, g, groups, x.shape[0], x.shape[1])
        if self.needs_input_grad[1]:
            dw = correlate_weight_grad(x, grad, g, groups, weight.shape)
        if self.needs_input_grad[2]:
            db = grad.sum(axis=(0, 2, 3))
        return dx, dw, db


class ConvTranspose2dOp(Function):
    def forward(self, x, weight, bias, *, geometry, groups, out_channels):
        self.x, self.weight, self.g, self.groups = x, weight, geometry, groups
        out = correlate_adjoint(x, weight, geometry, groups, x.shape[0], out_channels)
        if bias is not None:
            out += bias.reshape(1, -1, 1, 1)
        return out

    def backward(self, grad):
        x, weight, g, groups = self.x, self.weight, self.g, self.groups
        dx = dw = db = None
        need_dx, need_dw = self.needs_input_grad[:2]
        if need_dw:
            dx, dw = _column_products(grad, g, groups, w=weight if need_dx else None, y=x, w_shape=weight.shape)
        elif need_dx:
            dx = correlate(grad, weight, g, groups)
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
    """
    g = validation.conv2d_geometry(input, weight, bias, stride, padding, dilation, groups)
    with validation.memory_for("conv2d", f"an output of {g.oh} x {g.ow}"):
        out = Conv2dOp.apply(_batched(input), weight, bias, geometry=g, groups=groups)
    return _unbatched_like(input, out)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 2-D convolution ("deconvolution", learned upsampling) of ``input`` (N, C_in, H, W)
    or (C_in, H, W) with ``weight`` (C_in, C_out / groups, kh, kw), plus ``bias`` (C_out,).

    It is the gradient of conv2d with respect to its input: every input pixel scatters W[c_in] times
    itself onto a kh x kw window of the output, windows s apart. ``output_padding`` (smaller than
    stride or dilation) adds rows/columns at the bottom/right to choose among the output sizes that
    a stride-s conv2d maps to the same input size.
    """
    g, c_out = validation.conv_transpose2d_geometry(input, weight, bias, stride, padding, output_padding, groups,
                                                    dilation)
    with validation.memory_for("conv_transpose2d", f"an output of {g.h} x {g.w}"):
        out = ConvTranspose2dOp.apply(_batched(input), weight, bias, geometry=g, groups=groups, out_channels=c_out)
    return _unbatched_like(input, out)
