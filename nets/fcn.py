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
``upscore16``, ``upscore8``.
"""
import numpy as np

from minidl import backend, no_grad
from minidl import functional as F
from minidl import nn

from .common import InputSpec, scale_channels
from .vgg import FC_WIDTH, POOLED_SIZE, make_layers

PADDING = 100
AT_ONCE_SCALES = {"pool4": 0.01, "pool3": 0.0001}

# Per variant: the upsampling layers in order as (name, kernel, stride), and the crop offsets of
# score_pool4, score_pool3 and the final output. The offsets are those of the reference models.
VARIANTS = {
    32: {"upsample": (("upscore", 64, 32),), "crops": {"out": 19}},
    16: {"upsample": (("upscore2", 4, 2), ("upscore16", 32, 16)), "crops": {"pool4": 5, "out": 27}},
    8: {"upsample": (("upscore2", 4, 2), ("upscore_pool4", 4, 2), ("upscore8", 16, 8)),
        "crops": {"pool4": 5, "pool3": 9, "out": 31}},
}


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
    """FCN-``stride``s (stride 32, 16 or 8) on VGG-16; output (N, num_classes, H, W) for an (N, C, H, W) input.

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
        if stride not in VARIANTS:
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
        self.upsample_names = []
        for name, kernel, step in VARIANTS[stride]["upsample"]:
            setattr(self, name, nn.ConvTranspose2d(num_classes, num_classes, kernel, stride=step, bias=False))
            self.upsample_names.append(name)
        # The paper (section 4.2): the last upsampling stays fixed bilinear interpolation, the
        # intermediate ones (16s, 8s) start bilinear and are learned.
        self.learn_final_upsampling = bool(learn_final_upsampling)
        getattr(self, self.upsample_names[-1]).weight.requires_grad_(self.learn_final_upsampling)
        self.crops = dict(VARIANTS[stride]["crops"])
        self.input_spec = InputSpec(f"fcn{stride}s", "features.0 (Conv2d)", in_channels, (1, 1))
        self.reset_parameters()

    def reset_parameters(self):
        """VGG's init for the backbone (kaiming-normal convolutions, batch norm 1 and 0), zero score
        layers, bilinear upsampling."""
        for module in list(self.features) + list(self.classifier):
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.constant_(module.bias, 0.0)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.constant_(module.weight, 1.0)
                nn.init.constant_(module.bias, 0.0)
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

    def _skip(self, name, pool, like):
        """1x1 scores of ``pool`` (scaled in the at-once variant), cropped to ``like``'s size at the reference offset."""
        if self.at_once:
            pool = pool * AT_ONCE_SCALES[name]
        score = getattr(self, f"score_{name}")(pool)
        offset = self.crops[name]
        return F.crop(score, offset, offset, like.shape[2], like.shape[3])

    def forward(self, x):
        self.input_spec.check(x)
        height, width = x.shape[2], x.shape[3]
        pool5, kept = self._stages(x)
        score = self.score_fr(self.classifier(pool5))
        upsample = [getattr(self, name) for name in self.upsample_names]
        if self.stride <= 16:
            score = upsample[0](score)
            score = score + self._skip("pool4", kept["pool4"], score)
        if self.stride <= 8:
            score = upsample[1](score)
            score = score + self._skip("pool3", kept["pool3"], score)
        score = upsample[-1](score)
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


def _copy(dst, src, what, reshape=False):
    fits = src.numel() == dst.numel() if reshape else tuple(dst.shape) == tuple(src.shape)
    if not fits:
        raise ValueError(f"{what}: shape {tuple(src.shape)} does not fit {tuple(dst.shape)}")
    _assign(dst, backend.to_device(src.data, dst.device).reshape(dst.shape))


def _assign(dst, values):
    with no_grad():
        dst.data[...] = backend.to_device(values, dst.device).astype(dst.dtype, copy=False)


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
        _copy(ours[name], theirs[name], f"init_from_coarser: {name}")
    return fine


