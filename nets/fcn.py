"""Fully convolutional networks for semantic segmentation: FCN-32s, FCN-16s, FCN-8s (Long, Shelhamer &
Darrell, 2015), on the VGG-16 of ``nets/vgg.py``, laid out as the paper's reference Caffe models.

The lecture's three steps, from classification to per-pixel classification:

1. fully connected -> convolution: fc6 becomes a 7x7 convolution over pool5 (no padding), fc7 a 1x1
   convolution, each followed by ReLU and dropout; the classifier becomes a 1x1 "score" convolution;
2. a larger input: conv1_1 pads by 100 pixels, so any input size, however small, leaves pool5 at
   least 7x7 and fc6 at least 1x1; the max-pools round up (ceil mode, as Caffe pools);
3. learned upsampling: transposed convolutions without bias, initialised to bilinear interpolation
   (``nn.init.bilinear_``), bring the stride-32 scores back to the input's resolution; a crop then
   removes what the 100-pixel padding added. As in the paper, the last one stays fixed bilinear and
   the intermediate ones (16s, 8s) are learned.

Skips (the "deep jet"): FCN-16s upsamples the stride-32 scores by 2 (k4 s2), adds 1x1 scores of pool4
(cropped at offset 5), and upsamples the sum by 16 (k32 s16, crop 27). FCN-8s fuses pool4 the same way,
upsamples by 2 again, adds 1x1 scores of pool3 (crop 9) and upsamples by 8 (k16 s8, crop 31). FCN-32s
upsamples by 32 at once (k64 s32, crop 19). The offsets are those of the reference models: they line
the upsampled grid up with the input pixels, whatever the input size. The "at-once" variant of the
paper's reference (training all skips from the start) scales pool4 by 0.01 and pool3 by 1e-4 before
scoring, because the raw activations of those layers are much larger than fc7's.

Score layers start at zero, as in the reference: the first step trains them alone, and a fused skip
starting at zero leaves the coarser net's output unchanged, which is what the staged recipe wants
(train 32s; start 16s from it with ``init_from``; then 8s from 16s).

Module names follow the reference prototxt: ``features`` (VGG-16's conv stages, same indices and keys
as ``vgg16().features``), ``classifier`` (fc6 at index 0, fc7 at index 3, as in VGG's classifier),
``score_fr``, ``score_pool4``, ``score_pool3``, ``upscore``, ``upscore2``, ``upscore_pool4``,
``upscore16``, ``upscore8``; ``forward`` names its intermediate maps as the prototxt does
(``score_pool4c`` for the cropped scores, ``fuse_pool4`` for the sum, ...).

Weight surgery lives with ``convolutionalize`` (``nets.convolutionalize.init_from_classifier``) and the
output-stride yardstick with the other metrics (``minidl.training.metrics.oracle_scores``); both stay
importable from here.
"""
from minidl import functional as F
from minidl import nn
from minidl.training.metrics import oracle_scores  # noqa: F401  (importable from here too)

from .common import InputSpec, keywords_of, load_weights, scale_channels
from .convolutionalize import copy_parameter, init_from_classifier  # noqa: F401
from .vgg import FC_WIDTH, POOLED_SIZE, init_vgg_layers, make_layers

PADDING = 100
AT_ONCE_SCALES = {"pool4": 0.01, "pool3": 0.0001}

# Per variant: the crop offsets of score_pool4, score_pool3 and the final output, those of the
# reference models.
CROPS = {
    32: {"out": 19},
    16: {"pool4": 5, "out": 27},
    8: {"pool4": 5, "pool3": 9, "out": 31},
}


def upsampling(num_classes, kernel, stride):
    """A transposed convolution of every class map onto itself, without bias (bilinear at the start)."""
    return nn.ConvTranspose2d(num_classes, num_classes, kernel, stride=stride, bias=False)


def fcn_features(width=1.0, in_channels=3, padding=PADDING, batch_norm=False):
    """VGG-16's conv stages with conv1_1 padded by ``padding`` and ceil-mode pools.

    Returns ``(features, pool_indices, stage_channels)`` as ``vgg.make_layers``; the keys of
    ``features.state_dict()`` equal those of ``vgg16(width=width).features`` (``vgg16_bn``'s with
    ``batch_norm``: a BatchNorm2d after every convolution).
    """
    features, pool_indices, stage_channels = make_layers("D", batch_norm=batch_norm, width=width,
                                                         in_channels=in_channels)
    layers = list(features)
    first = layers[0]
    layers[0] = nn.Conv2d(first.in_channels, first.out_channels, kernel_size=3, padding=padding)
    for i in pool_indices:
        layers[i] = nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True)
    return nn.Sequential(*layers), pool_indices, stage_channels


