"""GoogLeNet: nine Inception modules on a small stem (Szegedy et al., "Going deeper with convolutions", 2015).

An Inception module runs four branches side by side on the same input and concatenates their outputs
along the channels: a 1x1 convolution; a 1x1 reduction then a 3x3 convolution; a 1x1 reduction then a
5x5 convolution; a 3x3 max-pool (stride 1) then a 1x1 projection. The 1x1 reductions are what keep the
network cheap: a 5x5 convolution from 480 to 48 channels costs 25 * 480 * 48 multiply-adds per pixel,
after a reduction to 16 channels only 480 * 16 + 25 * 16 * 48. ``INCEPTION_TABLE`` is the paper's
Table 1 (the six channel columns), one row per module.

Two auxiliary classifiers read the outputs of 4a and 4d; they only run in training, where the model
returns ``GoogLeNetOutputs(logits, aux1, aux2)`` and ``googlenet_loss`` adds their losses weighted by
0.3. In eval mode the model returns the logits alone. ``aux_logits=False`` leaves them out.

Two layouts:

* default, the paper's: convolutions with bias followed by ReLU, local response normalisation after the
  first max-pool and after conv3 (the reference Caffe model's, PyTorch form: size 5, alpha 1e-4,
  beta 0.75, k 1), a true 5x5 convolution in the third branch, 3x3/2 max-pools between the groups,
  dropout 0.4 before the classifier. The paper does not give its initialisation; convolutions use
  kaiming-normal (fan_in, ReLU gain), which keeps the signal alive through 22 layers without
  normalisation.
* ``torchvision_compat=True``, torchvision's ``GoogLeNet``: every convolution is ``BasicConv2d`` (conv
  without bias, BatchNorm2d with eps 0.001, ReLU), no LRN, the "5x5" branch is a 3x3 convolution (a
  slip kept in torchvision for its weights), the pool after 4e is 2x2, dropout 0.2, truncated-normal
  (std 0.01) initialisation. Its ``state_dict`` keys and shapes are torchvision's and it has 6,624,904
  parameters without the auxiliary classifiers (13,004,888 with), about 1.5 G multiply-adds at 224x224.

Both use ceil-mode max-pools (as the Caffe model did, so 224 -> 112 -> 56 -> 28 -> 14 -> 7), global
average pooling (adaptive, so other sizes work: at least 31x31, or 15x15 with torchvision's 2x2 pool
after 4e), and average-pool the auxiliary inputs adaptively to 4x4 (the paper's 5x5/3 average pool
gives the same 4x4 at 224x224).
"""
import collections

from minidl import functional as F
from minidl import nn

from .common import InputSpec, load_weights, scale_channels, smallest_input

# Per module: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj (output channels of each conv).
INCEPTION_TABLE = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}

AUX_WEIGHT = 0.3
PAPER_LRN = dict(size=5, alpha=1e-4, beta=0.75, k=1.0)
# torchvision's transform_input: from ImageNet normalisation to the (x - 0.5) / 0.5 its weights expect.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

GoogLeNetOutputs = collections.namedtuple("GoogLeNetOutputs", ["logits", "aux1", "aux2"])


