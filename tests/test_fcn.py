"""FCN-32s/16s/8s: output size, bilinear upsampling, crop alignment, staged and classifier init."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl import functional as F
from minidl import nn
from nets.fcn import FCN, fcn8s, fcn16s, fcn32s, init_from_classifier, init_from_coarser
from nets.vgg import vgg16

TINY = 1 / 64


def _image(h, w, n=1, seed=0):
    return minidl.Tensor(np.random.default_rng(seed).random((n, 3, h, w), dtype=np.float32))


@pytest.fixture(scope="module")
def tiny_nets():
    return {s: FCN(s, num_classes=3, width=TINY).eval() for s in (32, 16, 8)}


@settings(max_examples=8, deadline=None)
@given(h=st.integers(1, 64), w=st.integers(1, 64), stride=st.sampled_from([32, 16, 8]))
def test_output_has_the_input_size(tiny_nets, h, w, stride):
    with minidl.no_grad():
        out = tiny_nets[stride](_image(h, w))
    assert out.shape == (1, 3, h, w)


def test_layer_table():
    # width 1/8 keeps it cheap: VGG's 64..512 channels become 8..64 and fc6/fc7's 4096 become 512
    net = fcn8s(num_classes=21, width=1 / 8)
    first = net.features[0]
    assert first.padding == (100, 100) and first.kernel_size == (3, 3)
    pools = [m for m in net.features if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 5 and all(p.ceil_mode for p in pools)
    fc6, fc7 = net.classifier[0], net.classifier[3]
    assert fc6.weight.shape == (512, 64, 7, 7) and fc6.padding == (0, 0)
    assert fc7.weight.shape == (512, 512, 1, 1)
    assert [type(m).__name__ for m in net.classifier] == ["Conv2d", "ReLU", "Dropout"] * 2
    assert net.score_pool3.weight.shape == (21, 32, 1, 1) and net.score_pool4.weight.shape == (21, 64, 1, 1)
    geometry = {name: (getattr(net, name).kernel_size, getattr(net, name).stride, getattr(net, name).bias)
                for name in net.upsample_names}
    assert geometry == {"upscore2": ((4, 4), (2, 2), None), "upscore_pool4": ((4, 4), (2, 2), None),
                        "upscore8": ((16, 16), (8, 8), None)}
    assert fcn16s(num_classes=21, width=TINY).upsample_names == ["upscore2", "upscore16"]
    assert fcn32s(num_classes=21, width=TINY).upscore.kernel_size == (64, 64)
    assert not hasattr(fcn32s(num_classes=21, width=TINY), "score_pool4")
    # the backbone's keys are VGG-16's, so a classifier's features load as they are
    assert set(net.features.state_dict()) == set(vgg16(width=1 / 8).features.state_dict())


def test_score_layers_start_at_zero():
    net = fcn8s(num_classes=4, width=TINY)
    for name in ("score_fr", "score_pool4", "score_pool3"):
        assert not np.any(getattr(net, name).weight.numpy())
    with minidl.no_grad():
        assert not np.any(net.eval()(_image(20, 30)).numpy())


def _closed_form(k):
    f = (k + 1) // 2
    centre = (k - 1) / 2
    taps = 1 - np.abs(np.arange(k) - centre) / f
    return np.outer(taps, taps)


@pytest.mark.parametrize("stride,name,k", [(32, "upscore", 64), (16, "upscore16", 32), (8, "upscore8", 16),
                                            (8, "upscore2", 4)])
def test_upsampling_starts_bilinear(stride, name, k):
    weight = getattr(FCN(stride, num_classes=3, width=TINY), name).weight.numpy()
    assert weight.shape == (3, 3, k, k)
    for i in range(3):
        for j in range(3):
            expected = _closed_form(k) if i == j else np.zeros((k, k))
            np.testing.assert_allclose(weight[i, j], expected, rtol=0, atol=1e-7)


@pytest.mark.parametrize("stride,final,learned", [(32, "upscore", ()), (16, "upscore16", ("upscore2",)),
                                                  (8, "upscore8", ("upscore2", "upscore_pool4"))])
def test_final_upsampling_stays_bilinear_and_the_others_learn(stride, final, learned):
    from minidl import optim

    net = FCN(stride, num_classes=3, width=TINY, dropout=0.0)
    before = {name: getattr(net, name).weight.numpy().copy() for name in (final,) + learned}
    assert not getattr(net, final).weight.requires_grad
    assert all(getattr(net, name).weight.requires_grad for name in learned)
    # non-zero scores, so that gradients reach the upsampling layers
    for name in ("score_fr", "score_pool4", "score_pool3"):
        if hasattr(net, name):
            nn.init.normal_(getattr(net, name).weight, std=0.1)
    opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    target = minidl.tensor(np.random.default_rng(0).integers(0, 3, (2, 20, 20)))
    for _ in range(2):
        opt.zero_grad()
        F.cross_entropy(net(_image(20, 20, n=2)), target).backward()
        opt.step()
    np.testing.assert_array_equal(getattr(net, final).weight.numpy(), before[final])
    assert all(not np.array_equal(getattr(net, name).weight.numpy(), before[name]) for name in learned)
    assert FCN(stride, num_classes=3, width=TINY, learn_final_upsampling=True).get_submodule(final).weight.requires_grad


@pytest.mark.parametrize("factor", [2, 8, 16, 32])
def test_bilinear_transposed_convolution_interpolates_a_ramp(factor):
    """Input pixel i sits at output coordinate f i + f - 1/2 (the kernel's centre); between two input
    pixels the output is the straight line through them, so a linear ramp comes out exactly linear."""
    n, k = 5, 2 * factor
    rows, cols = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    ramp = (1.5 * rows - 0.75 * cols + 2.0).astype(np.float64)
    weight = minidl.Tensor(np.zeros((1, 1, k, k)))
    nn.init.bilinear_(weight)
    out = F.conv_transpose2d(minidl.Tensor(ramp[None, None]), weight, stride=factor).numpy()[0, 0]
    t = (np.arange(out.shape[0]) - (factor - 0.5)) / factor
    inside = (t >= 0) & (t <= n - 1)
    tr, tc = np.meshgrid(t[inside], t[inside], indexing="ij")
    np.testing.assert_allclose(out[np.ix_(inside, inside)], 1.5 * tr - 0.75 * tc + 2.0, rtol=0, atol=1e-12)


def _delta_network(stride, path):
    """An FCN whose every layer passes channel 0 straight through (3x3 convolutions have only their centre
    tap, fc6 only the centre of its 7x7), and whose only non-zero score layer reads ``path``."""
    net = FCN(stride, num_classes=1, width=TINY, dropout=0.0).eval()
    for p in net.parameters():
        p.data[...] = 0
    for module in list(net.features) + [net.classifier[0], net.classifier[3]]:
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            module.weight.data[0, 0, kh // 2, kw // 2] = 1.0
    getattr(net, path).weight.data[0, 0, 0, 0] = 1.0
    for name in net.upsample_names:
        nn.init.bilinear_(getattr(net, name).weight)
    return net


@pytest.mark.parametrize("stride,path,cell", [
    (32, "score_fr", 32), (16, "score_fr", 32), (16, "score_pool4", 16),
    (8, "score_fr", 32), (8, "score_pool4", 16), (8, "score_pool3", 8),
])
def test_crops_centre_the_response_on_the_bright_pixel(stride, path, cell):
    """A pixel in the middle of a pooling cell must come back centred on itself: the response of the
    bilinear upsampling is symmetric about x + 0.5 and peaks at x and x + 1. With any other crop offset
    the centre moves by the difference."""
    size = 96
    # the 100 pixels of padding shift the input; x sits at the middle of a cell of the padded image
    x = (cell // 2 - 100) % cell + cell
    y = x + cell
    image = np.zeros((1, 3, size, size), dtype=np.float32)
    image[0, 0, y, x] = 1.0
    with minidl.no_grad():
        out = _delta_network(stride, path)(minidl.Tensor(image)).numpy()[0, 0]
    assert out.shape == (size, size)
    row, col = out[y], out[:, x]
    peak = out.max()
    assert peak > 0 and np.isclose(out[y, x], peak, rtol=1e-6) and np.isclose(out[y + 1, x + 1], peak, rtol=1e-6)
    for line, centre in ((row, x), (col, y)):
        reach = min(cell, centre, size - centre - 2)
        np.testing.assert_allclose(line[centre - reach:centre + 1], line[centre + 1:centre + reach + 2][::-1],
                                   rtol=0, atol=1e-6)


def test_at_once_scales_the_skips():
    plain, scaled = _delta_network(8, "score_pool3"), _delta_network(8, "score_pool3")
    scaled.at_once = True
    image = _image(40, 40, seed=3)
    with minidl.no_grad():
        np.testing.assert_allclose(scaled(image).numpy(), 1e-4 * plain(image).numpy(), rtol=1e-5, atol=1e-12)


def test_staged_init_copies_the_coarser_net():
    coarse = fcn32s(num_classes=3, width=TINY)
    for p in coarse.parameters():
        p.data[...] = np.random.default_rng(0).standard_normal(p.shape).astype(np.float32)
    mid = fcn16s(num_classes=3, width=TINY).init_from(coarse)
    fine = init_from_coarser(fcn8s(num_classes=3, width=TINY), mid)
    theirs = dict(coarse.named_parameters())
    for name, p in mid.named_parameters():
        if name in theirs:
            np.testing.assert_array_equal(p.numpy(), theirs[name].numpy())
    assert not np.any(mid.score_pool4.weight.numpy())
    np.testing.assert_array_equal(fine.score_pool4.weight.numpy(), mid.score_pool4.weight.numpy())
    np.testing.assert_array_equal(fine.upscore2.weight.numpy(), mid.upscore2.weight.numpy())
    np.testing.assert_array_equal(fine.classifier[0].weight.numpy(), coarse.classifier[0].weight.numpy())
    assert not np.any(fine.score_pool3.weight.numpy())


def test_staged_init_refuses_a_different_width():
    with pytest.raises(ValueError, match="features.0.weight .*different width"):
        fcn16s(num_classes=3, width=TINY).init_from(fcn32s(num_classes=3, width=2 * TINY))


def test_init_from_classifier_reshapes_fc6_and_fc7():
    vgg = vgg16(num_classes=10, width=TINY)
    fcn = init_from_classifier(fcn8s(num_classes=3, width=TINY), vgg)
    fc6 = vgg.classifier[0].weight.numpy()
    np.testing.assert_array_equal(fcn.classifier[0].weight.numpy(), fc6.reshape(fc6.shape[0], -1, 7, 7))
    np.testing.assert_array_equal(fcn.classifier[3].weight.numpy()[:, :, 0, 0], vgg.classifier[3].weight.numpy())
    np.testing.assert_array_equal(fcn.features[2].weight.numpy(), vgg.features[2].weight.numpy())
    # on a 7x7 pool5 window fc6-as-convolution computes the classifier's fc6
    pool5 = np.random.default_rng(1).random((1, fc6.shape[1] // 49, 7, 7), dtype=np.float32)
    with minidl.no_grad():
        conv = fcn.classifier[0](minidl.Tensor(pool5)).numpy()[0, :, 0, 0]
        linear = vgg.classifier[0](minidl.Tensor(pool5.reshape(1, -1))).numpy()[0]
    np.testing.assert_allclose(conv, linear, rtol=1e-5, atol=1e-6)


def test_init_from_a_small_image_classifier_folds_the_pooling():
    """A VGG trained on 32x32 sees a 1x1 pool5, spread over 7x7 by the adaptive pooling: its fc6 acts
    as the sum of its 49 taps on that one cell, which becomes fc6's centre tap in the FCN."""
    vgg = vgg16(num_classes=10, width=TINY).eval()
    fcn = init_from_classifier(fcn8s(num_classes=3, width=TINY), vgg, input_size=32)
    kernel = fcn.classifier[0].weight.numpy()
    assert not np.any(np.delete(kernel.reshape(*kernel.shape[:2], 49), 24, axis=2))
    rng = np.random.default_rng(2)
    cell = rng.random((1, kernel.shape[1], 1, 1), dtype=np.float32)
    window = rng.random((1, kernel.shape[1], 7, 7), dtype=np.float32)
    window[:, :, 3:4, 3:4] = cell
    with minidl.no_grad():
        conv = fcn.classifier[0](minidl.Tensor(window)).numpy()[0, :, 0, 0]
        linear = vgg.classifier[0](vgg.avgpool(minidl.Tensor(cell)).flatten(1)).numpy()[0]
    np.testing.assert_allclose(conv, linear, rtol=1e-5, atol=1e-6)


def test_init_from_classifier_errors():
    with pytest.raises(TypeError, match="expected a VGG-16"):
        init_from_classifier(fcn8s(num_classes=3, width=TINY), nn.Linear(2, 2))
    with pytest.raises(ValueError, match="different width"):
        init_from_classifier(fcn8s(num_classes=3, width=TINY), vgg16(width=2 * TINY))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="FCN: stride must be 32, 16 or 8"):
        FCN(4)
    with pytest.raises(ValueError, match="fcn8s: the first layer features.0 .*takes 3 input channels"):
        fcn8s(num_classes=3, width=TINY)(minidl.Tensor(np.zeros((1, 1, 8, 8), dtype=np.float32)))


