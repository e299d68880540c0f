"""Where a network looks: class activation maps, gradient saliency, and FCN's per-class scores.

Class activation map (Zhou et al., 2016), for a network whose end is global average pooling then one
linear layer: with F_c(i, j) the last features and w_kc the linear weights of class k,

    logit_k = b_k + sum_c w_kc mean_ij F_c(i, j) = b_k + mean_ij M_k(i, j),  M_k(i, j) = sum_c w_kc F_c(i, j),

so M_k says how much each position adds to class k's score. It is upsampled bilinearly to the input size.
The network qualifies when its last linear layer's input equals the output of a global average pooling
(checked on the image, not assumed from the class).

Gradient saliency (Simonyan et al., 2014), for any network: |d logit_k / d x|, the largest over the
colour channels at each pixel: which pixels would move the score most.

FCN's score maps: the input of the last transposed convolution (the final upsampling), one map per
class at the coarse output stride.
"""
import numpy as np

from .. import backend, nn
from ..autograd import no_grad
from ..functional import interpolate
from .probes import record


def _to_numpy(t):
    return np.asarray(backend.to_numpy(t.data), dtype=np.float32)


def _check_class(k, logits, who):
    classes = logits.shape[1]
    if not isinstance(k, (int, np.integer)) or not 0 <= k < classes:
        raise ValueError(f"{who}: class index must be an int in [0, {classes}), got {k!r}")


def class_activation_map(model, x, k):
    """(H, W) NumPy map of class ``k`` for the first image of ``x`` (N, C, H, W), input resolution."""
    wanted = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.AdaptiveAvgPool2d, nn.Linear))]
    logits, seen = record(model, x, wanted)
    pools = [s for s in seen if isinstance(s.module, nn.AdaptiveAvgPool2d)]
    linears = [s for s in seen if isinstance(s.module, nn.Linear)]
    who = f"class_activation_map: {type(model).__name__}"
    if not pools or not linears or seen[-1] is not linears[-1]:
        raise ValueError(f"{who} does not end in global average pooling and one linear layer (use saliency)")
    pool, fc = pools[-1], linears[-1]
    pooled = pool.output.data.reshape(pool.output.shape[0], -1)
    xp = backend.get_array_module(pooled)
    if pool.output.shape[2:] != (1, 1) or fc.input.shape != pooled.shape or not bool(
            xp.allclose(fc.input.data, pooled)):
        raise ValueError(f"{who}: its last linear layer does not take the globally pooled features "
                         "(use saliency)")
    _check_class(k, logits, "class_activation_map")
    features = pool.input[:1]
    with no_grad():
        weight = fc.module.weight[k].reshape(1, -1, 1, 1)
        cam = (features * weight).sum(dim=1, keepdim=True)
        cam = interpolate(cam, size=tuple(x.shape[2:]), mode="bilinear", align_corners=False)
    return _to_numpy(cam)[0, 0]


def saliency(model, x, k):
    """(H, W) NumPy map |d logit_k / d x| (largest over channels) for the first image of ``x``."""
    params = list(model.parameters())
    wanted = [p.requires_grad for p in params]
    modes = [(m, m.training) for m in model.modules()]
    image = x[:1].detach().requires_grad_(True)
    try:
        for p in params:
            p.requires_grad_(False)
        model.eval()
        logits = model(image)
        _check_class(k, logits, "saliency")
        logits[0, k].backward()
    finally:
        for p, w in zip(params, wanted):
            p.requires_grad_(w)
        for m, mode in modes:
            m.training = mode
    return _to_numpy(image.grad.abs())[0].max(axis=0)


def score_maps(model, x):
    """(K, h, w) NumPy scores of the first image of ``x`` before the network's last transposed convolution."""
    ups = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.ConvTranspose2d)]
    if not ups:
        raise ValueError(f"score_maps: {type(model).__name__} has no transposed convolution (not an FCN)")
    _, seen = record(model, x, ups)
    return _to_numpy(seen[-1].input)[0]
