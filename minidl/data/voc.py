"""``VOCSegmentation``: a segmentation dataset in the PASCAL VOC folder layout (no download).

    ROOT/JPEGImages/<id>.jpg                 the images (any format Pillow reads)
    ROOT/SegmentationClass/<id>.png          the masks
    ROOT/ImageSets/Segmentation/train.txt    one <id> per line (and val.txt, trainval.txt, ...)

``ROOT`` may also be a folder holding ``VOCdevkit/VOC<year>`` (torchvision's ``root``).

A mask is read as class indices, 0 background, 1..K-1 the classes, 255 "void" (object borders and
ambiguous pixels, ignored by the loss and the metrics):

- a palette ("P") or grayscale ("L") PNG: the pixel values are the indices (VOC's own masks are
  palette PNGs whose palette is ``voc_colormap()``);
- an RGB PNG: each colour is looked up in the VOC colour map (255's colour is (224, 224, 192)).

Bad input raises ``ValueError`` naming the file: a mask whose size differs from its image's, an index
that is neither a class nor 255, an RGB colour that is not in the colour map.
"""
import os

import numpy as np

from .dataset import Dataset, _check_index

IGNORE_INDEX = 255
VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
)
VOID_COLOUR = (224, 224, 192)


def voc_colormap(n=256):
    """The VOC palette: entry i spreads the bits of i over R, G, B from the top bit down.

    Bit 3k of i goes to bit 7-k of red, bit 3k+1 to green, bit 3k+2 to blue (so 1 is (128, 0, 0),
    2 (0, 128, 0), 255 (224, 224, 192)). Returns an (n, 3) uint8 array.
    """
    index = np.arange(n)
    colours = np.zeros((n, 3), dtype=np.int64)
    for k in range(8):
        for channel in range(3):
            bit = (index >> (3 * k + channel)) & 1
            colours[:, channel] |= bit << (7 - k)
    return colours.astype(np.uint8)


def _resolve_root(root):
    if os.path.isdir(os.path.join(root, "JPEGImages")):
        return root
    devkit = os.path.join(root, "VOCdevkit")
    if os.path.isdir(devkit):
        years = sorted(d for d in os.listdir(devkit) if os.path.isdir(os.path.join(devkit, d, "JPEGImages")))
        if years:
            return os.path.join(devkit, years[-1])
    raise ValueError(
        f"VOCSegmentation: {root} has no JPEGImages/ folder (nor VOCdevkit/VOC<year>/JPEGImages); expected the "
        "PASCAL VOC layout JPEGImages/, SegmentationClass/, ImageSets/Segmentation/<split>.txt")


