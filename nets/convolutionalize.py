"""Fully connected -> convolution: the lecture's first step from classification to per-pixel scores.

A classifier of the torchvision layout (``features``, an adaptive ``avgpool`` to P x P, a ``classifier``
Sequential of Linear/ReLU/Dropout) computes, for the C x P x P map ``a`` that the pooling gives,

    fc6(a) = W vec(a) + b,        W of shape (hidden, C * P * P).

Reshaped to (hidden, C, P, P), W is a P x P convolution without padding: on a P x P map it gives the
same numbers at the single output position, and on a larger map it slides, giving one score vector per
P x P window (stride 32 in the input for VGG, 32 for AlexNet too). The later linears are 1 x 1
convolutions. VGG: fc6 -> 7x7 conv over 512 channels, fc7 -> 1x1, fc8 -> 1x1; AlexNet: 6x6 over 256.

The adaptive pooling goes. When the training input gives a feature map of S x S with S != P (a VGG
trained on 32 x 32 images sees 1 x 1 before the pooling), the pooling is itself linear: per axis an
averaging matrix A (P x S) with A[i, j] = 1 / |bin i| for j in bin i, bins [floor(i S / P), ceil((i+1) S / P)).
So fc6(A a A^T) = (A^T W A) a: folding it into the kernel gives an S x S convolution that equals the
classifier on the training size. With S = P (VGG at 224, AlexNet at 224) A is the identity.

Dropout layers stay where they were (the identity in eval mode), so ``eval()`` outputs agree.
"""
import copy

import numpy as np

from minidl import backend, no_grad, nn

from .common import propagate, spatial_op


class ConvolutionalizedNet(nn.Module):
    """``features`` followed by ``head``, the classifier as convolutions; output (N, classes, H', W')."""

    def __init__(self, features, head, kernel_size, name):
        super().__init__()
        self.features = features
        self.head = head
        self.kernel_size = kernel_size
        self.name = name

    def forward(self, x):
        return self.head(self.features(x))

    def extra_repr(self):
        return f"from {self.name}, fc6 kernel {self.kernel_size[0]}x{self.kernel_size[1]}"


def _pooled_size(pool, name):
    size = getattr(pool, "output_size", None)
    if size is None:
        raise TypeError(f"convolutionalize: {name}.avgpool has no output_size; expected an adaptive pooling")
    size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
    if any(s is None for s in size):
        raise ValueError(f"convolutionalize: {name}.avgpool keeps a dimension ({size}); expected a fixed size")
    return size


def feature_size(features, input_size):
    """(H, W) of ``features``' output for an input of ``input_size`` (only its convs and poolings change it)."""
    ops = [spatial_op(m) for m in features if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d))]
    out = []
    for dim, n in enumerate(input_size):
        sizes = propagate(n, ops, dim)
        last = sizes[-1] if sizes else n
        if last < 1:
            raise ValueError(f"convolutionalize: an input of {tuple(input_size)} leaves no feature map")
        out.append(last)
    return tuple(out)


def pooling_matrix(in_size, out_size):
    """The (out_size, in_size) matrix of adaptive average pooling along one axis."""
    i = np.arange(out_size)
    start, end = (i * in_size) // out_size, -((-(i + 1) * in_size) // out_size)
    j = np.arange(in_size)
    inside = (j[None, :] >= start[:, None]) & (j[None, :] < end[:, None])
    return inside / (end - start)[:, None]


def fc6_kernel(weight, channels, pooled, feature):
    """The Linear weight (hidden, C*P*P) as a conv kernel (hidden, C, S_h, S_w), the pooling folded in."""
    host = backend.to_numpy(weight).astype(np.float64)
    kernel = host.reshape(host.shape[0], channels, pooled[0], pooled[1])
    a_h, a_w = pooling_matrix(feature[0], pooled[0]), pooling_matrix(feature[1], pooled[1])
    return np.einsum("ocpq,pi,qj->ocij", kernel, a_h, a_w)


def _as_conv(linear, kernel_values, kernel_size, in_channels):
    conv = nn.Conv2d(in_channels, linear.out_features, kernel_size=kernel_size, bias=linear.bias is not None)
    conv.to(linear.weight.device)
    with no_grad():
        conv.weight.data[...] = backend.to_device(kernel_values, conv.weight.device).astype(conv.weight.dtype)
        if linear.bias is not None:
            conv.bias.data[...] = linear.bias.data
    return conv


def convolutionalize(model, input_size=(224, 224)):
    """A new network computing ``model``'s classifier as convolutions over the feature map.

    ``model`` has ``features``, ``avgpool`` (adaptive, to P x P) and ``classifier`` (a Sequential of
    Linear, ReLU and Dropout: VGG's and AlexNet's layout). ``input_size`` is the size the classifier
    was trained on; the first linear becomes a convolution whose kernel covers the feature map of that
    size, with the adaptive pooling folded in (7x7 for VGG and 6x6 for AlexNet at 224x224).

    Everything is copied: training the result leaves ``model`` as it was. On ``input_size`` the output is (N, classes, 1, 1) and equals ``model(x)`` in eval
    mode; on a larger input it is a map of class scores.
    """
    name = type(model).__name__
    for attr in ("features", "avgpool", "classifier"):
        if not hasattr(model, attr):
            raise TypeError(f"convolutionalize: {name} has no '{attr}'; expected the features / avgpool / "
                            "classifier layout of VGG and AlexNet")
    input_size = tuple(input_size) if isinstance(input_size, (tuple, list)) else (input_size, input_size)
    pooled = _pooled_size(model.avgpool, name)
    feature = feature_size(model.features, input_size)
    layers, channels, first = [], None, True
    for index, layer in enumerate(model.classifier):
        if isinstance(layer, nn.Linear):
            if first:
                per_position = pooled[0] * pooled[1]
                if layer.in_features % per_position:
                    raise ValueError(
                        f"convolutionalize: {name}.classifier.{index} takes {layer.in_features} inputs, "
                        f"not a multiple of the pooled {pooled[0]}x{pooled[1]} map")
                channels = layer.in_features // per_position
                values = fc6_kernel(layer.weight.data, channels, pooled, feature)
                layers.append(_as_conv(layer, values, feature, channels))
                first = False
            else:
                values = backend.to_numpy(layer.weight.data).reshape(layer.out_features, layer.in_features, 1, 1)
                layers.append(_as_conv(layer, values, 1, layer.in_features))
        elif isinstance(layer, (nn.ReLU, nn.Dropout)):
            layers.append(layer)
        else:
            raise TypeError(
                f"convolutionalize: {name}.classifier.{index} is a {type(layer).__name__}; only Linear, "
                "ReLU and Dropout have a convolutional form here")
    if first:
        raise ValueError(f"convolutionalize: {name}.classifier has no Linear layer")
    net = ConvolutionalizedNet(copy.deepcopy(model.features), nn.Sequential(*layers), feature, name)
    net.train(model.training)
    return net
