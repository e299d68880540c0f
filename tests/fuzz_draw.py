"""The drawing side of ``tests/fuzz_ops.py``: ``Draw`` (one call's random choices, good or from a pool
of bad values, remembering which arguments were drawn bad), the registry ``CASES`` that the case
modules (``fuzz_cases_nn.py``, ``fuzz_cases_tensor.py``) fill with ``@case(name)``, and ``to_torch``.

Each case draws one call: it returns (minidl_call, torch_call or None, compare) where the calls take
the module (minidl or torch) and compare is "values", "shape" (random results) or None.
"""
import numpy as np

import minidl

# values that are wrong for most hyperparameters (each op's own list adds those wrong for it)
BAD_INT = [-1, -3, 0, 2.0, 2.5, True, None, "2", float("nan"), float("inf"), 10 ** 12, (1, 2, 3), [], 1j]
BAD_NUMBER = [-1.0, 0.0, float("nan"), float("inf"), -float("inf"), True, None, "0.1", (0.1,), 1j]
DTYPES = ["float32", "float64", "int64", "bool"]


class Draw:
    """One call's random choices; remembers which arguments were drawn from a bad pool."""

    def __init__(self, rng):
        self.rng = rng
        self.suspects = []
        self.drawn = {}  # argument name -> value, to print with an example

    def choice(self, seq):
        return seq[self.rng.randrange(len(seq))]

    def arg(self, name, good, bad=(), p_bad=0.25):
        """A value for argument ``name``: from ``good`` usually, else from ``bad`` (+ the common bad pool)."""
        if bad and self.rng.random() < p_bad:
            self.suspects.append(name)
            value = self.choice(list(bad))
        else:
            value = self.choice(list(good))
        self.drawn[name] = value
        return value

    def int_arg(self, name, good, p_bad=0.25):
        return self.arg(name, good, BAD_INT, p_bad)

    def number_arg(self, name, good, p_bad=0.25):
        return self.arg(name, good, BAD_NUMBER, p_bad)

    def shape(self, rank=None, sizes=(0, 1, 2, 3)):
        rank = self.choice([0, 1, 2, 3, 4]) if rank is None else rank
        weights = [1, 3, 4, 4][:len(sizes)]
        return tuple(self.rng.choices(sizes, weights=weights)[0] for _ in range(rank))

    def tensor(self, shape=None, dtype="float32", p_odd=0.1, special=0.1):
        """A tensor of ``shape`` (drawn when None); sometimes of an odd dtype, sometimes holding NaN/inf."""
        if shape is None:
            shape = self.shape()
        if self.rng.random() < p_odd:
            dtype = self.choice(DTYPES)
        g = np.random.default_rng(self.rng.randrange(2 ** 32))
        if dtype == "bool":
            array = g.random(shape) < 0.5
        elif dtype.startswith("int"):
            array = g.integers(-3, 4, size=shape).astype(dtype)
        else:
            array = g.standard_normal(shape).astype(dtype)
            if array.size and self.rng.random() < special:
                array.reshape(-1)[g.integers(array.size)] = self.choice([np.nan, np.inf, -np.inf])
        return minidl.tensor(array)

    def image(self, channels=None, rank=None, dtype="float32", p_odd=0.1):
        rank = self.choice([3, 4, 4, 4, 2, 5]) if rank is None else rank
        c = self.choice([1, 2, 3, 4]) if channels is None else channels
        spatial = tuple(self.choice([1, 2, 3, 4, 5, 7]) for _ in range(2))
        shape = {2: (c, spatial[0]), 3: (c,) + spatial, 4: (self.choice([0, 1, 2]), c) + spatial,
                 5: (1, c, 1) + spatial}[rank]
        return self.tensor(shape, dtype, p_odd)


CASES = {}


def case(name, compare="values"):
    def register(fn):
        CASES[name] = (fn, compare)
        return fn
    return register


def pair_arg(d, name, good=(1, 2, (1, 2), (2, 1))):
    return d.arg(name, good, BAD_INT + [(1,), (1, 2, 3), (1, -1), (0, 1), (1.5, 1)])


def to_torch(torch, value):
    if isinstance(value, minidl.Tensor):
        return torch.from_numpy(value.numpy().copy())
    if isinstance(value, (list, tuple)):
        return type(value)(to_torch(torch, v) for v in value)
    return value