class BasicConv2d(nn.Module):
    """Convolution, optional batch norm, ReLU (torchvision's name; ``conv``/``bn`` as its keys)."""

    def __init__(self, in_channels, out_channels, batch_norm, **conv_args):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=not batch_norm, **conv_args)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001) if batch_norm else nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """Four branches concatenated on the channels: 1x1 | 1x1-3x3 | 1x1-5x5 | pool-1x1."""

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj,
                 batch_norm=False, five_kernel=5):
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, batch_norm, kernel_size=1)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, batch_norm, kernel_size=1),
            BasicConv2d(ch3x3red, ch3x3, batch_norm, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, batch_norm, kernel_size=1),
            BasicConv2d(ch5x5red, ch5x5, batch_norm, kernel_size=five_kernel, padding=five_kernel // 2),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, pool_proj, batch_norm, kernel_size=1),
        )
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x):
        return F.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier: 4x4 average pool, 1x1 conv (128), FC 1024, ReLU, dropout, FC classes."""

    def __init__(self, in_channels, num_classes, batch_norm=False, dropout=0.7, width=1.0):
        super().__init__()
        reduced = scale_channels(128, width)
        hidden = scale_channels(1024, width)
        self.conv = BasicConv2d(in_channels, reduced, batch_norm, kernel_size=1)
        self.fc1 = nn.Linear(reduced * 4 * 4, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x):
        x = self.conv(F.adaptive_avg_pool2d(x, (4, 4)))
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(self.dropout(x))


class GoogLeNet(nn.Module):
    """GoogLeNet (Inception v1); see the module docstring for the two layouts."""

    def __init__(self, num_classes=1000, aux_logits=True, torchvision_compat=False, dropout=None,
                 aux_dropout=0.7, width=1.0, in_channels=3, transform_input=False, init_weights=True):
        super().__init__()
        compat = bool(torchvision_compat)
        if transform_input and in_channels != 3:
            raise ValueError("GoogLeNet: transform_input works on 3-channel ImageNet-normalised input")
        self.torchvision_compat = compat
        self.aux_logits = aux_logits
        self.transform_input = transform_input
        c = lambda n: scale_channels(n, width)  # noqa: E731

        self.conv1 = BasicConv2d(in_channels, c(64), compat, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.lrn1 = nn.Identity() if compat else nn.LocalResponseNorm(**PAPER_LRN)
        self.conv2 = BasicConv2d(c(64), c(64), compat, kernel_size=1)
        self.conv3 = BasicConv2d(c(64), c(192), compat, kernel_size=3, padding=1)
        self.lrn2 = nn.Identity() if compat else nn.LocalResponseNorm(**PAPER_LRN)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        def inception(name, in_channels):
            row = (c(n) for n in INCEPTION_TABLE[name])
            return Inception(in_channels, *row, batch_norm=compat, five_kernel=3 if compat else 5)

        self.inception3a = inception("3a", c(192))
        self.inception3b = inception("3b", self.inception3a.out_channels)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = inception("4a", self.inception3b.out_channels)
        self.inception4b = inception("4b", self.inception4a.out_channels)
        self.inception4c = inception("4c", self.inception4b.out_channels)
        self.inception4d = inception("4d", self.inception4c.out_channels)
        self.inception4e = inception("4e", self.inception4d.out_channels)
        self.maxpool4 = nn.MaxPool2d(2 if compat else 3, stride=2, ceil_mode=True)
        self.inception5a = inception("5a", self.inception4e.out_channels)
        self.inception5b = inception("5b", self.inception5a.out_channels)

        if aux_logits:
            self.aux1 = InceptionAux(self.inception4a.out_channels, num_classes, compat, aux_dropout, width)
            self.aux2 = InceptionAux(self.inception4d.out_channels, num_classes, compat, aux_dropout, width)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=(0.2 if compat else 0.4) if dropout is None else dropout)
        self.fc = nn.Linear(self.inception5b.out_channels, num_classes)

        path = [self.conv1.conv, self.maxpool1, self.conv2.conv, self.conv3.conv, self.maxpool2,
                self.maxpool3, self.maxpool4]
        self.input_spec = InputSpec("googlenet", "conv1.conv (Conv2d)", in_channels, smallest_input(path))
        if init_weights:
            self.reset_parameters()

    def reset_parameters(self):
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                if self.torchvision_compat:
                    nn.init.trunc_normal_(module.weight, mean=0.0, std=0.01, a=-2, b=2)
                else:
                    nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
                    nn.init.constant_(module.bias, 0.0)
            elif isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, mean=0.0, std=0.01, a=-2, b=2)
                nn.init.constant_(module.bias, 0.0)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.constant_(module.weight, 1.0)
                nn.init.constant_(module.bias, 0.0)

    def _transform_input(self, x):
        channels = [x[:, i:i + 1] * (std / 0.5) + (mean - 0.5) / 0.5
                    for i, (mean, std) in enumerate(zip(IMAGENET_MEAN, IMAGENET_STD))]
        return F.cat(channels, 1)

    def forward(self, x):
        self.input_spec.check(x)
        if self.transform_input:
            x = self._transform_input(x)
        x = self.maxpool2(self.lrn2(self.conv3(self.conv2(self.lrn1(self.maxpool1(self.conv1(x)))))))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        with_aux = self.training and self.aux_logits
        aux1 = self.aux1(x) if with_aux else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if with_aux else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        logits = self.fc(self.dropout(self.avgpool(x).flatten(1)))
        return GoogLeNetOutputs(logits, aux1, aux2) if with_aux else logits


def googlenet_loss(outputs, target, aux_weight=AUX_WEIGHT, criterion=None):
    """Cross-entropy of the main logits plus ``aux_weight`` times that of each auxiliary classifier.

    ``outputs`` is what the model returned: ``GoogLeNetOutputs`` in training, or the logits alone.
    """
    criterion = criterion or F.cross_entropy
    if isinstance(outputs, GoogLeNetOutputs):
        loss = criterion(outputs.logits, target)
        for aux in (outputs.aux1, outputs.aux2):
            if aux is not None:
                loss = loss + aux_weight * criterion(aux, target)
        return loss
    return criterion(outputs, target)


class GoogLeNetLoss(nn.Module):
    """``googlenet_loss`` as a criterion module, for training loops that take one."""

    def __init__(self, aux_weight=AUX_WEIGHT):
        super().__init__()
        self.aux_weight = aux_weight

    def forward(self, outputs, target):
        return googlenet_loss(outputs, target, self.aux_weight)


def googlenet(*, num_classes=1000, aux_logits=True, torchvision_compat=False, dropout=None,
              aux_dropout=0.7, width=1.0, in_channels=3, transform_input=False, init_weights=True,
              weights=None):
    """GoogLeNet; ``torchvision_compat=True`` for torchvision's layout and weights, ``weights`` a
    safetensors file of its state dict to load."""
    model = GoogLeNet(num_classes, aux_logits, torchvision_compat, dropout, aux_dropout, width,
                      in_channels, transform_input, init_weights)
    return load_weights(model, weights, "googlenet")


MODELS = {"googlenet": googlenet}
