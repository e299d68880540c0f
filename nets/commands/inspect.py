"""``minidl inspect CHECKPOINT [IMAGE]``: what a trained network learned and where it looks.

Writes to ``--out`` (default: ``inspect/`` next to the checkpoint) the first convolution's filters, the
feature maps of each stage for one image (IMAGE, or the first validation image), each ReLU's share of
exact zeros over a validation batch (``sparsity.md``, also printed), and the class activation map and
gradient saliency over the image of ``--cam CLASS`` (by default the class the network predicts for it).
For a segmentation (FCN) checkpoint it writes the per-class score maps before the final upsampling
instead of a CAM.

IMAGE must have the checkpoint's size and colour channels: the pictures are drawn over it pixel for
pixel, so it is not resized behind the reader's back.
"""
import os
import time

import numpy as np

import minidl
from minidl.viz.report import sparsity_table, write_report

from . import building
from .common import UserError, load_trained, pick_device, user_errors

GREY_DATA = ("mnist", "fashion-mnist")


def add_parser(subparsers):
    p = subparsers.add_parser(
        "inspect", help="filters, feature maps, ReLU sparsity and class activation maps of a checkpoint",
        description="Draw what a trained checkpoint learned: first-layer filters, feature maps of each stage, "
                    "the share of zeros after each ReLU, and with --cam where it looks for a class.")
    p.add_argument("checkpoint", help="a checkpoint written by 'minidl train' or 'minidl segment'")
    p.add_argument("image", nargs="?", default=None,
                   help="an image of the checkpoint's size and channels (default: the first validation image)")
    p.add_argument("--cam", default=None, metavar="CLASS",
                   help="class name or index whose class activation map and saliency are drawn over the image "
                        "(default: the predicted class)")
    p.add_argument("--out", default=None, help="folder for the pictures (default: inspect/ next to the checkpoint)")
    p.add_argument("--batch-size", type=int, default=128,
                   help="validation images over which sparsity is counted (default 128)")
    p.add_argument("--device", default="auto", help="auto (GPU when CuPy finds one), cpu or gpu (default auto)")
    p.set_defaults(func=run)


def _class_index(text, names):
    if text in names:
        return names.index(text)
    if text.isdigit() and int(text) < len(names):
        return int(text)
    raise UserError(f"--cam {text!r}: expected a class name ({', '.join(names)}) or an index below {len(names)}")


def load_image(path, size, grey_ok):
    """(1, 3, size, size) float32 in [0, 1] from an image file that has exactly that size."""
    from PIL import Image, UnidentifiedImageError

    if not os.path.isfile(path):
        raise UserError(f"{path}: no such image")
    try:
        with Image.open(path) as im:
            im.load()
            mode, (w, h) = im.mode, im.size
            pixels = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError) as e:
        raise UserError(f"{path}: cannot read the image ({e})") from None
    channels = 3 if mode == "P" else Image.getmodebands(mode)  # a palette image is a colour image
    if channels != 3 and not (channels == 1 and grey_ok):
        raise UserError(f"{path}: has {channels} channel(s) (mode {mode}); the network takes "
                        f"{'grey or ' if grey_ok else ''}RGB images")
    if (w, h) != (size, size):
        raise UserError(f"{path}: is {w}x{h}; the checkpoint was trained on {size}x{size} images (resize it first)")
    return np.transpose(pixels, (2, 0, 1))[None].copy()


def validation_batch(meta, n):
    """The first ``n`` validation images of the data the checkpoint was trained on, as a NumPy batch."""
    from minidl import data

    settings = dict(meta.get("settings") or {}, image_size=meta["image_size"], num_train=1, num_val=n)
    settings.setdefault("seed", 0)
    if meta.get("task") == "segment":
        _, val, _ = building.segmentation_data(meta["data"], settings)
    else:
        _, val, _ = building.classification_data(meta["data"], settings)
    x, _ = next(iter(data.DataLoader(val, batch_size=min(n, len(val)))))
    return x.numpy()


def run(args):
    start = time.perf_counter()
    if args.batch_size <= 0:
        raise UserError(f"--batch-size must be positive, got {args.batch_size}")
    device = pick_device(args.device)
    model, meta = load_trained(args.checkpoint, device)
    task = meta.get("task", "classify")
    if task not in ("classify", "segment"):
        raise UserError(f"{args.checkpoint}: a checkpoint of task {task!r}; inspect reads classify or segment ones")
    names = list(meta["class_names"])
    if args.cam is not None and task != "classify":
        raise UserError(f"--cam: {args.checkpoint} is a segmentation checkpoint ({meta['net']}); class activation "
                        "maps are for classifiers (inspect writes its per-class score maps without --cam)")
    cam = _class_index(args.cam, names) if args.cam is not None else None
    batch = validation_batch(meta, args.batch_size)
    if args.image is None:
        image = batch[:1]
    else:
        image = load_image(args.image, meta["image_size"], meta["data"] in GREY_DATA)
    tensor = minidl.Tensor(image).to(device)
    if task == "classify" and cam is None:
        with minidl.no_grad():
            cam = int(model(tensor).numpy()[0].argmax())
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)), "inspect")
    with user_errors():
        result = write_report(model, tensor, minidl.Tensor(batch).to(device), out,
                              cam_class=cam, class_names=names, scores=task == "segment")
    print(f"ReLU sparsity (share of exact zeros) over {len(batch)} validation images:")
    print(sparsity_table(result["rows"]), end="")
    print(f"filters: {result['filters']}")
    print(f"feature maps: {', '.join(result['features'])}")
    if "cam" in result:
        print(f"class activation map and saliency of {names[cam]}: {result['cam']}")
    if "scores" in result:
        print(f"score maps: {result['scores']}")
    print(f"sparsity table: {result['sparsity']} ({time.perf_counter() - start:.1f} s)")
    return 0
