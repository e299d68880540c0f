"""``ImageFolder``: images sorted into one sub-folder per class (``root/cat/001.png``, ``root/dog/xyz.jpg``)."""
import os
import warnings

import numpy as np

from .dataset import Dataset, _check_index
from .transforms import ToTensor

_to_tensor = ToTensor()

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif")


def pil_loader(path):
    """Decode ``path`` with Pillow, convert to RGB, and return an HWC uint8 array."""
    from PIL import Image

    with open(path, "rb") as f:
        image = Image.open(f)
        return np.asarray(image.convert("RGB")).copy()


def _verify(path):
    from PIL import Image

    with Image.open(path) as image:
        image.verify()


class ImageFolder(Dataset):
    """A classification dataset read from ``root/<class>/<image>``; classes are the sorted folder names.

    Args:
        root: the folder holding one sub-folder per class.
        transform: called on the decoded image (an HWC uint8 RGB array); without it a sample's image is a
            CHW float32 array in [0, 1].
        target_transform: called on the class index.
        loader: ``path -> image``; default Pillow, converted to RGB.
        extensions: file endings counted as images (case-insensitive); default ``IMG_EXTENSIONS``.
        is_valid_file: ``path -> bool``, used instead of ``extensions`` when given.
        skip_corrupt: when true, every file is checked with Pillow when the dataset is built, and those
            that fail are left out with a warning naming each; when false (default) a file that fails to
            decode raises an error naming it when it is read.

    Attributes: ``classes`` (sorted names), ``class_to_idx``, ``samples`` (list of (path, class index)),
    ``targets``.
    """

    def __init__(self, root, transform=None, target_transform=None, loader=pil_loader, extensions=None,
                 is_valid_file=None, skip_corrupt=False):
        if extensions is not None and is_valid_file is not None:
            raise ValueError("ImageFolder: pass either extensions or is_valid_file, not both")
        self.root = os.fspath(root)
        if not os.path.isdir(self.root):
            raise FileNotFoundError(f"ImageFolder: {self.root!r} is not a folder")
        self.classes = sorted(e.name for e in os.scandir(self.root) if e.is_dir() and not e.name.startswith("."))
        if not self.classes:
            raise FileNotFoundError(
                f"ImageFolder: no class folders in {self.root!r}; expected one sub-folder per class, "
                "e.g. root/cat/001.png and root/dog/002.png"
            )
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        exts = tuple(e.lower() for e in (extensions or IMG_EXTENSIONS))
        valid = is_valid_file or (lambda path: path.lower().endswith(exts))
        self.samples = self._scan(valid, exts if is_valid_file is None else None)
        if skip_corrupt:
            self.samples = self._without_corrupt(self.samples)
        self.targets = [c for _, c in self.samples]
        self.imgs = self.samples
        self.loader = loader
        self.transform = transform
        self.target_transform = target_transform

    def _scan(self, valid, exts):
        samples, empty = [], []
        for name in self.classes:
            folder = os.path.join(self.root, name)
            found = [
                os.path.join(dirpath, f)
                for dirpath, _, files in sorted(os.walk(folder, followlinks=True))
                for f in sorted(files)
                if valid(os.path.join(dirpath, f))
            ]
            if not found:
                empty.append(name)
            samples.extend((path, self.class_to_idx[name]) for path in found)
        if empty:
            what = f"with extensions {', '.join(exts)}" if exts else "accepted by is_valid_file"
            raise FileNotFoundError(
                f"ImageFolder: no image files {what} in the class folder(s) {empty} of {self.root!r}"
            )
        return samples

    @staticmethod
    def _without_corrupt(samples):
        kept = []
        for path, target in samples:
            try:
                _verify(path)
            except Exception as e:  # Pillow raises several types for bad data; all mean "unreadable"
                warnings.warn(f"ImageFolder: skipping {path}: not a readable image ({e})", stacklevel=3)
                continue
            kept.append((path, target))
        if not kept:
            raise FileNotFoundError("ImageFolder: every image file was unreadable and skipped")
        return kept

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, target = self.samples[_check_index("ImageFolder", index, len(self))]
        try:
            image = self.loader(path)
        except Exception as e:  # name the file whatever the decoder raised
            raise OSError(f"ImageFolder: cannot read image {path}: {e}") from e
        if self.transform is not None:
            image = self.transform(image)
        else:
            image = _to_tensor(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target
