"""Every CUDA kernel of ``minidl/kernels`` beside PyTorch: time and memory bandwidth on the GPU, the
correctness of its CPU twin on the CPU.

    python bench/kernels.py                   # CPU: each kernel's CPU twin against PyTorch, small shapes
    python bench/kernels.py --device cuda     # GPU: each kernel launched alone, timed against PyTorch

Napkin math, as llm.c's ``dev/cuda`` does it: these kernels do a few operations per element they touch,
so their limit is memory bandwidth. For each kernel the table gives the bytes it has to move at the
least (every array it reads, once, plus every array it writes), that divided by its time, and the
device's peak bandwidth (memory clock x bus width, or ``--peak-gbs``). A kernel near the peak has little
left to gain; one far below it reads the same bytes many times over or waits on latency.

On the GPU each kernel is launched directly (``backend.load_kernel`` with the arguments of its ``.cu``
signature), so the time is the kernel's alone (CUDA events, best of ``--repeat`` after a warm-up), and
its output is checked against PyTorch's. PyTorch's column is the nearest equivalent it has (``unfold``
for im2col, ``fold`` for col2im, ``bernoulli_`` for the dropout mask, ...); its LRN is a composite of
several kernels. PyTorch has nothing like a Winograd transform alone, so those three rows leave its
columns at "-" and check the kernel against its CPU twin (``minidl/functional/winograd.py``) instead.

On the CPU, on small shapes, two things are checked against PyTorch (without PyTorch only the dropout
mask's statistics and the Winograd transforms are): the CPU twin that each kernel's header names, and
the kernel itself, run on the CuPy stand-in of the test suite (``tests/cupy_standin``: the ``.cu``
file compiled for the host, every thread of a launch run in turn) where a C++ compiler is found. The
Winograd transforms' twins are checked against the transforms written out tile by tile (einsum,
float64), and their kernels on the stand-in against the twins. Times on the CPU mean nothing for the
GPU, so none are printed.

The cases (inputs, launches, references) are in ``bench/kernel_cases.py``, the two modes (the CPU check,
the GPU table) in ``bench/kernel_runs.py``; this script reads the command line.
"""
import argparse
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from kernel_cases import Bench  # noqa: E402
from kernel_runs import run_cpu, run_gpu  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="cpu: check the CPU twins and the kernels on the CuPy stand-in; cuda: time "
                             "and check the kernels (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=10, help="timed runs per kernel on the GPU "
                                                               "(default: %(default)s)")
    parser.add_argument("--small", action="store_true",
                        help="cuda: the CPU check's small shapes, a quick run of every kernel")
    parser.add_argument("--peak-gbs", type=float, default=None,
                        help="the device's peak memory bandwidth in GB/s, where the driver does not tell it")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")
    b = Bench(args.device)
    failed = run_gpu(b, args.repeat, args.peak_gbs, big=not args.small) if b.gpu else run_cpu(b)
    if failed:
        print(f"FAILED: {', '.join(failed)} differ from the reference")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
