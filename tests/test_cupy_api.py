"""What minidl's GPU path calls exists in CuPy, and the stand-in offers nothing CuPy lacks.

CuPy imports without a GPU, so where it is installed these checks run on any machine; elsewhere they
skip. Together with the stand-in's strictness they close the gap between "runs on the stand-in" and
"runs on CuPy": a NumPy-only name or keyword fails here or on the stand-in, not first on a GPU.
"""
import ast
import inspect
import pathlib

import pytest

from cupy_standin import api, array

ROOT = pathlib.Path(__file__).resolve().parents[1]
ARRAY_MODULE_NAMES = {"xp", "cp", "cupy", "cupyx"}


def _real(name):
    module = pytest.importorskip(
        name, reason=f"{name} is not installed (it imports without a GPU: pip install cupy-cuda13x)")
    if "cupy_standin" in repr(module) or "minidl-standin" in getattr(module, "__version__", ""):
        pytest.skip(f"{name} is the stand-in here")
    return module


def _called_names():
    """(module alias, attribute path, file:line) of every xp./cp./cupy./cupyx. use in minidl and nets."""
    found = []
    for path in sorted((ROOT / "minidl").rglob("*.py")) + sorted((ROOT / "nets").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in ARRAY_MODULE_NAMES:
                found.append((node.value.id, node.attr, f"{path.relative_to(ROOT)}:{node.lineno}"))
    return found


def test_every_name_the_gpu_path_calls_exists_in_cupy():
    cupy = _real("cupy")
    cupyx = _real("cupyx")
    missing = [f"{alias}.{name} ({where})" for alias, name, where in _called_names()
               if not hasattr(cupyx if alias == "cupyx" else cupy, name)]
    assert not missing, "not in CuPy " + cupy.__version__ + ": " + ", ".join(missing)


def test_the_stand_in_offers_only_what_cupy_has():
    cupy = _real("cupy")
    names = api.UFUNCS | api.TYPES | api.CONSTANTS | set(api.FUNCTIONS)
    assert not sorted(n for n in names if not hasattr(cupy, n))
    assert not sorted(n for n in api.UFUNCS if not isinstance(getattr(cupy, n), cupy.ufunc))
    members = set(array.METHODS) | set(array.PROPERTIES) | {"get", "set", "flags", "T", "mT", "real", "imag",
                                                           "base", "device"}
    assert not sorted(n for n in members if not hasattr(cupy.ndarray, n))


def test_the_stand_ins_signatures_are_cupys():
    cupy = _real("cupy")
    differ = []
    for name, spec in api.FUNCTIONS.items():
        try:
            params = inspect.signature(getattr(cupy, name)).parameters.values()
        except (TypeError, ValueError):
            continue
        prefix = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.VAR_KEYWORD: "**",
                  inspect.Parameter.KEYWORD_ONLY: ":"}
        actual = " ".join(prefix.get(p.kind, "") + p.name for p in params)
        if actual != spec:
            differ.append(f"{name}: CuPy ({actual}), stand-in ({spec})")
    assert not differ, "\n".join(differ)
