"""The gradient-check tour: every differentiable op of ``minidl.functional`` and the core tensor ops,
each checked by central differences (``minidl.gradcheck.check_gradients``) on tiny float64 inputs.

    rows = minidl.tour.run()            # prints the table, returns TourRow(op, max_abs_error, ...)

Inputs are drawn so that no element sits within the finite-difference step of a kink: ReLU, leaky
ReLU, abs, clip and the max-type ops (max-pool, amax) see values spaced far apart and away from their
break points, because there the derivative is undefined and central differences average two slopes.
Dropout is checked with its mask fixed by reseeding before every forward, so that the function being
differentiated is the same one at every evaluation.
"""
import collections
import sys

import numpy as np

from . import functional as F
from .gradcheck import check_gradients
from .random import manual_seed
from .tensor import Tensor

TourRow = collections.namedtuple("TourRow", ["op", "max_abs_error", "max_rel_error", "passed"])


class _Inputs:
    """Tiny float64 tensors for one device, from one seeded generator."""

    def __init__(self, device, seed):
        self.device = device
        self.rng = np.random.default_rng(seed)

    def _tensor(self, a, grad=True):
        return Tensor(np.asarray(a, dtype=np.float64), requires_grad=grad, device=self.device)

    def normal(self, *shape, grad=True):
        return self._tensor(self.rng.standard_normal(shape), grad)

    def positive(self, *shape):
        return self._tensor(np.abs(self.rng.standard_normal(shape)) + 0.5)

    def away_from_zero(self, *shape):
        """Both signs, every |value| >= 0.1: the kink at 0 is many steps away."""
        a = self.rng.standard_normal(shape)
        return self._tensor(np.sign(a) * (np.abs(a) + 0.1))

    def distinct(self, *shape):
        """All values different by at least 0.1 (a shuffled ramp), so argmax ties cannot flip."""
        n = int(np.prod(shape))
        return self._tensor((self.rng.permutation(n) - n / 2).reshape(shape) * 0.1 + 0.05)

    def labels(self, shape, classes, ignore_index=None):
        """Class indices; with ``ignore_index``, the first element is that index (left out of the loss)."""
        y = self.rng.integers(0, classes, shape).astype(np.int64)
        if ignore_index is not None:
            y.reshape(-1)[0] = ignore_index
        return Tensor(y, device=self.device)


def _seeded(fn, seed=7):
    """``fn`` with minidl's generators reseeded first: the same dropout mask at every evaluation."""
    def run(*args):
        manual_seed(seed)
        return fn(*args)
    return run