def test_gradients_reach_the_backbone_after_the_first_step():
    """With zero score layers the first backward reaches only them (as in the reference); once they move,
    every layer gets a gradient, the skips and the upsampling included."""
    minidl.manual_seed(0)
    net = fcn8s(num_classes=2, width=TINY, dropout=0.0)
    image = _image(12, 12, seed=5)
    target = minidl.Tensor((image.numpy()[:, 0] > 0.5).astype(np.int64))
    opt = minidl.optim.SGD(net.parameters(), lr=0.1)
    grads = []
    for _ in range(2):
        opt.zero_grad()
        F.cross_entropy(net(image), target, ignore_index=255).backward()
        grads.append({name: np.abs(p.grad.numpy()).sum() if p.grad is not None else 0.0
                      for name, p in net.named_parameters()})
        opt.step()
    first, second = grads
    assert first["score_fr.bias"] > 0 and first["score_pool3.weight"] > 0
    assert first["features.0.weight"] == 0 and first["classifier.0.weight"] == 0
    learned = {name for name, p in net.named_parameters() if p.requires_grad}
    assert learned == set(second) - {"upscore8.weight"}  # the final upsampling stays bilinear
    assert all(second[name] > 0 for name in learned), [k for k in learned if second[k] == 0]


def test_batch_norm_variant_layout():
    """``batch_norm=True``: vgg16_bn's backbone (a BatchNorm2d after each of the 13 convolutions, same
    keys), BatchNorm2d after fc6 and fc7, and the paper's layout left as it was by default."""
    from nets.vgg import vgg16_bn

    net = fcn8s(num_classes=3, width=1 / 8, batch_norm=True)
    kinds = [type(m).__name__ for m in net.features]
    assert kinds.count("Conv2d") == 13 and kinds.count("BatchNorm2d") == 13
    for i, kind in enumerate(kinds):
        if kind == "Conv2d":
            assert kinds[i + 1] == "BatchNorm2d" and kinds[i + 2] == "ReLU"
    assert net.features[0].padding == (100, 100)
    assert all(net.features[i].ceil_mode for i in net.pool_indices)
    assert set(net.features.state_dict()) == set(vgg16_bn(width=1 / 8).features.state_dict())
    assert [type(m).__name__ for m in net.classifier] == ["Conv2d", "BatchNorm2d", "ReLU", "Dropout"] * 2
    assert net.fc_indices == (0, 4) and net.classifier[4].weight.shape == (512, 512, 1, 1)
    backbone_only = fcn8s(num_classes=3, width=TINY, batch_norm=True, head_batch_norm=False)
    assert [type(m).__name__ for m in backbone_only.classifier] == ["Conv2d", "ReLU", "Dropout"] * 2
    plain = fcn8s(num_classes=3, width=TINY)
    assert plain.fc_indices == (0, 3)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())


