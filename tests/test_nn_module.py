"""Module machinery: registration, walking, modes, devices and dtypes, state_dict, hooks, repr, containers."""
import collections
import copy

import numpy as np
import pytest

import minidl
from minidl import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.scale = nn.Parameter(minidl.ones(1))
        self.register_buffer("steps", minidl.zeros(1), persistent=False)

    def forward(self, x):
        return self.bn(self.conv(x)) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(Block(), nn.ReLU())
        self.heads = nn.ModuleList([nn.Linear(3, 2), nn.Linear(3, 4)])
        self.extra = nn.ModuleDict({"proj": nn.Linear(2, 2, bias=False)})

    def forward(self, x):
        x = self.features(x).mean((2, 3))
        return self.heads[0](x)


NET_PARAMS = [
    "features.0.scale", "features.0.conv.weight", "features.0.conv.bias", "features.0.bn.weight",
    "features.0.bn.bias", "heads.0.weight", "heads.0.bias", "heads.1.weight", "heads.1.bias",
    "extra.proj.weight",
]


# ---------------------------------------------------------------------- registration and walking
def test_parameters_are_registered_through_nesting():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == NET_PARAMS
    assert len(list(net.parameters())) == len(NET_PARAMS)
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert [n for n, _ in net.named_buffers()] == [
        "features.0.steps", "features.0.bn.running_mean", "features.0.bn.running_var",
        "features.0.bn.num_batches_tracked",
    ]
    assert [n for n, _ in net.named_children()] == ["features", "heads", "extra"]
    assert [n for n, _ in net.named_modules()] == [
        "", "features", "features.0", "features.0.conv", "features.0.bn", "features.1", "heads", "heads.0",
        "heads.1", "extra", "extra.proj",
    ]
    assert len(list(net.modules())) == 11
    assert [n for n, _ in net.features[0].named_parameters(recurse=False)] == ["scale"]
    assert net.get_submodule("features.0.bn") is net.features[0].bn


def test_shared_parameters_and_modules_are_listed_once():
    shared = nn.Linear(2, 2)
    seq = nn.Sequential(shared, nn.ReLU(), shared)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(seq.modules())) == 3
    tied = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    tied[1].weight = tied[0].weight
    assert len(list(tied.parameters())) == 3


def test_plain_tensor_is_an_attribute_not_a_parameter():
    m = nn.Module()
    m.t = minidl.zeros(2)
    m.p = nn.Parameter(minidl.zeros(2))
    assert [n for n, _ in m.named_parameters()] == ["p"]
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'p'"):
        m.p = minidl.zeros(2)
    m.p = None
    assert list(m.parameters()) == [] and m.p is None and "p" not in m.state_dict()


def test_registration_errors():
    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(minidl.zeros(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()
    m = nn.Module()
    with pytest.raises(TypeError, match="Parameter or None expected"):
        m.register_parameter("w", minidl.zeros(1))
    with pytest.raises(KeyError, match="contain '.'"):
        m.add_module("a.b", nn.ReLU())
    m.register_buffer("taken", minidl.zeros(1))
    with pytest.raises(KeyError, match="attribute 'taken' already exists"):
        m.add_module("taken", nn.ReLU())
    with pytest.raises(TypeError, match="buffer 'b'"):
        m.register_buffer("b", np.zeros(1))
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'nothing'"):
        m.nothing
    with pytest.raises(NotImplementedError, match=r"Module \[Module\] is missing"):
        m(minidl.zeros(1))


def test_delattr_and_reassignment_move_between_kinds():
    m = nn.Linear(2, 3)
    del m.bias
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    m.bias = nn.Linear(1, 1)
    assert "bias" in dict(m.named_children())
    m.register_buffer("buf", minidl.ones(2))
    m.buf = minidl.zeros(2)
    assert float(m.buf.sum()) == 0 and "buf" in m.state_dict()
    assert "buf" in dir(m) and "weight" in dir(m)


def test_apply_visits_children_first():
    seen = []
    nn.Sequential(nn.Linear(1, 1), nn.Sequential(nn.ReLU())).apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "ReLU", "Sequential", "Sequential"]


def test_deepcopy_is_independent():
    net = Net()
    twin = copy.deepcopy(net)
    assert [n for n, _ in twin.named_parameters()] == NET_PARAMS
    twin.heads[0].weight.data[...] = 7
    assert not np.any(net.heads[0].weight.numpy() == 7)


# ---------------------------------------------------------------------- modes, grads, dtypes
def test_train_and_eval_reach_every_module():
    net = Net()
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(ValueError, match="bool"):
        net.train("yes")


def test_zero_grad_and_requires_grad():
    net = nn.Linear(3, 2)
    net(minidl.randn(4, 3)).sum().backward()
    assert net.weight.grad is not None
    net.zero_grad(set_to_none=False)
    assert np.all(net.weight.grad.numpy() == 0)
    net.zero_grad()
    assert net.weight.grad is None and net.bias.grad is None
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_to_dtype_keeps_parameter_objects_and_integer_buffers():
    net = Net()
    params = list(net.parameters())
    net(minidl.randn(1, 2, 4, 4)).sum().backward()
    assert net.to(minidl.float64) is net
    assert all(a is b for a, b in zip(params, net.parameters()))
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in net.parameters() if p.grad is not None)
    assert net.features[0].bn.running_mean.dtype == np.float64
    assert net.features[0].bn.num_batches_tracked.dtype == np.int64
    assert net.float().heads[0].weight.dtype == np.float32
    assert net.double().heads[0].weight.dtype == np.float64
    assert net.to("cpu", dtype="float32").heads[0].weight.dtype == np.float32
    with pytest.raises(TypeError, match="floating-point"):
        net.to(minidl.int64)
    with pytest.raises(ValueError, match="neither a device"):
        net.to("tpu")


