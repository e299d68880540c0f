"""VGG: stacks of 3x3 convolutions (Simonyan & Zisserman, 2015), built from the paper's Table 1.

``CONFIGS`` is Table 1 written as data: one tuple per stage, each entry a layer as the paper names it
(``conv3-64`` is a 3x3 convolution with 64 output channels, ``conv1-256`` a 1x1 one, ``LRN`` a local
response normalisation); a 2x2 max-pool of stride 2 closes every stage. Two stacked 3x3 convolutions
see a 5x5 window, three a 7x7 one, with fewer parameters (2 * 9 C^2 or 3 * 9 C^2 against 25 C^2 or
49 C^2) and a ReLU between each.

The module layout is torchvision's, so ``state_dict`` keys match it: ``features`` is one Sequential of
conv, [BatchNorm2d,] ReLU and MaxPool2d layers, ``avgpool`` pools adaptively to 7x7 (the identity at
224x224; the five 2x2 pools make 32x32 the smallest input), and ``classifier`` is
Linear-ReLU-Dropout-Linear-ReLU-Dropout-Linear (indices 0, 3, 6 hold the weights). Initialisation is
torchvision's: convolutions kaiming-normal (fan_out, ReLU gain) with zero bias, linears N(0, 0.01) with
zero bias, batch-norm weight 1 and bias 0.

| name | Table 1 | parameters (1000 classes) |
| --- | --- | --- |
| vgg11 / vgg11_bn | A | 132,863,336 / 132,868,840 |
| vgg11_lrn | A-LRN | 132,863,336 |
| vgg13 / vgg13_bn | B | 133,047,848 / 133,053,736 |
| vgg16_c | C | 133,638,952 |
| vgg16 / vgg16_bn | D | 138,357,544 / 138,365,992 |
| vgg19 / vgg19_bn | E | 143,667,240 / 143,678,248 |

Each row is a factory of the same name taking keyword arguments (``vgg16(num_classes=10, width=0.25)``,
``weights=PATH`` to load a saved state dict); ``vgg(config, ...)`` builds any column or a custom table.

For FCN (convolutionalisation): ``model.features`` holds the five stages, ``model.pool_indices`` the
index in ``features`` of each stage's max-pool (pool1..pool5), ``model.stage_channels`` each stage's
output channels; ``model.classifier[0]`` is the 4096 x (C * 7 * 7) layer that becomes a 7x7
convolution (reshape its weight to (4096, C, 7, 7)), ``model.classifier[3]`` the 4096 x 4096 one that
becomes a 1x1 convolution.
"""
from minidl import nn

from .common import InputSpec, keywords_of, load_weights, scale_channels, smallest_input

CONFIGS = {
    "A": (
        ("conv3-64",),
        ("conv3-128",),
        ("conv3-256", "conv3-256"),
        ("conv3-512", "conv3-512"),
        ("conv3-512", "conv3-512"),
    ),
    "A-LRN": (
        ("conv3-64", "LRN"),
        ("conv3-128",),
        ("conv3-256", "conv3-256"),
        ("conv3-512", "conv3-512"),
        ("conv3-512", "conv3-512"),
    ),
    "B": (
        ("conv3-64", "conv3-64"),
        ("conv3-128", "conv3-128"),
        ("conv3-256", "conv3-256"),
        ("conv3-512", "conv3-512"),
        ("conv3-512", "conv3-512"),
    ),
    "C": (
        ("conv3-64", "conv3-64"),
        ("conv3-128", "conv3-128"),
        ("conv3-256", "conv3-256", "conv1-256"),
        ("conv3-512", "conv3-512", "conv1-512"),
        ("conv3-512", "conv3-512", "conv1-512"),
    ),
    "D": (
        ("conv3-64", "conv3-64"),
        ("conv3-128", "conv3-128"),
        ("conv3-256", "conv3-256", "conv3-256"),
        ("conv3-512", "conv3-512", "conv3-512"),
        ("conv3-512", "conv3-512", "conv3-512"),
    ),
    "E": (
        ("conv3-64", "conv3-64"),
        ("conv3-128", "conv3-128"),
        ("conv3-256", "conv3-256", "conv3-256", "conv3-256"),
        ("conv3-512", "conv3-512", "conv3-512", "conv3-512"),
        ("conv3-512", "conv3-512", "conv3-512", "conv3-512"),
    ),
}

