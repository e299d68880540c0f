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

On the CPU every pass runs over chunks of the batch in the thread pool (``minidl.parallel``); the
statistics take one sweep over memory (``batch_statistics``).
"""
import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from . import validation as check
from .activation import check_float_tensor
from .im2col import for_batch_chunks

__all__ = ["batch_norm"]


def _rows(a):
    """(N, C, *) as (N, C, L), L the product of the spatial sizes (1 for (N, C))."""
    return a.reshape(a.shape[0], a.shape[1], int(np.prod(a.shape[2:])))


def _chunked(work, x):
    """``work(a, b)`` over batch chunks of x (thread pool on the CPU); the results in chunk order."""
    xp = backend.get_array_module(x)
    return for_batch_chunks(work, x.shape[0], 2 * x[:1].nbytes, xp)


def batch_statistics(x):
    """Per-channel mean and biased variance of x (N, C, *) in one sweep over memory.

    Each chunk of samples is read once: per row (n, c) its sum, then, while the row is still in cache,
    its centred sum of squares M2_r = sum (x - mean_r)^2. The rows combine per channel by Chan et al.'s
    rule M2_c = sum_r M2_r + sum_r L (mean_r - mean_c)^2, which, unlike sum x^2 - M mean^2, does not
    cancel when the mean is large next to the spread. Chunks are added in order (thread-count free).
    """
    xp = backend.get_array_module(x)
    rows = _rows(x)
    length = rows.shape[2]

    def work(a, b):
        chunk = rows[a:b]
        row_mean = chunk.sum(axis=2) / length
        centred = chunk - row_mean[:, :, None]
        return row_mean, xp.einsum("ncl,ncl->nc", centred, centred)

    parts = _chunked(work, x)
    row_mean = xp.concatenate([p[0] for p in parts])
    mean = row_mean.mean(axis=0)
    spread = sum(p[1].sum(axis=0) for p in parts) + length * ((row_mean - mean) ** 2).sum(axis=0)
    return mean, spread / (length * x.shape[0])


class BatchNorm(Function):
    """Forward y = x * scale_c + shift_c with scale = weight / sqrt(var + eps), shift = bias - mean *
    scale. It keeps the input (which the graph holds anyway) and the per-channel statistics, not the
    normalised x-hat, and the backward rebuilds x-hat where it needs it: one full-size array per
    batch norm less in memory between the forward and the backward."""
    fresh_grads = (1, 2)  # dW and db are new arrays (see Function.fresh_grads)

    def forward(self, x, weight, bias, running_mean, running_var, use_batch_stats, update_running,
                momentum, eps):
        xp = backend.get_array_module(x)
        count = x.size // x.shape[1]
        if use_batch_stats and count == 0:
            # an empty batch: nothing to normalise and no statistics to learn (PyTorch returns it empty)
            mean = var = xp.zeros(x.shape[1], dtype=x.dtype)
        elif use_batch_stats:
            mean, var = batch_statistics(x)
            if update_running:
                _update_running(running_mean, running_var, mean, var, count, momentum)
        else:
            mean = running_mean.astype(x.dtype, copy=False)
            var = running_var.astype(x.dtype, copy=False)
        invstd = 1 / xp.sqrt(var + eps)
        scale = invstd if weight is None else invstd * weight
        shift = -mean * scale if bias is None else bias - mean * scale
        self.x, self.mean, self.invstd, self.weight = x, mean, invstd, weight
        # (max: an empty batch's gradient is empty, and must not divide by 0 on the way)
        self.batch_stats, self.count = use_batch_stats, max(count, 1)
        y = xp.empty_like(x)
        rows, y_rows = _rows(x), _rows(y)

        def work(a, b):
            xp.multiply(rows[a:b], scale[:, None], out=y_rows[a:b])
            y_rows[a:b] += shift[:, None]

        _chunked(work, x)
        return y

    def backward(self, g):
        xp = backend.get_array_module(g)
        need_x, need_w, need_b = self.needs_input_grad
        rows, g_rows, mean = _rows(self.x), _rows(g), self.mean
        need_sums = need_w or need_b or (need_x and self.batch_stats)

        def sums(a, b):
            # sum g and sum g * (x - mean) per row, x - mean built chunk by chunk (in cache)
            centred = rows[a:b] - mean[:, None]
            return g_rows[a:b].sum(axis=2), xp.einsum("ncl,ncl->nc", g_rows[a:b], centred)

        sum_g = sum_gx = None
        if need_sums:
            sum_g, sum_gx = xp.zeros(g.shape[1], dtype=g.dtype), xp.zeros(g.shape[1], dtype=g.dtype)
            for part_g, part_gx in _chunked(sums, g):  # in chunk order: the same bits for any thread count
                sum_g += part_g.sum(axis=0)
                sum_gx += part_gx.sum(axis=0)
            sum_gx *= self.invstd  # sum g * xhat
        gx = None
        if need_x:
            scale = self.invstd if self.weight is None else self.invstd * self.weight
            # dx = scale (g - sum g / M - xhat sum(g xhat) / M) = scale g + slope (x - mean) + offset
            if self.batch_stats:
                slope = -scale * self.invstd * sum_gx / self.count
                offset = -scale * sum_g / self.count
            gx = xp.empty_like(g)
            gx_rows = _rows(gx)

            def work(a, b):
                xp.multiply(g_rows[a:b], scale[:, None], out=gx_rows[a:b])
                if self.batch_stats:
                    centred = rows[a:b] - mean[:, None]
                    centred *= slope[:, None]
                    gx_rows[a:b] += centred
                    gx_rows[a:b] += offset[:, None]

            _chunked(work, g)
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
