"""Gradient clipping: ``clip_grad_norm_`` and ``clip_grad_value_``, as in ``torch.nn.utils``.

The clipped gradient replaces ``p.grad`` with a new array; the old array is never written in place,
because gradient arrays may be shared.
"""
import math

from .. import backend
from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _parameters_with_grad(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    parameters = list(parameters)
    for p in parameters:
        if not isinstance(p, Tensor):
            raise TypeError(f"clip_grad: expected Tensors (parameters), got {type(p).__name__}")
    return [p for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    r"""Scale all gradients together so that their joint norm is at most ``max_norm``.

    The total norm is the ``norm_type``-norm of all gradients concatenated into one vector,
    :math:`\lVert g\rVert_p = (\sum_i |g_i|^p)^{1/p}` (the largest :math:`|g_i|` for ``inf``). When it
    exceeds ``max_norm`` every gradient is multiplied by ``max_norm / (total_norm + 1e-6)``.

    Returns the total norm (before clipping) as a 0-d tensor on the gradients' device; ``0.0`` when no
    parameter has a gradient. A NaN or infinite total norm raises ``RuntimeError`` when
    ``error_if_nonfinite`` is set (otherwise the gradients are scaled by it, as in PyTorch).
    """
    params = _parameters_with_grad(parameters)
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not (norm_type > 0 or norm_type == math.inf):
        raise ValueError(f"clip_grad_norm_: norm_type should be a positive number or inf, got {norm_type}")
    if not params:
        return Tensor(0.0)
    device = params[0].grad.device
    norms = []
    for p in params:
        g = p.grad.data
        xp = backend.get_array_module(g)
        if norm_type == math.inf:
            norm = xp.abs(g).max() if g.size else xp.zeros((), g.dtype)
        else:
            norm = (xp.abs(g) ** norm_type).sum() ** (1.0 / norm_type)
        norms.append(backend.to_device(norm, device))
    xp = backend.get_array_module(norms[0])
    norms = xp.stack(norms)
    if norm_type == math.inf:
        total = xp.asarray(norms.max())
    else:
        total = xp.asarray((norms ** norm_type).sum() ** (1.0 / norm_type))
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {float(total)}, "
            "so they cannot be clipped; set error_if_nonfinite=False to scale them by it anyway"
        )
    coef = max_norm / (total + 1e-6)
    # A coefficient of 1 would leave the gradients as they are: skip the copies (a NaN one still scales).
    if bool(coef >= 1):
        return Tensor._wrap(total)
    for p in params:
        g = p.grad.data
        p.grad = Tensor._wrap(g * backend.to_device(coef, p.grad.device).astype(g.dtype))
    return Tensor._wrap(total)


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element to ``[-clip_value, clip_value]``."""
    clip_value = float(clip_value)
    if not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: clip_value should be >= 0, got {clip_value}")
    for p in _parameters_with_grad(parameters):
        g = p.grad.data
        p.grad = Tensor._wrap(backend.get_array_module(g).clip(g, -clip_value, clip_value))
