"""The papers' tables as built (VGG's columns, GoogLeNet's layouts, ResNet's blocks), init, registry."""
import math

import numpy as np
import pytest

import minidl
import nets
from minidl import nn
from nets.googlenet import INCEPTION_TABLE
from nets.vgg import CONFIGS
from nets.resnet import BasicBlock, Bottleneck


class TestRegistry:
    def test_available_lists_every_network(self):
        names = set(nets.available())
        expected = {"alexnet", "alexnet_paper", "googlenet", "vgg11", "vgg11_bn", "vgg11_lrn", "vgg13",
                    "vgg13_bn", "vgg16", "vgg16_bn", "vgg16_c", "vgg19", "vgg19_bn", "resnet18", "resnet34",
                    "resnet50", "resnet101", "resnet152", "plain18", "plain34", "plain50", "plain101",
                    "plain152"}
        assert expected <= names
        assert nets.available() == sorted(names)

    def test_unknown_name_lists_the_available_ones(self):
        with pytest.raises(ValueError) as info:
            nets.create("resnet19")
        message = str(info.value)
        assert "resnet19" in message
        assert all(name in message for name in ("alexnet", "vgg16_bn", "googlenet", "plain34"))

    def test_unknown_option_names_the_accepted_ones(self):
        with pytest.raises(TypeError, match="small_input"):
            nets.create("resnet18", batch_norm=True)

    def test_create_passes_classes_and_options(self):
        model = nets.create("resnet18", num_classes=7, width=0.125, small_input=True)
        assert model.fc.out_features == 7
        assert model.conv1.weight.shape == (8, 3, 3, 3)


