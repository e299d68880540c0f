"""Layers: constructor attributes, PyTorch's default initialisation, forward against naive loops, the
layer-named errors, train/eval behaviour, gradient checks of what the layers add, and CPU vs GPU."""
import math

import numpy as np
import pytest

import minidl
from minidl import nn


def _x(*shape, dtype=np.float32, rng=None):
    rng = rng or np.random.default_rng(0)
    return minidl.tensor(rng.standard_normal(shape).astype(dtype))


def naive_conv2d(x, w, b, stride, pad):
    """Cross-correlation with plain loops on an already padded NumPy input (dilation 1, groups 1)."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    ho, wo = (h - kh) // stride + 1, (wd - kw) // stride + 1
    out = np.zeros((n, o, ho, wo))
    for i in range(n):
        for f in range(o):
            for r in range(ho):
                for q in range(wo):
                    out[i, f, r, q] = (x[i, :, r * stride:r * stride + kh, q * stride:q * stride + kw] * w[f]).sum()
                    out[i, f, r, q] += b[f]
    return out


def _uniform_bound_ok(values, bound):
    return np.abs(values).max() <= bound and np.abs(values).max() > 0.9 * bound


# ---------------------------------------------------------------------- Linear, Identity, Flatten
def test_linear_attributes_init_and_forward():
    lin = nn.Linear(400, 30)
    assert (lin.in_features, lin.out_features) == (400, 30)
    assert lin.weight.shape == (30, 400) and lin.bias.shape == (30,)
    assert _uniform_bound_ok(lin.weight.numpy(), 1 / math.sqrt(400))
    assert np.abs(lin.bias.numpy()).max() <= 1 / math.sqrt(400)
    x = _x(2, 5, 400)
    np.testing.assert_allclose(lin(x).numpy(), x.numpy() @ lin.weight.numpy().T + lin.bias.numpy(), rtol=1e-5,
                               atol=1e-5)
    assert nn.Linear(3, 2, bias=False).bias is None
    assert nn.Linear(3, 2, dtype=minidl.float64).weight.dtype == np.float64
    with pytest.raises(ValueError, match=r"Linear: input has 5 features .* in_features is 400"):
        lin(_x(2, 5))
    with pytest.raises(ValueError, match="Linear: in_features must be a positive int"):
        nn.Linear(0, 3)


def test_identity_and_flatten():
    x = _x(2, 3, 4, 5)
    assert nn.Identity(54, unused=1)(x) is x
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"


# ---------------------------------------------------------------------- convolutions
def test_conv2d_attributes_and_default_init():
    conv = nn.Conv2d(8, 12, (3, 5), stride=2, padding=1, groups=2)
    assert conv.kernel_size == (3, 5) and conv.stride == (2, 2) and conv.padding == (1, 1)
    assert conv.dilation == (1, 1) and conv.groups == 2 and conv.padding_mode == "zeros"
    assert conv.weight.shape == (12, 4, 3, 5) and conv.bias.shape == (12,)
    fan_in = 4 * 3 * 5
    assert _uniform_bound_ok(conv.weight.numpy(), 1 / math.sqrt(fan_in))
    assert np.abs(conv.bias.numpy()).max() <= 1 / math.sqrt(fan_in)
    assert nn.Conv2d(1, 1, 3, padding="same").padding == "same"


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate"])
def test_conv2d_matches_naive_loops_for_each_padding_mode(mode):
    conv = nn.Conv2d(2, 3, 3, stride=2, padding=1, padding_mode=mode).double()
    x = _x(2, 2, 5, 6, dtype=np.float64)
    np_mode = {"zeros": "constant", "reflect": "reflect", "replicate": "edge"}[mode]
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (1, 1), (1, 1)), mode=np_mode)
    expected = naive_conv2d(padded, conv.weight.numpy(), conv.bias.numpy(), 2, 1)
    np.testing.assert_allclose(conv(x).numpy(), expected, rtol=1e-10, atol=1e-12)


def test_conv2d_reflect_padding_gradcheck():
    conv = nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect").double()
    x = _x(1, 1, 4, 4, dtype=np.float64).requires_grad_()
    minidl.gradcheck(lambda x, w, b: conv(x), [x, conv.weight, conv.bias])


def test_conv2d_errors_name_the_layer():
    conv = nn.Conv2d(4, 2, 3)
    with pytest.raises(ValueError, match="Conv2d: input has 3 channels but in_channels is 4"):
        conv(_x(1, 3, 5, 5))
    with pytest.raises(ValueError, match="Conv2d: expected a 3-D .* or 4-D"):
        conv(_x(4, 5))
    with pytest.raises(ValueError, match="padding_mode 'circular' is not supported"):
        nn.Conv2d(1, 1, 3, padding_mode="circular")
    with pytest.raises(ValueError, match=r"in_channels \(3\) must be divisible by groups \(2\)"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")


def test_conv_transpose2d_init_shapes_and_output_size():
    up = nn.ConvTranspose2d(6, 4, 4, stride=2, padding=1, groups=2)
    assert up.weight.shape == (6, 2, 4, 4) and up.output_padding == (0, 0) and up.transposed
    fan_in = 2 * 16  # PyTorch takes the fan from weight.shape[1], i.e. out_channels / groups
    assert _uniform_bound_ok(up.weight.numpy(), 1 / math.sqrt(fan_in))
    x = _x(1, 6, 5, 5)
    assert up(x).shape == (1, 4, 10, 10)
    down = nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1)
    assert down(_x(1, 1, 4, 4)).shape == (1, 1, 7, 7)
    assert down(_x(1, 1, 4, 4), output_size=(8, 8)).shape == (1, 1, 8, 8)
    assert down(_x(1, 1, 4, 4), output_size=(1, 1, 7, 8)).shape == (1, 1, 7, 8)
    with pytest.raises(ValueError, match=r"height can only be in \[7, 8\]"):
        down(_x(1, 1, 4, 4), output_size=(9, 8))
    with pytest.raises(ValueError, match="ConvTranspose2d: input has 2 channels but in_channels is 6"):
        up(_x(1, 2, 5, 5))
    with pytest.raises(ValueError, match="padding_mode 'reflect' is not supported"):
        nn.ConvTranspose2d(1, 1, 3, padding_mode="reflect")


def test_conv_transpose2d_output_size_gradcheck():
    up = nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1).double()
    x = _x(1, 1, 3, 3, dtype=np.float64).requires_grad_()
    minidl.gradcheck(lambda x, w: up(x, output_size=(6, 6)), [x, up.weight])


# ---------------------------------------------------------------------- pooling and activations
def test_pooling_layers_keep_pytorch_attributes():
    pool = nn.MaxPool2d(3, 2)
    assert pool.kernel_size == 3 and pool.stride == 2 and pool.padding == 0 and not pool.ceil_mode
    assert nn.MaxPool2d(2).stride == 2 and nn.AvgPool2d((2, 3)).stride == (2, 3)
    assert repr(pool) == "MaxPool2d(kernel_size=3, stride=2, padding=0, dilation=1, ceil_mode=False)"
    x = _x(1, 2, 4, 4)
    blocks = x.numpy().reshape(1, 2, 2, 2, 2, 2)
    np.testing.assert_allclose(nn.MaxPool2d(2)(x).numpy(), blocks.max(axis=(3, 5)))
    np.testing.assert_allclose(nn.AvgPool2d(2)(x).numpy(), blocks.mean(axis=(3, 5)), rtol=1e-6)
    np.testing.assert_allclose(nn.AdaptiveAvgPool2d(1)(x).numpy(), x.numpy().mean(axis=(2, 3), keepdims=True),
                               rtol=1e-6)
    np.testing.assert_allclose(nn.AdaptiveMaxPool2d((2, 2))(x).numpy(), blocks.max(axis=(3, 5)))
    values, indices = nn.MaxPool2d(2, return_indices=True)(x)
    assert values.shape == indices.shape == (1, 2, 2, 2)


def test_activation_layers():
    x = _x(3, 4)
    a = x.numpy()
    np.testing.assert_allclose(nn.ReLU()(x).numpy(), np.maximum(a, 0))
    np.testing.assert_allclose(nn.LeakyReLU(0.2)(x).numpy(), np.where(a > 0, a, 0.2 * a), rtol=1e-6)
    np.testing.assert_allclose(nn.Sigmoid()(x).numpy(), 1 / (1 + np.exp(-a)), rtol=1e-6)
    np.testing.assert_allclose(nn.Tanh()(x).numpy(), np.tanh(a), rtol=1e-6)
    e = np.exp(a - a.max(axis=1, keepdims=True))
    np.testing.assert_allclose(nn.Softmax(dim=1)(x).numpy(), e / e.sum(axis=1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(nn.LogSoftmax(1)(x).numpy(), np.log(e / e.sum(axis=1, keepdims=True)),
                               rtol=1e-5, atol=1e-6)
    assert repr(nn.LeakyReLU(0.2, inplace=True)) == "LeakyReLU(negative_slope=0.2, inplace=True)"
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"


# ---------------------------------------------------------------------- local response normalisation
def _naive_lrn(a, half_before, half_after, coef, beta, k):
    n, c = a.shape[:2]
    out = np.zeros_like(a)
    for i in range(c):
        lo, hi = max(0, i - half_before), min(c - 1, i + half_after)
        s = sum(a[:, j] ** 2 for j in range(lo, hi + 1))
        out[:, i] = a[:, i] / (k + coef * s) ** beta
    return out


def test_local_response_norm_both_forms_against_loops():
    x = _x(2, 7, 3, 3, dtype=np.float64)
    paper = nn.LocalResponseNormPaper()
    assert (paper.n, paper.alpha, paper.beta, paper.k) == (5, 1e-4, 0.75, 2.0)
    np.testing.assert_allclose(paper(x).numpy(), _naive_lrn(x.numpy(), 2, 2, 1e-4, 0.75, 2.0), rtol=1e-12)
    torch_form = nn.LocalResponseNorm(4, alpha=0.3, beta=0.5, k=1.5)
    np.testing.assert_allclose(torch_form(x).numpy(), _naive_lrn(x.numpy(), 2, 1, 0.3 / 4, 0.5, 1.5), rtol=1e-12)
    assert repr(torch_form) == "LocalResponseNorm(4, alpha=0.3, beta=0.5, k=1.5)"


# ---------------------------------------------------------------------- dropout
def test_dropout_is_active_only_in_training():
    drop = nn.Dropout(0.5)
    x = minidl.ones(200, 50)
    y = drop(x).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0} and 0.4 < (y == 0).mean() < 0.6
    np.testing.assert_array_equal(drop.eval()(x).numpy(), x.numpy())
    drop2d = nn.Dropout2d(0.5)
    y = drop2d(minidl.ones(20, 30, 2, 2)).numpy()
    assert np.all(y.min(axis=(2, 3)) == y.max(axis=(2, 3)))
    np.testing.assert_array_equal(drop2d.eval()(minidl.ones(2, 3, 2, 2)).numpy(), np.ones((2, 3, 2, 2)))
    with pytest.raises(ValueError, match="Dropout: dropout probability has to be between 0 and 1, but got 1.5"):
        nn.Dropout(1.5)


# ---------------------------------------------------------------------- batch normalisation
def test_batchnorm_defaults_and_buffers():
    bn = nn.BatchNorm2d(3)
    assert (bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats) == (3, 1e-5, 0.1, True, True)
    np.testing.assert_array_equal(bn.weight.numpy(), np.ones(3))
    np.testing.assert_array_equal(bn.bias.numpy(), np.zeros(3))
    np.testing.assert_array_equal(bn.running_mean.numpy(), np.zeros(3))
    np.testing.assert_array_equal(bn.running_var.numpy(), np.ones(3))
    assert bn.num_batches_tracked.dtype == np.int64 and bn.num_batches_tracked.item() == 0
    bare = nn.BatchNorm2d(3, affine=False, track_running_stats=False)
    assert list(bare.state_dict()) == [] and bare.weight is None and bare.running_mean is None


def test_batchnorm_training_updates_running_stats_and_eval_uses_them():
    bn = nn.BatchNorm2d(2, momentum=0.25).double()
    x = _x(3, 2, 2, 2, dtype=np.float64).numpy() * 2 + 1
    y = bn(minidl.tensor(x)).numpy()
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    np.testing.assert_allclose(y, (x - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5), rtol=1e-10)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.25 * mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.75 + 0.25 * var * 12 / 11, rtol=1e-12)
    assert bn.num_batches_tracked.item() == 1
    bn.eval()
    out = bn(minidl.tensor(x)).numpy()
    rm, rv = bn.running_mean.numpy(), bn.running_var.numpy()
    np.testing.assert_allclose(out, (x - rm[:, None, None]) / np.sqrt(rv[:, None, None] + 1e-5), rtol=1e-10)
    assert bn.num_batches_tracked.item() == 1


def test_batchnorm_momentum_none_is_a_cumulative_average():
    bn = nn.BatchNorm1d(3, momentum=None).double()
    batches = [_x(4, 3, dtype=np.float64, rng=np.random.default_rng(s)) for s in range(3)]
    for b in batches:
        bn(b)
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean([b.numpy().mean(axis=0) for b in batches], axis=0),
                               rtol=1e-12)
    assert bn.num_batches_tracked.item() == 3
    assert bn(_x(2, 3, 5, dtype=np.float64)).shape == (2, 3, 5)


def test_batchnorm_errors_name_the_layer():
    with pytest.raises(ValueError, match="BatchNorm2d: input has 3 channels but num_features is 4"):
        nn.BatchNorm2d(4)(_x(2, 3, 2, 2))
    with pytest.raises(ValueError, match="BatchNorm2d: expected 4D input, got 2D"):
        nn.BatchNorm2d(4)(_x(2, 4))
    with pytest.raises(ValueError, match="BatchNorm1d: expected 2D or 3D input, got 4D"):
        nn.BatchNorm1d(4)(_x(2, 4, 1, 1))


# ---------------------------------------------------------------------- losses
def test_cross_entropy_and_nll_against_naive():
    logits = _x(5, 4, dtype=np.float64)
    target = minidl.tensor(np.array([0, 3, 1, 1, 2]))
    a = logits.numpy()
    logp = a - np.log(np.exp(a).sum(axis=1, keepdims=True))
    picked = np.array([logp[i, t] for i, t in enumerate([0, 3, 1, 1, 2])])
    assert nn.CrossEntropyLoss()(logits, target).item() == pytest.approx(-picked.mean(), rel=1e-10)
    assert nn.CrossEntropyLoss(reduction="sum")(logits, target).item() == pytest.approx(-picked.sum(), rel=1e-10)
    np.testing.assert_allclose(nn.CrossEntropyLoss(reduce=False)(logits, target).numpy(), -picked, rtol=1e-10)
    assert nn.NLLLoss()(minidl.tensor(logp), target).item() == pytest.approx(-picked.mean(), rel=1e-10)
    w = minidl.tensor(np.array([1.0, 2.0, 0.5, 1.0]))
    ce = nn.CrossEntropyLoss(weight=w)
    assert list(ce.state_dict()) == ["weight"]
    ws = w.numpy()[[0, 3, 1, 1, 2]]
    assert ce(logits, target).item() == pytest.approx(-(ws * picked).sum() / ws.sum(), rel=1e-10)
    assert nn.CrossEntropyLoss(ignore_index=1).ignore_index == 1
    assert nn.CrossEntropyLoss(label_smoothing=0.1).label_smoothing == 0.1


def test_mse_loss():
    a, b = _x(3, 2), _x(3, 2, rng=np.random.default_rng(5))
    assert nn.MSELoss()(a, b).item() == pytest.approx(((a.numpy() - b.numpy()) ** 2).mean(), rel=1e-6)
    assert nn.MSELoss(size_average=False)(a, b).item() == pytest.approx(((a.numpy() - b.numpy()) ** 2).sum(),
                                                                       rel=1e-6)


# ---------------------------------------------------------------------- GPU
def _small_net():
    minidl.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.LocalResponseNormPaper(3),
        nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect"), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(4, 3),
    )


def _run(net, x, target):
    net.zero_grad()
    loss = nn.CrossEntropyLoss()(net(x), target)
    loss.backward()
    return loss.numpy(), [p.grad.numpy() for p in net.parameters()]


@pytest.mark.gpu
def test_layers_on_gpu_match_cpu_and_repeat_bitwise():
    x, target = _x(2, 3, 6, 6), minidl.tensor(np.array([0, 2]))
    cpu = _small_net()
    loss_cpu, grads_cpu = _run(cpu, x, target)
    gpu = _small_net().cuda()
    x_gpu, t_gpu = x.to("cuda"), target.to("cuda")
    loss_gpu, grads_gpu = _run(gpu, x_gpu, t_gpu)
    np.testing.assert_allclose(loss_gpu, loss_cpu, rtol=1e-5)
    for g, c in zip(grads_gpu, grads_cpu):
        np.testing.assert_allclose(g, c, rtol=1e-4, atol=1e-6)
    again = _small_net().cuda()
    loss_again, grads_again = _run(again, x_gpu, t_gpu)
    np.testing.assert_array_equal(loss_again, loss_gpu)
    for g, a in zip(grads_gpu, grads_again):
        np.testing.assert_array_equal(g, a)
