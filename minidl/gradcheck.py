"""Numerical gradient checking: does an op's hand-written backward agree with its forward?

For a function f and input x, the central difference

    df/dx_i  ~  (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)

has error O(eps^2), small enough in float64 to expose a wrong backward. Two modes:

* ``full``: the whole Jacobian J[o, i] = d out_o / d x_i, numerically (two forwards per input element)
  and analytically (one backward per output element, with a one-hot output gradient). For tiny inputs.
* ``random``: for larger inputs, random input directions d and a random output weighting v: the
  analytic  v . (J d) = (J^T v) . d  (one backward) against the numerical directional derivative
  (two forwards per direction). A wrong backward almost surely changes this number.

Pass when |analytic - numerical| <= atol + rtol |numerical| everywhere.
"""
import numpy as np

from . import backend
from .autograd import enable_grad, no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """The analytic and numerical gradients disagree (the message says where and by how much)."""


class GradcheckResult:
    """What a check found: ``passed``, the largest absolute and relative errors, and a message."""

    def __init__(self, passed, max_abs_error, max_rel_error, message):
        self.passed, self.max_abs_error, self.max_rel_error, self.message = (
            passed, max_abs_error, max_rel_error, message,
        )

    def __bool__(self):
        return self.passed

    def __repr__(self):
        return (f"GradcheckResult(passed={self.passed}, max_abs_error={self.max_abs_error:.3g}, "
                f"max_rel_error={self.max_rel_error:.3g})")


def _outputs(fn, inputs):
    out = fn(*inputs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in outs if isinstance(o, Tensor) and o.dtype.kind == "f"]


def _weighted_sum(outs, weights):
    return sum(float((o.data * w).sum()) for o, w in zip(outs, weights))


def _numeric(fn, inputs, t, direction, weights, eps):
    """(L(x + eps d) - L(x - eps d)) / (2 eps) with L = sum(v * f(x)), moving ``t`` along ``direction``."""
    original = t.data.copy()
    with no_grad():
        t.data[...] = original + eps * direction
        plus = _weighted_sum(_outputs(fn, inputs), weights)
        t.data[...] = original - eps * direction
        minus = _weighted_sum(_outputs(fn, inputs), weights)
    t.data[...] = original
    return (plus - minus) / (2 * eps)


def _analytic(fn, inputs, checked, weights):
    for t in checked:
        t.grad = None
    with enable_grad():
        outs = _outputs(fn, inputs)
        loss = None
        for o, w in zip(outs, weights):
            if not o.requires_grad:
                continue
            # summed on the host: outputs may sit on different devices
            term = (o * Tensor._wrap(w)).sum().to("cpu")
            loss = term if loss is None else loss + term
    if loss is None:
        return [t._xp.zeros_like(t.data) for t in checked]
    loss.backward()
    return [t._xp.zeros_like(t.data) if t.grad is None else t.grad.data for t in checked]