class TestVGGTable:
    def test_weight_layers_per_column(self):
        # Table 1's header: 11, 11, 13, 16, 16, 19 weight layers (convolutions + three FC).
        expected = {"A": 11, "A-LRN": 11, "B": 13, "C": 16, "D": 16, "E": 19}
        for column, layers in expected.items():
            convs = sum(1 for stage in CONFIGS[column] for spec in stage if spec != "LRN")
            assert convs + 3 == layers, column

    def test_columns_as_built(self):
        model = nets.create("vgg16_c", width=1 / 16)
        convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
        assert [m.kernel_size[0] for m in convs] == [3] * 4 + [3, 3, 1] * 3
        assert all(m.padding[0] == m.kernel_size[0] // 2 for m in convs)
        lrn = nets.create("vgg11_lrn", width=1 / 16)
        assert isinstance(lrn.features[2], nn.LocalResponseNormPaper)
        assert (lrn.features[2].n, lrn.features[2].k, lrn.features[2].alpha, lrn.features[2].beta) == (
            5, 2.0, 1e-4, 0.75)

    @pytest.mark.parametrize("name", ["vgg11", "vgg11_lrn", "vgg16_c", "vgg19_bn"])
    def test_stage_access_for_fcn(self, name):
        model = nets.create(name, width=1 / 8)
        assert len(model.pool_indices) == 5
        assert all(isinstance(model.features[i], nn.MaxPool2d) for i in model.pool_indices)
        assert model.pool_indices[-1] == len(model.features) - 1
        assert model.stage_channels == (8, 16, 32, 64, 64)
        first_fc, second_fc = model.classifier[0], model.classifier[3]
        assert (first_fc.in_features, first_fc.out_features) == (64 * 7 * 7, 512)
        assert (second_fc.in_features, second_fc.out_features) == (512, 512)

    def test_make_layers_and_width(self):
        features, pools, channels = nets.make_layers("D", batch_norm=True, width=0.5, in_channels=1)
        assert features[0].weight.shape == (32, 1, 3, 3)
        assert isinstance(features[1], nn.BatchNorm2d)
        assert channels == (32, 64, 128, 256, 256)
        assert len(features) == 13 * 3 + 5
        with pytest.raises(ValueError, match="conv3-x"):
            nets.make_layers((("conv3-x",),))
        with pytest.raises(ValueError, match="Table 1 has"):
            nets.vgg.vgg("F")

    def test_torchvision_initialisation(self):
        model = nets.create("vgg11_bn", width=0.25)
        conv = model.features[-4]  # the last 128 -> 128 convolution
        assert isinstance(conv, nn.Conv2d)
        fan_out = conv.weight.shape[0] * 9
        assert conv.weight.numpy().std() == pytest.approx(math.sqrt(2 / fan_out), rel=0.05)
        assert not conv.bias.numpy().any()
        linear = model.classifier[3]
        assert linear.weight.numpy().std() == pytest.approx(0.01, rel=0.05)
        assert not linear.bias.numpy().any()
        bn = model.features[1]
        assert (bn.weight.numpy() == 1).all() and not bn.bias.numpy().any()


class TestAlexNet:
    def test_torchvision_layout(self):
        model = nets.create("alexnet", width=1 / 16)
        assert [type(m).__name__ for m in model.classifier] == [
            "Dropout", "Linear", "ReLU", "Dropout", "Linear", "ReLU", "Linear"]
        assert model.avgpool.output_size in ((6, 6), 6)

    def test_paper_layout_and_initialisation(self):
        model = nets.create("alexnet_paper", width=0.25, paper_init=True)
        kinds = [type(m).__name__ for m in model.features]
        assert kinds[:8] == ["Conv2d", "ReLU", "LocalResponseNormPaper", "MaxPool2d",
                             "Conv2d", "ReLU", "LocalResponseNormPaper", "MaxPool2d"]
        convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
        assert [m.out_channels for m in convs] == [24, 64, 96, 96, 64]
        pools = [m for m in model.features if isinstance(m, nn.MaxPool2d)]
        assert all((p.kernel_size, p.stride) in ((3, 2), ((3, 3), (2, 2))) for p in pools)
        linears = [m for m in model.classifier if isinstance(m, nn.Linear)]
        biases = [float(layer.bias.numpy().mean()) for layer in convs + linears]
        assert biases == [0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0]
        assert convs[2].weight.numpy().std() == pytest.approx(0.01, rel=0.05)
        default = nets.create("alexnet_paper", width=0.25)
        assert [m for m in default.features if isinstance(m, nn.Conv2d)][1].bias.numpy().std() > 0


class TestGoogLeNetLayouts:
    def test_paper_layout(self):
        model = nets.create("googlenet", width=1 / 16)
        assert model.inception3a.branch3[1].conv.kernel_size == (5, 5)
        assert isinstance(model.inception3a.branch1.bn, nn.Identity)
        assert model.inception3a.branch1.conv.bias is not None
        assert isinstance(model.lrn1, nn.LocalResponseNorm)
        assert model.maxpool4.kernel_size in (3, (3, 3))
        assert model.dropout.p == 0.4

    def test_torchvision_layout(self):
        model = nets.create("googlenet", width=1 / 16, torchvision_compat=True)
        assert model.inception3a.branch3[1].conv.kernel_size == (3, 3)
        assert model.inception3a.branch1.conv.bias is None
        assert model.inception3a.branch1.bn.eps == 0.001
        assert model.maxpool4.kernel_size in (2, (2, 2)) and model.maxpool4.ceil_mode
        pool = model.inception3a.branch4[0]
        assert (pool.kernel_size, pool.stride, pool.padding, pool.ceil_mode) in (
            (3, 1, 1, True), ((3, 3), (1, 1), (1, 1), True))
        assert model.dropout.p == 0.2

    def test_table_channels_concatenate(self):
        model = nets.create("googlenet", torchvision_compat=True, aux_logits=False).eval()
        outs = [getattr(model, "inception" + k).out_channels for k in INCEPTION_TABLE]
        assert outs == [256, 480, 512, 512, 512, 528, 832, 832, 1024]

    def test_transform_input(self):
        model = nets.create("googlenet", width=1 / 16, torchvision_compat=True, transform_input=True)
        x = minidl.randn(2, 3, 8, 8)
        moved = model._transform_input(x).numpy()
        expected = x.numpy() * np.array([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1) / 0.5 + (
            np.array([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1) - 0.5) / 0.5
        np.testing.assert_allclose(moved, expected, rtol=1e-5, atol=1e-6)


class TestResNet:
    def test_block_is_identity_plus_residual(self):
        block = BasicBlock(8, 8).eval()
        x = minidl.randn(2, 8, 6, 6).relu()
        with minidl.no_grad():
            expected = np.maximum(block.residual(x).numpy() + x.numpy(), 0)
            np.testing.assert_allclose(block(x).numpy(), expected, rtol=1e-6, atol=1e-6)

    def test_zero_init_residual_starts_every_block_as_identity(self):
        model = nets.create("resnet50", width=1 / 16, zero_init_residual=True).eval()
        assert all(not b.last_bn().weight.numpy().any()
                   for b in model.modules() if isinstance(b, Bottleneck))
        block = model.layer2[1]
        x = minidl.randn(2, block.conv1.in_channels, 5, 5).relu()
        with minidl.no_grad():
            np.testing.assert_array_equal(block(x).numpy(), x.numpy())
        with pytest.raises(ValueError, match="shortcuts"):
            nets.create("plain18", zero_init_residual=True)

    @pytest.mark.parametrize("training", [True, False])
    def test_zero_init_residual_basic_block_is_relu_and_still_learns(self, training):
        minidl.manual_seed(0)
        block = BasicBlock(4, 4).double().train(training)
        block.zero_init_residual()
        assert not block.bn2.weight.numpy().any() and block.bn1.weight.numpy().all()
        x = minidl.randn(3, 4, 5, 5, dtype=minidl.float64, requires_grad=True)  # negative values too
        np.testing.assert_array_equal(block(x).numpy(), np.maximum(x.numpy(), 0))
        params = [block.conv1.weight, block.bn1.weight, block.conv2.weight, block.bn2.weight, block.bn2.bias]
        assert minidl.gradcheck(lambda x, *p: block(x), [x, *params])
        # gamma of the zeroed norm is the one parameter whose gradient is non-zero at the start
        block(x).sum().backward()
        assert np.abs(block.bn2.weight.grad.numpy()).sum() > 0
        assert not block.conv2.weight.grad.numpy().any()

    def test_zero_init_residual_needs_a_shortcut(self):
        with pytest.raises(ValueError, match="shortcuts"):
            BasicBlock(4, 4, shortcut=False).zero_init_residual()

    def test_downsample_shortcut_where_shape_changes(self):
        model = nets.create("resnet34", width=1 / 16)
        with_projection = [name for name, m in model.named_modules() if name.endswith("downsample")
                           and m is not None]
        assert with_projection == ["layer2.0.downsample", "layer3.0.downsample", "layer4.0.downsample"]
        deep = nets.create("resnet50", width=1 / 16)
        assert deep.layer1[0].downsample is not None  # 64 -> 256 channels at stride 1

    def test_stride_placement(self):
        v15 = nets.create("resnet50", width=1 / 16).layer2[0]
        paper = nets.create("resnet50", width=1 / 16, stride_on_1x1=True).layer2[0]
        assert (v15.conv1.stride, v15.conv2.stride) == ((1, 1), (2, 2))
        assert (paper.conv1.stride, paper.conv2.stride) == ((2, 2), (1, 1))
        with pytest.raises(ValueError, match="Bottleneck"):
            nets.create("resnet18", stride_on_1x1=True)

    def test_plain_networks_have_no_shortcuts(self):
        plain = nets.create("plain34", width=1 / 16)
        residual = nets.create("resnet34", width=1 / 16)
        assert not any("downsample" in key for key in plain.state_dict())
        plain_keys = set(plain.state_dict())
        assert plain_keys == {k for k in residual.state_dict() if "downsample" not in k}
        block = plain.layer1[0].eval()
        x = minidl.randn(2, block.conv1.in_channels, 6, 6).relu()
        with minidl.no_grad():
            np.testing.assert_allclose(block(x).numpy(), np.maximum(block.residual(x).numpy(), 0), atol=1e-6)

    def test_small_input_stem(self):
        model = nets.create("resnet18", small_input=True, width=1 / 16)
        assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
        assert isinstance(model.maxpool, nn.Identity)

    def test_torchvision_initialisation(self):
        model = nets.create("resnet18", width=0.5)
        conv = model.layer4[1].conv2
        assert conv.weight.numpy().std() == pytest.approx(math.sqrt(2 / (conv.out_channels * 9)), rel=0.05)
        assert all((m.weight.numpy() == 1).all() for m in model.modules() if isinstance(m, nn.BatchNorm2d))


@pytest.mark.parametrize("name, options", [
    ("googlenet", dict(torchvision_compat=True)), ("resnet50", {}), ("vgg11_bn", {}), ("alexnet", {}),
])
def test_state_dict_round_trip_gives_the_same_outputs(name, options):
    source = nets.create(name, num_classes=5, width=1 / 16, **options).eval()
    target = nets.create(name, num_classes=5, width=1 / 16, **options).eval()
    result = target.load_state_dict(source.state_dict())
    assert (list(result.missing_keys), list(result.unexpected_keys)) == ([], [])
    x = minidl.randn(2, 3, 64, 64)
    with minidl.no_grad():
        np.testing.assert_array_equal(target(x).numpy(), source(x).numpy())
