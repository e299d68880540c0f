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

``init_from_classifier`` does the same surgery into an existing FCN (``nets/fcn.py``): a VGG-16
classifier's features are copied as they are, fc6 and fc7 reshaped into its 7x7 and 1x1 convolutions.
"""
import copy

import numpy as np

from minidl import backend, no_grad, nn

from .common import pair, propagate, spatial_op
from .vgg import POOLED_SIZE


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
    size = pair(size)
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


def assign(dst, values):
    """Write ``values`` (NumPy or CuPy, any float dtype) into the parameter ``dst`` in place."""
    with no_grad():
        dst.data[...] = backend.to_device(values, dst.device).astype(dst.dtype, copy=False)


def copy_parameter(dst, src, what, reshape=False):
    """Copy parameter ``src`` into ``dst``: same shape, or (``reshape``) the same number of values."""
    fits = src.numel() == dst.numel() if reshape else tuple(dst.shape) == tuple(src.shape)
    if not fits:
        raise ValueError(f"{what}: shape {tuple(src.shape)} does not fit {tuple(dst.shape)}")
    assign(dst, backend.to_device(src.data, dst.device).reshape(dst.shape))


def _as_conv(linear, kernel_values, kernel_size, in_channels):
    conv = nn.Conv2d(in_channels, linear.out_features, kernel_size=kernel_size, bias=linear.bias is not None)
    conv.to(linear.weight.device)
    assign(conv.weight, kernel_values)
    if linear.bias is not None:
        assign(conv.bias, linear.bias.data)
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
    input_size = pair(input_size)
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


def init_from_classifier(fcn, classifier, input_size=(224, 224)):
    """Start ``fcn`` from a VGG-16 classifier: copy ``features`` and fc6/fc7, reshaped to convolutions.

    ``classifier`` is a ``nets.vgg`` VGG-16: its Linear fc6 weight (hidden, C*7*7) becomes the 7x7
    convolution (hidden, C, 7, 7), fc7 (hidden, hidden) the 1x1 one. ``input_size`` is the size it
    was trained on: at 224x224 pool5 is 7x7 and the reshape is exact; a classifier trained on smaller
    images (32x32: pool5 1x1, which the adaptive pooling spread over 7x7) has the pooling folded into
    its fc6 (``fc6_kernel``), and the folded S x S kernel sits at the centre of
    the 7x7 one, so each fc6 position computes the classifier's fc6 on the pool5 cells it was trained
    on. The last classifier layer is not copied: the FCN paper discards it and scores with a fresh,
    zero score_fr. Returns ``fcn``.
    """
    if not hasattr(fcn, "fc_indices"):
        raise TypeError(f"init_from_classifier: expected an FCN first, got {type(fcn).__name__}")
    head = getattr(classifier, "classifier", None)
    features = getattr(classifier, "features", None)
    if head is None or features is None or len(head) < 4 or not isinstance(head[0], nn.Linear):
        raise TypeError(
            f"init_from_classifier: expected a VGG-16 with 'features' and a Linear 'classifier' (fc6 at "
            f"index 0, fc7 at 3), got {type(classifier).__name__}")
    theirs = features.state_dict()
    # parameters and, with batch norm, the running statistics (buffers) of the backbone
    ours = dict(fcn.features.state_dict(keep_vars=True))
    if set(theirs) != set(ours):
        layout = "vgg16_bn's (configuration D with batch norm)" if fcn.batch_norm else \
            "VGG-16's (configuration D)"
        raise ValueError(
            f"init_from_classifier: the classifier's features are not {layout} layout; "
            f"expected keys {sorted(ours)[:4]}..., got {sorted(theirs)[:4]}...")
    for name, param in ours.items():
        copy_parameter(param, theirs[name], f"init_from_classifier: features.{name} (different width?)")
    fc6, fc7 = (fcn.classifier[i] for i in fcn.fc_indices)
    for dst, src, name in ((fc6, head[0], "classifier.0"), (fc7, head[3], "classifier.3")):
        copy_parameter(dst.weight, src.weight, f"init_from_classifier: {name}.weight (different width?)",
                       reshape=True)
        copy_parameter(dst.bias, src.bias, f"init_from_classifier: {name}.bias (different width?)")
    size = pair(input_size)
    pool5 = feature_size(features, size)
    if pool5 != (POOLED_SIZE, POOLED_SIZE):
        if max(pool5) > POOLED_SIZE:
            raise ValueError(f"init_from_classifier: input_size {size} gives a {pool5} pool5 map; at most "
                             f"{POOLED_SIZE}x{POOLED_SIZE} fits fc6")
        channels = fc6.weight.shape[1]
        folded = fc6_kernel(head[0].weight.data, channels, (POOLED_SIZE, POOLED_SIZE), pool5)
        kernel = np.zeros(tuple(fc6.weight.shape))
        top, left = (POOLED_SIZE - pool5[0]) // 2, (POOLED_SIZE - pool5[1]) // 2
        kernel[:, :, top:top + pool5[0], left:left + pool5[1]] = folded
        assign(fc6.weight, kernel)
    return fcn
