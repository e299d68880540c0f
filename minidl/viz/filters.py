"""The first convolution's filters as pictures (AlexNet's Figure 3: the 96 learned 11x11x3 kernels).

Each filter w (C_in, kh, kw) is shown on its own scale, (w - min w) / (max w - min w), so the pattern it
matches reads as an image: bright where it weighs the input up, dark where down. With three input
channels the filter is an RGB picture; otherwise the channels are averaged into one grey one.
"""
import numpy as np

from .. import backend, nn


def first_conv(model):
    """(name, Conv2d) of the first convolution registered in ``model``."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    raise ValueError(f"first_conv: {type(model).__name__} has no Conv2d layer")


def filter_images(weight):
    """(C_out, kh, kw, 3) RGB or (C_out, kh, kw) grey images in [0, 1] from a (C_out, C_in, kh, kw) weight."""
    w = np.asarray(backend.to_numpy(getattr(weight, "data", weight)), dtype=np.float64)
    if w.ndim != 4:
        raise ValueError(f"filter_images: expected a (C_out, C_in, kh, kw) weight, got shape {w.shape}")
    w = np.transpose(w, (0, 2, 3, 1)) if w.shape[1] == 3 else w.mean(axis=1)
    flat = w.reshape(len(w), -1)
    lo, hi = flat.min(axis=1), flat.max(axis=1)
    span = np.where(hi > lo, hi - lo, 1.0)
    scaled = (flat - lo[:, None]) / span[:, None]
    return scaled.reshape(w.shape)
