"""convolutionalize: fully connected layers as convolutions, equal to the classifier on its training size."""
import numpy as np
import pytest

import minidl
from minidl import functional as F
from minidl import nn
from nets.alexnet import alexnet
from nets.convolutionalize import convolutionalize, feature_size, pooling_matrix
from nets.vgg import vgg16


def _image(n, size, seed=0):
    return minidl.Tensor(np.random.default_rng(seed).random((n, 3, size, size), dtype=np.float32))


def _randomise_biases(model, seed=1):
    # the default init zeroes VGG's biases; non-zero ones check that they are carried over too
    rng = np.random.default_rng(seed)
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            p.data[...] = rng.normal(0, 0.1, p.shape).astype(np.float32)


@pytest.mark.parametrize("build,width,size,larger,expected", [
    (vgg16, 1 / 32, 224, 384, (6, 6)),      # the paper's case: fc6 a 7x7 convolution over pool5
    (vgg16, 1 / 16, 32, 96, (3, 3)),        # trained on 32x32: the adaptive pooling is folded into fc6
    (alexnet, 1 / 16, 224, 287, (3, 3)),    # AlexNet: fc6 a 6x6 convolution over 256 channels
])
def test_equals_the_classifier_and_slides_on_larger_inputs(build, width, size, larger, expected):
    model = build(num_classes=5, width=width).eval()
    _randomise_biases(model)
    net = convolutionalize(model, input_size=size).eval()
    x = _image(2, size)
    with minidl.no_grad():
        reference = model(x).numpy()
        scores = net(x).numpy()
        score_map = net(_image(1, larger, seed=3)).numpy()
    assert scores.shape == (2, 5, 1, 1)
    np.testing.assert_allclose(scores[:, :, 0, 0], reference, rtol=1e-4, atol=1e-6)
    assert score_map.shape == (1, 5) + expected


def test_vgg16_layers_become_the_papers_convolutions():
    net = convolutionalize(vgg16(num_classes=7, width=1 / 16))
    convs = [m for m in net.head if isinstance(m, nn.Conv2d)]
    assert [c.weight.shape for c in convs] == [(256, 32, 7, 7), (256, 256, 1, 1), (7, 256, 1, 1)]
    assert [type(m).__name__ for m in net.head] == ["Conv2d", "ReLU", "Dropout"] * 2 + ["Conv2d"]
    assert not any(isinstance(m, (nn.AdaptiveAvgPool2d, nn.Linear, nn.Flatten)) for m in net.modules())


def test_weights_are_copies():
    model = vgg16(num_classes=3, width=1 / 32)
    net = convolutionalize(model)
    net.features[0].weight.data[...] = 0
    net.head[0].weight.data[...] = 0
    assert np.any(model.features[0].weight.numpy()) and np.any(model.classifier[0].weight.numpy())


def test_keeps_the_training_mode():
    model = alexnet(num_classes=3, width=1 / 16)
    assert convolutionalize(model).training
    assert not convolutionalize(model.eval()).training


@pytest.mark.parametrize("n_in,n_out", [(1, 7), (4, 7), (7, 7), (9, 7), (13, 6)])
def test_pooling_matrix_is_adaptive_average_pooling(n_in, n_out):
    a = pooling_matrix(n_in, n_out)
    np.testing.assert_allclose(a.sum(axis=1), 1.0)
    x = np.random.default_rng(4).random((1, 1, n_in, n_in))
    pooled = F.adaptive_avg_pool2d(minidl.Tensor(x), n_out).numpy()[0, 0]
    np.testing.assert_allclose(a @ x[0, 0] @ a.T, pooled, rtol=1e-12)


def test_feature_size():
    assert feature_size(vgg16(width=1 / 32).features, (224, 224)) == (7, 7)
    assert feature_size(alexnet(width=1 / 16).features, (224, 224)) == (6, 6)
    with pytest.raises(ValueError, match="leaves no feature map"):
        feature_size(alexnet(width=1 / 16).features, (20, 20))


def test_errors_name_the_layer():
    with pytest.raises(TypeError, match="has no 'features'"):
        convolutionalize(nn.Linear(3, 3))
    model = vgg16(num_classes=3, width=1 / 32)
    model.classifier[1] = nn.BatchNorm1d(model.classifier[0].out_features)
    with pytest.raises(TypeError, match=r"VGG.classifier.1 is a BatchNorm1d"):
        convolutionalize(model)


def test_heatmap_example_runs_fast(tmp_path, capsys):
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(__file__), "..", "examples", "convolutionalize_heatmap.py")
    spec = importlib.util.spec_from_file_location("convolutionalize_heatmap", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    assert example.main(["--fast", "--grid", "3", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    difference = float(out.split("max |difference| = ")[1].split()[0])
    assert difference < 1e-5
    assert "96x96 image -> score map (9, 9) per class; at the 9 tile-aligned positions" in out
