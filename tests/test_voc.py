"""VOCSegmentation on tiny generated folders: the layout, the three kinds of mask, and bad input."""
import numpy as np
import pytest
from PIL import Image

from minidl.data import DataLoader, VOCSegmentation, voc_colormap
from minidl.data import transforms as T


def make_voc(root, masks, splits=None, size=(12, 10)):
    """Write JPEGImages/<id>.jpg, SegmentationClass/<id>.png and ImageSets/Segmentation/<split>.txt.

    ``masks`` maps id -> a PIL image (the mask as it will be saved); images are random RGB of ``size``.
    """
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for stem, mask in masks.items():
        pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "JPEGImages" / f"{stem}.jpg")
        mask.save(root / "SegmentationClass" / f"{stem}.png")
    for split, stems in (splits or {"train": list(masks)}).items():
        (root / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("".join(s + "\n" for s in stems))
    return root


def palette_png(labels):
    im = Image.fromarray(np.asarray(labels, dtype=np.uint8), mode="P")
    im.putpalette(voc_colormap().reshape(-1).tolist())
    return im


def labels(size=(12, 10)):
    mask = np.zeros((size[1], size[0]), dtype=np.uint8)
    mask[2:6, 3:8] = 15
    mask[7:, :4] = 1
    mask[1, :] = 255
    return mask


def test_colormap_matches_the_voc_palette():
    cmap = voc_colormap()
    assert cmap.shape == (256, 3) and cmap.dtype == np.uint8
    assert cmap[0].tolist() == [0, 0, 0] and cmap[1].tolist() == [128, 0, 0]
    assert cmap[15].tolist() == [192, 128, 128] and cmap[255].tolist() == [224, 224, 192]
    assert len({tuple(c) for c in cmap}) == 256


def test_palette_grayscale_and_rgb_masks_read_as_indices(tmp_path):
    expected = labels()
    rgb = Image.fromarray(voc_colormap()[expected])
    root = make_voc(tmp_path, {"p": palette_png(expected), "g": Image.fromarray(expected, mode="L"), "c": rgb},
                    splits={"train": ["p", "g"], "val": ["c"]})
    train, val = VOCSegmentation(root, "train"), VOCSegmentation(root, "val")
    assert len(train) == 2 and len(val) == 1 and train.classes[15] == "person"
    for dataset, index in ((train, 0), (train, 1), (val, 0)):
        image, mask = dataset[index]
        assert image.shape == (3, 10, 12) and image.dtype == np.float32 and 0 <= image.min() <= image.max() <= 1
        assert mask.dtype == np.int64
        np.testing.assert_array_equal(mask, expected)


def test_devkit_root_transforms_and_loader(tmp_path):
    make_voc(tmp_path / "VOCdevkit" / "VOC2012", {f"im{i}": palette_png(labels()) for i in range(3)})
    tf = T.Compose([T.Resize(8), T.CenterCrop(8), T.ToTensor()])
    dataset = VOCSegmentation(tmp_path, "train", transform=tf)
    images, masks = next(iter(DataLoader(dataset, batch_size=3)))
    assert images.shape == (3, 3, 8, 8) and masks.shape == (3, 8, 8)
    assert set(np.unique(masks.numpy())) <= {0, 1, 15, 255}


def test_mask_of_another_size_is_named(tmp_path):
    root = make_voc(tmp_path, {"a": palette_png(labels((7, 5)))})
    with pytest.raises(ValueError, match=r"a\.png: mask is 7x5 .* image .*a\.jpg is 12x10"):
        VOCSegmentation(root)[0]


def test_labels_outside_the_classes_are_named(tmp_path):
    bad = labels()
    bad[0, 0], bad[0, 1] = 21, 40
    root = make_voc(tmp_path, {"b": palette_png(bad)})
    with pytest.raises(ValueError, match=r"b\.png: label value\(s\) 21, 40 are outside the 21 classes"):
        VOCSegmentation(root)[0]


def test_unknown_colours_are_named(tmp_path):
    rgb = voc_colormap()[labels()]
    rgb[3, 3] = (1, 2, 3)
    root = make_voc(tmp_path, {"c": Image.fromarray(rgb)})
    with pytest.raises(ValueError, match=r"c\.png: colour\(s\) \(1, 2, 3\) are not in the VOC colour map"):
        VOCSegmentation(root)[0]


def test_missing_pieces_are_named(tmp_path):
    with pytest.raises(ValueError, match="no JPEGImages/ folder"):
        VOCSegmentation(tmp_path)
    root = make_voc(tmp_path, {"a": palette_png(labels())}, splits={"train": ["a", "gone"]})
    with pytest.raises(ValueError, match="lists 'gone' but JPEGImages/gone.jpg is missing"):
        VOCSegmentation(root)
    with pytest.raises(ValueError, match="no list .*val.txt"):
        VOCSegmentation(root, "val")
