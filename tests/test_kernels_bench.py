"""Every CUDA kernel names its CPU twin, and ``bench/kernels.py`` covers every kernel: on the CPU it runs
each twin and, on the CuPy stand-in, each kernel, and checks them (against PyTorch where installed),
quickly, so the script cannot rot between GPU runs."""
import importlib.util
import pathlib
import re
import sys
import types

import numpy as np
import pytest

from minidl import backend
from test_lecture_map import defined_names

ROOT = pathlib.Path(__file__).resolve().parents[1]
KERNEL_FILES = sorted(backend.KERNEL_DIR.glob("*.cu"))
TWIN = re.compile(r"`(minidl/functional/[\w/]+\.py)::([\w.]+)`")
FUNCTION = re.compile(r'extern "C" __global__ void (\w+)\s*\(')


def _header(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    header = []
    for line in lines:
        if not line.startswith("//"):
            break
        header.append(line)
    return "\n".join(header)


def kernel_functions():
    sources = (path.read_text(encoding="utf-8") for path in KERNEL_FILES)
    return sorted(name for source in sources for name in FUNCTION.findall(source))


@pytest.mark.parametrize("path", KERNEL_FILES, ids=lambda p: p.name)
def test_each_kernel_names_its_cpu_twin(path):
    header = _header(path)
    assert "CPU twin" in header, f"{path.name}: the header comment names no CPU twin"
    twins = TWIN.findall(header)
    assert twins, f"{path.name}: the CPU twin is not written as `minidl/functional/<file>.py::<name>`"
    for file, name in twins:
        assert (ROOT / file).is_file(), f"{path.name} names {file}, which does not exist"
        assert name in defined_names(file), f"{path.name} names {file}::{name}, which is not defined there"


@pytest.fixture(scope="module")
def kernels_bench():
    """The script (``main``) and the two modules it imports: ``cases`` (bench/kernel_cases.py) and
    ``runs`` (bench/kernel_runs.py), where the tests replace what they fake."""
    bench = ROOT / "bench"
    sys.path.insert(0, str(bench))
    try:
        spec = importlib.util.spec_from_file_location("bench_kernels", bench / "kernels.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return types.SimpleNamespace(main=module.main, cases=sys.modules["kernel_cases"],
                                     runs=sys.modules["kernel_runs"])
    finally:
        sys.path.remove(str(bench))


def test_cpu_run_checks_every_kernel(kernels_bench, capsys):
    assert kernels_bench.main([]) == 0
    out = capsys.readouterr().out
    assert "CPU twin" in out
    rows = {line.split()[0]: line for line in out.splitlines()[2:] if line.strip()}
    assert sorted(rows) == kernel_functions()  # every kernel covered
    winograd = [name for name in rows if name.startswith("winograd_")]
    assert len(winograd) == 3 and not any("not checked" in rows[name] for name in winograd)
    if kernels_bench.cases.torch is not None:
        assert not any("not checked" in row for row in rows.values())
    module, why = kernels_bench.runs.standin()
    if module is not None:  # the kernels themselves ran on the CuPy stand-in
        assert "run on the CuPy stand-in" in out and not any("not run" in row for row in rows.values())
    else:
        assert f"not the kernel itself ({why})" in out


def test_a_wrong_twin_fails_the_run(kernels_bench, monkeypatch, capsys):
    if kernels_bench.cases.torch is None:
        pytest.skip("the comparison needs PyTorch")
    original = kernels_bench.cases.im2col
    monkeypatch.setattr(kernels_bench.cases, "im2col", lambda x, g: original(x, g) * 2)
    assert kernels_bench.main([]) == 1
    assert "FAILED: im2col" in capsys.readouterr().out


def test_a_wrong_winograd_twin_fails_the_run(kernels_bench, monkeypatch, capsys):
    """The Winograd twins are checked against the transform written out tile by tile, without PyTorch."""
    original = kernels_bench.cases.winograd._output_gradient_tiles
    monkeypatch.setattr(kernels_bench.cases.winograd, "_output_gradient_tiles",
                        lambda y, counts, m: original(y, counts, m) * 1.01)
    assert kernels_bench.main([]) == 1
    assert "FAILED: winograd_grad_tiles" in capsys.readouterr().out


def test_bad_repeat_is_refused(kernels_bench):
    with pytest.raises(SystemExit):
        kernels_bench.main(["--repeat", "0"])


SIGNATURE = re.compile(r'extern "C" __global__ void (\w+)\s*\(([^)]*)\)')
SCALAR_TYPES = {"long long": np.int64, "int": np.int32, "double": np.float64, "acc_t": np.float32,
                "scalar_t": np.float32, "unsigned long long": np.uint64}


def kernel_signatures():
    """Each kernel function's parameters as ('pointer', element type) or ('value', type), float32 build."""
    signatures = {}
    for path in KERNEL_FILES:
        for name, params in SIGNATURE.findall(path.read_text(encoding="utf-8")):
            kinds = []
            for param in params.split(","):
                words = param.replace("__restrict__", "").replace("const", "").split()
                declared = " ".join(words[:-1])
                pointer = declared.endswith("*") or words[-1].startswith("*")
                base = SCALAR_TYPES[declared.rstrip("*").strip()]
                kinds.append(("pointer" if pointer else "value", base))
            signatures[name] = (path.stem, kinds)
    return signatures


def test_gpu_launches_pass_what_each_kernel_declares(kernels_bench, monkeypatch):
    """The GPU mode's argument lists, checked without a GPU: NumPy arrays stand in for device arrays
    and the launches are recorded instead of run."""
    bench = kernels_bench.cases.Bench("cpu")
    bench.gpu = True
    launched = {}
    monkeypatch.setattr(bench, "launch", lambda file, function, n, *args: launched.setdefault(
        function, (file, n, args)))
    for name, ours, *_ in kernels_bench.cases.cases(bench, big=False):
        ours()
    signatures = kernel_signatures()
    assert sorted(launched) == sorted(signatures)
    for function, (file, n, args) in launched.items():
        expected_file, kinds = signatures[function]
        assert file == expected_file
        assert len(args) == len(kinds), f"{function}: {len(args)} arguments for {len(kinds)} parameters"
        for position, (arg, (kind, base)) in enumerate(zip(args, kinds)):
            where = f"{function} argument {position}"
            if kind == "pointer":
                assert isinstance(arg, np.ndarray) and arg.dtype == base, where
            else:
                assert type(arg) is base, f"{where}: {type(arg).__name__}, expected {base.__name__}"
        total = next(a for a, (kind, base) in zip(args, kinds) if kind == "value" and base is np.int64)
        assert n == total, f"{function}: {n} threads for {total} elements"


def test_gpu_table_gives_bandwidth_beside_the_peak(kernels_bench, monkeypatch, capsys):
    """The GPU table's arithmetic, without a GPU: every kernel 'takes' 0.1 us (a stand-in timer), the
    launches are skipped, and the device reports an H100's memory clock and bus width (3.35 TB/s)."""
    class FakeDevice:
        id = 0
        attributes = {"MemoryClockRate": 2_619_000, "GlobalMemoryBusWidth": 5120}

        def synchronize(self):
            pass

    cuda = types.SimpleNamespace(Device=FakeDevice, Event=object, runtime=types.SimpleNamespace(
        getDeviceProperties=lambda index: {"name": b"Stand-in H100"}))
    monkeypatch.setattr(kernels_bench.cases.backend, "cupy_module", lambda: types.SimpleNamespace(cuda=cuda))
    monkeypatch.setattr(kernels_bench.runs, "Timer", lambda *args: lambda fn, repeat: 1e-4)
    bench = kernels_bench.cases.Bench("cpu")
    bench.gpu = True
    monkeypatch.setattr(bench, "launch", lambda *args: None)
    kernels_bench.runs.run_gpu(bench, repeat=1, peak_gbs=None, big=False)
    out = capsys.readouterr().out
    assert "Stand-in H100, peak memory bandwidth 3352 GB/s" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.split()
            and line.split()[0] in kernel_functions()}
    assert sorted(rows) == kernel_functions()
    # PyTorch has no Winograd transform alone: its three columns are "-", the kernel checked against its twin
    winograd = [name for name in rows if name.startswith("winograd_")]
    assert len(winograd) == 3
    assert all(rows[name][5:8] == ["-", "-", "-"] and float(rows[name][3]) > 0 for name in winograd)
    # im2col of (2, 3, 9, 9) at 3x3 / 2, padding 1: 486 floats in, 27 * 50 = 1350 out, 7344 bytes in
    # 1e-4 ms: 73.4 GB/s, 2% of 3352 GB/s
    megabytes, ms, rate, share = rows["im2col"][1:5]
    assert (megabytes, ms, rate, share) == ("0.0", "0.000", "73", "2%")
    assert kernels_bench.runs.peak_bandwidth("any", 1000.0) == 1e12