def init_from_classifier(fcn, classifier, input_size=(224, 224)):
    """Start ``fcn`` from a VGG-16 classifier: copy ``features`` and fc6/fc7, reshaped to convolutions.

    ``classifier`` is a ``nets.vgg`` VGG-16: its Linear fc6 weight (hidden, C*7*7) becomes the 7x7
    convolution (hidden, C, 7, 7), fc7 (hidden, hidden) the 1x1 one. ``input_size`` is the size it
    was trained on: at 224x224 pool5 is 7x7 and the reshape is exact; a classifier trained on smaller
    images (32x32: pool5 1x1, which the adaptive pooling spread over 7x7) has the pooling folded into
    its fc6 (``nets.convolutionalize.fc6_kernel``), and the folded S x S kernel sits at the centre of
    the 7x7 one, so each fc6 position computes the classifier's fc6 on the pool5 cells it was trained
    on. The last classifier layer is not copied: the FCN paper discards it and scores with a fresh,
    zero score_fr. Returns ``fcn``.
    """
    from .convolutionalize import fc6_kernel, feature_size

    if not isinstance(fcn, FCN):
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
        _copy(param, theirs[name], f"init_from_classifier: features.{name} (different width?)")
    fc6, fc7 = (fcn.classifier[i] for i in fcn.fc_indices)
    for dst, src, name in ((fc6, head[0], "classifier.0"), (fc7, head[3], "classifier.3")):
        _copy(dst.weight, src.weight, f"init_from_classifier: {name}.weight (different width?)", reshape=True)
        _copy(dst.bias, src.bias, f"init_from_classifier: {name}.bias (different width?)")
    size = tuple(input_size) if isinstance(input_size, (tuple, list)) else (input_size, input_size)
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
        _assign(fc6.weight, kernel)
    return fcn


def _builder(stride):
    def build(num_classes=21, width=1.0, dropout=0.5, at_once=False, in_channels=3, padding=PADDING,
              batch_norm=False, head_batch_norm=None, learn_final_upsampling=False):
        return FCN(stride, num_classes, width, dropout, at_once, in_channels, padding, batch_norm,
                   head_batch_norm, learn_final_upsampling)

    build.__name__ = build.__qualname__ = f"fcn{stride}s"
    build.__doc__ = f"FCN-{stride}s on VGG-16 (Long et al. 2015), the reference model's layout."
    return build


fcn32s = _builder(32)
fcn16s = _builder(16)
fcn8s = _builder(8)

MODELS = {"fcn32s": fcn32s, "fcn16s": fcn16s, "fcn8s": fcn8s}


def oracle_scores(masks, stride, num_classes, ignore_index=255):
    """The FCN paper's four scores of an oracle that knows, on a stride-``stride`` grid, the exact share of
    every class in each ``stride`` x ``stride`` cell, and upsamples those shares bilinearly (as FCN's
    upscore layers start out) before the per-pixel argmax.

    A yardstick for what the output stride alone allows: a net that scores on a stride-32 grid (FCN-32s)
    cannot draw an edge finer than its cells, whatever it learns. ``masks`` is (N, H, W) integer labels
    (``ignore_index`` pixels are left out of the shares and the scores); returns the dict of
    ``minidl.training.metrics.segmentation_scores``. Learned upsampling can beat bilinear, so this is a
    guide, not a strict bound.
    """
    from minidl import Tensor, backend
    from minidl.training.metrics import confusion_matrix, segmentation_scores

    # a yardstick computed on the host: masks on the GPU (a Tensor or a CuPy array) are copied back
    masks = backend.to_numpy(getattr(masks, "data", masks))
    if masks.ndim != 3:
        raise ValueError(f"oracle_scores: masks must be (N, H, W), got shape {masks.shape}")
    if not isinstance(stride, (int, np.integer)) or stride < 1:
        raise ValueError(f"oracle_scores: stride must be a positive int, got {stride!r}")
    n, height, width = masks.shape
    rows, cols = -(-height // stride), -(-width // stride)
    padded = np.full((n, rows * stride, cols * stride), ignore_index, dtype=np.int64)
    padded[:, :height, :width] = masks
    # one bincount over (cell, label): ignored pixels go to an extra label that is then dropped
    labels = np.where(padded == ignore_index, num_classes, padded)
    if labels.min() < 0 or labels.max() > num_classes:
        raise ValueError(f"oracle_scores: labels must lie in [0, {num_classes}) or be {ignore_index}")
    cell = (np.arange(n)[:, None, None] * rows + np.arange(rows * stride)[None, :, None] // stride) * cols \
        + np.arange(cols * stride)[None, None, :] // stride
    counts = np.bincount((cell * (num_classes + 1) + labels).ravel(), minlength=n * rows * cols * (num_classes + 1))
    counts = counts.reshape(n, rows, cols, num_classes + 1)[..., :num_classes].transpose(0, 3, 1, 2)
    shares = (counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)).astype(np.float32)
    up = F.interpolate(Tensor(shares), size=(rows * stride, cols * stride), mode="bilinear",
                       align_corners=False).numpy()
    pred = up.argmax(axis=1)[:, :height, :width]
    return segmentation_scores(confusion_matrix(pred, masks, num_classes, ignore_index))
