"""Tensor construction, dtype rules, conversions and the errors bad input gets."""
import numpy as np
import pytest

import minidl as md


def test_ndarray_keeps_dtype_lists_become_float32():
    assert md.Tensor(np.zeros(2, np.float64)).dtype == np.float64
    assert md.Tensor(np.zeros(2, np.int64)).dtype == np.int64
    assert md.Tensor([1, 2]).dtype == np.float32
    assert md.Tensor(3).dtype == np.float32
    assert md.tensor([1, 2]).dtype == np.int64
    assert md.tensor([1.0, 2]).dtype == np.float32
    assert md.tensor([True]).dtype == np.bool_


def test_python_scalar_does_not_upcast():
    x = md.Tensor(np.ones(2, np.float32))
    assert (x * 2.5).dtype == np.float32
    assert (2.5 + x).dtype == np.float32
    assert (x ** 2).dtype == np.float32
    i = md.Tensor(np.ones(2, np.int64))
    assert (i * 2).dtype == np.int64
    assert (i * 2.5).dtype == np.float32
    assert (i / 2).dtype == np.float32


def test_tensor_tensor_promotion_follows_pytorch():
    f32 = md.Tensor(np.ones(2, np.float32))
    f64 = md.Tensor(np.ones(2, np.float64))
    i64 = md.Tensor(np.ones(2, np.int64))
    assert (f32 + f64).dtype == np.float64
    assert (f32 + i64).dtype == np.float32


def test_mixed_dtype_gradients_come_back_in_each_input_dtype():
    a = md.Tensor(np.ones(2, np.float32), requires_grad=True)
    b = md.Tensor(np.ones(2, np.float64), requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


def test_properties_and_conversions():
    x = md.Tensor(np.arange(6.0).reshape(2, 3))
    assert x.shape == (2, 3) and x.ndim == 2 and x.device == "cpu" and x.numel() == 6
    assert x.to("cpu") is x
    assert x.to(md.float32).dtype == np.float32
    assert x[1, 2].item() == 5.0
    assert isinstance(x.numpy(), np.ndarray)
    assert md.Tensor(np.ones(1)).item() == 1.0
    with pytest.raises(ValueError, match="one-element"):
        x.item()
    assert "tensor(" in repr(x)


def test_unknown_device_name_is_a_value_error():
    x = md.Tensor([1.0])
    with pytest.raises(ValueError, match="tpu"):
        x.to("tpu")
    with pytest.raises(ValueError, match="unknown device"):
        md.set_default_device("npu")


def test_shapes_that_do_not_broadcast_name_both_shapes():
    a, b = md.Tensor(np.ones((2, 3))), md.Tensor(np.ones(4))
    for op in (lambda: a + b, lambda: a - b, lambda: a * b, lambda: a / b, lambda: a < b):
        with pytest.raises(ValueError, match=r"\(2, 3\) and \(4,\)"):
            op()


def test_matmul_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\)"):
        md.Tensor(np.ones((2, 3))) @ md.Tensor(np.ones((4, 5)))


def test_max_with_dim_returns_values_and_indices():
    x = md.Tensor(np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 7.0]]))
    values, indices = x.max(1)
    assert values.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0]
    assert x.max().item() == 7.0
    assert x.min(dim=0).values.tolist() == [1.0, 0.0, 2.0]


def test_max_ties_share_the_gradient():
    x = md.Tensor(np.array([[3.0, 3.0, 1.0]]), requires_grad=True)
    x.max(1).values.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.5, 0.5, 0.0]])


def test_axis_and_keepdims_spellings():
    x = md.Tensor(np.ones((2, 3, 4)))
    assert x.sum(axis=(0, 2), keepdims=True).shape == (1, 3, 1)
    assert x.mean(dim=1).shape == (2, 4)


def test_indexing_forms():
    x = md.Tensor(np.arange(24.0).reshape(2, 3, 4))
    assert x[0].shape == (3, 4)
    assert x[:, 1:, ::2].shape == (2, 2, 2)
    assert x[..., [0, 3]].shape == (2, 3, 2)
    assert x[x > 20].tolist() == [21.0, 22.0, 23.0]
    assert x[md.tensor([1, 0])].shape == (2, 3, 4)


def test_setitem_refused_on_recorded_tensor_allowed_under_no_grad():
    x = md.Tensor(np.zeros(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="no_grad"):
        x[0] = 1.0
    with md.no_grad():
        x[0] = 1.0
    assert x.tolist() == [1.0, 0.0, 0.0]


def test_split_concat_stack_shapes():
    x = md.Tensor(np.arange(10.0))
    parts = x.split(3)
    assert [p.shape[0] for p in parts] == [3, 3, 3, 1]
    assert md.concat(parts).tolist() == x.tolist()
    assert md.stack([x, x], dim=1).shape == (10, 2)
    with pytest.raises(ValueError, match="add up"):
        x.split([3, 3])


def test_manual_seed_repeats_random_draws():
    md.manual_seed(7)
    a = md.randn(5).numpy()
    md.manual_seed(7)
    np.testing.assert_array_equal(a, md.randn(5).numpy())
    with pytest.raises(TypeError):
        md.manual_seed(1.5)
