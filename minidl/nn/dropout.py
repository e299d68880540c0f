"""Dropout layers: active in training mode, the identity in evaluation mode (``model.eval()``)."""
import numbers

from .. import functional as F
from .module import Module


class _DropoutNd(Module):
    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
            raise ValueError(f"{type(self).__name__}: dropout probability has to be between 0 and 1, but got {p!r}")
        self.p = p
        self.inplace = inplace

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zero each element with probability p and scale the rest by 1 / (1 - p) (inverted dropout), so
    evaluation needs no rescaling (Srivastava et al. 2014; AlexNet's fully connected layers)."""

    def forward(self, input):
        return F.dropout(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Zero whole channels (N, C, H, W) with probability p, scaling the rest by 1 / (1 - p)."""

    def forward(self, input):
        return F.dropout2d(input, self.p, self.training, self.inplace)
