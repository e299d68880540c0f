"""The Python API as a PyTorch user types it: ``minidl.nn.functional``, the top-level functions with
torch's signatures, ``Tensor.t()``, the constructors, and ``summary`` on one sample's size."""
import numpy as np
import pytest

import minidl as md
from minidl import nn

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


def test_nn_functional_is_importable_and_holds_the_same_functions():
    import minidl.nn.functional as F

    assert F.conv2d is md.functional.conv2d and F.cross_entropy is md.functional.cross_entropy
    assert all(getattr(F, name) is getattr(md.functional, name) for name in F.__all__)


def test_t_transposes_matrices_and_leaves_vectors():
    m = md.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert m.t().tolist() == [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]] and md.t(m).shape == (3, 2)
    assert md.tensor([1.0, 2.0]).t().shape == (2,)
    with pytest.raises(ValueError, match="at most 2 dimensions"):
        md.zeros(2, 2, 2).t()


ARRAY = np.array([[0.5, -1.0, 2.0], [1.5, -0.5, 0.25]], dtype=np.float32)
CALLS = [
    ("matmul", lambda m, x: m.matmul(x, m.t(x))), ("exp", lambda m, x: m.exp(x)),
    ("log", lambda m, x: m.log(m.abs(x))), ("sqrt", lambda m, x: m.sqrt(m.abs(x))),
    ("sum", lambda m, x: m.sum(x, 1)), ("sum_keepdim", lambda m, x: m.sum(x, dim=0, keepdim=True)),
    ("mean", lambda m, x: m.mean(x, dim=(0, 1))), ("max", lambda m, x: m.max(x)),
    ("max_dim", lambda m, x: m.max(x, dim=1)), ("min_dim", lambda m, x: m.min(x, 0, True)),
    ("argmax", lambda m, x: m.argmax(x, dim=1)), ("relu", lambda m, x: m.relu(x)),
    ("sigmoid", lambda m, x: m.sigmoid(x)), ("tanh", lambda m, x: m.tanh(x)),
    ("softmax", lambda m, x: m.softmax(x, dim=1)), ("log_softmax", lambda m, x: m.log_softmax(x, 0)),
    ("cat", lambda m, x: m.cat([x, x], dim=1)), ("stack", lambda m, x: m.stack([x, x], 0)),
    ("where", lambda m, x: m.where(x > 0, x, m.zeros_like(x))), ("clamp", lambda m, x: m.clamp(x, -0.5, 1)),
    ("add_alpha", lambda m, x: m.add(x, x, alpha=2)), ("sub_alpha", lambda m, x: m.sub(x, 1, alpha=3)),
    ("reshape", lambda m, x: m.reshape(x, (3, -1))), ("transpose", lambda m, x: m.transpose(x, 0, 1)),
    ("permute", lambda m, x: m.permute(x, (1, 0))), ("flatten", lambda m, x: m.flatten(x)),
    ("unsqueeze", lambda m, x: m.unsqueeze(x, -1)), ("squeeze", lambda m, x: m.squeeze(m.unsqueeze(x, 0))),
    ("chunk", lambda m, x: m.chunk(x, 2, dim=1)), ("split", lambda m, x: m.split(x, 1)),
    ("pow", lambda m, x: m.pow(x, 2)), ("neg", lambda m, x: m.neg(x)), ("numel", lambda m, x: m.numel(x)),
    ("eye", lambda m, x: m.eye(3, 2)), ("arange", lambda m, x: m.arange(1, 7, 2)),
    ("arange_float", lambda m, x: m.arange(2.5)), ("linspace", lambda m, x: m.linspace(0, 1, 5)),
    ("full", lambda m, x: m.full((2, 2), 3)), ("full_like", lambda m, x: m.full_like(x, 1.5)),
    ("ones_like", lambda m, x: m.ones_like(x, dtype=m.float64)),
]


@needs_torch
@pytest.mark.parametrize("name, call", CALLS, ids=[c[0] for c in CALLS])
def test_top_level_functions_match_pytorch(name, call):
    mine, theirs = call(md, md.tensor(ARRAY)), call(torch, torch.tensor(ARRAY))
    mine = mine if isinstance(mine, (tuple, list)) else [mine]
    theirs = theirs if isinstance(theirs, (tuple, list)) else [theirs]
    assert len(mine) == len(theirs)
    for a, b in zip(mine, theirs):
        a = np.asarray(a.numpy() if hasattr(a, "numpy") else a)
        b = np.asarray(b.numpy() if hasattr(b, "numpy") else b)
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_random_constructors_are_seeded_and_checked():
    md.manual_seed(3)
    a = md.randint(0, 10, (4, 5))
    md.manual_seed(3)
    assert md.randint(10, (4, 5)).tolist() == a.tolist() and a.dtype == np.int64
    assert md.randn_like(md.zeros(2, 3)).shape == (2, 3) and sorted(md.randperm(5).tolist()) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="high must be greater than low"):
        md.randint(3, 3, (2,))
    with pytest.raises(TypeError, match=r"zeros: size must be a tuple of ints, got \(2.5,\)"):
        md.zeros(2.5)
    with pytest.raises(ValueError, match=r"zeros: size \(-1, 3\) has a negative entry"):
        md.zeros(-1, 3)


def test_summary_takes_one_sample_s_size_or_a_batch_s():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    per_sample, batched = md.summary(net, (3, 8, 8)), md.summary(net, (1, 3, 8, 8))
    assert str(per_sample) == str(batched)
    assert per_sample.input_size == (1, 3, 8, 8) and per_sample.rows[0].output_shape == (1, 4, 6, 6)
    assert md.summary(net, (2, 3, 8, 8)).total_macs == 2 * batched.total_macs
    assert md.summary(nn.Linear(3, 2), (3,)).rows[0].output_shape == (1, 2)
