import concurrent.futures
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import cupy_standin
import minidl

# CI runs a bounded number of examples per property so the suite fits its time on 2 cores.
settings.register_profile(
    "ci", max_examples=12, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev", max_examples=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


# Without a CUDA device the gpu-marked tests run on the CuPy stand-in (tests/cupy_standin): NumPy
# arrays as device arrays under CuPy's rules, the CUDA kernels compiled for the host. Tests that need
# what only a real device has (timing, memory pools, streams) carry `real_gpu` and still skip.
REAL_GPU = minidl.gpu_available()
STANDIN, STANDIN_MISSING = cupy_standin.available()


def pytest_collection_modifyitems(config, items):
    if REAL_GPU:
        return
    for item in items:
        if "gpu" not in item.keywords:
            continue
        real = item.get_closest_marker("real_gpu")
        if real is not None:
            why = real.args[0] if real.args else "needs real-device behaviour"
            item.add_marker(pytest.mark.skip(reason=f"no CUDA device, and the test {why}"))
        elif not STANDIN:
            item.add_marker(pytest.mark.skip(reason=f"no CUDA device found by CuPy, and {STANDIN_MISSING}"))


@pytest.fixture(scope="session")
def _standin_kernels():
    """Every kernel file for every dtype, compiled for the host at once, in parallel (cached on disk)."""
    programs = [minidl.backend.kernel_program(path.stem, dtype) for path in minidl.backend.KERNEL_DIR.glob("*.cu")
                for dtype in minidl.backend.kernel_dtypes(path.stem)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(lambda program: cupy_standin.hostcc.build(*program), programs))


@pytest.fixture(autouse=True)
def _cupy_standin(request):
    """Around a gpu test on a machine without a GPU: ``import cupy`` gives the stand-in."""
    if REAL_GPU or not STANDIN or request.node.get_closest_marker("gpu") is None:
        yield
        return
    request.getfixturevalue("_standin_kernels")
    cupy_standin.install()
    try:
        yield
    finally:
        cupy_standin.uninstall()


def pytest_terminal_summary(terminalreporter):
    """Say where the gpu tests ran, and how many did not run and why: on CI, the part of the GPU path
    left unchecked."""
    ran, reasons = 0, {}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if "gpu" not in getattr(report, "keywords", {}) or getattr(report, "when", "call") not in ("call", "setup"):
                continue
            if outcome == "skipped":
                reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
                reason = reason.removeprefix("Skipped: ")
                reasons[reason] = reasons.get(reason, 0) + 1
            elif report.when == "call":
                ran += 1
    if not ran and not reasons:
        return
    where = "on a CUDA device" if REAL_GPU else "on the CuPy stand-in" if STANDIN else "no GPU, no stand-in"
    terminalreporter.write_sep("-", f"gpu tests: {ran} ran ({where}), {sum(reasons.values())} skipped")
    for reason, count in sorted(reasons.items()):
        terminalreporter.write_line(f"{count:4d} skipped: {reason}")


@pytest.fixture(autouse=True)
def _seeded():
    minidl.manual_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
