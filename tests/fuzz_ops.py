"""Fuzz the public ops against PyTorch: draw calls with bad and edge-case arguments, run each in minidl
and in PyTorch, and count what goes wrong.

    python tests/fuzz_ops.py [--calls 10000] [--seed 0] [--show 5]

Every drawn call falls in one of these outcomes:

* ``internal``  minidl raised from inside NumPy or Python's internals (the traceback's last frame is
                not in minidl) or raised something other than TypeError/ValueError/IndexError/RuntimeError;
* ``accepted``  minidl returned a result where PyTorch refuses the call;
* ``mismatch``  both returned, with different shapes, dtypes or values (NaN equal to NaN);
* ``unnamed``   minidl refused a call with a bad argument without naming it in the message;
* ``refused``   minidl refused a call PyTorch accepts (reported, not a failure: minidl is stricter in a
                few documented places);
* ``missing``   minidl has no such function or method;
* ``ok``        both agree (both refuse, or the same result).

The first three and ``unnamed`` should be 0. The same cases drive ``tests/test_op_arguments.py``.

The drawn calls are in ``fuzz_cases_nn.py`` (functional ops) and ``fuzz_cases_tensor.py`` (tensors,
layers), ``Draw`` and the registry ``CASES`` in ``fuzz_draw.py``; this file runs and compares them.
"""
import argparse
import ast
import collections
import functools
import os
import random
import sys
import traceback
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import minidl  # noqa: E402
import fuzz_cases_nn  # noqa: E402,F401 (its cases register themselves in CASES)
import fuzz_cases_tensor  # noqa: E402,F401 (as do these)
from fuzz_draw import CASES, Draw, to_torch  # noqa: E402

MINIDL_DIR = os.path.dirname(os.path.abspath(minidl.__file__))
CLEAN = (TypeError, ValueError, IndexError, RuntimeError)

# -------------------------------------------------------------------------------------------- running

class TorchModule:
    """``torch`` seen through minidl's spelling: the same attribute names, minidl tensors in the
    arguments converted to torch tensors."""

    def __init__(self, torch, path=()):
        self._torch, self._path = torch, path

    def __getattr__(self, name):
        target = self._torch
        for p in self._path + (name,):
            target = getattr(target, p)
        if callable(target) and not isinstance(target, (type(self._torch), type)):
            def call(*args, **kwargs):
                kwargs = {n: to_torch(self._torch, v) for n, v in kwargs.items()}
                return target(*to_torch(self._torch, args), **kwargs)
            return call
        return TorchModule(self._torch, self._path + (name,))


