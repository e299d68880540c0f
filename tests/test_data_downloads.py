"""The download path against a local HTTP server on 127.0.0.1 serving small files in the real formats."""
import functools
import gzip
import hashlib
import http.server
import io
import os
import tarfile
import threading

import numpy as np
import pytest

from minidl.data import CIFAR10, MNIST, ChecksumError, FashionMNIST
from minidl.data.mnist import read_idx

DEAD_MIRROR = "http://127.0.0.1:9/"  # the discard port: nothing listens, the connection is refused


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", folder
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _md5(data):
    return hashlib.md5(data).hexdigest()


def _idx(array):
    codes = {np.dtype(np.uint8): 0x08}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
    return header + array.tobytes()


def _write_mnist(folder, n_train=5, n_test=3):
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    resources = []
    for name, array in arrays.items():
        data = gzip.compress(_idx(array))
        (folder / name).write_bytes(data)
        resources.append((name, _md5(data)))
    return arrays, resources


def _files_under(path):
    return [os.path.join(d, f) for d, _, files in os.walk(path) for f in files]


@pytest.mark.parametrize("base", [MNIST, FashionMNIST])
def test_mnist_download_verify_and_read(server, tmp_path, base):
    url, folder = server
    arrays, resources = _write_mnist(folder)
    cls = type("Local" + base.__name__, (base,), {"mirrors": [DEAD_MIRROR, url], "resources": resources})
    root = tmp_path / "data"
    train = cls(root, train=True, download=True)
    assert len(train) == 5 and train.classes == base.classes
    image, label = train[2]
    assert image.shape == (1, 28, 28) and image.dtype == np.float32
    np.testing.assert_allclose(image[0] * 255, arrays["train-images-idx3-ubyte.gz"][2], atol=1e-3)
    assert label == arrays["train-labels-idx1-ubyte.gz"][2]
    test = cls(root, train=False)
    assert len(test) == 3
    images, labels = test.get_batch([0, 2])
    assert images.shape == (2, 1, 28, 28) and labels.dtype == np.int64
    assert not [f for f in _files_under(root) if f.endswith(".part")]


def test_mnist_checksum_mismatch_is_refused_and_leaves_nothing(server, tmp_path):
    url, folder = server
    _, resources = _write_mnist(folder)
    wrong = [(name, "0" * 32 if i == 0 else md5) for i, (name, md5) in enumerate(resources)]
    cls = type("BadMNIST", (MNIST,), {"mirrors": [url], "resources": wrong})
    root = tmp_path / "data"
    with pytest.raises(ChecksumError) as info:
        cls(root, download=True)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message and "0" * 32 in message and resources[0][1] in message
    assert not root.exists()


def test_missing_files_without_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True"):
        MNIST(tmp_path)
    with pytest.raises(FileNotFoundError, match="download=True"):
        CIFAR10(tmp_path)


def test_read_idx_rejects_a_truncated_file(tmp_path):
    path = tmp_path / "x.idx"
    path.write_bytes(_idx(np.zeros((2, 3), np.uint8))[:-1])
    with pytest.raises(ValueError, match="x.idx"):
        read_idx(path)


def _cifar_archive(n=2):
    rng = np.random.default_rng(1)
    buffer, batches = io.BytesIO(), {}
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
            labels = rng.integers(0, 10, n, dtype=np.uint8)
            images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
            data = np.concatenate([labels[:, None], images.reshape(n, -1)], axis=1).tobytes()
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            batches[name] = (images, labels)
    return buffer.getvalue(), batches


def test_cifar_download_extract_and_read(server, tmp_path):
    url, folder = server
    archive, batches = _cifar_archive()
    (folder / CIFAR10.filename).write_bytes(archive)
    cls = type("LocalCIFAR10", (CIFAR10,), {"mirrors": [url], "tgz_md5": _md5(archive)})
    root = tmp_path / "data"
    train = cls(root, download=True)
    assert len(train) == 10
    image, label = train[3]
    images, labels = batches["data_batch_2.bin"]
    np.testing.assert_allclose(image * 255, images[1], atol=1e-3)
    assert label == labels[1]
    test = cls(root, train=False, download=True)
    assert len(test) == 2 and test.data.shape == (2, 32, 32, 3)
    assert sorted(os.listdir(root)) == sorted([CIFAR10.filename, CIFAR10.base_folder])


def test_cifar_checksum_mismatch_leaves_nothing(server, tmp_path):
    url, folder = server
    archive, _ = _cifar_archive()
    (folder / CIFAR10.filename).write_bytes(archive)
    cls = type("BadCIFAR10", (CIFAR10,), {"mirrors": [url], "tgz_md5": "f" * 32})
    root = tmp_path / "data"
    with pytest.raises(ChecksumError, match=f"cifar-10-binary.tar.gz.*{'f' * 32}.*{_md5(archive)}"):
        cls(root, download=True)
    assert not root.exists()
