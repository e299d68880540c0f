"""Normalisation layers: ``BatchNorm1d``/``BatchNorm2d`` (with running statistics as buffers) and local
response normalisation in PyTorch's form (``LocalResponseNorm``) and the AlexNet paper's
(``LocalResponseNormPaper``); the formulas are in ``minidl/functional/batchnorm.py`` and ``lrn.py``.
"""
import numpy as np

from .. import functional as F
from .. import ones, tensor, zeros
from ..functional import validation as check
from . import init
from .module import Module, Parameter


class _BatchNorm(Module):
    """Per-channel y = weight * (x - mean) / sqrt(var + eps) + bias.

    Training: batch statistics, and the buffers running_mean/running_var follow
    running = (1 - momentum) * running + momentum * batch (unbiased variance); ``momentum=None`` makes
    that a cumulative average, momentum = 1 / num_batches_tracked. Evaluation: the running statistics.
    With ``track_running_stats=False`` there are no buffers and batch statistics are always used.
    Starts as PyTorch: weight 1, bias 0, running_mean 0, running_var 1, num_batches_tracked 0 (int64).
    """

    _dims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=None):
        super().__init__()
        layer = type(self).__name__
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features <= 0:
            raise ValueError(f"{layer}: num_features must be a positive int, got {num_features!r}")
        check.number(eps, "eps", layer, above=0.0)
        if momentum is not None:
            check.number(momentum, "momentum", layer)
        check.flag(affine, "affine", layer)
        check.flag(track_running_stats, "track_running_stats", layer)
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(ones(num_features, dtype=dtype, device=device))
            self.bias = Parameter(zeros(num_features, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype, device=device))
            self.register_buffer("running_var", ones(num_features, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked", tensor(0, dtype=np.int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def _check_input(self, input):
        name = type(self).__name__
        if input.ndim not in self._dims:
            expected = " or ".join(f"{d}D" for d in self._dims)
            raise ValueError(f"{name}: expected {expected} input, got {input.ndim}D input of shape {input.shape}")
        if input.shape[1] != self.num_features:
            raise ValueError(
                f"{name}: input has {input.shape[1]} channels but num_features is {self.num_features} "
                f"(input shape {input.shape})"
            )

    def forward(self, input):
        self._check_input(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.item())
        use_batch_stats = self.training or self.running_mean is None
        return F.batch_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                            use_batch_stats, factor, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs, statistics over N (and L)."""

    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs, statistics per channel over N, H and W."""

    _dims = (4,)


class LocalResponseNorm(Module):
    """PyTorch's LRN: b_c = a_c / (k + alpha / size * sum_{|j - c| <= size/2} a_j^2)^beta, a *mean* over
    the window. AlexNet's layer is ``LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)`` in this form,
    or ``LocalResponseNormPaper()`` in the paper's."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class LocalResponseNormPaper(Module):
    """The AlexNet paper's LRN (section 3.3), as the lecture writes it, with its defaults:
    b_i = a_i / (k + alpha * sum_{j = max(0, i - n/2)}^{min(N - 1, i + n/2)} a_j^2)^beta, a *sum* over n
    neighbouring channels. A separate class (not an option of ``LocalResponseNorm``) so that
    ``LocalResponseNorm`` keeps PyTorch's signature and defaults exactly."""

    def __init__(self, n=5, alpha=1e-4, beta=0.75, k=2.0):
        super().__init__()
        self.n, self.alpha, self.beta, self.k = n, alpha, beta, k

    def forward(self, input):
        return F.local_response_norm_paper(input, self.n, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"n={self.n}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
