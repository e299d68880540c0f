"""cross_entropy, nll_loss, mse_loss: naive loop references, gradchecks, errors, CPU vs GPU."""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl
import minidl.functional as F
from minidl import Tensor


def naive_cross_entropy(x, t, weight, ignore_index, reduction, eps, log_probs=False):
    """Per element with plain loops: log-softmax, weighted smoothed NLL, PyTorch's mean rule."""
    c = x.shape[1]
    w = np.ones(c) if weight is None else weight
    losses = np.zeros(t.shape)
    denominator = 0.0
    for idx in np.ndindex(*t.shape):
        n, rest = idx[0], idx[1:]
        scores = [float(x[(n, k) + rest]) for k in range(c)]
        if log_probs:
            logp = scores
        else:
            top = max(scores)
            lse = top + math.log(sum(math.exp(s - top) for s in scores))
            logp = [s - lse for s in scores]
        y = int(t[idx])
        if y == ignore_index:
            continue
        denominator += w[y]
        smooth = sum(-w[k] * logp[k] for k in range(c)) / c
        losses[idx] = (1 - eps) * w[y] * -logp[y] + eps * smooth
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / denominator if denominator else float("nan")


@st.composite
def class_problem(draw):
    n = draw(st.integers(1, 3))
    c = draw(st.integers(1, 5))
    spatial = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c) + spatial) * 3
    t = rng.integers(0, c, size=(n,) + spatial)
    ignore_index = draw(st.sampled_from([-100, 0, c - 1, 255]))
    ignored = rng.random(t.shape) < draw(st.sampled_from([0.0, 0.3]))
    ignored.flat[0] = False  # keep one counted target so a 'mean' is not 0/0 (tested on its own)
    t[ignored] = ignore_index
    weight = rng.uniform(0.2, 2.0, size=c) if draw(st.booleans()) else None
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    return x, t, weight, ignore_index, reduction


def _call(fn, x, t, weight, **kw):
    w = None if weight is None else Tensor(weight)
    return fn(Tensor(x), Tensor(t), weight=w, **kw).numpy()


@given(class_problem(), st.sampled_from([0.0, 0.1, 0.37, 1.0]))
def test_cross_entropy_matches_loops(problem, eps):
    x, t, weight, ignore_index, reduction = problem
    got = _call(F.cross_entropy, x, t, weight, ignore_index=ignore_index, reduction=reduction,
                label_smoothing=eps)
    want = naive_cross_entropy(x, t, weight, ignore_index, reduction, eps)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@given(class_problem())
def test_nll_loss_matches_loops(problem):
    x, t, weight, ignore_index, reduction = problem
    got = _call(F.nll_loss, x, t, weight, ignore_index=ignore_index, reduction=reduction)
    want = naive_cross_entropy(x, t, weight, ignore_index, reduction, 0.0, log_probs=True)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@given(class_problem(), st.sampled_from([0.0, 0.25]))
def test_cross_entropy_gradcheck(problem, eps):
    x, t, weight, ignore_index, reduction = problem
    xt = Tensor(x, requires_grad=True)
    w = None if weight is None else Tensor(weight)
    minidl.gradcheck(
        lambda a: F.cross_entropy(a, Tensor(t), weight=w, ignore_index=ignore_index,
                                  reduction=reduction, label_smoothing=eps),
        (xt,),
    )


@given(class_problem())
def test_nll_loss_gradcheck(problem):
    x, t, weight, ignore_index, reduction = problem
    w = None if weight is None else Tensor(weight)
    minidl.gradcheck(
        lambda a: F.nll_loss(a, Tensor(t), weight=w, ignore_index=ignore_index, reduction=reduction),
        (Tensor(x, requires_grad=True),),
    )


def test_cross_entropy_is_nll_of_log_softmax():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 3, 2))
    t = rng.integers(0, 4, size=(2, 3, 2))
    logp = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(
        F.cross_entropy(Tensor(x), Tensor(t)).item(), F.nll_loss(Tensor(logp), Tensor(t)).item(), rtol=1e-12
    )


def test_unbatched_input_with_scalar_target():
    x = np.array([0.5, -1.0, 2.0])
    out = F.cross_entropy(Tensor(x, requires_grad=True), minidl.tensor(2), label_smoothing=0.2)
    assert out.shape == ()
    want = naive_cross_entropy(x[None], np.array([2]), None, -100, "mean", 0.2)
    np.testing.assert_allclose(out.item(), want, rtol=1e-12)
    per = F.cross_entropy(Tensor(x), minidl.tensor(2), reduction="none")
    assert per.shape == ()
    minidl.gradcheck(lambda a: F.cross_entropy(a, minidl.tensor(1)), (Tensor(x, requires_grad=True),))


