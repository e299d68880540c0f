"""The families of bad input the fuzzer found, one check each: refused with the argument named, or
computed as PyTorch computes it."""
import numpy as np
import pytest

import minidl as md
import minidl.nn.functional as F
from minidl import nn


def test_a_0_d_tensor_decides_the_dtype_only_from_a_higher_category():
    assert (md.ones(3) + md.tensor(2.0, dtype=md.float64)).dtype == np.float32
    assert (md.tensor([1, 2]) + md.tensor(1.5, dtype=md.float64)).dtype == np.float64
    assert (md.tensor(2.0) * md.tensor(3.0)).numpy().shape == ()
    assert md.tensor(-2.0).abs().item() == 2.0 and md.sigmoid(md.tensor(0.0)).item() == 0.5


def test_dims_sizes_and_shapes_are_never_truncated_or_taken_as_minus_one():
    x = md.zeros(2, 3)
    with pytest.raises(TypeError, match="sum: dim must be an int or a tuple of ints, got 1.0"):
        x.sum(dim=1.0)
    with pytest.raises(TypeError, match="reshape: shape must be a tuple of ints"):
        x.reshape(2.0, 3)
    with pytest.raises(ValueError, match=r"reshape: shape \(-2, -3\) has a negative entry other than a single -1"):
        x.reshape(-2, -3)
    with pytest.raises(ValueError, match="expand: size .* has -2 at dimension 0"):
        x.expand(-2, 3)
    assert x.reshape(-1, 2).shape == (3, 2)


def test_batch_norm_eps_and_missing_running_statistics():
    with pytest.raises(ValueError, match="BatchNorm2d: eps must be positive, got 0.0"):
        nn.BatchNorm2d(3, eps=0)
    with pytest.raises(ValueError, match="running_mean must be given in evaluation mode"):
        F.batch_norm(md.randn(4, 3), None, None, training=False)


def test_nan_stays_in_its_bins_in_adaptive_pooling_and_bilinear_interpolation():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    x[0, 0, 0, 0] = np.nan
    pooled = F.adaptive_avg_pool2d(md.tensor(x), 2).numpy()[0, 0]
    assert np.isnan(pooled[0, 0]) and np.isfinite(pooled.ravel()[1:]).all()
    up = F.interpolate(md.tensor(x), size=8, mode="bilinear").numpy()[0, 0]
    assert np.isnan(up[:2, :2]).all() and np.isfinite(up[4:, 4:]).all()


def test_an_ignored_row_does_not_poison_the_loss_with_label_smoothing():
    logits = md.tensor([[np.inf, 0.0, 0.0], [1.0, 2.0, 0.5]])
    target = md.tensor([-100, 1])
    loss = F.cross_entropy(logits, target, label_smoothing=0.1, reduction="none").numpy()
    assert loss[0] == 0.0 and np.isfinite(loss[1])
    assert np.isfinite(F.nll_loss(logits, target, reduction="sum").item())


def test_negative_and_huge_window_sizes_are_refused_before_numpy():
    with pytest.raises(ValueError, match="Conv2d: kernel_size must be >= 1"):
        nn.Conv2d(2, 3, kernel_size=-1)
    with pytest.raises(ValueError, match="max_pool2d: kernel_size must be at least 1"):
        F.max_pool2d(md.zeros(1, 1, 4, 4), -2)
    with pytest.raises(ValueError, match="conv2d: padding 1000000000000 does not fit in a 32-bit int"):
        F.conv2d(md.zeros(1, 1, 4, 4), md.zeros(1, 1, 1, 1), padding=10 ** 12)
    with pytest.raises(RuntimeError, match="interpolate: not enough memory|interpolate: .* too large"):
        F.interpolate(md.zeros(1, 1, 2, 2), scale_factor=1e12)


def test_empty_tensors_in_linear_and_pad():
    assert F.linear(md.zeros(0, 3), md.zeros(2, 3)).shape == (0, 2)
    assert F.pad(md.zeros(0, 3), (1, 1)).shape == (0, 5)
    with pytest.raises(ValueError, match="pad: mode 'reflect' needs non-empty dimensions"):
        F.pad(md.zeros(1, 0, 3), (1, 1), mode="reflect")


def test_bool_arithmetic_numpy_refuses_is_refused_as_pytorch_does():
    mask = md.tensor([True, False])
    with pytest.raises(TypeError, match="sub: subtraction with a bool tensor"):
        mask - mask
    with pytest.raises(TypeError, match="neg: negation of a bool tensor"):
        -mask
    assert (mask + mask).dtype == np.bool_ and (mask * 2).tolist() == [2, 0]


def test_an_empty_dim_split_into_no_sections_gives_no_pieces():
    x = md.zeros((3, 0))
    assert F.split(x, [], dim=1) == ()
    with pytest.raises(ValueError, match="add up to 0, but dim 0 has 3"):
        F.split(x, [], dim=0)