# ---------------------------------------------------------------------- state_dict
def test_state_dict_keys_share_memory_and_skip_non_persistent_buffers():
    net = Net()
    sd = net.state_dict()
    assert isinstance(sd, collections.OrderedDict)
    assert list(sd) == [
        "features.0.scale", "features.0.conv.weight", "features.0.conv.bias", "features.0.bn.weight",
        "features.0.bn.bias", "features.0.bn.running_mean", "features.0.bn.running_var",
        "features.0.bn.num_batches_tracked", "heads.0.weight", "heads.0.bias", "heads.1.weight",
        "heads.1.bias", "extra.proj.weight",
    ]
    assert sd["features.0.bn.num_batches_tracked"].dtype == np.int64
    assert sd["features.0.bn.num_batches_tracked"].shape == ()
    assert not sd["heads.0.weight"].requires_grad
    assert sd["heads.0.weight"].data is net.heads[0].weight.data
    assert net.state_dict(keep_vars=True)["heads.0.weight"] is net.heads[0].weight


def test_load_state_dict_copies_in_place_with_the_models_dtype():
    src, dst = Net().double(), Net()
    weight = dst.heads[0].weight
    values = {k: v.numpy() for k, v in src.state_dict().items()}
    result = dst.load_state_dict(values)
    assert result == nn.IncompatibleKeys([], []) and result.missing_keys == []
    assert dst.heads[0].weight is weight and weight.dtype == np.float32
    np.testing.assert_array_equal(weight.numpy(), src.heads[0].weight.numpy().astype(np.float32))
    dst.load_state_dict(src.state_dict())
    assert dst.features[0].bn.num_batches_tracked.dtype == np.int64


def test_strict_load_lists_every_problem_and_copies_nothing():
    net = Net()
    before = net.heads[0].bias.numpy().copy()
    sd = {k: v.numpy().copy() for k, v in Net().state_dict().items()}
    del sd["heads.1.bias"], sd["extra.proj.weight"]
    sd["heads.2.weight"] = np.zeros(3)
    sd["heads.0.weight"] = np.zeros((3, 2))
    sd["heads.1.weight"] = np.zeros((1, 3))
    with pytest.raises(nn.StateDictError) as info:
        net.load_state_dict(sd)
    text = str(info.value)
    assert text.startswith("Error(s) in loading state_dict for Net:")
    assert 'Missing key(s) in state_dict: "heads.1.bias", "extra.proj.weight".' in text
    assert 'Unexpected key(s) in state_dict: "heads.2.weight".' in text
    assert "size mismatch for heads.0.weight: copying a param with shape (3, 2) from checkpoint, " \
           "the shape in current model is (2, 3)." in text
    assert "size mismatch for heads.1.weight" in text and "(1, 3)" in text and "(4, 3)" in text
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, ValueError)
    np.testing.assert_array_equal(net.heads[0].bias.numpy(), before)


def test_non_strict_load_reports_keys_but_shapes_still_fail():
    net = Net()
    sd = Net().state_dict()
    del sd["heads.1.bias"]
    sd["unused"] = minidl.zeros(1)
    missing, unexpected = net.load_state_dict(sd, strict=False)
    assert missing == ["heads.1.bias"] and unexpected == ["unused"]
    np.testing.assert_array_equal(net.heads[0].weight.numpy(), sd["heads.0.weight"].numpy())
    sd["heads.0.bias"] = minidl.zeros(5)
    with pytest.raises(nn.StateDictError, match=r"size mismatch for heads.0.bias.*\(5,\).*\(2,\)"):
        net.load_state_dict(sd, strict=False)
    with pytest.raises(TypeError, match="'heads.0.bias' is a list"):
        net.load_state_dict({**sd, "heads.0.bias": [0.0, 0.0]}, strict=False)