def test_int32_targets_are_accepted():
    x = np.random.default_rng(0).standard_normal((3, 4))
    t = np.array([0, 3, 1])
    a = F.cross_entropy(Tensor(x), Tensor(t.astype(np.int32))).item()
    assert a == F.cross_entropy(Tensor(x), Tensor(t)).item()


def test_large_logits_stay_finite():
    x = Tensor(np.array([[1e4, -1e4, 0.0], [3e4, 3e4, -3e4]], dtype=np.float32), requires_grad=True)
    loss = F.cross_entropy(x, minidl.tensor([1, 0]), label_smoothing=0.1)
    loss.backward()
    assert np.isfinite(loss.item())
    np.testing.assert_allclose(loss.item(), (0.9 * 2e4 + 0.1 * 3e4 / 3 + 0.9 * math.log(2)
                                             + 0.1 * (2 * math.log(2) + 6e4 + math.log(2)) / 3) / 2,
                               rtol=1e-5)
    assert np.all(np.isfinite(x.grad.numpy()))


def test_all_ignored_mean_is_nan_with_zero_gradient():
    x = Tensor(np.ones((2, 3, 2)), requires_grad=True)
    t = minidl.tensor([[-100, -100], [-100, -100]])
    for eps in (0.0, 0.3):
        loss = F.cross_entropy(x, t, label_smoothing=eps)
        assert math.isnan(loss.item())
        x.grad = None
        loss.backward()
        assert np.all(x.grad.numpy() == 0)
    assert F.cross_entropy(x, t, reduction="sum").item() == 0.0
    assert math.isnan(F.nll_loss(x, t).item())


def test_float32_stays_float32():
    x = Tensor(np.zeros((2, 3), dtype=np.float32), requires_grad=True)
    loss = F.cross_entropy(x, minidl.tensor([0, 1]), weight=Tensor(np.ones(3, dtype=np.float32)))
    loss.backward()
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32
    np.testing.assert_allclose(loss.item(), math.log(3), rtol=1e-6)


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss])
def test_class_loss_errors(fn):
    name = fn.__name__
    x = Tensor(np.zeros((2, 5, 3)))
    good = minidl.tensor([[0, 1, 2], [3, 4, 0]])
    with pytest.raises(TypeError, match=f"{name}.*float"):
        fn(x, Tensor(np.zeros((2, 3))))
    with pytest.raises(ValueError, match=f"{name}: target value 7 .*5 classes"):
        fn(x, minidl.tensor([[0, 7, 2], [3, 4, 0]]))
    with pytest.raises(ValueError, match=f"{name}: target value -1 .*5 classes"):
        fn(x, minidl.tensor([[0, 1, 2], [-1, 4, 0]]))
    with pytest.raises(ValueError, match=f"{name}: target value -100 "):
        fn(x, minidl.tensor([[0, 1, 2], [-100, 4, 0]]), ignore_index=255)
    with pytest.raises(ValueError, match=rf"{name}: input of shape \(2, 5, 3\) expects a target of shape \(2, 3\)"):
        fn(x, minidl.tensor([0, 1]))
    with pytest.raises(ValueError, match=f"{name}: unknown reduction 'avg'"):
        fn(x, good, reduction="avg")
    with pytest.raises(ValueError, match=rf"{name}: weight must have shape \(5,\)"):
        fn(x, good, weight=Tensor(np.ones(4)))
    with pytest.raises(TypeError, match=f"{name}: weight is float32 but input is float64"):
        fn(x, good, weight=Tensor(np.ones(5, dtype=np.float32)))
    with pytest.raises(TypeError, match=f"{name}: input must be a floating-point"):
        fn(good, good)


def test_label_smoothing_range():
    with pytest.raises(ValueError, match="cross_entropy: label_smoothing must be in"):
        F.cross_entropy(Tensor(np.zeros((1, 2))), minidl.tensor([0]), label_smoothing=1.5)


# ---------------------------------------------------------------------- mse_loss


