"""Gradient clipping (``minidl.nn.utils``): totals and scaled gradients worked out by hand."""
import importlib
import math

import numpy as np
import pytest

import minidl

clip_utils = importlib.import_module("minidl.nn.utils")


def param(values):
    return minidl.Tensor(np.array(values, dtype=np.float64), requires_grad=True)


def close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def grads_34_12():
    a, b = param([0.0, 0.0]), param([0.0])
    a.grad, b.grad = minidl.Tensor(np.array([3.0, 4.0])), minidl.Tensor(np.array([-12.0]))
    return a, b


def test_clip_grad_norm_scales_all_gradients_together():
    a, b = grads_34_12()
    old = a.grad.data
    total = clip_utils.clip_grad_norm_([a, b], max_norm=6.5)
    assert float(total) == pytest.approx(13.0, rel=1e-14)  # sqrt(9 + 16 + 144)
    coef = 6.5 / (13.0 + 1e-6)
    close(a.grad.data, [3.0 * coef, 4.0 * coef])
    close(b.grad.data, [-12.0 * coef])
    np.testing.assert_array_equal(old, [3.0, 4.0])


@pytest.mark.parametrize("norm_type, expected", [
    (1, 19.0), (math.inf, 12.0), (3, (27 + 64 + 1728) ** (1 / 3)),
])
def test_clip_grad_norm_other_norms(norm_type, expected):
    a, b = grads_34_12()
    total = clip_utils.clip_grad_norm_(iter([a, b]), max_norm=100.0, norm_type=norm_type)
    assert float(total) == pytest.approx(expected, rel=1e-14)
    np.testing.assert_array_equal(a.grad.data, [3.0, 4.0])  # under max_norm: unchanged


def test_clip_grad_norm_edge_cases():
    assert float(clip_utils.clip_grad_norm_([param([1.0])], 1.0)) == 0.0
    p = param([0.0, 0.0])
    p.grad = minidl.Tensor(np.array([np.inf, 1.0]))
    with pytest.raises(RuntimeError, match="non-finite|inf"):
        clip_utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="norm_type"):
        clip_utils.clip_grad_norm_(p, 1.0, norm_type=0)


def test_clip_grad_value():
    a, b = grads_34_12()
    clip_utils.clip_grad_value_([a, b], 3.5)
    np.testing.assert_array_equal(a.grad.data, [3.0, 3.5])
    np.testing.assert_array_equal(b.grad.data, [-3.5])


@pytest.mark.gpu
def test_clip_grad_norm_on_the_gpu_matches_the_cpu():
    import cupy

    def clipped(to):
        a, b = param([0.0, 0.0]), param([0.0])
        a.grad = minidl.Tensor._wrap(to(np.array([3.0, 4.0], np.float32)))
        b.grad = minidl.Tensor._wrap(to(np.array([-12.0], np.float32)))
        total = clip_utils.clip_grad_norm_([a, b], 6.5)
        return total, a.grad, b.grad

    cpu = clipped(np.asarray)
    gpu = clipped(cupy.asarray)
    assert all(t.device == "cuda" for t in gpu)
    for c, g in zip(cpu, gpu):
        np.testing.assert_allclose(g.numpy(), c.numpy(), rtol=1e-5)
    for g, again in zip(gpu, clipped(cupy.asarray)):
        np.testing.assert_array_equal(g.numpy(), again.numpy())
