"""Every core tensor op gradient-checked in float64 over hypothesis-drawn shapes, CPU and GPU."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
import minidl.functional as F

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


def make(shape, seed, device="cpu", positive=False, distinct=False):
    rng = np.random.default_rng(seed)
    if distinct:
        a = rng.permutation(int(np.prod(shape))).reshape(shape) * 0.37 + 0.1
    else:
        a = rng.standard_normal(shape)
    if positive:
        a = np.abs(a) + 0.5
    return md.Tensor(a.astype(np.float64), requires_grad=True, device=device)


small = st.integers(1, 3)
shapes = st.lists(small, min_size=1, max_size=3).map(tuple)


@st.composite
def broadcast_pair(draw):
    """Two shapes that broadcast: the second drops leading axes and sets some axes to 1."""
    a = draw(shapes)
    keep = draw(st.integers(0, len(a)))
    b = list(a[len(a) - keep:])
    for i in range(len(b)):
        if draw(st.booleans()):
            b[i] = 1
    if draw(st.booleans()):
        a, b = tuple(b), a
    return tuple(a), tuple(b)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow"])
@given(pair=broadcast_pair(), seed=st.integers(0, 100))
def test_binary_ops_with_broadcasting(device, op, pair, seed):
    a = make(pair[0], seed, device, positive=op in ("div", "pow"))
    b = make(pair[1], seed + 1, device, positive=op in ("div", "pow"))
    fn = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
          "div": lambda x, y: x / y, "pow": lambda x, y: x ** y}[op]
    assert md.gradcheck(fn, (a, b))


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes, seed=st.integers(0, 100), scalar=st.sampled_from([2.0, -1.5, 3]))
def test_scalar_operands(device, shape, seed, scalar):
    x = make(shape, seed, device, positive=True)
    assert md.gradcheck(lambda t: (scalar - t) * scalar / (t + scalar) + scalar / t + t ** scalar - (-t), (x,))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", ["exp", "log", "sqrt", "abs", "clip"])
@given(shape=shapes, seed=st.integers(0, 100))
def test_unary_ops(device, op, shape, seed):
    x = make(shape, seed, device, positive=op in ("log", "sqrt"), distinct=op in ("abs", "clip"))
    if op == "abs":
        x.data -= x.data.mean() + 0.05  # both signs, away from the kink
    fn = {"exp": lambda t: t.exp(), "log": lambda t: t.log(), "sqrt": lambda t: t.sqrt(),
          "abs": lambda t: t.abs(), "clip": lambda t: t.clip(0.3, 1.2)}[op]
    assert md.gradcheck(fn, (x,))


@pytest.mark.parametrize("device", DEVICES)
@given(m=small, k=small, n=small, batch=st.sampled_from([(), (2,), (2, 1)]), seed=st.integers(0, 50))
def test_matmul_batched_and_broadcast(device, m, k, n, batch, seed):
    a = make(batch + (m, k), seed, device)
    b = make((k, n), seed + 1, device)
    assert md.gradcheck(lambda x, y: x @ y, (a, b))
    v = make((k,), seed + 2, device)
    assert md.gradcheck(lambda x, y: x @ y, (a, v))
    u = make((m,), seed + 3, device)
    assert md.gradcheck(lambda x, y: y @ x, (a, u))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", ["sum", "mean", "max", "min"])
@given(shape=shapes, seed=st.integers(0, 100), keepdim=st.booleans(), data=st.data())
def test_reductions(device, op, shape, seed, keepdim, data):
    x = make(shape, seed, device, distinct=True)
    dims = data.draw(st.sampled_from([None] + list(range(len(shape))) + [tuple(range(len(shape)))]))

    def fn(t):
        if op in ("max", "min"):
            if dims is None:
                return getattr(t, op)()
            return (t.amax if op == "max" else t.amin)(dims, keepdim)
        return getattr(t, op)(dims, keepdim)

    assert md.gradcheck(fn, (x,))


@pytest.mark.parametrize("device", DEVICES)
@given(seed=st.integers(0, 100))
def test_shape_ops(device, seed):
    x = make((2, 3, 4), seed, device)
    assert md.gradcheck(lambda t: t.reshape(4, 6), (x,))
    assert md.gradcheck(lambda t: t.flatten(1), (x,))
    assert md.gradcheck(lambda t: t.transpose(0, 2), (x,))
    assert md.gradcheck(lambda t: t.permute(1, 2, 0), (x,))
    assert md.gradcheck(lambda t: t.unsqueeze(1).squeeze(1), (x,))
    assert md.gradcheck(lambda t: t[:, :1].expand(2, 5, 4), (x,))


@pytest.mark.parametrize("device", DEVICES)
@given(seed=st.integers(0, 100), data=st.data())
def test_indexing_basic_and_integer_arrays(device, seed, data):
    x = make((3, 4), seed, device)
    rows = data.draw(st.lists(st.integers(0, 2), min_size=1, max_size=5))  # repeats accumulate
    assert md.gradcheck(lambda t: t[1:, ::2], (x,))
    assert md.gradcheck(lambda t: t[rows], (x,))
    assert md.gradcheck(lambda t: t[rows, 1:3], (x,))
    assert md.gradcheck(lambda t: t[..., -1], (x,))


@pytest.mark.parametrize("device", DEVICES)
@given(seed=st.integers(0, 100), dim=st.integers(0, 1))
def test_concat_stack_split(device, seed, dim):
    a = make((2, 3), seed, device)
    b = make((2, 3), seed + 1, device)
    assert md.gradcheck(lambda x, y: md.concat([x, y, x], dim=dim), (a, b))
    assert md.gradcheck(lambda x, y: md.stack([x, y], dim=dim), (a, b))
    assert md.gradcheck(lambda x: x.split(1, dim=dim)[-1] * 2.0, (a,))
    assert md.gradcheck(lambda x: x.split([1, 1], dim=0), (a,))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate"])
@given(seed=st.integers(0, 100), widths=st.lists(st.integers(0, 2), min_size=2, max_size=4))
def test_pad(device, mode, seed, widths):
    if len(widths) % 2:
        widths = widths[:-1]
    x = make((2, 3, 4), seed, device)
    assert md.gradcheck(lambda t: F.pad(t, widths, mode=mode, value=0.5), (x,))


@pytest.mark.parametrize("device", DEVICES)
def test_where_and_device_moves(device):
    x = make((3, 2), 1, device)
    y = make((2,), 2, device)
    cond = x.detach() > 0
    assert md.gradcheck(lambda a, b: md.where(cond, a, b), (x, y))
    assert md.gradcheck(lambda a: a.to("cpu") * 2.0, (x,))


@pytest.mark.gpu
def test_where_condition_device():
    x, y = make((3, 2), 1, "cuda"), make((2,), 2, "cuda")
    flags = md.backend.to_numpy(x.detach().data) > 0
    expected = np.where(flags, md.backend.to_numpy(x.data), md.backend.to_numpy(y.data))
    # plain flags are data and go where the operands are, from either side
    np.testing.assert_array_equal(md.where(flags, x, y).numpy(), expected)
    np.testing.assert_array_equal(md.where(flags.tolist(), x, y).numpy(), expected)
    np.testing.assert_array_equal(md.where(md.backend.to_device(flags, "cuda"), x.cpu(), y.cpu()).numpy(), expected)
    # a condition tensor on the other device is a mistake, as for any other operand
    with pytest.raises(ValueError, match="where: condition is on cpu but the operands are on cuda"):
        md.where(md.Tensor(flags), x, y)