def run_minidl(call):
    """(result, None) or (None, exception info) for one minidl call."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with np.errstate(all="ignore"):
                return call(minidl), None
    except Exception as e:  # noqa: BLE001 - classifying every exception is the point
        return None, e


def is_clean(exc):
    """An exception of an allowed type raised by minidl's own code: the traceback ends on a ``raise``
    line inside minidl (not in NumPy, and not in a NumPy function called from minidl)."""
    if not isinstance(exc, CLEAN):
        return False
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames or not os.path.abspath(frames[-1].filename).startswith(MINIDL_DIR):
        return False
    return frames[-1].lineno in _raise_lines(frames[-1].filename)


@functools.lru_cache(maxsize=None)
def _raise_lines(filename):
    """Every line number that belongs to a ``raise`` statement of a source file (one may span lines)."""
    with open(filename) as f:
        tree = ast.parse(f.read())
    return frozenset(n for node in ast.walk(tree) if isinstance(node, ast.Raise)
                     for n in range(node.lineno, node.end_lineno + 1))


def as_numpy_list(result):
    if isinstance(result, (tuple, list)):
        return [a for r in result for a in as_numpy_list(r)]
    if hasattr(result, "detach"):
        result = result.detach()
    if hasattr(result, "numpy"):
        return [np.asarray(result.numpy())]
    return [np.asarray(result)]


def same(mine, theirs, compare):
    """Equal shapes, dtypes and values; a NaN where PyTorch has an inf (or the reverse) counts as the
    same, since both say the value is lost (PyTorch's fused formulas turn some infs into NaN). With
    ``compare`` "values, or lost over padding" minidl may also have lost values PyTorch kept (see the
    conv2d case)."""
    a, b = as_numpy_list(mine), as_numpy_list(theirs)
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        if compare is not None and compare.startswith("values"):
            if x.dtype.kind == "b" or y.dtype.kind == "b":
                if not np.array_equal(x, y):
                    return False
                continue
            x, y = x.astype(np.float64), y.astype(np.float64)
            lost, theirs_lost = ~np.isfinite(x), ~np.isfinite(y)
            if compare == "values, or lost over padding":  # minidl may lose more values, never fewer
                if np.any(theirs_lost & ~lost):
                    return False
                lost |= theirs_lost
            elif not np.array_equal(lost, theirs_lost):
                return False
            if not np.allclose(np.where(lost, 0, x), np.where(lost, 0, y), rtol=1e-4, atol=1e-5):
                return False
    return True


def classify(name, draw, compare, torch):
    """The outcome of one drawn call, with a line describing it."""
    call = draw
    mine, error = run_minidl(call)
    theirs = their_error = None
    if torch is not None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                theirs = call(TorchModule(torch))
        except Exception as e:  # noqa: BLE001
            their_error = e
    if error is not None:
        if isinstance(error, AttributeError) and ("module 'minidl" in str(error) or "'Tensor' object" in str(error)):
            return "missing", str(error)
        if not is_clean(error):
            frame = traceback.extract_tb(error.__traceback__)[-1]
            return "internal", f"{type(error).__name__}: {error} [{frame.filename}:{frame.lineno}]"
        if torch is not None and their_error is None:
            return "refused", f"{type(error).__name__}: {error}"
        return "ok", ""
    if torch is None:
        return "ok", ""
    if their_error is not None and "allocate" not in str(their_error):
        return "accepted", f"PyTorch: {type(their_error).__name__}: {str(their_error)[:200]}"
    if their_error is None and not same(mine, theirs, compare):
        return "mismatch", f"minidl {_describe(mine)} vs PyTorch {_describe(theirs)}"
    return "ok", ""


# the tensor arguments of the ops: an error about one of them names a real problem of the call even
# when a bad hyperparameter was drawn as well
TENSOR_ARGUMENTS = ("input", "weight", "bias", "target", "other", "tensors", "running_mean", "running_var", "src",
                    "self", "condition", "shape", "channels", "features", "dtype", "empty")


def names_an_argument(message, suspects):
    return any(s in message for s in list(suspects) + list(TENSOR_ARGUMENTS))


def _describe(result):
    arrays = as_numpy_list(result)
    return "; ".join(f"{a.dtype}{a.shape} {np.array2string(a.ravel()[:6], precision=4)}" for a in arrays)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10000, help="number of drawn calls (default: 10000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the draws (default: 0)")
    parser.add_argument("--show", type=int, default=3, help="examples printed per op and outcome (default: 3)")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        torch = None
        print("PyTorch is not installed: only 'internal' and 'unnamed' can be counted")
    rng = random.Random(args.seed)
    counts = collections.Counter()
    examples = collections.defaultdict(list)
    names = sorted(CASES)
    for i in range(args.calls):
        name = names[i % len(names)]
        builder, compare = CASES[name]
        d = Draw(random.Random(rng.randrange(2 ** 32)))
        call = builder(d)
        if isinstance(call, tuple):
            call, compare = call
        outcome, line = classify(name, call, compare, torch)
        if outcome == "refused" and d.suspects:
            outcome = "ok"  # a bad argument refused: only PyTorch is more lenient with it
        if outcome in ("ok", "refused") and line and d.suspects and not names_an_argument(line, d.suspects):
            outcome = "unnamed"
            line += f" (drawn bad: {d.suspects})"
        counts[outcome] += 1
        if outcome != "ok" and len(examples[(name, outcome)]) < args.show:
            drawn = ", ".join(f"{k}={v!r}" for k, v in d.drawn.items())
            examples[(name, outcome)].append(f"{line}  <{drawn}>")
    for (name, outcome), lines in sorted(examples.items()):
        for line in lines:
            print(f"[{outcome}] {name}: {line}")
    total = sum(counts.values())
    print(f"\n{total} calls: " + ", ".join(f"{k} {counts[k]}" for k in
                                        ("internal", "accepted", "mismatch", "unnamed", "refused", "missing", "ok")))
    return 0 if counts["internal"] == counts["accepted"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