class FCN(nn.Module):
    """FCN-``stride``s (stride 32, 16 or 8) on VGG-16: (N, C, H, W) in, (N, num_classes, H, W) out.

    Args:
        stride: 32, 16 or 8 — the stride of the finest layer whose scores are fused.
        num_classes: classes including background (21 for PASCAL VOC).
        width: channel factor for every layer (VGG's 64..512 and fc6/fc7's 4096), for small-scale runs.
        dropout: probability of the dropout after fc6 and fc7.
        at_once: scale pool4 by 0.01 and pool3 by 1e-4 before scoring (the all-at-once reference).
        padding: conv1_1's padding; 100 in the paper (smaller values shrink the work but then inputs
            below some size leave no fc6 output, and the crop offsets no longer centre the output).
        batch_norm: not in the paper (which starts from a trained VGG-16): build the backbone as
            ``vgg16_bn`` (BatchNorm2d after every convolution), which trains much faster from scratch.
        head_batch_norm: BatchNorm2d after the fc6 and fc7 convolutions too (before their ReLU);
            ``None`` follows ``batch_norm``. fc6 and fc7 then sit at ``classifier[0]`` and
            ``classifier[4]``; ``fc_indices`` holds their positions in either layout.
        learn_final_upsampling: the last transposed convolution (``upscore``, ``upscore16``,
            ``upscore8``) is fixed bilinear interpolation (``requires_grad=False``), as in the paper;
            ``True`` learns it too. Intermediate ones (``upscore2``, ``upscore_pool4``) are always learned.
    """

    def __init__(self, stride=8, num_classes=21, width=1.0, dropout=0.5, at_once=False, in_channels=3,
                 padding=PADDING, batch_norm=False, head_batch_norm=None, learn_final_upsampling=False):
        super().__init__()
        if stride not in CROPS:
            raise ValueError(f"FCN: stride must be 32, 16 or 8, got {stride!r}")
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"FCN: num_classes must be a positive int, got {num_classes!r}")
        self.stride, self.num_classes, self.at_once = stride, num_classes, bool(at_once)
        self.batch_norm = bool(batch_norm)
        self.head_batch_norm = self.batch_norm if head_batch_norm is None else bool(head_batch_norm)
        self.features, self.pool_indices, self.stage_channels = fcn_features(
            width, in_channels, padding, self.batch_norm)
        hidden = scale_channels(FC_WIDTH, width)
        head, self.fc_indices = [], []
        for channels_in, kernel in ((self.stage_channels[-1], POOLED_SIZE), (hidden, 1)):
            self.fc_indices.append(len(head))
            head.append(nn.Conv2d(channels_in, hidden, kernel_size=kernel))
            if self.head_batch_norm:
                head.append(nn.BatchNorm2d(hidden))
            head += [nn.ReLU(), nn.Dropout(p=dropout)]
        self.fc_indices = tuple(self.fc_indices)
        self.classifier = nn.Sequential(*head)
        self.score_fr = nn.Conv2d(hidden, num_classes, kernel_size=1)
        if stride <= 16:
            self.score_pool4 = nn.Conv2d(self.stage_channels[3], num_classes, kernel_size=1)
        if stride <= 8:
            self.score_pool3 = nn.Conv2d(self.stage_channels[2], num_classes, kernel_size=1)
        # upsampling: 32s at once (x32); 16s by 2 then 16; 8s by 2, 2 and 8
        if stride == 32:
            self.upscore = upsampling(num_classes, 64, 32)
        elif stride == 16:
            self.upscore2 = upsampling(num_classes, 4, 2)
            self.upscore16 = upsampling(num_classes, 32, 16)
        else:
            self.upscore2 = upsampling(num_classes, 4, 2)
            self.upscore_pool4 = upsampling(num_classes, 4, 2)
            self.upscore8 = upsampling(num_classes, 16, 8)
        self.upsample_names = [name for name, module in self.named_children()
                               if isinstance(module, nn.ConvTranspose2d)]
        # The paper (section 4.2): the last upsampling stays fixed bilinear interpolation, the
        # intermediate ones (16s, 8s) start bilinear and are learned.
        self.learn_final_upsampling = bool(learn_final_upsampling)
        getattr(self, self.upsample_names[-1]).weight.requires_grad_(self.learn_final_upsampling)
        self.crops = dict(CROPS[stride])
        self.input_spec = InputSpec(f"fcn{stride}s", "features.0 (Conv2d)", in_channels, (1, 1))
        self.reset_parameters()

    def reset_parameters(self):
        """VGG's init for the backbone (kaiming-normal convolutions, batch norm 1 and 0), zero score
        layers, bilinear upsampling."""
        init_vgg_layers(list(self.features) + list(self.classifier))
        for name in ("score_fr", "score_pool4", "score_pool3"):
            layer = getattr(self, name, None)
            if layer is not None:
                nn.init.constant_(layer.weight, 0.0)
                nn.init.constant_(layer.bias, 0.0)
        for name in self.upsample_names:
            nn.init.bilinear_(getattr(self, name).weight)

    def _stages(self, x):
        """Run ``features``, keeping the outputs of pool3 and pool4 (where the skips start)."""
        kept = {}
        wanted = {self.pool_indices[2]: "pool3", self.pool_indices[3]: "pool4"}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in wanted:
                kept[wanted[i]] = x
        return x, kept

    def _skip(self, score_layer, name, pool, like):
        """``score_layer``'s 1x1 scores of ``pool`` (the pool3 or pool4 output ``name``, scaled in the
        at-once variant), cropped to ``like``'s size at the reference offset."""
        if self.at_once:
            pool = pool * AT_ONCE_SCALES[name]
        score = score_layer(pool)
        offset = self.crops[name]
        return F.crop(score, offset, offset, like.shape[2], like.shape[3])

    def forward(self, x):
        self.input_spec.check(x)
        height, width = x.shape[2], x.shape[3]
        pool5, kept = self._stages(x)
        score = self.score_fr(self.classifier(pool5))
        if self.stride == 32:
            score = self.upscore(score)
        else:
            upscore2 = self.upscore2(score)
            score_pool4c = self._skip(self.score_pool4, "pool4", kept["pool4"], upscore2)
            fuse_pool4 = upscore2 + score_pool4c
            if self.stride == 16:
                score = self.upscore16(fuse_pool4)
            else:
                upscore_pool4 = self.upscore_pool4(fuse_pool4)
                score_pool3c = self._skip(self.score_pool3, "pool3", kept["pool3"], upscore_pool4)
                fuse_pool3 = upscore_pool4 + score_pool3c
                score = self.upscore8(fuse_pool3)
        offset = self.crops["out"]
        return F.crop(score, offset, offset, height, width)

    def init_from(self, other):
        """Copy every parameter of ``other`` (a coarser FCN, e.g. the trained FCN-32s for FCN-16s, or an
        FCN-16s for FCN-8s) whose name and shape this network shares; returns ``self``.

        What is copied: the backbone, fc6/fc7, score_fr and, from FCN-16s, score_pool4 and upscore2. The
        new skip's score layer stays zero, so the finer net starts out computing the coarser one's scores
        (up to the final upsampling, which is bilinear in both).
        """
        return init_from_coarser(self, other)


