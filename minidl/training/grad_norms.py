"""Each layer's gradient norm during training: the training-time view of demonstration 1.

A layer is a module that holds trainable parameters of its own (a convolution, a batch norm, a linear
layer). After every backward its norm sqrt(sum over its parameters of ||dL/dp||^2) is added up on the
device (no host transfer per step); the epoch's value is the mean over its steps. Read before gradient
clipping, so the log shows the gradients the network produced, not the clipped ones.
"""
from .. import backend

PREFIX = "grad_norm/"


def layers(model):
    """(dotted name, trainable parameters) of every module holding parameters of its own, input side first."""
    found = []
    for name, module in model.named_modules():
        params = [p for p in module._parameters.values() if p is not None and p.requires_grad]
        if params:
            found.append((name or type(module).__name__, params))
    return found


class GradNormLog:
    """Mean per-step gradient norm of each layer over one epoch, as ``{'grad_norm/<layer>': value}``."""

    def __init__(self, model):
        self.layers = layers(model)
        self.reset()

    def reset(self):
        self.sums, self.steps = {}, 0

    def update(self):
        for name, params in self.layers:
            grads = [p.grad.data for p in params if p.grad is not None]
            if not grads:
                continue
            xp = backend.get_array_module(grads[0])
            norm = xp.sqrt(sum(xp.vdot(g.ravel(), g.ravel()) for g in grads))
            self.sums[name] = self.sums[name] + norm if name in self.sums else norm
        self.steps += 1

    def summary(self):
        return {PREFIX + name: float(total) / self.steps for name, total in self.sums.items()}
