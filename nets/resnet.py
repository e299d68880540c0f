"""ResNet: residual learning (He, Zhang, Ren & Sun, "Deep residual learning for image recognition", 2016).

A block learns the residual F(x) = H(x) - x instead of the mapping H(x) itself, and adds its input back:

    H(x) = relu(F(x) + x)

so a block that has nothing to add only has to push F towards zero, and the gradient reaches early
layers through the additions unattenuated. Where a stage starts (stride 2, more channels) the shortcut
is a 1x1 convolution with batch norm (the paper's option B) so that x matches F(x) in shape.

``BasicBlock`` (ResNet-18/34): two 3x3 convolutions. ``Bottleneck`` (ResNet-50/101/152): 1x1 reduce,
3x3, 1x1 expand to 4x the width, which makes deeper networks affordable. The stride of a stage's first
bottleneck sits on the 3x3 convolution, as torchvision's "v1.5" (a little more accurate);
``stride_on_1x1=True`` puts it on the first 1x1 as in the paper.

``DEPTHS`` is the paper's Table 1: block type and blocks per stage (conv2_x .. conv5_x). Module names
are torchvision's (``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer2.0.downsample.0/1``, ``fc``), so
its weights load; initialisation is its too (kaiming-normal fan_out for convolutions, batch norm 1/0,
PyTorch's default for the final linear). ``zero_init_residual`` (the builders' option, or a block's
``zero_init_residual()``) starts every block's last batch norm at zero so each block begins as the identity.

``plain18`` .. ``plain152`` are the same networks without shortcuts, H(x) = relu(F(x)) (the paper's
"plain" baselines, whose training error rises with depth). ``small_input=True`` replaces the 7x7/2 stem
and its max-pool with one 3x3 stride-1 convolution for 32x32 images; ``width`` scales every channel
count (base width 64) for small-scale training. The stem and stage strides all pad, so every input of
at least 1x1 passes; adaptive average pooling makes the classifier independent of the size.

The factories ``resnet18`` .. ``plain152`` take ``resnet(depth, ...)``'s keyword arguments, ``weights=PATH``
among them (a safetensors state dict, loaded strictly).
"""
from minidl import nn

from .common import InputSpec, keywords_of, load_weights, scale_channels, smallest_input

DEPTHS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
STAGE_WIDTHS = (64, 128, 256, 512)
STEM_WIDTH = 64


def conv3x3(in_channels, out_channels, stride=1):
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_channels, out_channels, stride=1):
    return nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)


class _Block(nn.Module):
    """H(x) = relu(F(x) + shortcut(x)); the subclasses define F as ``residual``."""

    def _set_shortcut(self, in_channels, out_channels, stride, shortcut):
        self.has_shortcut = shortcut
        if shortcut and (stride != 1 or in_channels != out_channels):
            self.downsample = nn.Sequential(conv1x1(in_channels, out_channels, stride),
                                            nn.BatchNorm2d(out_channels))
        else:
            self.downsample = None

    def shortcut(self, x):
        """x itself, or ``downsample(x)`` where the block changes the stride or the channels."""
        return x if self.downsample is None else self.downsample(x)

    def zero_init_residual(self):
        """Zero the scale (gamma) of F's last batch norm: F(x) = 0, so the block starts as
        H(x) = relu(shortcut(x)), the identity on the non-negative activations it receives where the
        shortcut is x itself (Goyal et al., 2017, "Accurate, large minibatch SGD")."""
        if not self.has_shortcut:
            raise ValueError("zero_init_residual needs shortcuts; without them the zeroed blocks would "
                             "pass nothing on")
        nn.init.constant_(self.last_bn().weight, 0.0)

    def forward(self, x):
        if not self.has_shortcut:
            return self.relu(self.residual(x))
        return self.relu(self.residual(x) + self.shortcut(x))


class BasicBlock(_Block):
    """F(x) = bn2(conv2(relu(bn1(conv1(x))))), two 3x3 convolutions."""

    expansion = 1

    def __init__(self, in_channels, planes, stride=1, shortcut=True):
        super().__init__()
        self.conv1 = conv3x3(in_channels, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self._set_shortcut(in_channels, planes, stride, shortcut)

    def residual(self, x):
        return self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))

    def path(self):
        return [self.conv1, self.conv2]

    def last_bn(self):
        return self.bn2


