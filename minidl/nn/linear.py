"""``Linear`` (a fully connected layer, y = x W^T + b) and ``Identity``."""
import math
import numbers

from .. import empty
from .. import functional as F
from . import init
from .module import Module, Parameter


def _positive_int(layer, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{layer}: {name} must be a positive int, got {value!r}")
    return int(value)


class Linear(Module):
    """y = x W^T + b; input (*, in_features), output (*, out_features).

    weight (out_features, in_features) and bias (out_features,) start as PyTorch's: U(-b, b) with
    b = 1 / sqrt(in_features) (``kaiming_uniform_(a=sqrt(5))``, the same bound for the bias).
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features = _positive_int("Linear", "in_features", in_features)
        self.out_features = _positive_int("Linear", "out_features", out_features)
        self.weight = Parameter(empty(self.out_features, self.in_features, dtype=dtype, device=device))
        self.bias = Parameter(empty(self.out_features, dtype=dtype, device=device)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        if input.ndim < 1 or input.shape[-1] != self.in_features:
            raise ValueError(
                f"Linear: input has {input.shape[-1] if input.ndim else 0} features (last dimension of shape "
                f"{input.shape}) but in_features is {self.in_features}"
            )
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """Returns its input; accepts and ignores any constructor arguments (as PyTorch) to stand in for a layer."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input