def check_gradients(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, mode="auto", n_directions=8, seed=0):
    """Compare analytic and numerical gradients of ``fn(*inputs)``; return a ``GradcheckResult``."""
    inputs = tuple(inputs)
    checked = [(k, t) for k, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad; nothing to check")
    for k, t in checked:
        if t.dtype != np.float64:
            raise TypeError(
                f"gradcheck: input {k} is {t.dtype}; central differences need float64 inputs "
                "(use t.double())"
            )
    if mode not in ("auto", "full", "random"):
        raise ValueError(f"gradcheck: unknown mode {mode!r}; expected 'auto', 'full' or 'random'")
    with no_grad():
        outs = _outputs(fn, inputs)
    if not outs:
        raise ValueError("gradcheck: fn returned no floating-point tensor")
    n_in = sum(t.data.size for _, t in checked)
    n_out = sum(o.data.size for o in outs)
    if mode == "auto":
        mode = "full" if n_in * n_out <= 20000 else "random"
    rng = np.random.default_rng(seed)
    tensors = [t for _, t in checked]
    worst = (0.0, 0.0, None)  # (excess over tolerance, abs error, description)
    max_abs = max_rel = 0.0

    def record(analytic, numerical, where):
        nonlocal worst, max_abs, max_rel
        err = abs(analytic - numerical)
        max_abs = max(max_abs, err)
        max_rel = max(max_rel, err / max(abs(numerical), 1e-12)) if err > 0 else max_rel
        excess = err - (atol + rtol * abs(numerical))
        if excess > worst[0]:
            worst = (excess, err, where(analytic, numerical, err))

    if mode == "full":
        columns = {}
        for (k, t) in checked:
            for i in range(t.data.size):
                unit = np.zeros(t.shape)
                unit.flat[i] = 1.0
                # a direction lives where its input does, a weight where its output does: fn may
                # move data between devices
                d = backend.to_device(unit, t.device)
                # every output element at once: perturb x_i, read the change of each output
                columns[(k, i)] = _column(fn, inputs, t, d, eps)
        offsets = np.cumsum([0] + [o.data.size for o in outs])
        for j in range(n_out):
            which = int(np.searchsorted(offsets, j, side="right") - 1)
            weights = [o._xp.zeros(o.shape, dtype=o.dtype) for o in outs]
            weights[which].reshape(-1)[j - offsets[which]] = 1.0
            grads = _analytic(fn, inputs, tensors, weights)
            for (k, t), g in zip(checked, grads):
                g = backend.to_numpy(g).reshape(-1)
                for i in range(t.data.size):
                    numerical = columns[(k, i)][j]
                    record(
                        float(g[i]), float(numerical),
                        lambda a, n, e, k=k, t=t, i=i, j=j, which=which: (
                            f"input {k}: element {_idx(i, t.shape)} of shape {t.shape}, "
                            f"output {which} element {_idx(j - offsets[which], outs[which].shape)}: "
                            f"analytic {a:.10g}, numerical {n:.10g}, error {e:.3g}"
                        ),
                    )
    else:
        weights = [backend.to_device(rng.standard_normal(o.shape), o.device) for o in outs]
        grads = _analytic(fn, inputs, tensors, weights)
        for r in range(n_directions):
            for (k, t), g in zip(checked, grads):
                d = backend.to_device(rng.standard_normal(t.shape), t.device)
                analytic = float((g * d).sum())
                numerical = _numeric(fn, inputs, t, d, weights, eps)
                record(
                    analytic, numerical,
                    lambda a, n, e, k=k, r=r, t=t: (
                        f"input {k} (shape {t.shape}), random direction {r}: "
                        f"analytic {a:.10g}, numerical {n:.10g}, error {e:.3g}"
                    ),
                )
    passed = worst[2] is None
    message = "gradients match" if passed else f"gradcheck failed: {worst[2]} (atol={atol}, rtol={rtol})"
    return GradcheckResult(passed, max_abs, max_rel, message)


def _idx(flat_index, shape):
    return tuple(int(i) for i in np.unravel_index(flat_index, shape))


def _column(fn, inputs, t, direction, eps):
    original = t.data.copy()
    with no_grad():
        t.data[...] = original + eps * direction
        plus = [backend.to_numpy(o.data).reshape(-1).copy() for o in _outputs(fn, inputs)]
        t.data[...] = original - eps * direction
        minus = [backend.to_numpy(o.data).reshape(-1).copy() for o in _outputs(fn, inputs)]
    t.data[...] = original
    return (np.concatenate(plus) - np.concatenate(minus)) / (2 * eps)


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, mode="auto", n_directions=8, seed=0,
              raise_exception=True):
    """True when ``fn``'s analytic gradients match central differences; else raise ``GradcheckError``.

    ``inputs`` is a tuple of float64 tensors (those with ``requires_grad`` are checked) and other values
    passed through to ``fn``. The error names the input, the worst element, both values and the error.
    """
    result = check_gradients(fn, inputs, eps, atol, rtol, mode, n_directions, seed)
    if not result.passed and raise_exception:
        raise GradcheckError(result.message)
    return result.passed
