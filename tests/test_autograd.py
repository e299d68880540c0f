"""The graph walk: order, accumulation, freeing, grad modes and their errors."""
import numpy as np
import pytest

import minidl as md
from minidl.autograd import Function


def leaf(shape, dtype=np.float64, seed=0):
    return md.Tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype), requires_grad=True)


def test_chain_of_100000_nodes_needs_no_recursion():
    x = md.Tensor(np.array([1.5]), requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad.numpy().tolist() == [1.0]


def test_diamond_counts_each_path_once():
    x = leaf((3,))
    a = x * 2.0
    b = x * 3.0
    (a + b).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 5.0)


def test_reused_tensor_accumulates():
    x = leaf((4,))
    y = x * x * x  # d/dx x^3 = 3 x^2
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * x.numpy() ** 2)


def test_gradients_accumulate_across_backward_calls():
    x = leaf((2,))
    (x * 2.0).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 5.0)


def test_second_backward_through_freed_graph_is_a_clear_error():
    x = leaf((2,))
    y = (x.exp() * 2.0).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = leaf((2,))
    y = (x.exp() * 2.0).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)


def test_backward_frees_saved_buffers():
    x = leaf((3,))
    y = x.exp()
    fn = y.grad_fn
    y.sum().backward()
    assert not hasattr(fn, "y")


def test_non_scalar_backward_needs_a_gradient():
    x = leaf((2, 3))
    with pytest.raises(RuntimeError, match=r"shape \(2, 3\)"):
        (x * 2.0).backward()
    (x * 2.0).backward(md.Tensor(np.ones((2, 3))))
    np.testing.assert_allclose(x.grad.numpy(), 2.0)


def test_retain_grad_keeps_intermediate_gradient():
    x = leaf((3,))
    h = x * 2.0
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.numpy())
    g = x * 1.0
    (g * 2.0).sum().backward()
    assert g.grad is None  # intermediate without retain_grad keeps nothing


def test_no_grad_records_nothing_and_works_as_decorator():
    x = leaf((2,))
    with md.no_grad():
        y = x * 2.0
    assert not y.requires_grad and y.grad_fn is None

    @md.no_grad()
    def f(t):
        return t * 3.0

    assert not f(x).requires_grad
    assert md.is_grad_enabled()


def test_enable_grad_inside_no_grad_and_set_grad_enabled():
    x = leaf((2,))
    with md.no_grad():
        with md.enable_grad():
            assert (x * 2.0).requires_grad
        assert not (x * 2.0).requires_grad
    with md.set_grad_enabled(False):
        assert not (x * 2.0).requires_grad
    assert md.is_grad_enabled()
    md.set_grad_enabled(False)
    assert not md.is_grad_enabled()
    md.set_grad_enabled(True)
    assert md.is_grad_enabled()


def test_integer_and_bool_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="int64"):
        md.Tensor(np.arange(3), requires_grad=True)
    with pytest.raises(TypeError, match="bool"):
        md.Tensor(np.array([True]), requires_grad=True)


def test_detach_cuts_the_graph():
    x = leaf((2,))
    y = (x * 2.0).detach()
    assert not y.requires_grad
    z = (x * y).sum()
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), y.numpy())


def test_custom_function_multiple_outputs_one_used():
    class SplitHalves(Function):
        def forward(self, x):
            n = x.shape[0] // 2
            return x[:n] * 2, x[n:] * 3

        def backward(self, ga, gb):
            return np.concatenate([ga * 2, gb * 3])

    x = leaf((4,))
    a, b = SplitHalves.apply(x)
    a.sum().backward()  # b's gradient is zero-filled
    np.testing.assert_allclose(x.grad.numpy(), [2, 2, 0, 0])


def test_comparison_results_carry_no_gradient():
    x = leaf((3,))
    m = x > 0
    assert m.dtype == np.bool_ and not m.requires_grad


def test_a_layers_new_weight_gradient_becomes_the_grad_without_a_copy(monkeypatch):
    # Conv2dOp, LinearOp, ... mark their weight and bias gradients as fresh: the leaf keeps the very
    # array the backward returned; any other gradient (passed through, or given to two inputs) is copied
    from minidl.functional.linear import LinearOp

    returned = {}
    real = LinearOp.backward

    def spy(self, grad):
        out = real(self, grad)
        returned["dw"], returned["db"] = out[1], out[2]
        return out

    monkeypatch.setattr(LinearOp, "backward", spy)
    w, b, x = leaf((3, 4)), leaf((3,), seed=1), leaf((2, 4), seed=2)
    md.nn.functional.linear(x, w, b).sum().backward()
    assert w.grad.data is returned["dw"] and b.grad.data is returned["db"]
    np.testing.assert_allclose(w.grad.numpy(), np.broadcast_to(x.numpy().sum(axis=0), (3, 4)))
    # a second backward adds into a new array and leaves the first one alone
    first = w.grad.data.copy()
    md.nn.functional.linear(x, w, b).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), 2 * first)
    assert np.array_equal(returned["dw"], first)


def test_a_gradient_given_to_two_leaves_is_copied_for_each():
    a, c = leaf((3,)), leaf((3,), seed=1)
    (a + c).sum().backward()
    assert not np.shares_memory(a.grad.data, c.grad.data)
    a.grad.data += 1  # an optimiser may change one leaf's gradient in place (clipping)
    np.testing.assert_array_equal(c.grad.numpy(), np.ones(3))
    s = leaf((2, 3))
    y = s * 1.0  # Mul passes a gradient that the graph also holds: the leaf must not share it
    y.retain_grad()
    y.sum().backward()
    assert not np.shares_memory(s.grad.data, y.grad.data)
