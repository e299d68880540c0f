"""Local response normalisation across channels (AlexNet, Krizhevsky et al. 2012, section 3.3).

A strongly responding channel damps its neighbours at the same position ("lateral inhibition"): each
activation is divided by a power of the energy in a window of adjacent channels. Two forms exist and
minidl gives both, because the lecture writes the paper's and PyTorch implements the other:

* the paper (``local_response_norm_paper``), for channel i of N at one position::

      b_i = a_i / (k + alpha * sum_{j = max(0, i - n//2)}^{min(N-1, i + n//2)} a_j^2)^beta

  with the paper's k = 2, n = 5, alpha = 1e-4, beta = 0.75. The window has n channels for odd n and
  n + 1 for even n (n//2 on each side).

* PyTorch (``local_response_norm``)::

      b_c = a_c / (k + alpha / size * sum_{j = c - size//2}^{c + (size-1)//2} a_j^2)^beta

  with a_j = 0 outside 0..C-1: the *mean* over ``size`` slots, zero padding included.

Mapping: for odd n the windows coincide with size = n, and the paper's alpha equals PyTorch's
alpha / size (so AlexNet's layer is ``local_response_norm(x, 5, alpha=5e-4, k=2)``). For even n the
paper's window is PyTorch's with size = n + 1.

Both reduce to one op with a window of ``before`` channels below and ``after`` above and a coefficient
``coef`` on the sum. Its gradient, with s_i = k + coef * sum_{j in W(i)} a_j^2::

      d b_i / d a_j = [i = j] s_i^-beta - 2 coef beta a_i a_j s_i^(-beta-1)   (j in W(i))
      dL/da_j = g_j s_j^-beta - 2 coef beta a_j sum_{i : j in W(i)} g_i b_i / s_i

where i runs over the mirrored window j - after .. j + before. Shapes: (N, C, *) in and out.
"""
import numpy as np

from .. import backend
from ..autograd import Function
from . import validation as check
from .activation import check_float_tensor

__all__ = ["local_response_norm", "local_response_norm_paper"]


def _window_sum(v, before, after):
    """out[:, c] = sum of v[:, j] for j in c - before .. c + after (channels outside count as 0).

    A loop over the window's offsets (a handful), each one shifted slice-add over the whole array.
    """
    channels = v.shape[1]
    out = v.copy()
    for d in range(1, min(before, channels - 1) + 1):
        out[:, d:] += v[:, :-d]
    for d in range(1, min(after, channels - 1) + 1):
        out[:, :-d] += v[:, d:]
    return out


def _inverse_power(s, beta):
    """s^-beta. For the usual beta = 0.75 (the paper's and PyTorch's default) as 1 / sqrt(s sqrt(s)):
    two square roots cost a fraction of a general power on the CPU."""
    xp = backend.get_array_module(s)
    if beta != 0.75:
        return s ** -beta
    r = xp.sqrt(s)
    r *= s
    xp.sqrt(r, out=r)
    xp.reciprocal(r, out=r)
    return r


class LocalResponseNorm(Function):
    def forward(self, x, before, after, coef, beta, k):
        xp = backend.get_array_module(x)
        self.window = (before, after)
        self.coef, self.beta = coef, beta
        shape = x.shape
        x = xp.ascontiguousarray(x.reshape(shape[0], shape[1], int(np.prod(shape[2:]))))
        self.x = x
        if xp is np:
            scale = _window_sum(x * x, before, after)
            scale *= coef
            scale += k
            self.scale = scale
            self.inv = _inverse_power(scale, beta)
            self.y = x * self.inv
        else:
            self.scale, self.y = _lrn_forward_gpu(x, before, after, coef, beta, k)
        return self.y.reshape(shape)

    def backward(self, g):
        xp = backend.get_array_module(g)
        shape = g.shape
        g = xp.ascontiguousarray(g.reshape(self.y.shape))
        before, after = self.window
        if xp is np:
            t = g * self.y
            t /= self.scale
            mirrored = _window_sum(t, after, before)
            mirrored *= self.x
            mirrored *= 2 * self.coef * self.beta
            gx = g * self.inv
            gx -= mirrored
        else:
            gx = _lrn_backward_gpu(self.x, self.y, self.scale, g, before, after, self.coef, self.beta)
        return gx.reshape(shape)


def _kernel_args(x, before, after):
    n, channels, inner = x.shape
    return (np.int64(x.size), np.int32(channels), np.int64(inner), np.int32(before), np.int32(after))


def _lrn_forward_gpu(x, before, after, coef, beta, k):
    xp = backend.get_array_module(x)
    acc = backend.accumulator_type(x.dtype)
    y = xp.empty_like(x)
    scale = xp.empty_like(x)
    kernel = backend.load_kernel("lrn", "lrn_forward", x.dtype)
    backend.launch(kernel, x.size, (x, y, scale) + _kernel_args(x, before, after)
                   + (acc(coef), acc(k), acc(beta)))
    return scale, y


def _lrn_backward_gpu(x, y, scale, g, before, after, coef, beta):
    xp = backend.get_array_module(x)
    acc = backend.accumulator_type(x.dtype)
    gx = xp.empty_like(x)
    kernel = backend.load_kernel("lrn", "lrn_backward", x.dtype)
    backend.launch(kernel, x.size, (x, y, scale, g, gx) + _kernel_args(x, before, after)
                   + (acc(coef), acc(beta)))
    return gx


def _check(input, op, window_name, window, alpha, beta, k):
    check_float_tensor(input, op)
    if input.ndim < 3:
        raise ValueError(
            f"{op}: expected an input of 3 or more dimensions (N, C, *), got shape {input.shape}"
        )
    if not check.is_int(window) or window < 1:
        raise ValueError(f"{op}: {window_name} must be a positive integer, got {window!r}")
    for name, value in (("alpha", alpha), ("beta", beta), ("k", k)):
        check.number(value, name, op)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """PyTorch's LRN: b_c = a_c / (k + alpha/size * sum_{j=c-size//2}^{c+(size-1)//2} a_j^2)^beta.

    Channels outside 0..C-1 count as zeros and the sum is divided by ``size`` whatever the number of
    real channels in the window (the mean over a zero-padded window). Input (N, C, *), output same
    shape. See the module docstring for the paper's form and how the two map onto each other.
    """
    _check(input, "local_response_norm", "size", size, alpha, beta, k)
    size = int(size)
    return LocalResponseNorm.apply(
        input, before=size // 2, after=(size - 1) // 2, coef=float(alpha) / size,
        beta=float(beta), k=float(k),
    )


def local_response_norm_paper(input, n=5, alpha=1e-4, beta=0.75, k=2.0):
    """The AlexNet paper's LRN (the lecture's formula), defaults from the paper:

        b_i = a_i / (k + alpha * sum_{j=max(0, i-n//2)}^{min(N-1, i+n//2)} a_j^2)^beta

    with N the number of channels: a *sum* over the window, not a mean. Equal to
    ``local_response_norm(input, size=2*(n//2)+1, alpha=alpha*size, beta=beta, k=k)``; for odd n that
    is size = n. Input (N, C, *), output same shape.
    """
    _check(input, "local_response_norm_paper", "n", n, alpha, beta, k)
    half = int(n) // 2
    return LocalResponseNorm.apply(
        input, before=half, after=half, coef=float(alpha), beta=float(beta), k=float(k),
    )
