"""Shrunk networks learn, and behave as their modes say: eval deterministic, train with dropout and
batch statistics, GoogLeNet's auxiliary heads in training only."""
import numpy as np
import pytest

import minidl
import minidl.optim
import nets
from minidl import nn

MAX_STEPS = 48
# (name, options, input size): 1/16 of the channels, every layer and pooling of the full network kept.
# The deep VGGs without batch norm get 1/8: thinner, their N(0, 0.01) classifier starts so flat that
# they need most of the step budget (the paper itself trained D and E starting from A's weights).
OVERFIT = [
    ("alexnet", dict(width=1 / 16, dropout=0.0), 64),
    ("alexnet_paper", dict(width=1 / 16, dropout=0.0), 64),
    ("vgg11", dict(width=1 / 16, dropout=0.0), 32),
    ("vgg11_lrn", dict(width=1 / 16, dropout=0.0), 32),
    ("vgg13", dict(width=1 / 16, dropout=0.0), 32),
    ("vgg16", dict(width=1 / 8, dropout=0.0), 32),
    ("vgg16_bn", dict(width=1 / 16, dropout=0.0), 32),
    ("vgg16_c", dict(width=1 / 16, dropout=0.0), 32),
    ("vgg19", dict(width=1 / 8, dropout=0.0), 32),
    ("googlenet", dict(width=1 / 16, dropout=0.0, aux_dropout=0.0), 32),
    ("googlenet", dict(width=1 / 16, dropout=0.0, aux_dropout=0.0, torchvision_compat=True), 32),
    ("resnet18", dict(width=1 / 16, small_input=True), 16),
    ("resnet34", dict(width=1 / 16), 32),
    ("resnet50", dict(width=1 / 16, small_input=True), 16),
    ("resnet50", dict(width=1 / 16, stride_on_1x1=True), 32),
    # Starting each block as the identity lets the deepest ones fit within a handful of steps.
    ("resnet101", dict(width=1 / 16, zero_init_residual=True), 32),
    ("resnet152", dict(width=1 / 16, zero_init_residual=True), 32),
    ("plain18", dict(width=1 / 16, small_input=True), 16),
    ("plain34", dict(width=1 / 16), 32),
]


def _id(case):
    name, options, size = case
    flags = ("torchvision_compat", "small_input", "stride_on_1x1", "zero_init_residual")
    extra = [k for k in flags if options.get(k)]
    return "-".join([name, *extra, str(size)])


@pytest.mark.parametrize("name, options, size", OVERFIT, ids=[_id(c) for c in OVERFIT])
def test_shrunk_network_overfits_a_tiny_batch(name, options, size):
    model = nets.create(name, num_classes=4, **options).train()
    x = minidl.randn(8, 3, size, size)
    y = minidl.tensor(np.arange(8) % 4)
    optimizer = minidl.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(MAX_STEPS):
        loss = nets.googlenet_loss(model(x), y)
        losses.append(loss.item())
        if losses[-1] <= losses[0] / 2:
            break
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert np.isfinite(losses).all()
    assert losses[-1] <= losses[0] / 2, f"loss {losses[0]:.3f} -> {losses[-1]:.3f} in {len(losses)} steps"


@pytest.mark.parametrize("name, options", [
    ("alexnet", dict(width=1 / 16)),
    ("vgg16_bn", dict(width=1 / 16)),
    ("googlenet", dict(width=1 / 16, torchvision_compat=True)),
    ("resnet18", dict(width=1 / 16)),
])
def test_eval_is_deterministic(name, options):
    model = nets.create(name, num_classes=3, **options).eval()
    x = minidl.randn(4, 3, 64, 64)
    with minidl.no_grad():
        first, second = model(x).numpy(), model(x).numpy()
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("name", ["alexnet", "vgg11", "googlenet"])
def test_train_mode_applies_dropout(name):
    options = dict(width=1 / 16)
    if name == "googlenet":
        options["aux_logits"] = False
    model = nets.create(name, num_classes=3, **options).train()
    x = minidl.randn(4, 3, 64, 64)
    with minidl.no_grad():
        first, second = model(x).numpy(), model(x).numpy()
        model.eval()
        evaluated = model(x).numpy()
    assert not np.allclose(first, second)
    assert not np.allclose(first, evaluated)


def _running_means(model):
    return [m.running_mean.numpy().copy() for m in model.modules() if isinstance(m, nn.BatchNorm2d)]


@pytest.mark.parametrize("name, options", [
    ("resnet18", dict(width=1 / 16)),
    ("vgg11_bn", dict(width=1 / 16, dropout=0.0)),
    ("googlenet", dict(width=1 / 16, torchvision_compat=True, aux_logits=False, dropout=0.0)),
])
def test_train_mode_uses_batch_statistics(name, options):
    model = nets.create(name, num_classes=3, **options)
    x = minidl.randn(4, 3, 64, 64) * 3 + 1
    before = _running_means(model)
    with minidl.no_grad():
        model.eval()
        evaluated = model(x).numpy()
        assert all(np.array_equal(a, b) for a, b in zip(before, _running_means(model)))
        model.train()
        trained = model(x).numpy()
        # Batch statistics: one sample's output depends on the rest of the batch.
        alone_in_a_pair = model(minidl.cat([x[:1], x[:1] * -1.0], 0)).numpy()
    after = _running_means(model)
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
    assert not np.allclose(trained, evaluated, atol=1e-4)
    assert not np.allclose(trained[:1], alone_in_a_pair[:1], atol=1e-4)


class TestGoogLeNetAuxiliary:
    def model(self, **options):
        return nets.create("googlenet", num_classes=6, width=1 / 16, **options)

    @pytest.mark.parametrize("compat", [False, True])
    def test_training_returns_main_and_auxiliary_logits(self, compat):
        model = self.model(torchvision_compat=compat).train()
        out = model(minidl.randn(2, 3, 64, 64))
        assert isinstance(out, nets.GoogLeNetOutputs)
        assert [t.shape for t in out] == [(2, 6)] * 3
        model.eval()
        with minidl.no_grad():
            assert model(minidl.randn(2, 3, 64, 64)).shape == (2, 6)

    def test_without_auxiliary_classifiers(self):
        model = self.model(aux_logits=False).train()
        assert not any(key.startswith("aux") for key in model.state_dict())
        assert model(minidl.randn(2, 3, 64, 64)).shape == (2, 6)

    def test_loss_weights_auxiliary_losses_by_0_3(self):
        model = self.model().train()
        y = minidl.tensor([1, 4])
        out = model(minidl.randn(2, 3, 64, 64))
        ce = [minidl.functional.cross_entropy(t, y).item() for t in out]
        assert nets.googlenet_loss(out, y).item() == pytest.approx(ce[0] + 0.3 * (ce[1] + ce[2]), rel=1e-5)
        assert nets.GoogLeNetLoss()(out, y).item() == pytest.approx(ce[0] + 0.3 * (ce[1] + ce[2]), rel=1e-5)
        assert nets.googlenet_loss(out.logits, y).item() == pytest.approx(ce[0], rel=1e-6)

    def test_auxiliary_gradients_reach_the_trunk(self):
        model = self.model().train()
        out = model(minidl.randn(2, 3, 64, 64))
        (out.aux1.sum()).backward()
        assert model.inception4a.branch1.conv.weight.grad is not None
        assert model.inception4b.branch1.conv.weight.grad is None
