"""Data sets and networks as the commands build them from their settings.

Classification (``minidl train``, ``eval``, ``predict``): ``shapes`` (generated), ``mnist``,
``fashion-mnist``, ``cifar10`` (downloaded and verified), or a folder of class folders (``ImageFolder``;
with ``train/`` and ``val/`` inside, or split 90/10). Segmentation (``minidl segment``): ``shapes``
masks or a folder in the PASCAL VOC layout. A network gets the small-image stem when its input is at
most ``SMALL_INPUT`` pixels, for ``train`` and ``summary`` alike.
"""
import inspect
import os

import numpy as np

from .common import UserError, user_errors

DOWNLOADS = ("mnist", "fashion-mnist", "cifar10")
SMALL_INPUT = 64
SEED_OFFSETS = {"val": 10_000, "pretrain": 20_000, "pretrain_val": 30_000}  # Shapes draws per split
AUGMENTATIONS = ("flip", "crop", "color", "lighting", "affine", "lens")


def data_kind(name):
    """'shapes', a download's name, or 'folder' for an existing folder."""
    if name == "shapes" or name in DOWNLOADS:
        return name
    if os.path.isdir(name):
        return "folder"
    raise UserError(f"--data {name}: unknown dataset: expected shapes, {', '.join(DOWNLOADS)} or an existing folder")


def augmentation_names(text):
    names = [a.strip() for a in (text or "").split(",") if a.strip() and a.strip() != "none"]
    for name in names:
        if name not in AUGMENTATIONS:
            raise UserError(f"--augment {text}: unknown augmentation {name!r}: "
                            f"expected {', '.join(AUGMENTATIONS)} or none")
    return names


def _transforms(kind, image_size, augment, train):
    from minidl.data import transforms as T

    steps = []
    if kind == "folder" and image_size is not None:
        steps += [T.Resize(image_size), T.CenterCrop(image_size)]
    if train:
        table = {
            "flip": lambda: T.RandomHorizontalFlip(),
            "crop": lambda: T.RandomCrop(image_size, padding=max(1, image_size // 8)),
            "color": lambda: T.ColorJitter(0.3, 0.3, 0.3, 0.05),
            "lighting": lambda: T.Lighting(0.1),
            "affine": lambda: T.RandomAffine(degrees=15, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=5),
            "lens": lambda: T.RandomLensDistortion(),
        }
        steps += [table[name]() for name in augmentation_names(augment)]
    if not steps and kind == "shapes":
        return None
    steps.append(T.ToTensor())
    if kind in ("mnist", "fashion-mnist"):
        steps.append(three_channels)
    return T.Compose(steps)


def three_channels(chw):
    """Grayscale images repeated into RGB, so every network's 3-channel first layer takes them."""
    return np.repeat(chw, 3, axis=0) if chw.shape[0] == 1 else chw


def first(dataset, n):
    """The first ``n`` samples of ``dataset`` (all of them when ``n`` is None or larger)."""
    from minidl.data import Subset

    return dataset if n is None or n >= len(dataset) else Subset(dataset, list(range(n)))


def classification_data(data, s, root=None, augment=None):
    """(train set, validation set, class names) for ``--data`` with the settings ``s``."""
    from minidl import data as D

    kind = data_kind(data)
    size, seed = s["image_size"], s["seed"]
    train_tf, val_tf = _transforms(kind, size, augment, True), _transforms(kind, size, None, False)
    with user_errors():
        if kind == "shapes":
            train = D.Shapes(n=s["num_train"], image_size=size, seed=seed, transform=train_tf)
            val = D.Shapes(n=s["num_val"], image_size=size, seed=seed + SEED_OFFSETS["val"], transform=val_tf)
            return train, val, list(train.classes)
        if kind in DOWNLOADS:
            cls = {"mnist": D.MNIST, "fashion-mnist": D.FashionMNIST, "cifar10": D.CIFAR10}[kind]
            root = root or os.path.join(os.path.expanduser("~"), ".cache", "minidl")
            train = cls(root, train=True, download=True, transform=train_tf)
            val = cls(root, train=False, download=True, transform=val_tf)
        else:
            train, val = _folder(data, size, train_tf, val_tf, seed)
        classes = list(getattr(train, "classes", None) or train.dataset.classes)
        return first(train, s["num_train"]), first(val, s["num_val"]), classes


def _folder(path, image_size, train_tf, val_tf, seed):
    """A folder with ``train/`` and ``val/`` class folders, or class folders split 90/10."""
    from minidl import data as D

    halves = [os.path.join(path, h) for h in ("train", "val")]
    if all(os.path.isdir(h) for h in halves):
        train = D.ImageFolder(halves[0], transform=train_tf)
        val = D.ImageFolder(halves[1], transform=val_tf)
        if val.classes != train.classes:
            raise UserError(f"--data {path}: train/ and val/ have different class folders")
    else:
        train = D.ImageFolder(path, transform=train_tf)
        val_all = D.ImageFolder(path, transform=val_tf)
        n_val = max(1, len(train) // 10)
        order = np.random.default_rng(seed).permutation(len(train))
        train, val = D.Subset(train, order[n_val:]), D.Subset(val_all, order[:n_val])
    if image_size is None:
        _check_one_size(path, train)
    return train, val


def _check_one_size(path, dataset):
    from PIL import Image

    folder = getattr(dataset, "dataset", dataset)
    sizes = set()
    for file, _ in folder.samples[:256]:
        with Image.open(file) as im:
            sizes.add(im.size)
    if len(sizes) > 1:
        raise UserError(
            f"--data {path}: images have different sizes {sorted(sizes)[:3]}...; pass --image-size N to resize them"
        )


def segmentation_data(data, s, flip=False, overlap=True):
    """(train set, validation set, class names with 'background' first) for ``minidl segment``."""
    from minidl import data as D
    from minidl.data import transforms as T

    flips = [T.RandomHorizontalFlip()] if flip else []
    size, seed = s["image_size"], s["seed"]
    with user_errors():
        if data == "shapes":
            tf = T.Compose(flips + [T.ToTensor()]) if flips else None
            train = D.Shapes(n=s["num_train"], image_size=size, mode="segment", seed=seed, transform=tf,
                             overlap=overlap)
            val = D.Shapes(n=s["num_val"], image_size=size, mode="segment", seed=seed + SEED_OFFSETS["val"],
                           overlap=overlap)
            return train, val, ["background"] + list(train.classes)
        if not os.path.isdir(data):
            raise UserError(f"--data {data}: expected 'shapes' or a folder in the PASCAL VOC layout")
        fit = [T.Resize(size), T.CenterCrop(size)]
        train = D.VOCSegmentation(data, "train", transform=T.Compose(fit + flips + [T.ToTensor()]))
        val = D.VOCSegmentation(data, "val", transform=T.Compose(fit + [T.ToTensor()]))
        return first(train, s["num_train"]), first(val, s["num_val"]), list(D.VOC_CLASSES)


def build_net(name, num_classes, width=None, image_size=None, extra=None):
    """``nets.create`` with the command line's options: ``width``, and the small-image stem for inputs
    of at most ``SMALL_INPUT`` pixels where the network has one. Returns (model, the options used)."""
    import nets

    with user_errors():
        accepted = inspect.signature(nets.get_builder(name)).parameters
        options = dict(extra or {})
        if width is not None:
            options["width"] = width
        if image_size is not None and image_size <= SMALL_INPUT and "small_input" in accepted:
            options["small_input"] = True
        return nets.create(name, num_classes=num_classes, **options), options
