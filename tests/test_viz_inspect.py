"""Filters, feature maps, ReLU sparsity, CAM, saliency and FCN scores, on networks whose answer is known."""
import os

import numpy as np
import pytest

import minidl
import nets
from minidl import nn
from minidl.viz import (class_activation_map, feature_maps, filter_images, relu_sparsity, saliency,
                        score_maps)
from minidl.viz.report import write_report


class BrightSquareNet(nn.Module):
    """Built so the answer is known: conv1 copies the image (centre tap 1), ReLU, global average pooling,
    and class 1's weight is +1 on that channel (class 0's is -1): class 1's evidence is brightness."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 1, 3, padding=1)
        self.relu = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(1, 2)
        w = np.zeros((1, 1, 3, 3), np.float32)
        w[0, 0, 1, 1] = 1.0
        self.conv1.weight.data[...] = w
        self.conv1.bias.data[...] = 0.0
        self.fc.weight.data[...] = np.array([[-1.0], [1.0]], np.float32)
        self.fc.bias.data[...] = np.array([0.5, -0.25], np.float32)

    def forward(self, x):
        return self.fc(self.avgpool(self.relu(self.conv1(x))).flatten(1))


def bright_square(top=9, left=20, size=5, n=32):
    x = np.zeros((1, 1, n, n), np.float32)
    x[0, 0, top:top + size, left:left + size] = 1.0
    return minidl.Tensor(x)


def test_cam_peaks_on_the_evidence_and_averages_to_the_logit():
    model, x = BrightSquareNet(), bright_square()
    cam = class_activation_map(model, x, 1)
    assert cam.shape == (32, 32)
    r, c = np.unravel_index(np.argmax(cam), cam.shape)
    assert 9 <= r < 14 and 20 <= c < 25
    assert cam[0, 0] == 0.0
    with minidl.no_grad():
        logits = model(x).numpy()[0]
    # logit_k = b_k + mean_ij M_k(i, j) (no downsampling here, so the upsampling is the identity)
    for k in (0, 1):
        m = class_activation_map(model, x, k)
        assert abs(m.mean() + float(model.fc.bias.data[k]) - logits[k]) < 1e-5
    assert np.argmin(class_activation_map(model, x, 0)) == np.argmax(cam)


def test_cam_on_a_resnet_is_upsampled_and_checks_the_class():
    model = nets.create("resnet18", num_classes=4, width=0.125, small_input=True)
    x = minidl.randn(2, 3, 16, 16)
    assert class_activation_map(model, x, 3).shape == (16, 16)
    with pytest.raises(ValueError, match=r"class index must be an int in \[0, 4\)"):
        class_activation_map(model, x, 4)


def test_cam_refuses_a_network_without_global_average_pooling():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 6 * 6, 3))
    with pytest.raises(ValueError, match="global average pooling"):
        class_activation_map(model, minidl.randn(1, 1, 8, 8), 0)


def test_saliency_of_a_linear_model_is_its_weight():
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 2))
    model.train()
    s = saliency(model, minidl.randn(3, 2, 3, 3), 1)
    w = np.abs(model[1].weight.numpy()[1].reshape(2, 3, 3)).max(axis=0)
    np.testing.assert_allclose(s, w, rtol=1e-6)
    assert all(p.requires_grad and p.grad is None for p in model.parameters())
    assert model.training


def test_saliency_points_at_the_square():
    model, x = BrightSquareNet(), bright_square()
    s = saliency(model, x, 1)
    assert s[10, 21] > 0 and s[0, 0] == 0  # ReLU passes gradient only where the image is bright


def test_fcn_scores_are_read_before_the_last_upsampling():
    model = nets.create("fcn8s", num_classes=3, width=1 / 64)
    scores = score_maps(model, minidl.randn(1, 3, 32, 32))
    assert scores.shape[0] == 3 and scores.shape[1] < 32


def test_filters_are_each_on_their_own_scale():
    w = np.random.default_rng(0).normal(size=(5, 3, 3, 3)).astype(np.float32)
    rgb = filter_images(minidl.Tensor(w))
    assert rgb.shape == (5, 3, 3, 3)  # (C_out, kh, kw, RGB)
    assert np.allclose(rgb.reshape(5, -1).min(axis=1), 0) and np.allclose(rgb.reshape(5, -1).max(axis=1), 1)
    np.testing.assert_allclose(rgb[2, 1, 0], (w[2, :, 1, 0] - w[2].min()) / (w[2].max() - w[2].min()), rtol=1e-5)
    assert filter_images(w[:, :2]).shape == (5, 3, 3)  # not RGB: grey


def test_feature_maps_one_stage_per_resolution_most_active_first():
    model = nets.create("resnet18", num_classes=4, width=0.125, small_input=True)
    stages = feature_maps(model, minidl.rand(2, 3, 32, 32))
    assert [s.name for s in stages] == ["layer1.1", "layer2.1", "layer3.1", "layer4.1"]
    assert [s.maps.shape[1] for s in stages] == [32, 16, 8, 4]
    for s in stages:
        means = s.maps.mean(axis=(1, 2))[s.order]
        assert np.all(np.diff(means) <= 0)


def test_relu_sparsity_counts_exact_zeros_per_call():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(self.relu(x) - 1.0)

    rows = relu_sparsity(Twice(), minidl.tensor([[-1.0, 0.0, 0.5, 3.0]]))
    assert [r.name for r in rows] == ["relu (call 1)", "relu (call 2)"]
    assert rows[0].zeros == 0.5 and rows[1].zeros == 0.75
    with pytest.raises(ValueError, match="has no nn.ReLU module"):
        relu_sparsity(nn.Sequential(nn.Linear(2, 2)), minidl.randn(1, 2))


def test_report_writes_small_pictures(tmp_path):
    model = nets.create("resnet18", num_classes=3, width=0.125, small_input=True)
    x = minidl.rand(8, 3, 16, 16)
    r = write_report(model, x[:1], x, str(tmp_path), cam_class=2, class_names=["a", "b", "c"])
    files = [r["filters"], r["sparsity"], r["cam"], *r["features"]]
    assert os.path.basename(r["cam"]) == "cam_c.png" and len(r["features"]) == 4
    for f in files:
        assert 0 < os.path.getsize(f) < 100_000
    assert open(r["sparsity"]).read().startswith("| ReLU | output shape | exact zeros |")


@pytest.mark.gpu
def test_gpu_matches_cpu():
    model, x = BrightSquareNet(), bright_square()
    cpu = (class_activation_map(model, x, 1), saliency(model, x, 1), relu_sparsity(model, x)[0].zeros)
    model.to("cuda")
    gpu = (class_activation_map(model, x.to("cuda"), 1), saliency(model, x.to("cuda"), 1),
           relu_sparsity(model, x.to("cuda"))[0].zeros)
    np.testing.assert_allclose(cpu[0], gpu[0], atol=1e-5)
    np.testing.assert_allclose(cpu[1], gpu[1], atol=1e-5)
    assert cpu[2] == gpu[2]


@pytest.mark.gpu
def test_graph_and_feature_maps_on_the_gpu():
    model = nets.create("resnet18", num_classes=3, width=0.125, small_input=True)
    x = minidl.rand(2, 3, 16, 16)
    cpu = feature_maps(model, x)
    model.to("cuda")
    gpu = feature_maps(model, x.to("cuda"))
    for a, b in zip(cpu, gpu):
        np.testing.assert_allclose(a.maps, b.maps, atol=1e-4)
    with minidl.trace_modules(model):
        out = model(x.to("cuda"))
    assert len(minidl.draw_graph(out, by_module=True).nodes) > 10