def _find_image(folder, stem):
    for ext in (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG"):
        path = os.path.join(folder, stem + ext)
        if os.path.exists(path):
            return path
    return None


def read_mask(path, num_classes):
    """The class-index mask (H, W) int64 of a PNG at ``path``, checked against ``num_classes`` and 255."""
    from PIL import Image

    with Image.open(path) as im:
        mode = im.mode
        if mode in ("P", "L"):
            mask = np.asarray(im).astype(np.int64)
        elif mode in ("RGB", "RGBA"):
            mask = _from_colours(np.asarray(im.convert("RGB")), path, num_classes)
        else:
            raise ValueError(f"{path}: mask of PNG mode {mode!r}; expected a palette, grayscale or RGB PNG")
    bad = (mask >= num_classes) & (mask != IGNORE_INDEX)
    if bad.any():
        values = np.unique(mask[bad])
        raise ValueError(
            f"{path}: label value(s) {', '.join(str(v) for v in values[:8])} are outside the {num_classes} "
            f"classes 0..{num_classes - 1} and are not the ignore label {IGNORE_INDEX}")
    return mask


def _from_colours(rgb, path, num_classes):
    palette = voc_colormap()[:num_classes].astype(np.int64)
    void = np.array(VOID_COLOUR, dtype=np.int64)
    codes = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    known = (palette[:, 0] << 16) | (palette[:, 1] << 8) | palette[:, 2]
    void_code = (void[0] << 16) | (void[1] << 8) | void[2]
    lookup = dict(zip(known.tolist(), range(num_classes)))
    lookup[int(void_code)] = IGNORE_INDEX
    present = np.unique(codes)
    unknown = [c for c in present.tolist() if c not in lookup]
    if unknown:
        shown = ", ".join(f"({c >> 16}, {(c >> 8) & 255}, {c & 255})" for c in unknown[:5])
        raise ValueError(
            f"{path}: colour(s) {shown} are not in the VOC colour map of {num_classes} classes "
            f"(nor the void colour {VOID_COLOUR})")
    table = np.array([lookup[c] for c in present.tolist()], dtype=np.int64)
    return table[np.searchsorted(present, codes)]


class VOCSegmentation(Dataset):
    """Images and class-index masks listed in ``ImageSets/Segmentation/<image_set>.txt``.

    Args:
        root: the VOC folder (with ``JPEGImages/``) or a folder holding ``VOCdevkit/VOC<year>``.
        image_set: the list's name: ``'train'``, ``'val'``, ``'trainval'``, ...
        transform: ``transform(image, mask)`` on the HWC uint8 image and (H, W) int64 mask, returning the
            pair (minidl's transforms apply the same geometry to both, nearest for the mask).
        target_transform: called on the mask afterwards.
        classes: class names, index 0 first (default the 21 of PASCAL VOC).

    Without ``transform`` a sample is (CHW float32 image in [0, 1], (H, W) int64 mask). Files are read
    when a sample is asked for; a missing file is reported when the dataset is built.
    """

    def __init__(self, root, image_set="train", transform=None, target_transform=None, classes=VOC_CLASSES):
        self.root = _resolve_root(os.fspath(root))
        self.image_set = image_set
        self.classes = list(classes)
        if len(self.classes) < 2:
            raise ValueError(f"VOCSegmentation: need at least two classes, got {self.classes!r}")
        self.transform, self.target_transform = transform, target_transform
        listing = os.path.join(self.root, "ImageSets", "Segmentation", f"{image_set}.txt")
        if not os.path.isfile(listing):
            raise ValueError(f"VOCSegmentation: no list {listing} for image_set {image_set!r}")
        with open(listing) as f:
            ids = [line.strip().split()[0] for line in f if line.strip()]
        if not ids:
            raise ValueError(f"VOCSegmentation: {listing} lists no images")
        self.samples = []
        for stem in ids:
            image = _find_image(os.path.join(self.root, "JPEGImages"), stem)
            mask = os.path.join(self.root, "SegmentationClass", stem + ".png")
            if image is None:
                raise ValueError(f"VOCSegmentation: {listing} lists {stem!r} but JPEGImages/{stem}.jpg is missing")
            if not os.path.isfile(mask):
                raise ValueError(f"VOCSegmentation: {listing} lists {stem!r} but {mask} is missing")
            self.samples.append((image, mask))

    def __len__(self):
        return len(self.samples)

    def load(self, index):
        """The raw pair: HWC uint8 RGB image and (H, W) int64 mask, sizes checked."""
        from PIL import Image

        image_path, mask_path = self.samples[index]
        with Image.open(image_path) as im:
            image = np.asarray(im.convert("RGB"))
        mask = read_mask(mask_path, len(self.classes))
        if mask.shape != image.shape[:2]:
            raise ValueError(
                f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]} (width x height) but its image "
                f"{image_path} is {image.shape[1]}x{image.shape[0]}")
        return image, mask

    def __getitem__(self, index):
        index = _check_index("VOCSegmentation", index, len(self))
        image, mask = self.load(index)
        if self.transform is not None:
            image, mask = self.transform(image, mask)
        else:
            image = np.ascontiguousarray(image.transpose(2, 0, 1)).astype(np.float32) / np.float32(255.0)
        if self.target_transform is not None:
            mask = self.target_transform(mask)
        return image, mask

    def __repr__(self):
        return f"VOCSegmentation(root={self.root!r}, image_set={self.image_set!r}, {len(self)} images)"
