"""``Conv2d`` and ``ConvTranspose2d`` layers over ``minidl.functional.conv2d`` / ``conv_transpose2d``.

Both start as PyTorch's: weight and bias U(-b, b) with b = 1 / sqrt(fan_in), fan_in being
weight.shape[1] * kh * kw (``kaiming_uniform_(a=sqrt(5))``). For Conv2d that is in_channels / groups * kh * kw;
for ConvTranspose2d, whose weight is (in_channels, out_channels / groups, kh, kw), out_channels / groups * kh * kw.
"""
import math
import numbers

from .. import empty
from .. import functional as F
from ..functional import validation as check
from . import init
from .module import Module, Parameter

_PADDING_MODES = {"zeros": None, "reflect": "reflect", "replicate": "replicate"}


def _pair(layer, name, value, minimum):
    return check.pair(value, name, layer, minimum)


def check_conv_input(layer, input, in_channels):
    """The layer's own error for a wrong input, before the functional op's (which cannot name the layer)."""
    if input.ndim not in (3, 4):
        raise ValueError(
            f"{layer}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {input.shape}"
        )
    if input.shape[-3] != in_channels:
        raise ValueError(
            f"{layer}: input has {input.shape[-3]} channels but in_channels is {in_channels} "
            f"(input shape {input.shape})"
        )


class _ConvNd(Module):
    """What Conv2d and ConvTranspose2d share: hyperparameters, weight, bias, initialisation and repr."""

    _name = "Conv2d"

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, transposed,
                 output_padding, groups, bias, padding_mode, device, dtype):
        super().__init__()
        layer = self._name
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
                raise ValueError(f"{layer}: {name} must be a positive int, got {value!r}")
        in_channels, out_channels, groups = int(in_channels), int(out_channels), int(groups)
        if in_channels % groups:
            raise ValueError(f"{layer}: in_channels ({in_channels}) must be divisible by groups ({groups})")
        if out_channels % groups:
            raise ValueError(f"{layer}: out_channels ({out_channels}) must be divisible by groups ({groups})")
        if padding_mode not in _PADDING_MODES or (transposed and padding_mode != "zeros"):
            allowed = "'zeros'" if transposed else "'zeros', 'reflect' or 'replicate'"
            raise ValueError(f"{layer}: padding_mode {padding_mode!r} is not supported; expected {allowed}")
        self.in_channels, self.out_channels = in_channels, out_channels
        check.flag(bias, "bias", layer)
        self.kernel_size = _pair(layer, "kernel_size", kernel_size, 1)
        self.stride = _pair(layer, "stride", stride, 1)
        if isinstance(padding, str):
            if transposed or padding not in ("same", "valid"):
                raise ValueError(f"{layer}: padding must be an int or a pair of ints (or 'same'/'valid' for "
                                 f"Conv2d), got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"{layer}: padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = _pair(layer, "padding", padding, 0)
        self.dilation = _pair(layer, "dilation", dilation, 1)
        self.transposed = transposed
        self.output_padding = _pair(layer, "output_padding", output_padding, 0)
        self.groups = groups
        self.padding_mode = padding_mode
        shape = ((in_channels, out_channels // groups) if transposed else (out_channels, in_channels // groups))
        self.weight = Parameter(empty(*shape, *self.kernel_size, dtype=dtype, device=device))
        self.bias = Parameter(empty(out_channels, dtype=dtype, device=device)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * self.kernel_size[0] * self.kernel_size[1]
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding!r}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvNd):
    """2-D convolution layer: (N, in_channels, H, W) -> (N, out_channels, H_out, W_out), with
    H_out = floor((H + 2 p - d (k - 1) - 1) / s) + 1 (same for W); see ``minidl.functional.conv2d``.

    ``padding_mode`` 'reflect' or 'replicate' pads with ``minidl.functional.pad`` first and convolves
    without padding; 'circular' is not supported.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, False, 0, groups,
                         bias, padding_mode, device, dtype)

    def _explicit_padding(self):
        """(left, right, top, bottom) widths for ``F.pad``, resolving 'same' and 'valid'."""
        if self.padding == "valid":
            return (0, 0, 0, 0)
        if self.padding == "same":
            th, tw = (d * (k - 1) for d, k in zip(self.dilation, self.kernel_size))
            return (tw // 2, tw - tw // 2, th // 2, th - th // 2)
        ph, pw = self.padding
        return (pw, pw, ph, ph)

    def forward(self, input):
        check_conv_input("Conv2d", input, self.in_channels)
        if self.padding_mode != "zeros":
            padded = F.pad(input, self._explicit_padding(), mode=_PADDING_MODES[self.padding_mode])
            return F.conv2d(padded, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution (learned upsampling): (N, in_channels, H, W) -> (N, out_channels, H_out, W_out)
    with H_out = (H - 1) s - 2 p + d (k - 1) + output_padding + 1.

    ``forward(input, output_size)`` may name the wanted (H_out, W_out) (or a full shape); the
    output_padding that gives it is then worked out, as in PyTorch, and must be below the stride.
    """

    _name = "ConvTranspose2d"

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, True, output_padding,
                         groups, bias, padding_mode, device, dtype)

    def _output_padding(self, input, output_size):
        if output_size is None:
            return self.output_padding
        size = tuple(int(s) for s in output_size)[-2:]
        if len(size) != 2:
            raise ValueError(f"ConvTranspose2d: output_size must end with (H_out, W_out), got {output_size!r}")
        pads = []
        for d in range(2):
            smallest = ((input.shape[-2 + d] - 1) * self.stride[d] - 2 * self.padding[d]
                        + self.dilation[d] * (self.kernel_size[d] - 1) + 1)
            largest = smallest + self.stride[d] - 1
            if not smallest <= size[d] <= largest:
                raise ValueError(
                    f"ConvTranspose2d: requested output size {size} but for input {input.shape} the "
                    f"{'height' if d == 0 else 'width'} can only be in [{smallest}, {largest}]"
                )
            pads.append(size[d] - smallest)
        return tuple(pads)

    def forward(self, input, output_size=None):
        check_conv_input("ConvTranspose2d", input, self.in_channels)
        output_padding = self._output_padding(input, output_size)
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, output_padding,
                                  self.groups, self.dilation)
