"""``record``: run a network once with forward hooks on chosen modules and keep what they saw.

Every inspection here (feature maps, ReLU sparsity, the features behind a class activation map, FCN's
scores before the last upsampling) is "run the network on x, and keep the input or output of some
modules": this is that, once. The model runs in evaluation mode without gradients, and its mode is
restored afterwards.
"""
import collections

from ..autograd import no_grad

Seen = collections.namedtuple("Seen", ["name", "module", "input", "output"])


def record(model, x, wanted):
    """(model output, list of ``Seen`` in call order) for the modules ``wanted`` (name, module) pairs; a
    module called twice appears twice."""
    seen, handles = [], []
    for name, module in wanted:
        handles.append(module.register_forward_hook(
            lambda m, args, out, name=name: seen.append(Seen(name, m, args[0] if args else None, out))))
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with no_grad():
            output = model(x)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            m.training = mode
    return output, seen