def init_from_coarser(fine, coarse):
    """Copy ``coarse``'s parameters into ``fine`` where names and shapes agree (the staged FCN recipe).

    Both must be FCNs of the same width and classes; returns ``fine``.
    """
    if not isinstance(fine, FCN) or not isinstance(coarse, FCN):
        raise TypeError(f"init_from_coarser: expected two FCN models, got {type(fine).__name__} and "
                        f"{type(coarse).__name__}")
    ours, theirs = dict(fine.named_parameters()), dict(coarse.named_parameters())
    shared = [k for k in ours if k in theirs]
    for name in shared:
        if tuple(ours[name].shape) != tuple(theirs[name].shape):
            raise ValueError(
                f"init_from_coarser: {name} is {tuple(theirs[name].shape)} in fcn{coarse.stride}s but "
                f"{tuple(ours[name].shape)} in fcn{fine.stride}s (different width or number of classes?)")
    for name in shared:
        copy_parameter(ours[name], theirs[name], f"init_from_coarser: {name}")
    return fine


def fcn(stride, *, num_classes=21, width=1.0, dropout=0.5, at_once=False, in_channels=3, padding=PADDING,
        batch_norm=False, head_batch_norm=None, learn_final_upsampling=False, weights=None):
    """FCN-``stride``s (32, 16 or 8) with ``FCN``'s options; ``weights`` a safetensors file of its
    state dict, loaded after building."""
    model = FCN(stride, num_classes, width, dropout, at_once, in_channels, padding, batch_norm,
                head_batch_norm, learn_final_upsampling)
    return load_weights(model, weights, f"fcn{stride}s")


# Each factory takes fcn()'s keywords: num_classes, width, dropout, at_once, in_channels, padding,
# batch_norm, head_batch_norm, learn_final_upsampling, weights.

@keywords_of(fcn, "stride")
def fcn32s(**kwargs):
    """FCN-32s: the stride-32 scores upsampled at once (Long et al. 2015, the reference layout)."""
    return fcn(32, **kwargs)


@keywords_of(fcn, "stride")
def fcn16s(**kwargs):
    """FCN-16s: pool4's scores fused before upsampling by 16."""
    return fcn(16, **kwargs)


@keywords_of(fcn, "stride")
def fcn8s(**kwargs):
    """FCN-8s: pool4's and pool3's scores fused before upsampling by 8."""
    return fcn(8, **kwargs)


MODELS = {"fcn32s": fcn32s, "fcn16s": fcn16s, "fcn8s": fcn8s}
