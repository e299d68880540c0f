"""``minidl predict``: a trained checkpoint applied to image files.

A classifier prints each image's five most likely classes with their probabilities (the image resized
and centre-cropped to the training size). A segmentation network (from ``minidl segment``) labels every
pixel: the image is scaled so its shorter side is the training size, the FCN runs on the whole image,
and the labels are scaled back (nearest neighbour) to the image's own size. It writes, per image,
``NAME_mask.png`` (a palette PNG in the PASCAL VOC colour map, pixel value = class index) and
``NAME_overlay.png`` (the image with the labelled classes tinted), and prints each class's share.
"""
import os

import numpy as np

import minidl

from . import arguments
from .common import UserError, load_trained, pick_device, prepare_out

OVERLAY_ALPHA = 0.5


def add_parser(subparsers):
    p = subparsers.add_parser(
        "predict", help="classify images, or segment them with an FCN checkpoint (mask and overlay PNGs)",
        description="Apply a checkpoint to images: a classifier prints the top-5 classes; a segmentation "
                    "network writes a mask PNG and an overlay PNG per image.")
    p.add_argument("checkpoint", help="a run's best.safetensors or last.safetensors")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, ...)")
    arguments.add_device(p)
    p.add_argument("--out", default="predictions",
                   help="segmentation: folder for the mask and overlay PNGs (default: predictions)")
    p.set_defaults(func=run)


def _read(path):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (OSError, UnidentifiedImageError) as e:
        raise UserError(f"{path}: cannot read the image ({e})") from None


def run(args):
    device = pick_device(args.device)
    model, meta = load_trained(args.checkpoint, device)
    if meta.get("task", "classify") == "segment":
        out = prepare_out(args.out)
        for path in args.images:
            _segment(model, meta, path, out, device)
    else:
        for path in args.images:
            _classify(model, meta, path, device)
    return 0


def _tensor(chw, device):
    return minidl.Tensor(np.asarray(getattr(chw, "data", chw), dtype=np.float32)[None]).to(device)


def _classify(model, meta, path, device):
    from minidl.data import transforms as T

    size = meta["image_size"]
    steps = [T.Resize(size), T.CenterCrop(size)] if size else []
    x = T.Compose(steps + [T.ToTensor()])(_read(path))
    with minidl.no_grad():
        probs = minidl.functional.softmax(model(_tensor(x, device)), dim=1).numpy()[0]
    print(path)
    for k in np.argsort(-probs)[: min(5, len(probs))]:
        print(f"  {100 * probs[k]:6.2f}%  {meta['class_names'][k]}")


def _segment(model, meta, path, out, device):
    from PIL import Image

    from minidl.data import transforms as T, voc_colormap

    image = _read(path)
    x = T.Compose([T.Resize(meta["image_size"]), T.ToTensor()])(image)
    with minidl.no_grad():
        labels = model(_tensor(x, device)).numpy()[0].argmax(axis=0).astype(np.uint8)
    mask = Image.fromarray(labels).resize(image.size, Image.NEAREST)
    colours = voc_colormap()
    mask.putpalette(colours.reshape(-1).tolist())  # an 8-bit image with a palette: mode 'P'

    stem = os.path.splitext(os.path.basename(path))[0]
    mask_path, overlay_path = os.path.join(out, f"{stem}_mask.png"), os.path.join(out, f"{stem}_overlay.png")
    mask.save(mask_path)
    index = np.asarray(mask)
    rgb = np.asarray(image, dtype=np.float32)
    tinted = np.where((index > 0)[..., None], (1 - OVERLAY_ALPHA) * rgb + OVERLAY_ALPHA * colours[index], rgb)
    Image.fromarray(tinted.round().astype(np.uint8)).save(overlay_path)
    counts = np.bincount(index.reshape(-1), minlength=meta["num_classes"])
    shares = ", ".join(f"{meta['class_names'][c]} {100 * counts[c] / index.size:.1f}%"
                       for c in np.argsort(-counts) if counts[c])
    print(f"{path}: mask {mask_path}, overlay {overlay_path} ({shares})")