class Bottleneck(_Block):
    """F(x) = bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))): 1x1 reduce, 3x3, 1x1 expand (x4)."""

    expansion = 4

    def __init__(self, in_channels, planes, stride=1, shortcut=True, stride_on_1x1=False):
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = conv1x1(in_channels, planes, stride if stride_on_1x1 else 1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, 1 if stride_on_1x1 else stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, out_channels)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self._set_shortcut(in_channels, out_channels, stride, shortcut)

    def residual(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        return self.bn3(self.conv3(x))

    def path(self):
        return [self.conv1, self.conv2, self.conv3]

    def last_bn(self):
        return self.bn3


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNet(nn.Module):
    """Stem, four stages of blocks (``layer1`` .. ``layer4``), global average pooling, ``fc``."""

    def __init__(self, block, layers, num_classes=1000, zero_init_residual=False, small_input=False,
                 width=1.0, shortcut=True, stride_on_1x1=False, in_channels=3, name="resnet"):
        super().__init__()
        block = BLOCKS[block] if isinstance(block, str) else block
        if zero_init_residual and not shortcut:
            raise ValueError(f"{name}: zero_init_residual needs shortcuts; without them the zeroed "
                             "blocks would pass nothing on")
        block_options = {"shortcut": shortcut}
        if stride_on_1x1:
            if block is not Bottleneck:
                raise ValueError(f"{name}: stride_on_1x1 applies to Bottleneck blocks only")
            block_options["stride_on_1x1"] = True
        channels = scale_channels(STEM_WIDTH, width)
        if small_input:
            self.conv1 = nn.Conv2d(in_channels, channels, kernel_size=3, stride=1, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, channels, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()
        self.maxpool = nn.Identity() if small_input else nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

        # conv2_x .. conv5_x of Table 1; every stage but the first halves the size in its first block
        stage = dict(block=block, width=width, block_options=block_options)
        self.layer1, channels = self._stage(channels, STAGE_WIDTHS[0], layers[0], stride=1, **stage)
        self.layer2, channels = self._stage(channels, STAGE_WIDTHS[1], layers[1], stride=2, **stage)
        self.layer3, channels = self._stage(channels, STAGE_WIDTHS[2], layers[2], stride=2, **stage)
        self.layer4, channels = self._stage(channels, STAGE_WIDTHS[3], layers[3], stride=2, **stage)
        path = [self.conv1] + ([] if small_input else [self.maxpool])
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            path += [conv for residual_block in layer for conv in residual_block.path()]
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(channels, num_classes)
        self.input_spec = InputSpec(name, "conv1 (Conv2d)", in_channels, smallest_input(path))
        self.reset_parameters(zero_init_residual)

    @staticmethod
    def _stage(channels, planes, blocks, stride, block, width, block_options):
        """``blocks`` blocks of ``planes`` (scaled by ``width``) channels, the first with ``stride``;
        returns the stage and its output channels."""
        planes = scale_channels(planes, width)
        stage = []
        for i in range(blocks):
            stage.append(block(channels, planes, stride if i == 0 else 1, **block_options))
            channels = planes * block.expansion
        return nn.Sequential(*stage), channels

    def reset_parameters(self, zero_init_residual=False):
        """torchvision's initialisation; ``zero_init_residual`` makes each block start as the identity."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.constant_(module.weight, 1.0)
                nn.init.constant_(module.bias, 0.0)
        if zero_init_residual:
            for module in self.modules():
                if isinstance(module, _Block):
                    module.zero_init_residual()

    def forward(self, x):
        self.input_spec.check(x)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


def resnet(depth, *, num_classes=1000, zero_init_residual=False, small_input=False, width=1.0,
           shortcut=True, stride_on_1x1=False, in_channels=3, weights=None):
    """ResNet of a depth in ``DEPTHS``; ``shortcut=False`` gives the plain network of that depth.

    ``weights`` is a safetensors file of this network's state dict, loaded after building.
    """
    if depth not in DEPTHS:
        raise ValueError(f"ResNet: no depth {depth}; Table 1 has {', '.join(map(str, DEPTHS))}")
    block, layers = DEPTHS[depth]
    name = f"{'resnet' if shortcut else 'plain'}{depth}"
    model = ResNet(block, layers, num_classes, zero_init_residual, small_input, width, shortcut,
                   stride_on_1x1, in_channels, name)
    return load_weights(model, weights, name)


# Each factory takes resnet()'s keywords: num_classes, zero_init_residual, small_input, width,
# stride_on_1x1, in_channels, weights.

@keywords_of(resnet, "shortcut")
def resnet18(**kwargs):
    """ResNet-18: BasicBlocks (2, 2, 2, 2)."""
    return resnet(18, shortcut=True, **kwargs)


@keywords_of(resnet, "shortcut")
def resnet34(**kwargs):
    """ResNet-34: BasicBlocks (3, 4, 6, 3)."""
    return resnet(34, shortcut=True, **kwargs)


@keywords_of(resnet, "shortcut")
def resnet50(**kwargs):
    """ResNet-50: Bottlenecks (3, 4, 6, 3)."""
    return resnet(50, shortcut=True, **kwargs)


@keywords_of(resnet, "shortcut")
def resnet101(**kwargs):
    """ResNet-101: Bottlenecks (3, 4, 23, 3)."""
    return resnet(101, shortcut=True, **kwargs)


@keywords_of(resnet, "shortcut")
def resnet152(**kwargs):
    """ResNet-152: Bottlenecks (3, 8, 36, 3)."""
    return resnet(152, shortcut=True, **kwargs)


@keywords_of(resnet, "shortcut")
def plain18(**kwargs):
    """ResNet-18 without shortcuts (the paper's plain baseline)."""
    return resnet(18, shortcut=False, **kwargs)


@keywords_of(resnet, "shortcut")
def plain34(**kwargs):
    """ResNet-34 without shortcuts (the paper's plain baseline)."""
    return resnet(34, shortcut=False, **kwargs)


@keywords_of(resnet, "shortcut")
def plain50(**kwargs):
    """ResNet-50 without shortcuts (the paper's plain baseline)."""
    return resnet(50, shortcut=False, **kwargs)


@keywords_of(resnet, "shortcut")
def plain101(**kwargs):
    """ResNet-101 without shortcuts (the paper's plain baseline)."""
    return resnet(101, shortcut=False, **kwargs)


@keywords_of(resnet, "shortcut")
def plain152(**kwargs):
    """ResNet-152 without shortcuts (the paper's plain baseline)."""
    return resnet(152, shortcut=False, **kwargs)


MODELS = {build.__name__: build for build in (
    resnet18, resnet34, resnet50, resnet101, resnet152, plain18, plain34, plain50, plain101, plain152)}
