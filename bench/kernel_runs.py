"""The two modes of ``bench/kernels.py``: on the CPU, each kernel's CPU twin and (on the CuPy stand-in of
the test suite) the kernel itself checked against the reference; on the GPU, each kernel launched alone,
timed with CUDA events, its bandwidth set beside the device's peak and beside PyTorch's time.
"""
import os
import sys

from minidl import backend
from kernel_cases import Bench, CpuTwin, cases
from ops import Timer

try:
    import torch
except ImportError:
    torch = None

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

# Peak memory bandwidth (bytes/s) by device name, where the driver does not report clock and bus width.
KNOWN_PEAKS = {"H200": 4.8e12, "H100 SXM": 3.35e12, "H100 PCIe": 2.0e12, "H100": 3.35e12,
               "A100-SXM4-80GB": 2.039e12, "A100": 1.555e12}
TOLERANCE = 1e-5


def peak_bandwidth(name, override):
    """Bytes/s: ``override`` (GB/s), else twice the memory clock times the bus width, else by name."""
    if override is not None:
        return override * 1e9
    cp = backend.cupy_module()
    attributes = cp.cuda.Device().attributes
    clock_khz, bus_bits = attributes.get("MemoryClockRate"), attributes.get("GlobalMemoryBusWidth")
    if clock_khz and bus_bits:
        return 2 * clock_khz * 1e3 * bus_bits / 8
    for known, peak in KNOWN_PEAKS.items():
        if known in name:
            return peak
    return None


def check(name, ours, theirs, compare):
    """The error of minidl's output against PyTorch's (for dropout: its statistics alone)."""
    if name == "dropout_mask":
        return compare(ours())
    if theirs is None:
        return None
    return compare(ours(), theirs())


def verdict(name, error):
    """(failed, what to print) for one kernel's error."""
    if error is None:
        return False, "not checked (no PyTorch)"
    failed = error > (4.0 if name == "dropout_mask" else TOLERANCE)
    shown = f"{error:.1f} sd from 1 - p" if name == "dropout_mask" else f"{error:.2e}"
    return failed, shown + ("  FAILED" if failed else "")


def standin():
    """The test suite's CuPy stand-in (``tests/cupy_standin``) and ``""``, or None and why it cannot run."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    try:
        import cupy_standin
    except ImportError:
        return None, "tests/cupy_standin is not in this copy"
    finally:
        sys.path.pop(0)
    usable, why = cupy_standin.available()
    return (cupy_standin, "") if usable else (None, why)


def run_cpu(b):
    """Each kernel's CPU twin and, on the CuPy stand-in, the kernel itself, checked against PyTorch."""
    twins = [(name, check(name, ours, theirs, compare)) for name, ours, theirs, compare, _ in cases(b, False)]
    module, why = standin()
    kernels = {}
    if module is not None:
        module.install()
        try:
            for name, ours, theirs, compare, _ in cases(Bench("standin"), big=False):
                kernels[name] = check(name, ours, theirs, compare)
        finally:
            module.uninstall()
    reference = ("PyTorch " + torch.__version__ if torch else
                 "nothing but the dropout statistics (PyTorch is not installed)")
    print(f"CPU, small shapes, checked against {reference} (the Winograd transforms: twin against the "
          "formula, kernel against twin): each kernel's CPU twin (named in its .cu header) and "
          + ("the kernel itself, compiled for the host and run on the CuPy stand-in"
             if module is not None else f"not the kernel itself ({why})"))
    print(f"{'kernel':30s} {'CPU twin':>24s} {'kernel on the stand-in':>24s}")
    failed = []
    for name, error in twins:
        twin_failed, twin_shown = verdict(name, error)
        kernel_failed, kernel_shown = verdict(name, kernels[name]) if name in kernels else (False, "not run")
        if twin_failed or kernel_failed:
            failed.append(name)
        print(f"{name:30s} {twin_shown:>24s} {kernel_shown:>24s}")
    return failed


def run_gpu(b, repeat, peak_gbs, big=True):
    cp = backend.cupy_module()
    device_name = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)["name"].decode()
    peak = peak_bandwidth(device_name, peak_gbs)
    peak_text = f"{peak / 1e9:.0f} GB/s" if peak else "unknown (give --peak-gbs)"
    print(f"GPU: {device_name}, peak memory bandwidth {peak_text}; best of {repeat} after a warm-up")
    timer = Timer("cuda", cp.cuda.Device().synchronize, cp.cuda.Event)
    torch_timer = None if torch is None else Timer(
        "cuda", torch.cuda.synchronize, lambda: torch.cuda.Event(enable_timing=True))
    print(f"{'kernel':30s} {'MB moved':>9s} {'minidl ms':>10s} {'GB/s':>7s} {'% peak':>7s} "
          f"{'PyTorch ms':>11s} {'GB/s':>7s} {'ratio':>6s} max |minidl - PyTorch|")
    failed = []
    for name, ours, theirs, compare, nbytes in cases(b, big):
        error_failed, shown = verdict(name, check(name, ours, theirs, compare))
        if error_failed:
            failed.append(name)
        ms = timer(ours, repeat)
        rate = nbytes / ms / 1e6
        row = f"{name:30s} {nbytes / 1e6:9.1f} {ms:10.3f} {rate:7.0f} "
        row += f"{100 * rate * 1e9 / peak:6.0f}% " if peak else f"{'-':>7s} "
        if theirs is not None and not isinstance(theirs, CpuTwin):
            torch_ms = torch_timer(theirs, repeat)
            row += f"{torch_ms:11.3f} {nbytes / torch_ms / 1e6:7.0f} {ms / torch_ms:5.2f}x "
        else:
            row += f"{'-':>11s} {'-':>7s} {'-':>6s} "
        print(row + shown)
    return failed