# ---------------------------------------------------------------------- hooks and calling
def test_forward_hooks_see_and_replace_outputs_and_can_be_removed():
    lin = nn.Linear(2, 2)
    seen = []
    handle = lin.register_forward_hook(lambda m, args, out: seen.append((m, args[0].shape, out.shape)))
    x = minidl.randn(3, 2)
    lin(x)
    assert seen == [(lin, (3, 2), (3, 2))]
    handle.remove()
    lin(x)
    assert len(seen) == 1
    with lin.register_forward_hook(lambda m, args, out: out * 0):
        assert float(lin(x).abs().sum()) == 0
    assert float(lin(x).abs().sum()) > 0
    pre = lin.register_forward_pre_hook(lambda m, args: args[0] * 0)
    np.testing.assert_allclose(lin(x).numpy(), np.broadcast_to(lin.bias.numpy(), (3, 2)))
    pre.remove()


# ---------------------------------------------------------------------- repr
def test_repr_nests_like_pytorch():
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),
        nn.Sequential(collections.OrderedDict([("act", nn.ReLU(inplace=True)), ("drop", nn.Dropout(0.3))])),
        nn.Identity(),
    )
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Conv2d(3, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)\n"
        "  (1): Sequential(\n"
        "    (act): ReLU(inplace=True)\n"
        "    (drop): Dropout(p=0.3, inplace=False)\n"
        "  )\n"
        "  (2): Identity()\n"
        ")"
    )
    assert repr(nn.Parameter(minidl.zeros(1))).startswith("Parameter containing:\ntensor(")


# ---------------------------------------------------------------------- containers
def test_sequential_indexing_slicing_and_growth():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and list(seq) == [a, b, c]
    assert seq[0] is a and seq[-1] is c
    head = seq[1:]
    assert isinstance(head, nn.Sequential) and list(head._modules) == ["1", "2"]
    assert list(head.state_dict()) == ["2.weight", "2.bias"]
    x = minidl.randn(4, 2)
    np.testing.assert_allclose(seq(x).numpy(), c(b(a(x))).numpy())
    with pytest.raises(IndexError, match="index 3 is out of range for 3"):
        seq[3]
    seq.append(nn.Sigmoid())
    assert list(seq._modules) == ["0", "1", "2", "3"]
    del seq[0]
    assert list(seq._modules) == ["0", "1", "2"] and seq[0] is b
    seq[0] = nn.Tanh()
    assert isinstance(seq[0], nn.Tanh)
    named = nn.Sequential(collections.OrderedDict([("conv", nn.Conv2d(1, 1, 1)), ("relu", nn.ReLU())]))
    assert list(named.state_dict()) == ["conv.weight", "conv.bias"] and isinstance(named[1], nn.ReLU)


def test_module_list_and_dict():
    layers = nn.ModuleList([nn.Linear(1, 1) for _ in range(3)])
    assert len(layers) == 3 and layers[-1] is layers[2]
    assert isinstance(layers[1:], nn.ModuleList) and len(layers[1:]) == 2
    layers.insert(0, nn.ReLU())
    assert isinstance(layers[0], nn.ReLU) and list(layers._modules) == ["0", "1", "2", "3"]
    del layers[0]
    layers += [nn.Tanh()]
    assert [type(m).__name__ for m in layers] == ["Linear", "Linear", "Linear", "Tanh"]
    assert [n for n, _ in layers.named_parameters()][:2] == ["0.weight", "0.bias"]
    d = nn.ModuleDict([("a", nn.Linear(1, 2)), ("b", nn.ReLU())])
    d["c"] = nn.Tanh()
    assert list(d) == ["a", "b", "c"] and "b" in d and len(d) == 3
    assert list(d.state_dict()) == ["a.weight", "a.bias"]
    assert isinstance(d.pop("b"), nn.ReLU) and list(d.keys()) == ["a", "c"]
    with pytest.raises(KeyError, match="no module 'zz'"):
        d["zz"]


# ---------------------------------------------------------------------- GPU
@pytest.mark.gpu
def test_cpu_gpu_round_trip_keeps_parameter_objects_and_bits():
    net = Net()
    params = list(net.parameters())
    before = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    net.cuda()
    assert all(p.device == "cuda" for p in net.parameters()) and all(b.device == "cuda" for b in net.buffers())
    assert all(a is b for a, b in zip(params, net.parameters()))
    assert net.eval()(minidl.randn(2, 2, 4, 4, device="cuda")).device == "cuda"
    net.cpu()
    for k, v in net.state_dict().items():
        assert v.device == "cpu"
        np.testing.assert_array_equal(v.numpy(), before[k])
    gpu = Net().to("cuda")
    gpu.load_state_dict({k: v for k, v in before.items()})
    np.testing.assert_array_equal(gpu.heads[0].weight.numpy(), before["heads.0.weight"])
    assert gpu.heads[0].weight.device == "cuda"
