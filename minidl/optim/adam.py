"""Adam (Kingma & Ba, 2015) and AdamW (Loshchilov & Hutter, 2019: decoupled weight decay)."""
import math

from .. import backend
from ..functional.im2col import scratch
from ..tensor import Tensor
from .optimizer import Optimizer, check_non_negative


class Adam(Optimizer):
    r"""Adam with PyTorch's update. At step :math:`t` (from 1), for a parameter :math:`\theta` with
    gradient :math:`g`:

    .. math::
        g &\leftarrow g + \lambda\theta
            \quad\text{(weight\_decay, L2 form; AdamW decays } \theta \text{ instead)}\\
        m &\leftarrow \beta_1 m + (1-\beta_1) g \qquad v \leftarrow \beta_2 v + (1-\beta_2) g^2\\
        \hat v &= \max(\hat v_{t-1}, v) \text{ with amsgrad, else } v\\
        \theta &\leftarrow \theta - \frac{\eta}{1-\beta_1^t}\,
                 \frac{m}{\sqrt{\hat v}/\sqrt{1-\beta_2^t} + \epsilon}

    ``eps`` is added after the square root of the bias-corrected second moment, exactly as PyTorch
    does, so the same gradients give the same trajectory. State per parameter: ``step`` (an int),
    ``exp_avg`` (m), ``exp_avg_sq`` (v) and, with amsgrad, ``max_exp_avg_sq``.
    """

    _decoupled_weight_decay = False
    updates_in_parallel = True  # each update reads and writes its own parameter and state only

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 maximize=False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize)
        super().__init__(params, defaults)

    def _check(self, group):
        name = type(self).__name__
        check_non_negative(name, "learning rate", group["lr"])
        check_non_negative(name, "eps", group["eps"])
        check_non_negative(name, "weight_decay", group["weight_decay"])
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{name}: betas should be a pair (beta1, beta2), got {betas!r}")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{name}: invalid beta{i + 1} {beta!r} (expected 0 <= beta < 1)")

    def _begin(self, p, grad, group):
        xp = backend.get_array_module(p.data)
        state = self._state_of(p)
        if not state:
            state["step"] = 0
            state["exp_avg"] = Tensor._wrap(xp.zeros_like(p.data))
            state["exp_avg_sq"] = Tensor._wrap(xp.zeros_like(p.data))
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = Tensor._wrap(xp.zeros_like(p.data))
        state["step"] += 1
        arrays = {"m": state["exp_avg"].data, "v": state["exp_avg_sq"].data}
        if group["amsgrad"]:
            arrays["v_max"] = state["max_exp_avg_sq"].data
        return arrays, {"step": state["step"]}

    def _elementwise(self, theta, grad, arrays, scalars, group):
        xp = backend.get_array_module(theta)
        lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        if group["maximize"]:
            grad = -grad
        if weight_decay != 0:
            if self._decoupled_weight_decay:
                theta *= 1 - lr * weight_decay
            else:
                grad = grad + weight_decay * theta
        step = scalars["step"]
        m, v = arrays["m"], arrays["v"]
        # the formula's temporaries live in two reused buffers (the same operations in the same order,
        # so the same bits as the written-out expressions; a fresh array per temporary costs page faults)
        a = scratch("adam a", grad.shape, m.dtype, xp)
        b = scratch("adam b", grad.shape, m.dtype, xp)
        m *= beta1
        xp.multiply(grad, 1 - beta1, out=a)
        m += a                                   # m = beta1 m + (1 - beta1) g
        v *= beta2
        xp.multiply(grad, grad, out=a)
        a *= 1 - beta2
        v += a                                   # v = beta2 v + (1 - beta2) g^2
        if group["amsgrad"]:
            v_max = arrays["v_max"]
            xp.maximum(v_max, v, out=v_max)
            v = v_max
        step_size = lr / (1 - beta1 ** step)
        xp.sqrt(v, out=b)
        b /= math.sqrt(1 - beta2 ** step)
        b += eps                                 # denom = sqrt(v) / sqrt(1 - beta2^t) + eps
        xp.divide(m, b, out=b)
        b *= step_size
        theta -= b                               # theta -= step_size * m / denom


class AdamW(Adam):
    r"""Adam with decoupled weight decay: before the Adam step,
    :math:`\theta \leftarrow \theta(1 - \eta\lambda)`, and the gradient itself is not changed.
    Default ``weight_decay=1e-2`` as in PyTorch."""

    _decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize)