@pytest.mark.parametrize("stride", [32, 16, 8])
@pytest.mark.parametrize("h,w", [(1, 1), (17, 40), (64, 64)])
def test_batch_norm_variant_output_has_the_input_size(stride, h, w):
    net = FCN(stride, num_classes=3, width=TINY, batch_norm=True)
    out = net.train()(_image(h, w, n=2))
    assert out.shape == (2, 3, h, w)
    with minidl.no_grad():
        assert net.eval()(_image(h, w)).shape == (1, 3, h, w)


def test_batch_norm_variant_trains():
    """A few Adam steps on two 32x32 images (a bright square on a dark background) lower the loss well
    below where it starts, and the running statistics of every BatchNorm2d move."""
    minidl.manual_seed(0)
    net = fcn8s(num_classes=2, width=TINY, batch_norm=True, dropout=0.0)
    rng = np.random.default_rng(4)
    images = rng.random((2, 3, 32, 32), dtype=np.float32) * 0.2
    target = np.zeros((2, 32, 32), dtype=np.int64)
    target[0, 4:16, 6:20] = 1
    target[1, 12:28, 14:30] = 1
    images[target[:, None].repeat(3, axis=1) == 1] += 0.8
    x, y = minidl.Tensor(images), minidl.Tensor(target)
    opt = minidl.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y, ignore_index=255)
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.5 * losses[0], losses
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            assert np.any(module.running_mean.numpy() != 0)


