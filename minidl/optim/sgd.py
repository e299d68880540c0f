"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay."""
import numpy as np

from .. import backend
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

    def _begin(self, p, grad, group):
        if group["momentum"] == 0:
            return {}, {}
        state = self._state_of(p)
        first = "momentum_buffer" not in state
        if first:  # filled with the first step's gradient by _elementwise
            state["momentum_buffer"] = Tensor._wrap(backend.get_array_module(grad).empty_like(grad))
        return {"buf": state["momentum_buffer"].data}, {"first": first}

    def _elementwise(self, theta, grad, arrays, scalars, group):
        lr, momentum = float(group["lr"]), float(group["momentum"])
        weight_decay = float(group["weight_decay"])
        if group["maximize"]:
            grad = -grad
        if weight_decay != 0:
            grad = grad + weight_decay * theta
        if momentum != 0:
            buf = arrays["buf"]
            if scalars["first"]:
                buf[...] = grad
            else:
                buf *= momentum
                dampening = float(group["dampening"])
                # (1 - 0) * grad is grad to the bit: skip that pass over the array
                buf += (1 - dampening) * grad if dampening != 0 else grad
            grad = grad + momentum * buf if group["nesterov"] else buf
        _subtract_scaled(theta, lr, grad)


def _subtract_scaled(theta, lr, grad):
    """theta -= lr * grad, the product in a reused buffer on the CPU (a fresh array of a large weight's
    size costs page faults on every step)."""
    if isinstance(theta, np.ndarray):
        step = scratch("optimizer step", grad.shape, grad.dtype)
        np.multiply(grad, lr, out=step)
        theta -= step
    else:
        theta -= lr * grad
