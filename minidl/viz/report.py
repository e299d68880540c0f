"""``write_report``: every picture of ``minidl inspect`` for one model, one image and one batch.

Files written to ``out_dir``: ``filters.png`` (the first convolution's filters),
``features_<k>_<block>.png`` (the feature maps of each stage, most active channels first, one scale per
stage so activity compares across channels, its top 1 % clipped), ``sparsity.md`` (each ReLU's share of
exact zeros over the batch), and when asked ``cam_<class>.png`` (the image, its class activation map and
its gradient saliency side by side) or ``scores.png`` (an FCN's per-class scores before the last
upsampling).
"""
import os

import numpy as np

from .cam import class_activation_map, saliency, score_maps
from .features import feature_maps, relu_sparsity
from .filters import filter_images, first_conv
from .pictures import grid, normalise, overlay, save_png

MAX_CHANNELS = 16


def sparsity_table(rows):
    """Markdown table of ``relu_sparsity`` rows."""
    lines = ["| ReLU | output shape | exact zeros |", "| --- | --- | --- |"]
    lines += [f"| {r.name} | {'x'.join(map(str, r.shape[1:]))} | {100 * r.zeros:.1f} % |" for r in rows]
    return "\n".join(lines) + "\n"


def write_filters(model, out_dir):
    name, conv = first_conv(model)
    images = filter_images(conv.weight)
    kh, kw = conv.kernel_size
    caption = f"{name}: {len(images)} filters {conv.in_channels}x{kh}x{kw}, each on its own scale"
    return save_png(grid(images, cols=8, cell=40), os.path.join(out_dir, "filters.png"), caption)


def write_features(model, image, out_dir):
    paths = []
    for k, stage in enumerate(feature_maps(model, image), start=1):
        shown = stage.order[:MAX_CHANNELS]
        maps = normalise(stage.maps[shown], top=99.0)
        c, h, w = stage.maps.shape
        caption = f"stage {k}: {stage.name}, {len(shown)} of {c} channels {h}x{w}, most active first"
        path = os.path.join(out_dir, f"features_{k}_{stage.name.replace('.', '_')}.png")
        paths.append(save_png(grid(list(maps), cols=8, cell=48), path, caption))
    return paths


def write_cam(model, image, k, class_name, out_dir):
    """The image, its CAM (when the network ends in global average pooling) and its saliency, for class ``k``."""
    picture = normalise(np.transpose(np.asarray(image.numpy()[0]), (1, 2, 0)))
    panels, titles = [picture], ["image"]
    try:
        panels.append(overlay(picture, class_activation_map(model, image, k)))
        titles.append("class activation map")
    except ValueError as e:
        if "global average pooling" not in str(e):
            raise
    panels.append(overlay(picture, saliency(model, image, k)))
    titles.append("saliency |d score/d x|")
    caption = f"class {class_name}: " + " | ".join(titles)
    return save_png(grid(panels, cols=len(panels), cell=160), os.path.join(out_dir, f"cam_{class_name}.png"),
                    caption)


def write_scores(model, image, class_names, out_dir):
    scores = score_maps(model, image)
    class_names = class_names if class_names is not None else [str(k) for k in range(len(scores))]
    caption = f"scores before the last upsampling ({scores.shape[1]}x{scores.shape[2]}): " + ", ".join(class_names)
    return save_png(grid(list(normalise(scores)), cols=len(scores), cell=64),
                    os.path.join(out_dir, "scores.png"), caption)


def write_report(model, image, batch, out_dir, cam_class=None, class_names=None, scores=False):
    """Write the pictures and the sparsity table; returns {'filters', 'features', 'sparsity', 'cam' or
    'scores': path(s)} and the sparsity rows under 'rows'."""
    os.makedirs(out_dir, exist_ok=True)
    result = {"filters": write_filters(model, out_dir), "features": write_features(model, image, out_dir)}
    rows = relu_sparsity(model, batch)
    result["rows"] = rows
    result["sparsity"] = os.path.join(out_dir, "sparsity.md")
    with open(result["sparsity"], "w", encoding="utf-8") as f:
        f.write(sparsity_table(rows))
    if cam_class is not None:
        name = class_names[cam_class] if class_names is not None else str(cam_class)
        result["cam"] = write_cam(model, image, cam_class, name, out_dir)
    if scores:
        result["scores"] = write_scores(model, image, class_names, out_dir)
    return result
