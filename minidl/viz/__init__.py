"""Seeing inside a network: the autograd graph (``draw_graph``), first-layer filters, feature maps, ReLU
sparsity, class activation maps and gradient saliency. Arrays in, arrays out (NumPy, on the host, for
pictures); ``minidl.viz.pictures`` turns them into PNG files."""
from .blocks import blocks  # noqa: F401
from .cam import class_activation_map, saliency, score_maps  # noqa: F401
from .features import activation_sparsity, feature_maps, relu_sparsity  # noqa: F401
from .filters import filter_images, first_conv  # noqa: F401
from .graph import Digraph, draw_graph  # noqa: F401
from .module_tags import trace_modules  # noqa: F401
