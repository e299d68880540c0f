"""The blocks of a network: the outermost modules below it that are not mere containers.

A container (``Sequential``, ``ModuleList``, ``ModuleDict``) only groups layers, so the blocks are found by
walking down from the network's children and opening every container: ResNet's blocks are its stem layers,
``layer1.0`` ... ``layer4.1``, ``avgpool`` and ``fc``; AlexNet's are ``features.0`` ... ``classifier.6``;
GoogLeNet's are its stem convolutions and Inception modules. The graph drawn ``by_module`` has one box per
block, and the feature maps of ``inspect`` are read at block outputs.
"""
from .. import nn

CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def blocks(model):
    """(dotted name, module) of every block of ``model`` in registration order; a module without
    children is its own single block (named by its type)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"blocks: expected a minidl.nn.Module, got {type(model).__name__}")
    if not any(True for _ in model.children()):
        return [(type(model).__name__, model)]
    found = []
    stack = list(reversed([(name, child) for name, child in model.named_children()]))
    while stack:
        name, module = stack.pop()
        if isinstance(module, CONTAINERS):
            stack.extend(reversed([(f"{name}.{n}", c) for n, c in module.named_children()]))
        else:
            found.append((name, module))
    return found
