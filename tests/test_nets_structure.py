"""Full-size networks: exact parameter counts, torchvision's state_dict keys and shapes, multiply-adds.

Each full-size network is built once (the largest hold ~140 M parameters, half a gigabyte) and dropped
before the next, so the module never keeps more than one alive. The key listings in
``tests/data/torchvision_state_dicts.json`` were written from torchvision's module structure.

Counts, keys and multiply-adds do not depend on the weights' values, and drawing 140 M random numbers
takes seconds per network, so here the random initialisers fill zeros instead; the initialisation
itself is tested on the shrunk networks in ``test_nets_training.py``.
"""
import gc
import json
import pathlib

import pytest

import minidl
import nets
from minidl.nn import init

DATA = json.loads((pathlib.Path(__file__).parent / "data" / "torchvision_state_dicts.json").read_text())

# (registry name, options, torchvision listing or None, parameters, multiply-adds at 224x224 or None)
NETWORKS = [
    ("alexnet", {}, "alexnet", 61_100_840, 0.714e9),
    ("vgg11", {}, "vgg11", 132_863_336, 7.609e9),
    ("vgg11_bn", {}, "vgg11_bn", 132_868_840, None),
    ("vgg11_lrn", {}, None, 132_863_336, None),
    ("vgg13", {}, "vgg13", 133_047_848, 11.308e9),
    ("vgg13_bn", {}, "vgg13_bn", 133_053_736, None),
    ("vgg16_c", {}, None, 133_638_952, None),
    ("vgg16", {}, "vgg16", 138_357_544, 15.47e9),
    ("vgg16_bn", {}, "vgg16_bn", 138_365_992, None),
    ("vgg19", {}, "vgg19", 143_667_240, 19.632e9),
    ("vgg19_bn", {}, "vgg19_bn", 143_678_248, None),
    ("googlenet", {"torchvision_compat": True, "aux_logits": False}, "googlenet_noaux", 6_624_904, 1.498e9),
    ("googlenet", {"torchvision_compat": True}, "googlenet", 13_004_888, None),
    ("resnet18", {}, "resnet18", 11_689_512, 1.814e9),
    ("resnet34", {}, "resnet34", 21_797_672, 3.664e9),
    ("resnet50", {}, "resnet50", 25_557_032, 4.089e9),
    ("resnet101", {}, "resnet101", 44_549_160, None),
    ("resnet152", {}, "resnet152", 60_192_808, None),
]


@pytest.fixture
def zero_init(monkeypatch):
    def fill_zeros(tensor, *args, **kwargs):
        tensor.data.fill(0.0)
        return tensor

    for name in ("uniform_", "normal_", "trunc_normal_"):
        monkeypatch.setattr(init, name, fill_zeros)


def _id(case):
    name, options = case[0], case[1]
    return name + "".join(f"-{k}={v}" for k, v in options.items())


def _check_state_dict(model, listing):
    ours = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    theirs = {key: tuple(shape) for key, shape in DATA[listing]}
    assert sorted(set(ours) - set(theirs)) == []
    assert sorted(set(theirs) - set(ours)) == []
    assert {k: (v, theirs[k]) for k, v in ours.items() if v != theirs[k]} == {}
    # Same registration order, so loaders that go by position line up too.
    assert list(ours) == [key for key, _ in DATA[listing]]


def _check_summary(model, params, macs):
    model.eval()
    with minidl.no_grad():
        info = minidl.summary(model, (1, 3, 224, 224))
    assert info.total_params == params
    assert info.trainable_params == params
    assert info.total_macs == pytest.approx(macs, rel=0.01)


@pytest.mark.slow
@pytest.mark.parametrize("name, options, listing, params, macs", NETWORKS, ids=[_id(c) for c in NETWORKS])
def test_full_size_network(zero_init, name, options, listing, params, macs):
    model = nets.create(name, **options)
    try:
        assert nets.count_parameters(model) == params
        assert nets.count_parameters(model, trainable_only=True) == params
        if listing is not None:
            _check_state_dict(model, listing)
        if macs is not None:
            _check_summary(model, params, macs)
    finally:
        del model
        gc.collect()


def test_every_listing_is_checked():
    assert {case[2] for case in NETWORKS} - {None} == set(DATA)
