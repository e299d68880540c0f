"""AlexNet: five convolutions and three fully connected layers (Krizhevsky, Sutskever & Hinton, 2012).

Two versions share one class and differ only in their layer table:

``alexnet`` is torchvision's (the lecture's code): 64-192-384-256-256 convolutions, no LRN, PyTorch's
default layer initialisation. Its ``state_dict`` keys are torchvision's (``features.0/3/6/8/10``,
``classifier.1/4/6``), 61,100,840 parameters and about 0.714 G multiply-adds at 224x224.

``alexnet_paper`` is the paper's network on a single tower: 96-256-384-384-256 convolutions, local
response normalisation after the ReLUs of the first two convolutions, in the paper's form

    b^i = a^i / (k + alpha * sum_{j = max(0, i - n/2)}^{min(N - 1, i + n/2)} (a^j)^2)^beta,
    k = 2, n = 5, alpha = 1e-4, beta = 0.75

(summed over the window; PyTorch's ``LocalResponseNorm`` divides alpha by n). Where it departs from
the paper: the two GPU towers are merged (the paper's conv2/4/5 see only their own tower's half of the
channels, i.e. groups=2; here every convolution sees all channels), and the first convolution pads by
2 so that the paper's stated 224x224 input gives its 55x55 map. ``paper_init=True`` gives the paper's
initialisation: weights from N(0, 0.01), biases 1 in the second, fourth and fifth convolutions and the
hidden fully connected layers (so their ReLUs start active), 0 elsewhere. It is not the default: with
weights that small the signal reaching the classifier is nearly the same for every image, and a
quarter-width network stayed at chance level for 100 SGD steps (lr 0.01, momentum 0.9) on an 8-image
batch it should memorise. By default the layers keep PyTorch's initialisation, as ``alexnet``.

Both pool with overlapping 3x3 windows of stride 2 and end with an adaptive average pooling to 6x6,
which is the identity at 224x224 and lets other sizes through (63x63 is the smallest that works).
"""
from minidl import nn

from .common import InputSpec, load_weights, scale_channels, smallest_input

# One row per convolution: (out channels, kernel, stride, padding, LRN after the ReLU, max-pool after).
TORCHVISION_LAYERS = (
    (64, 11, 4, 2, False, True),
    (192, 5, 1, 2, False, True),
    (384, 3, 1, 1, False, False),
    (256, 3, 1, 1, False, False),
    (256, 3, 1, 1, False, True),
)

PAPER_LAYERS = (
    (96, 11, 4, 2, True, True),
    (256, 5, 1, 2, True, True),
    (384, 3, 1, 1, False, False),
    (384, 3, 1, 1, False, False),
    (256, 3, 1, 1, False, True),
)

PAPER_LRN = dict(n=5, alpha=1e-4, beta=0.75, k=2.0)
FC_WIDTH = 4096
POOLED_SIZE = 6


class AlexNet(nn.Module):
    """Convolutions from ``layers`` (a table as ``TORCHVISION_LAYERS``), 6x6 pooling, three linears.

    ``width`` scales every channel count and the 4096-wide hidden layers alike.
    """

    def __init__(self, layers=TORCHVISION_LAYERS, num_classes=1000, dropout=0.5, width=1.0,
                 in_channels=3, name="alexnet"):
        super().__init__()
        modules = []
        channels = in_channels
        for out_channels, kernel, stride, padding, lrn, pool in layers:
            out_channels = scale_channels(out_channels, width)
            modules += [nn.Conv2d(channels, out_channels, kernel_size=kernel, stride=stride,
                                  padding=padding), nn.ReLU()]
            if lrn:
                modules.append(nn.LocalResponseNormPaper(**PAPER_LRN))
            if pool:
                modules.append(nn.MaxPool2d(kernel_size=3, stride=2))
            channels = out_channels
        self.features = nn.Sequential(*modules)
        self.avgpool = nn.AdaptiveAvgPool2d((POOLED_SIZE, POOLED_SIZE))
        hidden = scale_channels(FC_WIDTH, width)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(channels * POOLED_SIZE * POOLED_SIZE, hidden),
            nn.ReLU(),
            nn.Dropout(p=dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )
        self.input_spec = InputSpec(
            name, "features.0 (Conv2d)", in_channels,
            smallest_input([m for m in self.features if isinstance(m, (nn.Conv2d, nn.MaxPool2d))]))

    def forward(self, x):
        self.input_spec.check(x)
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


def _paper_init(model):
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.classifier if isinstance(m, nn.Linear)]
    ones = {id(convs[1]), id(convs[3]), id(convs[4]), id(linears[0]), id(linears[1])}
    for layer in convs + linears:
        nn.init.normal_(layer.weight, 0.0, 0.01)
        nn.init.constant_(layer.bias, 1.0 if id(layer) in ones else 0.0)


def alexnet(*, num_classes=1000, dropout=0.5, width=1.0, in_channels=3, weights=None):
    """torchvision's AlexNet (the lecture's code); ``weights`` a safetensors file of its state dict."""
    model = AlexNet(TORCHVISION_LAYERS, num_classes, dropout, width, in_channels, name="alexnet")
    return load_weights(model, weights, "alexnet")


def alexnet_paper(*, num_classes=1000, dropout=0.5, width=1.0, in_channels=3, paper_init=False,
                  weights=None):
    """The AlexNet paper's network on one tower, with LRN; ``paper_init=True`` for the paper's init."""
    model = AlexNet(PAPER_LAYERS, num_classes, dropout, width, in_channels, name="alexnet_paper")
    if paper_init:
        _paper_init(model)
    return load_weights(model, weights, "alexnet_paper")


MODELS = {"alexnet": alexnet, "alexnet_paper": alexnet_paper}