@given(
    st.lists(st.integers(1, 3), min_size=0, max_size=3),
    st.sampled_from(["mean", "sum", "none"]),
    st.integers(0, 2**16),
)
def test_mse_loss_matches_loops_and_gradchecks(shape, reduction, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal(shape), rng.standard_normal(shape)
    got = F.mse_loss(Tensor(x), Tensor(y), reduction=reduction).numpy()
    sq = np.zeros(shape)
    for idx in np.ndindex(*shape):
        sq[idx] = (float(x[idx]) - float(y[idx])) ** 2
    want = {"none": sq, "sum": sq.sum(), "mean": sq.sum() / max(sq.size, 1)}[reduction]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    minidl.gradcheck(
        lambda a, b: F.mse_loss(a, b, reduction=reduction),
        (Tensor(x, requires_grad=True), Tensor(y, requires_grad=True)),
    )


def test_mse_loss_broadcast_warns_and_reduces_gradient():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = Tensor(np.array([1.0, 0.0, 2.0]), requires_grad=True)
    with pytest.warns(UserWarning, match="mse_loss: target shape"):
        loss = F.mse_loss(x, y)
    np.testing.assert_allclose(loss.item(), ((x.numpy() - y.numpy()) ** 2).mean())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        minidl.gradcheck(lambda a, b: F.mse_loss(a, b), (x, y))


def test_mse_loss_errors():
    with pytest.raises(ValueError, match=r"mse_loss: input shape \(2, 3\) and target shape \(2,\)"):
        F.mse_loss(Tensor(np.zeros((2, 3))), Tensor(np.zeros(2)))
    with pytest.raises(TypeError, match="mse_loss: input and target must share"):
        F.mse_loss(Tensor(np.zeros(2)), Tensor(np.zeros(2, dtype=np.float32)))
    with pytest.raises(ValueError, match="mse_loss: unknown reduction"):
        F.mse_loss(Tensor(np.zeros(2)), Tensor(np.zeros(2)), reduction="mean ")


# ---------------------------------------------------------------------- PyTorch and GPU


def test_matches_torch_when_installed():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 3, 3))
    t = rng.integers(0, 4, size=(2, 3, 3))
    t[0, 0, 0] = -100
    w = rng.uniform(0.5, 2, size=4)
    for reduction in ("mean", "sum", "none"):
        want = torch.nn.functional.cross_entropy(
            torch.tensor(x), torch.tensor(t), weight=torch.tensor(w), reduction=reduction, label_smoothing=0.2
        ).numpy()
        got = F.cross_entropy(Tensor(x), Tensor(t), weight=Tensor(w), reduction=reduction,
                              label_smoothing=0.2).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-10)


def _rel(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)


def _run(fn, x, t, w, device):
    xt = Tensor(x, requires_grad=True, device=device)
    loss = fn(xt, Tensor(t, device=device), Tensor(w, device=device))
    loss.backward()
    return loss.numpy(), xt.grad.numpy()


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["cross_entropy", "cross_entropy_smooth_none", "nll_loss", "mse_loss"])
def test_gpu_matches_cpu(name):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 21, 16, 16)).astype(np.float32) * 4
    t = rng.integers(0, 21, size=(4, 16, 16))
    t[:, :3] = 255
    w = rng.uniform(0.5, 2, size=21).astype(np.float32)
    fns = {
        "cross_entropy": lambda a, b, c: F.cross_entropy(a, b, weight=c, ignore_index=255),
        "cross_entropy_smooth_none": lambda a, b, c: (
            F.cross_entropy(a, b, weight=c, ignore_index=255, reduction="none", label_smoothing=0.1) ** 2
        ).sum(),
        "nll_loss": lambda a, b, c: F.nll_loss(a, b, weight=c, ignore_index=255, reduction="sum"),
        "mse_loss": lambda a, b, c: F.mse_loss(a, Tensor(a.data * 0.5 + 1)),
    }
    cpu_loss, cpu_grad = _run(fns[name], x, t, w, "cpu")
    gpu_loss, gpu_grad = _run(fns[name], x, t, w, "cuda")
    again_loss, again_grad = _run(fns[name], x, t, w, "cuda")
    assert _rel(gpu_loss, cpu_loss) <= 1e-5
    assert _rel(gpu_grad, cpu_grad) <= 1e-4
    assert np.array_equal(gpu_loss, again_loss) and np.array_equal(gpu_grad, again_grad)


@pytest.mark.gpu
def test_gpu_out_of_range_target_is_reported():
    x = Tensor(np.zeros((2, 3), dtype=np.float32), device="cuda")
    with pytest.raises(ValueError, match="cross_entropy: target value 3 is out of range for 3 classes"):
        F.cross_entropy(x, Tensor(np.array([0, 3]), device="cuda"))
