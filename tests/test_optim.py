"""Optimisers: first steps derived by hand, a loop reference under hypothesis, groups, state dicts
and errors."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl
from minidl.optim import SGD, Adam, AdamW

GRADS = [[0.5, -1.0], [0.25, 2.0], [-1.0, 0.5]]


def param(values=(1.0, 2.0), dtype=np.float64):
    return minidl.Tensor(np.array(values, dtype=dtype), requires_grad=True)


def run(opt_class, grads, values=(1.0, 2.0), **kw):
    """Apply ``opt_class`` to a parameter for the given per-step gradients; its values after each step."""
    p = param(values)
    opt = opt_class([p], **kw)
    seen = []
    for g in grads:
        p.grad = minidl.Tensor(np.array(g, dtype=np.float64))
        opt.step()
        seen.append(p.data.copy())
    return seen


def close(a, b, rel=1e-12):
    np.testing.assert_allclose(a, b, rtol=rel, atol=1e-15)


# ------------------------------------------------------------------ SGD by hand
def test_sgd_plain_steps():
    p1, p2 = run(SGD, GRADS[:2], lr=0.1)
    close(p1, [1.0 - 0.1 * 0.5, 2.0 + 0.1 * 1.0])
    close(p2, [0.95 - 0.1 * 0.25, 2.1 - 0.1 * 2.0])


def test_sgd_momentum_dampening_weight_decay_steps():
    p1, p2, p3 = run(SGD, GRADS, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)
    # step 1: d = g + 0.01 p; the buffer starts as d itself (no dampening on the first step)
    d1 = [0.5 + 0.01 * 1.0, -1.0 + 0.01 * 2.0]  # [0.51, -0.98]
    b1 = d1
    x1 = [1.0 - 0.1 * b1[0], 2.0 - 0.1 * b1[1]]  # [0.949, 2.098]
    close(p1, x1)
    # step 2: b = 0.9 b + (1 - 0.1) d
    d2 = [0.25 + 0.01 * x1[0], 2.0 + 0.01 * x1[1]]
    b2 = [0.9 * b1[0] + 0.9 * d2[0], 0.9 * b1[1] + 0.9 * d2[1]]
    x2 = [x1[0] - 0.1 * b2[0], x1[1] - 0.1 * b2[1]]
    close(p2, x2)
    d3 = [-1.0 + 0.01 * x2[0], 0.5 + 0.01 * x2[1]]
    b3 = [0.9 * b2[0] + 0.9 * d3[0], 0.9 * b2[1] + 0.9 * d3[1]]
    close(p3, [x2[0] - 0.1 * b3[0], x2[1] - 0.1 * b3[1]])


def test_sgd_nesterov_steps():
    p1, p2 = run(SGD, GRADS[:2], lr=0.1, momentum=0.9, nesterov=True)
    # step 1: b = g, step direction g + 0.9 b = 1.9 g
    close(p1, [1.0 - 0.1 * 1.9 * 0.5, 2.0 + 0.1 * 1.9 * 1.0])  # [0.905, 2.19]
    # step 2: b = 0.9 g1 + g2, direction g2 + 0.9 b
    b2 = [0.9 * 0.5 + 0.25, 0.9 * -1.0 + 2.0]  # [0.7, 1.1]
    close(p2, [0.905 - 0.1 * (0.25 + 0.9 * b2[0]), 2.19 - 0.1 * (2.0 + 0.9 * b2[1])])


def test_sgd_maximize_climbs():
    (p1,) = run(SGD, GRADS[:1], lr=0.1, maximize=True)
    close(p1, [1.0 + 0.05, 2.0 - 0.1])


# ------------------------------------------------------------------ Adam by hand
def test_adam_steps():
    p1, p2 = run(Adam, GRADS[:2], lr=0.1)
    # step 1: m = 0.1 g, v = 0.001 g^2; after bias correction m/(1-0.9) = g and v/(1-0.999) = g^2,
    # so the step is lr * g / (|g| + eps): lr times the sign of g.
    close(p1, [1.0 - 0.1 * 0.5 / (0.5 + 1e-8), 2.0 + 0.1 * 1.0 / (1.0 + 1e-8)])
    m2 = [0.9 * 0.05 + 0.1 * 0.25, 0.9 * -0.1 + 0.1 * 2.0]  # [0.07, 0.11]
    v2 = [0.999 * 0.00025 + 0.001 * 0.0625, 0.999 * 0.001 + 0.001 * 4.0]  # [0.00031225, 0.004999]
    bc1, bc2 = 1 - 0.9 ** 2, 1 - 0.999 ** 2  # 0.19, 0.001999
    step = [0.1 / bc1 * m2[i] / (math.sqrt(v2[i]) / math.sqrt(bc2) + 1e-8) for i in range(2)]
    close(p2, [p1[0] - step[0], p1[1] - step[1]])


def test_adam_l2_weight_decay_goes_into_the_gradient():
    (p1,) = run(Adam, GRADS[:1], lr=0.1, weight_decay=0.1)
    g = [0.5 + 0.1 * 1.0, -1.0 + 0.1 * 2.0]  # [0.6, -0.8]: still lr * sign after bias correction
    close(p1, [1.0 - 0.1 * g[0] / (abs(g[0]) + 1e-8), 2.0 - 0.1 * g[1] / (abs(g[1]) + 1e-8)])


def test_adamw_decays_the_weights_before_the_step():
    p1, p2 = run(AdamW, GRADS[:2], lr=0.1, weight_decay=0.1)
    x1 = [1.0 * (1 - 0.1 * 0.1) - 0.1 * 0.5 / (0.5 + 1e-8), 2.0 * (1 - 0.1 * 0.1) + 0.1 / (1.0 + 1e-8)]
    close(p1, x1)  # ≈ [0.89, 2.08]
    m2 = [0.07, 0.11]
    v2 = [0.00031225, 0.004999]
    step = [0.1 / 0.19 * m2[i] / (math.sqrt(v2[i]) / math.sqrt(0.001999) + 1e-8) for i in range(2)]
    close(p2, [x1[0] * 0.99 - step[0], x1[1] * 0.99 - step[1]])


def test_adam_amsgrad_keeps_the_largest_second_moment():
    p1, p2 = run(Adam, [[1.0, 1.0], [0.0, 0.0]], lr=0.1, amsgrad=True)
    close(p1, [1.0 - 0.1 / (1 + 1e-8), 2.0 - 0.1 / (1 + 1e-8)])
    # step 2: v = 0.999 * 0.001 drops below the first step's 0.001, which amsgrad keeps.
    m2 = 0.9 * 0.1
    step = 0.1 / (1 - 0.9 ** 2) * m2 / (math.sqrt(0.001) / math.sqrt(1 - 0.999 ** 2) + 1e-8)
    close(p2, [p1[0] - step, p1[1] - step])


def test_adamw_default_weight_decay():
    opt = AdamW([param()])
    assert opt.param_groups[0]["weight_decay"] == 1e-2
    assert Adam([param()]).param_groups[0]["weight_decay"] == 0


# ------------------------------------------------------------------ loop references under hypothesis
def sgd_reference(x, grads, lr, momentum, dampening, weight_decay, nesterov):
    x = list(x)
    buf = [None] * len(x)
    for g in grads:
        for i in range(len(x)):
            d = g[i] + weight_decay * x[i]
            if momentum:
                buf[i] = d if buf[i] is None else momentum * buf[i] + (1 - dampening) * d
                d = d + momentum * buf[i] if nesterov else buf[i]
            x[i] -= lr * d
    return x


def adam_reference(x, grads, lr, b1, b2, eps, weight_decay, decoupled, amsgrad):
    x = list(x)
    m, v, vmax = [0.0] * len(x), [0.0] * len(x), [0.0] * len(x)
    for t, g in enumerate(grads, start=1):
        for i in range(len(x)):
            d = g[i]
            if decoupled:
                x[i] *= 1 - lr * weight_decay
            else:
                d += weight_decay * x[i]
            m[i] = b1 * m[i] + (1 - b1) * d
            v[i] = b2 * v[i] + (1 - b2) * d * d
            vmax[i] = max(vmax[i], v[i])
            second = vmax[i] if amsgrad else v[i]
            x[i] -= lr / (1 - b1 ** t) * m[i] / (math.sqrt(second) / math.sqrt(1 - b2 ** t) + eps)
    return x


floats = st.floats(-2, 2, allow_nan=False)
grad_lists = st.lists(st.lists(floats, min_size=3, max_size=3), min_size=1, max_size=4)


@given(grads=grad_lists, lr=st.floats(0, 1), momentum=st.sampled_from([0.0, 0.5, 0.9]),
       dampening=st.sampled_from([0.0, 0.3]), weight_decay=st.sampled_from([0.0, 0.1]),
       nesterov=st.booleans())
def test_sgd_matches_loop_reference(grads, lr, momentum, dampening, weight_decay, nesterov):
    if nesterov and (momentum == 0 or dampening != 0):
        nesterov = False
    x0 = [0.5, -1.5, 2.0]
    got = run(SGD, grads, values=x0, lr=lr, momentum=momentum, dampening=dampening,
              weight_decay=weight_decay, nesterov=nesterov)[-1]
    close(got, sgd_reference(x0, grads, lr, momentum, dampening, weight_decay, nesterov), rel=1e-10)


@given(grads=grad_lists, lr=st.floats(0, 0.5), betas=st.sampled_from([(0.9, 0.999), (0.5, 0.9), (0.0, 0.0)]),
       weight_decay=st.sampled_from([0.0, 0.05]), decoupled=st.booleans(), amsgrad=st.booleans())
def test_adam_matches_loop_reference(grads, lr, betas, weight_decay, decoupled, amsgrad):
    x0 = [0.5, -1.5, 2.0]
    opt_class = AdamW if decoupled else Adam
    got = run(opt_class, grads, values=x0, lr=lr, betas=betas, weight_decay=weight_decay, amsgrad=amsgrad)[-1]
    want = adam_reference(x0, grads, lr, *betas, 1e-8, weight_decay, decoupled, amsgrad)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name, kw", [
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
    ("Adam", dict(lr=0.1, weight_decay=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.1, betas=(0.8, 0.9))),
])
def test_trajectories_match_torch(name, kw):
    torch = pytest.importorskip("torch")
    p = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    opt = getattr(torch.optim, name)([p], **kw)
    want = []
    for g in GRADS:
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        want.append(p.detach().numpy().copy())
    got = run(getattr(minidl.optim, name), GRADS, **kw)
    np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ groups, grads, dtypes
def test_param_groups_take_their_own_lr_and_the_defaults():
    w, b = param([1.0, 1.0]), param([0.0])
    opt = SGD([{"params": [w]}, {"params": [b], "lr": 0.2}], lr=0.1, momentum=0.5)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.2]
    assert opt.param_groups[1]["momentum"] == 0.5
    w.grad, b.grad = minidl.Tensor(np.array([1.0, -1.0])), minidl.Tensor(np.array([1.0]))
    opt.step()
    close(w.data, [0.9, 1.1])
    close(b.data, [-0.2])


def test_add_param_group_and_parameters_without_grad_are_left_alone():
    w, frozen = param(), param([3.0, 4.0])
    opt = SGD([w], lr=0.1)
    extra = param([5.0])
    opt.add_param_group({"params": extra, "lr": 1.0})
    w.grad, extra.grad = minidl.Tensor(np.ones(2)), minidl.Tensor(np.ones(1))
    opt.step()
    close(extra.data, [4.0])
    close(frozen.data, [3.0, 4.0])
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [w]})


def test_step_keeps_float32_and_does_not_touch_the_gradient_array():
    p = param(dtype=np.float32)
    grad = np.array([0.5, -1.0], dtype=np.float32)
    p.grad = minidl.Tensor(grad)
    for opt in (SGD([p], lr=0.1, momentum=0.9, weight_decay=0.1, maximize=True), Adam([p], weight_decay=0.1)):
        opt.step()
        opt.step()
        assert p.dtype == np.float32
        assert p.grad.data is grad
        np.testing.assert_array_equal(grad, [0.5, -1.0])


def test_zero_grad():
    p = param()
    shared = np.array([1.0, 2.0])
    p.grad = minidl.Tensor(shared)
    opt = SGD([p])
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.data, [0.0, 0.0])
    np.testing.assert_array_equal(shared, [1.0, 2.0])
    opt.zero_grad()
    assert p.grad is None


def test_step_with_closure_on_a_quadratic():
    p = param([3.0, -1.0])
    target = minidl.Tensor(np.array([1.0, 1.0]))
    opt = SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = ((p - target) ** 2).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss) == pytest.approx(8.0)
    close(p.data, [3.0 - 0.25 * 4.0, -1.0 + 0.25 * 4.0])  # gradient 2 (p - target)


# ------------------------------------------------------------------ state_dict
def train(params, opt, steps):
    target = minidl.Tensor(np.array([1.0, -2.0, 0.5]))
    for _ in range(steps):
        opt.zero_grad()
        loss = sum(((p - target) ** 2 * (i + 1)).sum() for i, p in enumerate(params))
        loss.backward()
        opt.step()


@pytest.mark.parametrize("make", [
    lambda ps: SGD([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.02}], lr=0.05, momentum=0.9,
                   nesterov=True),
    lambda ps: Adam(ps, lr=0.1, amsgrad=True, weight_decay=0.01),
    lambda ps: AdamW(ps, lr=0.1),
])
def test_state_dict_round_trip_continues_identically(make):
    start = [np.array([0.3, 0.1, -0.4]), np.array([2.0, 0.0, 1.0])]
    straight = [param(v) for v in start]
    opt = make(straight)
    train(straight, opt, 6)

    first = [param(v) for v in start]
    opt1 = make(first)
    train(first, opt1, 3)
    saved = opt1.state_dict()
    assert sorted(saved["state"]) == [0, 1]
    assert [g["params"] for g in saved["param_groups"]] in ([[0], [1]], [[0, 1]])
    resumed = [param(p.data.copy()) for p in first]
    opt2 = make(resumed)
    opt2.load_state_dict(saved)
    train(first, opt1, 3)  # the original carries on too: loading must have copied the buffers
    train(resumed, opt2, 3)
    for a, b, c in zip(straight, resumed, first):
        np.testing.assert_array_equal(a.data, b.data)
        np.testing.assert_array_equal(a.data, c.data)


def test_load_state_dict_takes_hyperparameters_and_casts_buffers():
    p64 = param()
    opt = SGD([p64], lr=0.5, momentum=0.9)
    p64.grad = minidl.Tensor(np.array([1.0, 1.0]))
    opt.step()
    p32 = param(dtype=np.float32)
    fresh = SGD([p32], lr=0.1)
    fresh.load_state_dict(opt.state_dict())
    assert fresh.param_groups[0]["lr"] == 0.5 and fresh.param_groups[0]["momentum"] == 0.9
    assert fresh.param_groups[0]["params"][0] is p32
    assert fresh.state[p32]["momentum_buffer"].dtype == np.float32


def test_load_state_dict_refuses_mismatches():
    a, b = param(), param([1.0, 2.0, 3.0])
    opt = SGD([a], momentum=0.9)
    a.grad = minidl.Tensor(np.ones(2))
    opt.step()
    with pytest.raises(ValueError, match="1 parameter groups but the optimiser has 2"):
        SGD([{"params": [param()]}, {"params": [param()]}]).load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match="has 1 parameters but the optimiser's has 2"):
        SGD([a, param()]).load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match=r"momentum_buffer' of parameter 0 has shape \(2,\).*\(3,\)"):
        SGD([b]).load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        SGD([a]).load_state_dict({"state": {}})


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("make, message", [
    (lambda p: SGD(p, lr=-0.1), r"SGD: invalid learning rate -0.1"),
    (lambda p: SGD(p, momentum=-0.5), r"SGD: invalid momentum -0.5"),
    (lambda p: SGD(p, weight_decay=-1), r"SGD: invalid weight_decay -1"),
    (lambda p: SGD(p, nesterov=True), r"SGD: Nesterov momentum needs momentum > 0 and dampening = 0"),
    (lambda p: SGD(p, momentum=0.9, dampening=0.1, nesterov=True), r"dampening=0.1"),
    (lambda p: SGD([{"params": p, "lr": -1.0}]), r"SGD: invalid learning rate -1.0"),
    (lambda p: Adam(p, lr=-1e-3), r"Adam: invalid learning rate -0.001"),
    (lambda p: Adam(p, betas=(1.0, 0.999)), r"Adam: invalid beta1 1.0"),
    (lambda p: Adam(p, betas=(0.9, -0.1)), r"Adam: invalid beta2 -0.1"),
    (lambda p: Adam(p, betas=(0.9,)), r"Adam: betas should be a pair"),
    (lambda p: AdamW(p, eps=-1.0), r"AdamW: invalid eps -1.0"),
    (lambda p: SGD([]), r"SGD: got an empty parameter list"),
    (lambda p: SGD(p + p), r"SGD: a parameter group lists the same parameter twice"),
    (lambda p: SGD([p[0] * 2]), r"SGD: can't optimise a non-leaf tensor"),
])
def test_invalid_arguments_raise_value_error(make, message):
    with pytest.raises(ValueError, match=message):
        make([param()])


def test_wrong_types_raise_type_error():
    with pytest.raises(TypeError, match="single Tensor"):
        SGD(param())
    with pytest.raises(TypeError, match="can only optimise Tensors, got ndarray"):
        SGD([np.zeros(2)])
    with pytest.raises(TypeError, match="learning rate should be a number, got str"):
        SGD([param()], lr="0.1")
    with pytest.raises(TypeError, match="not a set"):
        SGD({param()})


def test_gradient_of_the_wrong_shape_is_named():
    p = param()
    p.grad = minidl.Tensor(np.ones(3))
    message = r"SGD.step: a parameter of shape \(2,\) has a gradient of shape \(3,\)"
    with pytest.raises(ValueError, match=message):
        SGD([p]).step()


# ------------------------------------------------------------------ GPU
@pytest.mark.gpu
@pytest.mark.parametrize("opt_class, kw", [
    (SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True)),
    (Adam, dict(lr=0.05, amsgrad=True)),
    (AdamW, dict(lr=0.05)),
])
def test_gpu_matches_cpu(opt_class, kw):
    import cupy

    rng = np.random.default_rng(0)
    start = rng.standard_normal((4, 3)).astype(np.float32)
    grads = rng.standard_normal((3, 4, 3)).astype(np.float32)

    def trajectory(device):
        p = minidl.Tensor(start.copy(), device=device, requires_grad=True)
        opt = opt_class([p], **kw)
        for g in grads:
            p.grad = minidl.Tensor(g).to(device)
            opt.step()
        return p, opt

    cpu, _ = trajectory("cpu")
    gpu, opt = trajectory("cuda")
    buffers = [v for v in opt.state[gpu].values() if isinstance(v, minidl.Tensor)]
    assert buffers and all(isinstance(v.data, cupy.ndarray) for v in buffers)
    np.testing.assert_allclose(gpu.numpy(), cpu.data, rtol=1e-5, atol=1e-6)
    again, _ = trajectory("cuda")
    np.testing.assert_array_equal(again.numpy(), gpu.numpy())