def _core_cases(t):
    """(name, fn, inputs) for the tensor operators and methods.

    Fixed tensors are bound as default arguments, drawn once: a fresh draw at each call would change
    the function between the two evaluations of a central difference.
    """
    a, b = t.normal(2, 3), t.normal(2, 3)
    return [
        ("add (broadcast)", lambda x, y: x + y, (t.normal(2, 3), t.normal(3))),
        ("sub", lambda x, y: x - y, (a, b)),
        ("mul (broadcast)", lambda x, y: x * y, (t.normal(2, 3), t.normal(2, 1))),
        ("div", lambda x, y: x / y, (t.normal(2, 3), t.positive(2, 3))),
        ("pow (tensor exponent)", lambda x, y: x ** y, (t.positive(2, 3), t.normal(2, 3))),
        ("pow (scalar exponent)", lambda x: x ** 3, (t.normal(2, 3),)),
        ("neg", lambda x: -x, (t.normal(2, 3),)),
        ("exp", lambda x: x.exp(), (t.normal(2, 3),)),
        ("log", lambda x: x.log(), (t.positive(2, 3),)),
        ("sqrt", lambda x: x.sqrt(), (t.positive(2, 3),)),
        ("abs", lambda x: x.abs(), (t.away_from_zero(2, 3),)),
        ("clip", lambda x: x.clip(-0.5, 0.5), (t.distinct(2, 3),)),
        ("matmul (batched)", lambda x, y: x @ y, (t.normal(2, 3, 4), t.normal(4, 2))),
        ("sum (dim)", lambda x: x.sum(1, keepdim=True), (t.normal(2, 3, 2),)),
        ("mean", lambda x: x.mean((0, 2)), (t.normal(2, 3, 2),)),
        ("var", lambda x: x.var(1), (t.normal(2, 4),)),
        ("amax", lambda x: x.amax(1), (t.distinct(3, 4),)),
        ("amin", lambda x: x.amin(0), (t.distinct(3, 4),)),
        ("reshape", lambda x, w=t.normal(3, 4, grad=False): x.reshape(3, 4) * w, (t.normal(2, 6),)),
        ("transpose", lambda x, w=t.normal(4, 3, 2, grad=False): x.transpose(0, 2) * w, (t.normal(2, 3, 4),)),
        ("permute", lambda x, w=t.normal(4, 2, 3, grad=False): x.permute(2, 0, 1) * w, (t.normal(2, 3, 4),)),
        ("expand", lambda x, w=t.normal(3, 4, grad=False): x.expand(3, 4) * w, (t.normal(1, 4),)),
        ("getitem (slice, index array)", lambda x: x[1:, [0, 2, 2]], (t.normal(3, 4),)),
        ("cat", lambda x, y: F.cat([x, y], 1), (t.normal(2, 2), t.normal(2, 3))),
        ("stack", lambda x, y: F.stack([x, y], 0), (t.normal(2, 3), t.normal(2, 3))),
        ("split", lambda x: x.split([1, 3], 1)[1] * 2.0, (t.normal(2, 4),)),
        ("where", lambda x, y: F.where(x.detach() > 0, x, y), (t.away_from_zero(2, 3), t.normal(2, 3))),
        ("flatten / unsqueeze / squeeze", lambda x: x.flatten(1).unsqueeze(0).squeeze(0) * 1.5,
         (t.normal(2, 2, 3),)),
    ]


