"""Batch normalisation (Ioffe and Szegedy, 2015), with PyTorch's running statistics.

Per channel c, over the M = N * (product of the spatial sizes) values of a batch::

    mu_c = mean(x_c),   var_c = mean((x_c - mu_c)^2)           (biased, used to normalise)
    xhat = (x - mu_c) / sqrt(var_c + eps),    y = weight_c * xhat + bias_c

In training the running estimates follow PyTorch's rule, with the *unbiased* variance::

    running_mean = (1 - momentum) * running_mean + momentum * mu_c
    running_var  = (1 - momentum) * running_var  + momentum * var_c * M / (M - 1)

and in evaluation x is normalised with them instead of the batch's statistics.

Backward in closed form. With batch statistics, mu and var depend on every x of the channel::

    dL/dbias = sum(g),   dL/dweight = sum(g * xhat)
    dL/dx = weight / sqrt(var + eps) * (g - sum(g) / M - xhat * sum(g * xhat) / M)

With running statistics they are constants and dL/dx = g * weight / sqrt(var + eps).
"""

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from . import validation as check
from .activation import check_float_tensor

__all__ = ["batch_norm"]


def _per_channel(v, ndim):
    """A (C,) array shaped (1, C, 1, ...) to broadcast against an (N, C, *) array."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


class BatchNorm(Function):
    def forward(self, x, weight, bias, running_mean, running_var, use_batch_stats, update_running,
                momentum, eps):
        xp = backend.get_array_module(x)
        axes = (0,) + tuple(range(2, x.ndim))
        count = x.size // x.shape[1]
        if use_batch_stats and count == 0:
            # an empty batch: nothing to normalise and no statistics to learn (PyTorch returns it empty)
            mean = var = xp.zeros(x.shape[1], dtype=x.dtype)
            xc, sq = x - 0, xp.empty_like(x)
        elif use_batch_stats:
            mean = x.mean(axis=axes)
            xc = x - _per_channel(mean, x.ndim)
            sq = xc * xc
            var = sq.mean(axis=axes)
            if update_running:
                _update_running(running_mean, running_var, mean, var, count, momentum)
        else:
            mean = running_mean.astype(x.dtype, copy=False)
            var = running_var.astype(x.dtype, copy=False)
            xc = x - _per_channel(mean, x.ndim)
            sq = xp.empty_like(xc)
        invstd = 1 / xp.sqrt(var + eps)
        xc *= _per_channel(invstd, x.ndim)
        self.xhat, self.invstd, self.weight = xc, invstd, weight
        # (max: an empty batch's gradient is empty, and must not divide by 0 on the way)
        self.batch_stats, self.count, self.axes = use_batch_stats, max(count, 1), axes
        # the squares are no longer needed: their buffer becomes the output
        y = sq
        if weight is not None:
            xp.multiply(xc, _per_channel(weight, x.ndim), out=y)
        else:
            y[...] = xc
        if bias is not None:
            y += _per_channel(bias, x.ndim)
        return y

    def backward(self, g):
        xhat, axes, ndim = self.xhat, self.axes, g.ndim
        need_x, need_w, need_b = self.needs_input_grad
        sum_g = g.sum(axis=axes) if need_b or (need_x and self.batch_stats) else None
        sum_gx = (g * xhat).sum(axis=axes) if need_w or (need_x and self.batch_stats) else None
        gx = None
        if need_x:
            scale = self.invstd if self.weight is None else self.invstd * self.weight
            if self.batch_stats:
                gx = xhat * _per_channel(-sum_gx / self.count, ndim)
                gx += g
                gx -= _per_channel(sum_g / self.count, ndim)
                gx *= _per_channel(scale, ndim)
            else:
                gx = g * _per_channel(scale, ndim)
        return gx, sum_gx if need_w else None, sum_g if need_b else None


def _update_running(running_mean, running_var, mean, var, count, momentum):
    """PyTorch's exponential moving average, in place, with the unbiased batch variance."""
    if running_mean is not None:
        running_mean *= 1 - momentum
        running_mean += momentum * mean
    if running_var is not None:
        running_var *= 1 - momentum
        running_var += (momentum * count / (count - 1)) * var


def _check_channel_vector(t, name, input, channels):
    if t is None:
        return
    if not isinstance(t, Tensor):
        raise TypeError(f"batch_norm: {name} must be a Tensor or None, got {type(t).__name__}")
    if t.shape != (channels,):
        raise ValueError(
            f"batch_norm: {name} has shape {t.shape} but the input has {channels} channels "
            f"(expected shape ({channels},))"
        )
    if t.device != input.device:
        raise ValueError(f"batch_norm: {name} is on {t.device} but the input is on {input.device}")
    if t.dtype.kind != "f":
        raise TypeError(f"batch_norm: {name} must be floating point, got dtype {t.dtype}")


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation over (N, C), (N, C, L) or (N, C, H, W) (any (N, C, *)); output same shape.

    y = weight * (x - mean) / sqrt(var + eps) + bias per channel (see the module docstring). In
    training mean and var are the batch's (biased variance), and ``running_mean``/``running_var``
    (Tensors of shape (C,), or None to keep none) are updated in place: running = (1 - momentum) *
    running + momentum * batch statistic, with the unbiased variance. In evaluation
    (``training=False``) the running statistics normalise the input, so they must be given, as in
    PyTorch. ``eps`` must be positive in training (the variance of a constant channel is 0) and
    non-negative in evaluation.

    ``momentum`` must be a number. PyTorch's ``momentum=None`` (a cumulative average) belongs to the
    layer, which counts the batches: it passes momentum = 1 / num_batches_tracked here.
    """
    check_float_tensor(input, "batch_norm")
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C, *), got shape {input.shape}")
    channels = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        _check_channel_vector(t, name, input, channels)
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and t.dtype != input.dtype:
            raise TypeError(f"batch_norm: {name} is {t.dtype} but the input is {input.dtype}")
    if momentum is None:
        raise ValueError(
            "batch_norm: momentum=None (a cumulative moving average) needs the number of batches seen; "
            "pass momentum=1/num_batches_tracked (the BatchNorm layers do this)"
        )
    training = check.flag(training, "training", "batch_norm")
    momentum = check.number(momentum, "momentum", "batch_norm")
    eps = check.number(eps, "eps", "batch_norm", minimum=0.0)
    if training and eps == 0:
        raise ValueError("batch_norm: eps must be positive in training, got 0.0 "
                         "(a constant channel would divide 0 by 0)")
    if not training and (running_mean is None or running_var is None):
        missing = "running_mean" if running_mean is None else "running_var"
        raise ValueError(f"batch_norm: {missing} must be given in evaluation mode (training=False); "
                         "pass training=True to normalise with the batch's statistics")
    use_batch_stats = training
    if use_batch_stats and input.numel() // max(channels, 1) == 1:
        raise ValueError(
            f"batch_norm: Expected more than 1 value per channel when training, "
            f"got input size {input.shape}"
        )
    return BatchNorm.apply(
        input, weight, bias,
        running_mean=None if running_mean is None else running_mean.data,
        running_var=None if running_var is None else running_var.data,
        use_batch_stats=use_batch_stats, update_running=training, momentum=momentum, eps=eps,
    )
