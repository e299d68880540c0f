import numpy as np
import pytest
from PIL import Image

from minidl.data import DataLoader, ImageFolder
from minidl.data import transforms as T


def _write_png(path, seed, size=(6, 5)):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, size=size + (3,), dtype=np.uint8)).save(path)


@pytest.fixture
def tree(tmp_path):
    for c, name in enumerate(["dog", "cat"]):
        (tmp_path / name).mkdir()
        for i in range(3):
            _write_png(tmp_path / name / f"{i}.png", 10 * c + i)
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    return tmp_path


def test_classes_sorted_and_samples(tree):
    ds = ImageFolder(tree)
    assert ds.classes == ["cat", "dog"] and ds.class_to_idx == {"cat": 0, "dog": 1}
    assert len(ds) == 6 and ds.targets == [0, 0, 0, 1, 1, 1]
    image, label = ds[4]
    expected = np.asarray(Image.open(tree / "dog" / "1.png").convert("RGB"))
    np.testing.assert_allclose(image, expected.transpose(2, 0, 1) / 255.0, rtol=1e-6)
    assert label == 1


def test_transform_gets_hwc_uint8_and_loader_batches(tree):
    ds = ImageFolder(tree, transform=T.Compose([T.RandomCrop(4), T.ToTensor()]))
    images, labels = next(iter(DataLoader(ds, batch_size=6, num_workers=2, generator=0)))
    assert images.shape == (6, 3, 4, 4) and labels.shape == (6,)


def test_corrupt_file_named_in_error(tree):
    bad = tree / "dog" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    ds = ImageFolder(tree)
    index = [p for p, _ in ds.samples].index(str(bad))
    with pytest.raises(OSError, match="broken.png"):
        ds[index]


def test_corrupt_file_skipped_with_warning(tree):
    (tree / "dog" / "broken.png").write_bytes(b"not a png at all")
    with pytest.warns(UserWarning, match="broken.png"):
        ds = ImageFolder(tree, skip_corrupt=True)
    assert len(ds) == 6 and all("broken" not in p for p, _ in ds.samples)


def test_empty_and_classless_roots(tmp_path):
    with pytest.raises(FileNotFoundError, match="no class folders"):
        ImageFolder(tmp_path)
    (tmp_path / "a").mkdir()
    with pytest.raises(FileNotFoundError, match=r"\['a'\]"):
        ImageFolder(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a folder"):
        ImageFolder(tmp_path / "missing")


def test_extensions_and_is_valid_file(tree):
    only_first = ImageFolder(tree, is_valid_file=lambda p: p.endswith("0.png"))
    assert [t for _, t in only_first.samples] == [0, 1]
    with pytest.raises(FileNotFoundError, match=r"\.txt.*\['dog'\]"):
        ImageFolder(tree, extensions=(".txt",))
