"""In-place methods and the version counter that keeps them from corrupting gradients."""
import numpy as np
import pytest

import minidl as md

try:
    import torch
except ImportError:
    torch = None


def leaf(values):
    return md.tensor(values, requires_grad=True)


def test_changing_what_an_op_saved_makes_backward_refuse_naming_the_op():
    x = leaf([1.0, 2.0])
    y = x.exp()  # exp saves its output
    y.add_(1)
    assert y._version == 1
    with pytest.raises(RuntimeError, match="Exp saved .* modified by an in-place operation"):
        y.sum().backward()


def test_changing_an_input_the_op_did_not_save_is_fine():
    x = leaf([1.0, -2.0, 3.0])
    h = x + 1  # add saves nothing
    y = h * 1.0
    h.mul_(2)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0, 1.0])


def test_setitem_counts_as_an_in_place_write():
    x = leaf([1.0, 2.0])
    y = x * 1.0
    z = y * y  # saves y
    with md.no_grad():
        y[0] = 5.0
    with pytest.raises(RuntimeError, match="Mul saved"):
        z.sum().backward()


def test_in_place_on_a_graph_tensor_is_recorded():
    x = leaf([1.0, -2.0, 3.0])
    h = x * 2
    h.relu_()
    h.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.0, 2.0])


def test_earlier_readers_keep_the_old_value_s_gradient():
    x = leaf([1.0, 2.0])
    h = x * 2
    z = h + 0  # read before the in-place change
    h.mul_(3)
    (z.sum() + h.sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0 + 6.0, 2.0 + 6.0])


def test_leaf_requiring_grad_is_refused_outside_no_grad_and_updated_inside():
    w = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w.add_(1)
    (w * w).sum().backward()
    before = w
    with md.no_grad():
        w -= 0.5 * w.grad  # the manual SGD step of a PyTorch tutorial
    assert w is before and w.requires_grad
    np.testing.assert_allclose(w.numpy(), [0.0, 0.0])


def test_views_share_the_counter_and_the_memory():
    x = md.zeros(2, 3)
    v = x.reshape(6)
    v.add_(1)
    assert x._version == v._version == 1
    np.testing.assert_array_equal(x.numpy(), np.ones((2, 3)))
    d = x.detach()
    d.zero_()
    assert x._version == 2 and float(x.sum()) == 0.0


def test_a_view_needing_a_history_is_refused():
    x = leaf([1.0, 2.0, 3.0])
    h = x * 2
    v = h[1:]
    with pytest.raises(RuntimeError, match="shares its memory"):
        v.mul_(2)


def test_dtype_shape_and_read_only_refusals():
    i = md.tensor([1, 2])
    with pytest.raises(TypeError, match="add_: the result is float32, which a int64 tensor cannot hold"):
        i.add_(0.5)
    with pytest.raises(ValueError, match="cannot change the shape"):
        md.zeros(3).add_(md.zeros(2, 3))
    with pytest.raises(RuntimeError, match="read-only"):
        md.zeros(1).expand(3).add_(1)
    assert i.mul_(3).tolist() == [3, 6] and i.dtype == np.int64


def test_copy_fill_zero_clamp():
    x = md.zeros(2, 3)
    x.copy_(md.tensor([1, 2, 3]))  # broadcasts and casts, as PyTorch
    assert x.tolist() == [[1, 2, 3], [1, 2, 3]]
    x.clamp_(max=2)
    assert x.tolist() == [[1, 2, 2], [1, 2, 2]]
    x.fill_(md.tensor(7.0))
    assert float(x.sum()) == 42.0
    assert float(x.zero_().sum()) == 0.0
    with pytest.raises(ValueError, match="src of shape"):
        x.copy_(md.zeros(4))


def test_copy_carries_the_gradient_to_its_source():
    src = leaf([1.0, 2.0, 3.0])
    x = md.zeros(2, 3)
    x.copy_(src * 2)
    x.sum().backward()
    np.testing.assert_allclose(src.grad.numpy(), [4.0, 4.0, 4.0])


@pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
def test_gradients_through_in_place_ops_match_pytorch():
    values = np.array([[0.5, -1.0, 2.0], [1.5, -0.5, 0.25]])

    def run(lib, t):
        x = t(values.copy())
        x.requires_grad_(True)
        h = x * 3
        h.sub_(1).mul_(1.5).clamp_(-2, 5)
        h.div_(2).add_(x, alpha=0.5)
        h.tanh_()
        h.sum().backward()
        return h.detach().numpy(), x.grad.numpy()

    mine = run(md, lambda a: md.tensor(a))
    theirs = run(torch, lambda a: torch.tensor(a))
    for a, b in zip(mine, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.gpu
def test_in_place_and_versions_on_the_gpu():
    x = md.tensor([1.0, 2.0], device="cuda", requires_grad=True)
    y = x.exp()
    y.add_(1)
    with pytest.raises(RuntimeError, match="Exp saved"):
        y.sum().backward()
    z = md.zeros(2, 3, device="cuda")
    z.reshape(6).add_(1)
    assert z._version == 1 and float(z.sum()) == 6.0
    z.copy_(md.tensor([1.0, 2.0, 3.0]))  # from the host
    assert z.device == "cuda" and z.numpy().tolist() == [[1.0, 2.0, 3.0]] * 2
