"""CIFAR-10 from its binary version (``cifar-10-binary.tar.gz``): plain bytes, never pickle.

Each ``*.bin`` file is a run of 3073-byte records: one label byte (0-9), then the 32x32 image as 1024
red, 1024 green and 1024 blue bytes, rows top to bottom.
"""
import os

import numpy as np

from .dataset import ArrayImageDataset
from .downloads import download_url, extract_tar, removed_on_failure

_RECORD = 1 + 3 * 32 * 32


def read_cifar_bin(path):
    """``(images (N, 32, 32, 3) uint8, labels (N,) int64)`` from one CIFAR-10 binary batch file."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % _RECORD:
        raise ValueError(f"{path}: {raw.size} bytes is not a whole number of {_RECORD}-byte CIFAR-10 records")
    records = raw.reshape(-1, _RECORD)
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), records[:, 0].astype(np.int64)


class CIFAR10(ArrayImageDataset):
    """CIFAR-10: 50,000 training and 10,000 test 32x32 colour images in 10 classes.

    The batches live in ``root/cifar-10-batches-bin``. ``download=True`` fetches the archive into
    ``root`` from ``mirrors``, checks it against ``tgz_md5`` and extracts it atomically. Images are
    (32, 32, 3) uint8 for ``transform``, (3, 32, 32) float32 in [0, 1] without one.
    """

    mirrors = ["https://www.cs.toronto.edu/~kriz/"]
    filename = "cifar-10-binary.tar.gz"
    tgz_md5 = "c32a1d4ab5d03f1284b67883e8d87530"
    base_folder = "cifar-10-batches-bin"
    train_list = [f"data_batch_{i}.bin" for i in range(1, 6)]
    test_list = ["test_batch.bin"]
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        self.root = os.fspath(root)
        self.train = train
        if download:
            self.download()
        folder = os.path.join(self.root, self.base_folder)
        files = [os.path.join(folder, f) for f in (self.train_list if train else self.test_list)]
        missing = [f for f in files if not os.path.isfile(f)]
        if missing:
            raise FileNotFoundError(
                f"CIFAR10: {', '.join(os.path.basename(f) for f in missing)} not found in {folder}; "
                "pass download=True to fetch the binary version"
            )
        parts = [read_cifar_bin(f) for f in files]
        super().__init__(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                         transform, target_transform)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    def _complete(self):
        folder = os.path.join(self.root, self.base_folder)
        return all(os.path.isfile(os.path.join(folder, f)) for f in self.train_list + self.test_list)

    def download(self):
        """Fetch and verify the archive (unless a verified copy is there), then extract it atomically."""
        if self._complete():
            return
        with removed_on_failure(self.root):
            archive = download_url(self.mirrors, self.filename, self.root, self.tgz_md5)
        extract_tar(archive, self.root, self.base_folder)
