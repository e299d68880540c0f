"""Output shapes over input sizes, the smallest input each network takes, and errors for bad input."""
import re

import numpy as np
import pytest

import minidl
import nets
from minidl import nn
from nets.common import output_size, smallest_input

CLASSES = 5
# Shrunk networks (1/16 of the channels) that keep the full depth and every pooling of the originals.
SHRUNK = {
    "alexnet": dict(name="alexnet", width=1 / 16),
    "alexnet_paper": dict(name="alexnet_paper", width=1 / 16),
    "vgg11_lrn": dict(name="vgg11_lrn", width=1 / 16),
    "vgg16_bn": dict(name="vgg16_bn", width=1 / 16),
    "vgg16_c": dict(name="vgg16_c", width=1 / 16),
    "googlenet": dict(name="googlenet", width=1 / 16),
    "googlenet_compat": dict(name="googlenet", width=1 / 16, torchvision_compat=True),
    "resnet18": dict(name="resnet18", width=1 / 16),
    "resnet50": dict(name="resnet50", width=1 / 16),
    "resnet18_small": dict(name="resnet18", width=1 / 16, small_input=True),
    "plain34": dict(name="plain34", width=1 / 16),
}
# The smallest square input of each: AlexNet's 11x11/4 conv and three 3x3/2 pools need 63; VGG's five
# 2x2 pools need 32; GoogLeNet's 7x7/2 conv and four ceil-mode 3x3/2 pools need 31, 15 when the last
# pool is torchvision's 2x2; ResNet pads everywhere.
MIN_SIZE = {
    "alexnet": 63, "alexnet_paper": 63, "vgg11_lrn": 32, "vgg16_bn": 32, "vgg16_c": 32,
    "googlenet": 31, "googlenet_compat": 15, "resnet18": 1, "resnet50": 1, "resnet18_small": 1,
    "plain34": 1,
}


def build(key):
    options = dict(SHRUNK[key])
    return nets.create(options.pop("name"), num_classes=CLASSES, **options)


@pytest.fixture(scope="module")
def models():
    built = {key: build(key) for key in SHRUNK}
    for model in built.values():
        model.eval()
    return built


def run(model, *shape):
    with minidl.no_grad():
        return model(minidl.randn(*shape))


@pytest.mark.parametrize("key", list(SHRUNK))
def test_output_shape_over_sizes(models, key):
    model = models[key]
    smallest = MIN_SIZE[key]
    for height, width in [(smallest, smallest), (smallest + 5, smallest + 17), (96, 80), (112, 112)]:
        out = run(model, 2, 3, height, width)
        assert out.shape == (2, CLASSES), (height, width)
        assert np.isfinite(out.numpy()).all()


@pytest.mark.parametrize("key", list(SHRUNK))
def test_minimum_size_is_computed_and_enforced(models, key):
    model = models[key]
    smallest = MIN_SIZE[key]
    assert model.input_spec.min_size == (smallest, smallest)
    if smallest == 1:
        assert run(model, 1, 3, 1, 1).shape == (1, CLASSES)
        return
    message = re.escape(f"smallest size that works is {smallest}x{smallest}")
    with pytest.raises(ValueError, match=message):
        run(model, 1, 3, smallest - 1, smallest - 1)
    with pytest.raises(ValueError, match=message):
        run(model, 1, 3, 224, smallest - 1)


@pytest.mark.parametrize("key, first_layer", [
    ("alexnet", "features.0"), ("vgg16_bn", "features.0"), ("googlenet", "conv1.conv"),
    ("googlenet_compat", "conv1.conv"), ("resnet50", "conv1"), ("plain34", "conv1"),
])
def test_wrong_channel_count_names_first_layer(models, key, first_layer):
    with pytest.raises(ValueError) as info:
        run(models[key], 1, 1, 64, 64)
    message = str(info.value)
    assert first_layer in message
    assert "takes 3 input channels" in message and "has 1" in message


def test_wrong_dimensionality(models):
    with pytest.raises(ValueError, match="4 dimensions"):
        run(models["resnet18"], 3, 64, 64)


def test_other_input_channel_counts_build():
    model = nets.create("resnet18", num_classes=3, width=1 / 16, in_channels=1).eval()
    assert run(model, 2, 1, 32, 32).shape == (2, 3)


def test_output_size_formula_matches_pytorch_cases():
    # floor mode: (n + 2p - d(k - 1) - 1) // s + 1
    assert output_size(224, 11, 4, 2, 1, False) == 55
    assert output_size(55, 3, 2, 0, 1, False) == 27
    # ceil mode: GoogLeNet's 112 -> 56 and the last window dropped when it would start in the padding
    assert output_size(112, 3, 2, 0, 1, True) == 56
    assert output_size(14, 2, 2, 0, 1, True) == 7
    assert output_size(5, 2, 2, 1, 1, True) == 3
    assert output_size(2, 3, 1, 0, 1, False) == 0


def test_smallest_input_of_a_layer_stack():
    layers = [nn.Conv2d(3, 4, 11, stride=4, padding=2), nn.MaxPool2d(3, 2)]
    # conv: (n - 7) // 4 + 1 >= 3 needs n >= 15
    assert smallest_input(layers) == (15, 15)
    rectangular = [nn.Conv2d(3, 4, (5, 1)), nn.MaxPool2d((2, 3), (2, 3))]
    assert smallest_input(rectangular) == (6, 3)