# The A-LRN column uses the normalisation of the AlexNet paper.
LRN = dict(n=5, alpha=1e-4, beta=0.75, k=2.0)
FC_WIDTH = 4096
POOLED_SIZE = 7


def parse_layer(spec):
    """``"conv3-64"`` -> ``(3, 64)``: kernel size and output channels."""
    kind, _, channels = spec.partition("-")
    if not (kind.startswith("conv") and kind[4:].isdigit() and channels.isdigit()):
        raise ValueError(f"VGG: cannot read layer {spec!r}; expected 'convK-C' or 'LRN'")
    return int(kind[4:]), int(channels)


def make_layers(config, batch_norm=False, width=1.0, in_channels=3):
    """The ``features`` Sequential for a Table 1 column (a key of ``CONFIGS`` or a tuple of stages).

    Returns ``(features, pool_indices, stage_channels)``: the Sequential, the index of each stage's
    closing max-pool, and the channel count after each stage.
    """
    stages = CONFIGS[config] if isinstance(config, str) else config
    layers, pool_indices, stage_channels = [], [], []
    channels = in_channels
    for stage in stages:
        for spec in stage:
            if spec == "LRN":
                layers.append(nn.LocalResponseNormPaper(**LRN))
                continue
            kernel, out_channels = parse_layer(spec)
            out_channels = scale_channels(out_channels, width)
            layers.append(nn.Conv2d(channels, out_channels, kernel_size=kernel, padding=kernel // 2))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU())
            channels = out_channels
        pool_indices.append(len(layers))
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        stage_channels.append(channels)
    return nn.Sequential(*layers), tuple(pool_indices), tuple(stage_channels)


def init_vgg_layers(modules):
    """torchvision's VGG initialisation of ``modules``: convolutions kaiming-normal (fan_out, ReLU gain)
    with zero bias, batch norm 1 and 0, linears N(0, 0.01) with zero bias."""
    for module in modules:
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            nn.init.constant_(module.bias, 0.0)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.constant_(module.weight, 1.0)
            nn.init.constant_(module.bias, 0.0)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, 0.01)
            nn.init.constant_(module.bias, 0.0)


class VGG(nn.Module):
    """A VGG network: ``features`` (the conv stages), ``avgpool`` to 7x7, ``classifier`` (three linears)."""

    def __init__(self, config="D", num_classes=1000, batch_norm=False, width=1.0, dropout=0.5,
                 in_channels=3, init_weights=True, name=None):
        super().__init__()
        self.config = config if isinstance(config, str) else "custom"
        name = name or f"VGG-{self.config}"
        self.features, self.pool_indices, self.stage_channels = make_layers(
            config, batch_norm, width, in_channels)
        self.avgpool = nn.AdaptiveAvgPool2d((POOLED_SIZE, POOLED_SIZE))
        hidden = scale_channels(FC_WIDTH, width)
        self.classifier = nn.Sequential(
            nn.Linear(self.stage_channels[-1] * POOLED_SIZE * POOLED_SIZE, hidden),
            nn.ReLU(),
            nn.Dropout(p=dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Dropout(p=dropout),
            nn.Linear(hidden, num_classes),
        )
        self.input_spec = InputSpec(
            name, "features.0 (Conv2d)", in_channels,
            smallest_input([m for m in self.features if isinstance(m, (nn.Conv2d, nn.MaxPool2d))]))
        if init_weights:
            self.reset_parameters()

    def reset_parameters(self):
        """torchvision's VGG initialisation."""
        init_vgg_layers(self.modules())

    def forward(self, x):
        self.input_spec.check(x)
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


def vgg(config, *, num_classes=1000, batch_norm=False, width=1.0, dropout=0.5, in_channels=3,
        init_weights=True, name=None, weights=None):
    """Any column of Table 1 (``"A"``, ``"A-LRN"``, ``"B"``, ``"C"``, ``"D"``, ``"E"``) or a tuple of stages.

    ``weights`` is a safetensors file of this network's state dict, loaded after building.
    """
    if isinstance(config, str) and config not in CONFIGS:
        raise ValueError(f"VGG: unknown configuration {config!r}; Table 1 has {', '.join(CONFIGS)}")
    model = VGG(config, num_classes, batch_norm, width, dropout, in_channels, init_weights, name)
    return load_weights(model, weights, name or model.input_spec.network)


# torchvision's names; the columns torchvision lacks (A-LRN, C) get names of the same pattern. Each
# factory takes vgg()'s keywords: num_classes, width, dropout, in_channels, init_weights, weights.

@keywords_of(vgg, "batch_norm", "name")
def vgg11(**kwargs):
    """Column A of Table 1: 8 convolutions."""
    return vgg("A", batch_norm=False, name="vgg11", **kwargs)


@keywords_of(vgg, "batch_norm", "name")
def vgg11_bn(**kwargs):
    """Column A with batch normalisation after every convolution."""
    return vgg("A", batch_norm=True, name="vgg11_bn", **kwargs)


@keywords_of(vgg, "batch_norm", "name")
def vgg11_lrn(**kwargs):
    """Column A-LRN: column A with local response normalisation after the first convolution."""
    return vgg("A-LRN", batch_norm=False, name="vgg11_lrn", **kwargs)


@keywords_of(vgg, "batch_norm", "name")
def vgg13(**kwargs):
    """Column B of Table 1: 10 convolutions."""
    return vgg("B", batch_norm=False, name="vgg13", **kwargs)


@keywords_of(vgg, "batch_norm", "name")
def vgg13_bn(**kwargs):
    """Column B with batch normalisation after every convolution."""
    return vgg("B", batch_norm=True, name="vgg13_bn", **kwargs)


@keywords_of(vgg, "batch_norm", "name")
def vgg16_c(**kwargs):
    """Column C of Table 1: 13 convolutions, three of them 1x1."""
    return vgg("C", batch_norm=False, name="vgg16_c", **kwargs)


@keywords_of(vgg, "batch_norm", "name")
def vgg16_c_bn(**kwargs):
    """Column C with batch normalisation after every convolution."""
    return vgg("C", batch_norm=True, name="vgg16_c_bn", **kwargs)


@keywords_of(vgg, "batch_norm", "name")
def vgg16(**kwargs):
    """Column D of Table 1: 13 convolutions, all 3x3."""
    return vgg("D", batch_norm=False, name="vgg16", **kwargs)


@keywords_of(vgg, "batch_norm", "name")
def vgg16_bn(**kwargs):
    """Column D with batch normalisation after every convolution."""
    return vgg("D", batch_norm=True, name="vgg16_bn", **kwargs)


@keywords_of(vgg, "batch_norm", "name")
def vgg19(**kwargs):
    """Column E of Table 1: 16 convolutions."""
    return vgg("E", batch_norm=False, name="vgg19", **kwargs)


@keywords_of(vgg, "batch_norm", "name")
def vgg19_bn(**kwargs):
    """Column E with batch normalisation after every convolution."""
    return vgg("E", batch_norm=True, name="vgg19_bn", **kwargs)


MODELS = {build.__name__: build for build in (
    vgg11, vgg11_bn, vgg11_lrn, vgg13, vgg13_bn, vgg16_c, vgg16_c_bn, vgg16, vgg16_bn, vgg19, vgg19_bn)}
