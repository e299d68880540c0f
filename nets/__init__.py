"""The lecture's networks and a registry to build them by name.

    model = nets.create("resnet18", num_classes=10, small_input=True, width=0.25)
    nets.available()        # every name create() knows
    nets.task_of("fcn8s")   # 'segment' (per-pixel classes); 'classify' for the others

Each network module (``alexnet``, ``vgg``, ``googlenet``, ``resnet``, and ``fcn`` where present) holds a
``MODELS`` dict from name to factory; the registry is their union. Every factory is a plain function of
that name (``def vgg16(**kwargs)`` in ``nets/vgg.py``) taking keyword arguments only: ``num_classes``,
its own options (``width``, ``small_input``, ``torchvision_compat``, ...) and ``weights``, a safetensors
file of its state dict to load (nothing is downloaded).

As in torchvision, ``nets.alexnet`` and ``nets.googlenet`` are the factory functions; their modules are
reached with ``from nets.alexnet import ...``. ``nets.vgg``, ``nets.resnet`` and ``nets.fcn`` stay the
modules (with ``vgg(config)``, ``resnet(depth)`` and ``fcn(stride)`` inside).
"""
import importlib
import importlib.util
import inspect

from .alexnet import AlexNet, alexnet, alexnet_paper  # noqa: F401
from .common import InputSpec, count_parameters, scale_channels  # noqa: F401
from .convolutionalize import convolutionalize, init_from_classifier  # noqa: F401
from .fcn import FCN, fcn8s, fcn16s, fcn32s, init_from_coarser  # noqa: F401
from .googlenet import GoogLeNet, GoogLeNetLoss, GoogLeNetOutputs, googlenet, googlenet_loss  # noqa: F401
from .resnet import (  # noqa: F401
    BasicBlock, Bottleneck, ResNet, plain18, plain34, plain50, plain101, plain152, resnet18, resnet34,
    resnet50, resnet101, resnet152,
)
from .vgg import (  # noqa: F401
    VGG, make_layers, vgg11, vgg11_bn, vgg11_lrn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg16_c, vgg16_c_bn,
    vgg19, vgg19_bn,
)

NETWORK_MODULES = ("alexnet", "vgg", "googlenet", "resnet", "fcn")
SEGMENTATION_MODULES = ("fcn",)  # their networks label pixels; the others label images


def _collect():
    registry = {}
    for module_name in NETWORK_MODULES:
        # fcn.py is written separately; the registry takes its models once it exists.
        if importlib.util.find_spec(f"{__name__}.{module_name}") is None:
            continue
        module = importlib.import_module(f"{__name__}.{module_name}")
        registry.update(getattr(module, "MODELS", {}))
    return registry


_REGISTRY = None


def _registry():
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _collect()
    return _REGISTRY


def available():
    """The names ``create`` accepts, sorted."""
    return sorted(_registry())


def get_builder(name):
    """The factory function registered under ``name``."""
    registry = _registry()
    if name not in registry:
        raise ValueError(f"unknown network {name!r}; available: {', '.join(sorted(registry))}")
    return registry[name]


def task_of(name):
    """'segment' for a network that labels every pixel (FCN), 'classify' for one that labels images."""
    module = get_builder(name).__module__.rsplit(".", 1)[-1]
    return "segment" if module in SEGMENTATION_MODULES else "classify"


def create(name, num_classes=1000, **options):
    """Build the network registered as ``name`` with ``num_classes`` outputs and its ``options``."""
    builder = get_builder(name)
    accepted = inspect.signature(builder).parameters
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        known = [p for p in accepted if p != "num_classes"]
        raise TypeError(f"{name}: unknown option(s) {', '.join(unknown)}; it takes {', '.join(known)}")
    return builder(num_classes=num_classes, **options)