def _functional_cases(t):
    """(name, fn, inputs) for every differentiable op of ``minidl.functional``."""
    x = t.normal(1, 2, 5, 5)
    cases = [
        ("linear", F.linear, (t.normal(3, 4), t.normal(2, 4), t.normal(2))),
        ("conv2d", lambda x, w, b: F.conv2d(x, w, b, stride=1, padding=1),
         (x, t.normal(3, 2, 3, 3), t.normal(3))),
        ("conv2d (stride 2, dilation 2, groups 2)",
         lambda x, w: F.conv2d(x, w, None, stride=2, padding=2, dilation=2, groups=2),
         (t.normal(1, 2, 6, 6), t.normal(4, 1, 3, 3))),
        ("conv_transpose2d",
         lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
         (t.normal(1, 2, 3, 3), t.normal(2, 3, 3, 3), t.normal(3))),
        ("max_pool2d", lambda x: F.max_pool2d(x, 3, stride=2, padding=1), (t.distinct(1, 2, 5, 5),)),
        ("max_pool2d (ceil_mode)", lambda x: F.max_pool2d(x, 2, stride=2, ceil_mode=True),
         (t.distinct(1, 2, 5, 5),)),
        ("avg_pool2d", lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False),
         (t.normal(1, 2, 5, 5),)),
        ("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (2, 3)), (t.normal(1, 2, 5, 5),)),
        ("adaptive_max_pool2d", lambda x: F.adaptive_max_pool2d(x, (2, 2)), (t.distinct(1, 2, 5, 5),)),
        ("relu", F.relu, (t.away_from_zero(2, 5),)),
        ("leaky_relu", lambda x: F.leaky_relu(x, 0.1), (t.away_from_zero(2, 5),)),
        ("sigmoid", F.sigmoid, (t.normal(2, 5),)),
        ("tanh", F.tanh, (t.normal(2, 5),)),
        ("softmax", lambda x: F.softmax(x, dim=1), (t.normal(2, 5),)),
        ("log_softmax", lambda x: F.log_softmax(x, dim=1), (t.normal(2, 5),)),
        ("local_response_norm (PyTorch)", lambda x: F.local_response_norm(x, 3, alpha=0.5, k=1.0),
         (t.normal(1, 5, 2, 2),)),
        ("local_response_norm_paper", lambda x: F.local_response_norm_paper(x, n=3, alpha=0.2, k=2.0),
         (t.normal(1, 5, 2, 2),)),
        ("dropout (train, fixed mask)", _seeded(lambda x: F.dropout(x, 0.4, training=True)),
         (t.normal(3, 4),)),
        ("dropout2d (train, fixed mask)", _seeded(lambda x: F.dropout2d(x, 0.5, training=True)),
         (t.normal(2, 3, 2, 2),)),
    ]
    rm, rv = t.normal(3, grad=False), t.positive(3).detach()
    cases += [
        ("batch_norm (training)", lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
         (t.normal(4, 3, 2, 2), t.positive(3), t.normal(3))),
        ("batch_norm (eval)", lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False),
         (t.normal(2, 3, 2, 2), t.positive(3), t.normal(3))),
        ("cross_entropy", lambda x, y=t.labels(4, 5): F.cross_entropy(x, y), (t.normal(4, 5),)),
        ("cross_entropy (smoothing, ignore_index)",
         lambda x, y=t.labels((4, 2, 2), 3, ignore_index=-100): F.cross_entropy(x, y, label_smoothing=0.1),
         (t.normal(4, 3, 2, 2),)),
        ("nll_loss", lambda x, y=t.labels(4, 5): F.nll_loss(F.log_softmax(x, dim=1), y), (t.normal(4, 5),)),
        ("mse_loss", F.mse_loss, (t.normal(3, 4), t.normal(3, 4))),
        ("interpolate (nearest)", lambda x: F.interpolate(x, scale_factor=2, mode="nearest"),
         (t.normal(1, 2, 3, 3),)),
        ("interpolate (bilinear)",
         lambda x: F.interpolate(x, size=(5, 4), mode="bilinear", align_corners=False),
         (t.normal(1, 2, 3, 3),)),
        ("pad (constant)", lambda x: F.pad(x, (1, 2, 0, 1), value=0.5), (t.normal(1, 2, 3, 3),)),
        ("crop", lambda x: F.crop(x, 1, 0, 2, 3), (t.normal(1, 2, 4, 4),)),
        ("center_crop", lambda x: F.center_crop(x, (2, 2)), (t.normal(1, 2, 4, 5),)),
    ]
    return cases


def cases(device="cpu", seed=0):
    """Every (name, fn, inputs) of the tour: core tensor ops first, then ``minidl.functional``."""
    t = _Inputs(device, seed)
    return _core_cases(t) + _functional_cases(t)


def run(device="cpu", seed=0, file=None, print_table=True):
    """Gradient-check every op; print the table to ``file`` (default: ``sys.stdout`` at call time) unless
    ``print_table`` is false, and return the list of ``TourRow(op, max_abs_error, max_rel_error, passed)``."""
    rows = []
    for name, fn, inputs in cases(device, seed):
        result = check_gradients(fn, inputs)
        rows.append(TourRow(name, result.max_abs_error, result.max_rel_error, result.passed))
    if print_table:
        print(format_table(rows), file=file or sys.stdout)
    return rows


def format_table(rows):
    """The tour's rows as an aligned text table with a closing count of passes."""
    width = max(len("op"), *(len(r.op) for r in rows))
    lines = [f"{'op':<{width}}  {'max abs error':>13}  {'max rel error':>13}  pass",
             "-" * (width + 36)]
    for r in rows:
        lines.append(f"{r.op:<{width}}  {r.max_abs_error:13.2e}  {r.max_rel_error:13.2e}  "
                     f"{'yes' if r.passed else 'NO'}")
    passed = sum(r.passed for r in rows)
    lines.append(f"{passed} of {len(rows)} ops pass the float64 central-difference check")
    return "\n".join(lines)
