"""Build the PyTorch twin of a minidl network, so the benchmark compares the same network in both.

torchvision is not needed: ``torch_twin(model)`` walks minidl's module tree. Each layer (``Conv2d``,
``BatchNorm2d``, ``MaxPool2d``, ...) becomes the ``torch.nn`` layer of the same name and settings;
``Sequential``/``ModuleList``/``ModuleDict`` become their torch containers; every other module (a ResNet
block, an Inception module, the network itself) becomes a ``Twin`` that runs the minidl class's own
``forward`` code on torch tensors. That works because minidl keeps PyTorch's names: ``x.flatten(1)``,
``a + b`` and ``self.layer(x)`` mean the same in both, and the few calls into ``minidl.functional``
inside a ``forward`` (``F.cat``, ``F.crop``, ``F.relu``) are pointed at their torch equivalents.

The twin gets the minidl model's weights (``state_dict`` keys are the same by design, and loading is
strict, so a layer the twin lacks or adds is an error), hence both compute the same function.
"""
import functools
import types

import numpy as np
import torch

import minidl
from minidl import nn

__all__ = ["torch_twin", "copy_weights"]


def _conv(m):
    padding = m.padding if isinstance(m.padding, str) else tuple(m.padding)
    return torch.nn.Conv2d(m.in_channels, m.out_channels, tuple(m.kernel_size), tuple(m.stride), padding,
                           tuple(m.dilation), m.groups, bias=m.bias is not None)


def _conv_transpose(m):
    return torch.nn.ConvTranspose2d(m.in_channels, m.out_channels, tuple(m.kernel_size), tuple(m.stride),
                                    tuple(m.padding), tuple(m.output_padding), m.groups,
                                    bias=m.bias is not None, dilation=tuple(m.dilation))


def _batch_norm(cls):
    def build(m):
        return cls(m.num_features, eps=m.eps, momentum=m.momentum, affine=m.affine,
                   track_running_stats=m.track_running_stats)
    return build


# minidl layer -> builder of the torch layer with the same settings
LAYERS = {
    nn.Conv2d: _conv,
    nn.ConvTranspose2d: _conv_transpose,
    nn.Linear: lambda m: torch.nn.Linear(m.in_features, m.out_features, bias=m.bias is not None),
    nn.BatchNorm1d: _batch_norm(torch.nn.BatchNorm1d),
    nn.BatchNorm2d: _batch_norm(torch.nn.BatchNorm2d),
    nn.ReLU: lambda m: torch.nn.ReLU(),
    nn.LeakyReLU: lambda m: torch.nn.LeakyReLU(m.negative_slope),
    nn.Sigmoid: lambda m: torch.nn.Sigmoid(),
    nn.Tanh: lambda m: torch.nn.Tanh(),
    nn.MaxPool2d: lambda m: torch.nn.MaxPool2d(m.kernel_size, m.stride, m.padding, m.dilation,
                                               ceil_mode=m.ceil_mode),
    nn.AvgPool2d: lambda m: torch.nn.AvgPool2d(m.kernel_size, m.stride, m.padding, m.ceil_mode,
                                               m.count_include_pad, m.divisor_override),
    nn.AdaptiveAvgPool2d: lambda m: torch.nn.AdaptiveAvgPool2d(m.output_size),
    nn.AdaptiveMaxPool2d: lambda m: torch.nn.AdaptiveMaxPool2d(m.output_size),
    nn.Dropout: lambda m: torch.nn.Dropout(m.p),
    nn.Dropout2d: lambda m: torch.nn.Dropout2d(m.p),
    nn.Flatten: lambda m: torch.nn.Flatten(m.start_dim, m.end_dim),
    nn.Identity: lambda m: torch.nn.Identity(),
    nn.LocalResponseNorm: lambda m: torch.nn.LocalResponseNorm(m.size, m.alpha, m.beta, m.k),
    # the paper's LRN sums over the window where PyTorch's averages: alpha_torch = n * alpha_paper
    nn.LocalResponseNormPaper: lambda m: torch.nn.LocalResponseNorm(m.n, m.alpha * m.n, m.beta, m.k),
}


def _crop(x, top, left, height, width):
    return x[..., top:top + height, left:left + width]


class _TorchFunctional:
    """Stands in for ``minidl.functional`` inside a twinned ``forward``: torch's function of each name."""

    _own = {"cat": torch.cat, "concat": torch.cat, "stack": torch.stack, "crop": _crop}

    def __getattr__(self, name):
        if name in self._own:
            return self._own[name]
        for home in (torch.nn.functional, torch):
            if hasattr(home, name):
                return getattr(home, name)
        raise AttributeError(f"torch_twin: minidl.functional.{name} has no torch equivalent here")


_FUNCTIONAL = _TorchFunctional()


@functools.lru_cache(maxsize=None)
def _rebased(function):
    """``function`` with ``minidl.functional`` (under whatever global name) replaced by torch's."""
    namespace = dict(function.__globals__)
    for key, value in function.__globals__.items():
        if value is minidl.functional:
            namespace[key] = _FUNCTIONAL
    return types.FunctionType(function.__code__, namespace, function.__name__, function.__defaults__,
                              function.__closure__)


class Twin(torch.nn.Module):
    """A torch module that runs a minidl module's ``forward`` (and helper methods) on its twinned children.

    Attributes that are not children are read from the minidl module (flags such as ``has_shortcut``,
    ``input_spec``); its methods are rebound to the twin so ``self.residual(x)`` runs on torch layers.
    """

    def __init__(self, source):
        super().__init__()
        object.__setattr__(self, "_source", source)
        for name, child in source._modules.items():
            # straight into the registry: add_module's name check would find the minidl attribute
            self._modules[name] = None if child is None else _twin(child)

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            pass
        source = object.__getattribute__(self, "_source")
        attribute = getattr(type(source), name, None)
        if isinstance(attribute, types.FunctionType):
            return types.MethodType(_rebased(attribute), self)
        return getattr(source, name)

    def forward(self, *args, **kwargs):
        return _rebased(type(self._source).forward)(self, *args, **kwargs)


def _twin(module):
    builder = LAYERS.get(type(module))
    if builder is not None:
        return builder(module)
    if isinstance(module, nn.Sequential):
        return torch.nn.Sequential(*(_twin(m) for m in module))
    if isinstance(module, nn.ModuleList):
        return torch.nn.ModuleList([_twin(m) for m in module])
    if isinstance(module, nn.ModuleDict):
        return torch.nn.ModuleDict({k: _twin(m) for k, m in module.items()})
    if any(isinstance(module, layer) for layer in LAYERS):
        raise TypeError(f"torch_twin: no torch layer for the subclass {type(module).__name__}")
    return Twin(module)


def copy_weights(model, twin):
    """Load ``model``'s parameters and buffers into ``twin`` (strict: the key sets must agree)."""
    state = {k: torch.from_numpy(np.array(v.numpy())) for k, v in model.state_dict().items()}
    twin.load_state_dict(state, strict=True)
    return twin


def torch_twin(model):
    """The torch network equal to the minidl ``model``, with its weights and train/eval mode."""
    twin = copy_weights(model, _twin(model))
    return twin.train(model.training)
