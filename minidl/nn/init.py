"""Weight initialisation, as ``torch.nn.init``: each function fills a tensor in place and returns it.

Values are drawn on the CPU from minidl's seeded generator (``minidl.manual_seed``) and copied to the
tensor's device, so the same seed gives the same weights on the CPU and on the GPU.

Fans of a weight of shape (out, in, *kernel): fan_in = in * prod(kernel), fan_out = out * prod(kernel).
Kaiming/He (He et al. 2015): std = gain / sqrt(fan). Xavier/Glorot (2010): std = gain * sqrt(2 / (fan_in + fan_out)).
A uniform U(-b, b) has std b / sqrt(3), so the uniform variants use b = sqrt(3) * std.
"""
import math
import numbers
import warnings

import numpy as np

from .. import backend, random
from ..autograd import no_grad

__all__ = [
    "calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "zeros_", "ones_",
    "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_", "xavier_normal_", "bilinear_",
]


def _fill(tensor, values):
    with no_grad():
        tensor.data[...] = backend.to_device(np.asarray(values), tensor.device).astype(tensor.dtype, copy=False)
    return tensor


def calculate_gain(nonlinearity, param=None):
    """The gain that keeps activations' variance through ``nonlinearity``: relu sqrt(2), tanh 5/3,
    leaky_relu sqrt(2 / (1 + slope^2)) (slope ``param``, default 0.01), selu 3/4, linear/conv/sigmoid 1."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                        "conv_transpose3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, numbers.Number) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor):
    if tensor.ndim < 2:
        raise ValueError(
            f"init: fan in and fan out need a tensor of at least 2 dimensions, got shape {tuple(tensor.shape)}"
        )
    receptive = int(np.prod(tensor.shape[2:])) if tensor.ndim > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fan(tensor, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init: mode {mode!r} not supported, expected 'fan_in' or 'fan_out'")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a=0.0, b=1.0):
    """Fill with U(a, b)."""
    return _fill(tensor, random.generator().uniform(a, b, tensor.shape))


def normal_(tensor, mean=0.0, std=1.0):
    """Fill with N(mean, std^2)."""
    return _fill(tensor, random.generator().normal(mean, std, tensor.shape))


def _phi(z):
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def _truncated_standard_normal(n, lo, hi):
    """``n`` draws of N(0, 1) restricted to [lo, hi], by rounds of vectorised rejection.

    When [lo, hi] holds a fair share of the normal's mass, normal proposals are accepted often enough.
    Otherwise the interval is narrow or far in a tail, and uniform proposals on it (capped where the
    density has fallen by e^-30) are accepted with probability exp((z0^2 - z^2) / 2), z0 being the
    interval's point nearest 0: about one in 30 or better.
    """
    g = random.generator()
    mass = _phi(hi) - _phi(lo)
    flip = not mass >= 0.1 and hi <= 0
    if flip:
        lo, hi = -hi, -lo
    z0 = min(max(0.0, lo), hi)
    top = min(hi, z0 + 30.0 / max(z0, 1.0))
    out = np.empty(n)
    todo = np.arange(n)
    while todo.size:
        if mass >= 0.1:
            z = g.standard_normal(todo.size)
            ok = (z >= lo) & (z <= hi)
        else:
            z = g.uniform(lo, top, todo.size)
            ok = g.random(todo.size) < np.exp((z0 * z0 - z * z) / 2)
        out[todo[ok]] = z[ok]
        todo = todo[~ok]
    return -out if flip else out


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """Fill with N(mean, std^2) truncated to [a, b] (absolute bounds, as PyTorch; not in units of std)."""
    if not a < b:
        raise ValueError(f"trunc_normal_: needs a < b, got a={a}, b={b}")
    if not std > 0:
        raise ValueError(f"trunc_normal_: std must be positive, got {std}")
    z = _truncated_standard_normal(int(np.prod(tensor.shape)), (a - mean) / std, (b - mean) / std)
    return _fill(tensor, np.clip(mean + std * z, a, b).reshape(tensor.shape))


def constant_(tensor, val):
    return _fill(tensor, np.full(tensor.shape, val))


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def _empty_warning(tensor, name):
    if 0 in tensor.shape:
        warnings.warn(f"{name}: initializing zero-element tensors is a no-op")
        return True
    return False


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """He uniform: U(-b, b), b = gain * sqrt(3 / fan); ``a`` is leaky_relu's negative slope.

    PyTorch's default Linear/Conv init is ``kaiming_uniform_(w, a=sqrt(5))``, i.e. b = 1 / sqrt(fan_in).
    """
    if _empty_warning(tensor, "kaiming_uniform_"):
        return tensor
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(tensor, mode))
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """He normal: N(0, std^2), std = gain / sqrt(fan)."""
    if _empty_warning(tensor, "kaiming_normal_"):
        return tensor
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode)))


def xavier_uniform_(tensor, gain=1.0):
    """Glorot uniform: U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    """Glorot normal: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _bilinear_1d(k):
    factor = (k + 1) // 2
    centre = factor - 1 if k % 2 == 1 else factor - 0.5
    return 1 - np.abs(np.arange(k) - centre) / factor


def bilinear_(weight):
    """Bilinear-interpolation filters for a ``ConvTranspose2d`` weight (in, out, kh, kw), as FCN initialises
    its learned upsampling (Long et al. 2015).

    Along each axis of size k: factor f = (k + 1) // 2, centre c = f - 1 for odd k, f - 0.5 for even k,
    tap i weighs 1 - |i - c| / f; the 2-D filter is the outer product. With in == out it is put on the
    channel diagonal (channel c upsamples to channel c) and zero elsewhere; with out == 1 (a grouped,
    channel-wise upsampling) every channel gets it. A stride-f transposed convolution with this weight
    then interpolates bilinearly by a factor f.
    """
    if weight.ndim != 4:
        raise ValueError(f"bilinear_: expected a 4-D ConvTranspose2d weight, got shape {tuple(weight.shape)}")
    c_in, c_out, kh, kw = weight.shape
    if c_in != c_out and c_out != 1:
        raise ValueError(
            f"bilinear_: weight of shape {tuple(weight.shape)} has {c_in} input and {c_out} output channels; "
            "expected them equal (or 1 output channel per group)"
        )
    kernel = np.outer(_bilinear_1d(kh), _bilinear_1d(kw))
    values = np.zeros(weight.shape)
    if c_out == 1:
        values[:, 0] = kernel
    else:
        values[np.arange(c_in), np.arange(c_in)] = kernel
    return _fill(weight, values)
