"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay."""
import numpy as np

from ..functional.im2col import scratch
from ..tensor import Tensor
from .optimizer import Optimizer, check_non_negative


class SGD(Optimizer):
    r"""SGD with PyTorch's update. For each parameter :math:`\theta` with gradient :math:`g`:

    .. math::
        g &\leftarrow g + \lambda\theta                && \text{(weight\_decay } \lambda)\\
        b &\leftarrow g \text{ at the first step, then } \mu b + (1-\tau) g
                                                       && \text{(momentum } \mu, \text{dampening } \tau)\\
        g &\leftarrow g + \mu b \text{ (nesterov) or } b \\
        \theta &\leftarrow \theta - \eta g             && \text{(lr } \eta)

    With ``maximize=True`` the gradient's sign is flipped first (gradient ascent). The buffer ``b``
    lives in ``state[p]['momentum_buffer']``, on the parameter's device. Sutskever et al. and Caffe
    fold the learning rate into the buffer (:math:`v \leftarrow \mu v + \eta g`); PyTorch, and so
    minidl, multiplies the whole buffer by it, so a change of ``lr`` takes effect at once.
    """

    updates_in_parallel = True  # each update reads and writes its own parameter and state only

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check(self, group):
        check_non_negative("SGD", "learning rate", group["lr"])
        check_non_negative("SGD", "momentum", group["momentum"])
        check_non_negative("SGD", "weight_decay", group["weight_decay"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                "SGD: Nesterov momentum needs momentum > 0 and dampening = 0, got "
                f"momentum={group['momentum']!r}, dampening={group['dampening']!r}"
            )

    def _update(self, p, grad, group):
        lr, momentum = float(group["lr"]), float(group["momentum"])
        weight_decay = float(group["weight_decay"])
        if group["maximize"]:
            grad = -grad
        if weight_decay != 0:
            grad = grad + weight_decay * p.data
        if momentum != 0:
            state = self._state_of(p)
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = Tensor._wrap(grad.copy())
            else:
                buf.data *= momentum
                dampening = float(group["dampening"])
                # (1 - 0) * grad is grad to the bit: skip that pass over the array
                buf.data += (1 - dampening) * grad if dampening != 0 else grad
            grad = grad + momentum * buf.data if group["nesterov"] else buf.data
        _subtract_scaled(p.data, lr, grad)


def _subtract_scaled(theta, lr, grad):
    """theta -= lr * grad, the product in a reused buffer on the CPU (a fresh array of a large weight's
    size costs page faults on every step)."""
    if isinstance(theta, np.ndarray):
        step = scratch("optimizer step", grad.shape, grad.dtype)
        np.multiply(grad, lr, out=step)
        theta -= step
    else:
        theta -= lr * grad