def test_init_from_a_batch_norm_classifier_copies_the_running_statistics():
    from nets.vgg import vgg16_bn

    vgg = vgg16_bn(num_classes=10, width=TINY)
    for name, tensor in vgg.features.state_dict(keep_vars=True).items():
        tensor.data[...] = np.random.default_rng(len(name)).random(tensor.shape).astype(tensor.dtype)
    fcn = init_from_classifier(fcn8s(num_classes=3, width=TINY, batch_norm=True), vgg)
    theirs = vgg.features.state_dict()
    for name, tensor in fcn.features.state_dict().items():
        np.testing.assert_array_equal(tensor.numpy(), theirs[name].numpy())
    fc7 = fcn.classifier[fcn.fc_indices[1]].weight.numpy()[:, :, 0, 0]
    np.testing.assert_array_equal(fc7, vgg.classifier[3].weight.numpy())
    with pytest.raises(ValueError, match="not vgg16_bn's"):
        init_from_classifier(fcn8s(num_classes=3, width=TINY, batch_norm=True), vgg16(width=TINY))


def test_oracle_scores_follow_the_output_stride():
    import nets.fcn
    from minidl.training.metrics import oracle_scores

    assert nets.fcn.oracle_scores is oracle_scores  # still importable where segmentation code looks
    masks = np.zeros((2, 64, 64), dtype=np.int64)
    masks[0, 8:24, 16:40] = 1
    masks[1, 40:56, 8:16] = 2
    masks[1, 0:8, 0:8] = 255
    assert oracle_scores(masks, 1, 3)["mean_iu"] == 1.0  # stride 1: the masks themselves
    coarse = [oracle_scores(masks, s, 3)["mean_iu"] for s in (8, 16, 32)]
    assert 1.0 > coarse[0] > coarse[2] and coarse[0] >= coarse[1] >= coarse[2]
    # stride 8 on blocks aligned to its grid: bilinear shares keep every edge and round only the
    # corners: the pixel next to a convex corner sees the block's share at weight (1 - 3.5/8)^2 < 1/2
    one = np.zeros((1, 32, 32), dtype=np.int64)
    one[0, 8:24, 8:24] = 1
    pred_errors = (1 - oracle_scores(one, 8, 2)["pixel_acc"]) * one.size
    assert pred_errors == 4 * 6  # six pixels lost at each of the four corners
    # sizes that are not multiples of the stride are padded with ignored pixels
    assert oracle_scores(masks[:, :60, :50], 1, 3)["mean_iu"] == 1.0
    assert 0 < oracle_scores(masks[:, :60, :50], 8, 3)["mean_iu"] < 1
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        oracle_scores(masks[0], 8, 3)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        oracle_scores(masks, 8, 2)


@pytest.mark.gpu
def test_oracle_scores_of_masks_on_the_gpu():
    from nets.fcn import oracle_scores

    masks = np.zeros((1, 32, 32), dtype=np.int64)
    masks[0, 8:24, 4:20] = 1
    expected = oracle_scores(masks, 8, 2)
    on_gpu = minidl.Tensor(masks, device="cuda")
    assert oracle_scores(on_gpu, 8, 2) == expected
    assert oracle_scores(on_gpu.data, 8, 2) == expected
