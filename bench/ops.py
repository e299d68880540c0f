"""Time forward + backward of the lecture's hot operations in minidl and, when installed, PyTorch.

    python bench/ops.py                    # CPU: each library at its default threads, then both at one
    python bench/ops.py --threads 1        # CPU, one thread only
    python bench/ops.py --device cuda      # GPU, batch 64 (CuPy events, synchronised)

Each row runs the op on the same random float32 data in both libraries, backpropagates a fixed random
output gradient, and reports the best of ``--repeat`` timed runs (after one warm-up; minidl's and
PyTorch's runs alternate, so a load from other processes falls on both alike) and the ratio minidl /
PyTorch. Rows with a batch size of their own (the issue's reference cases) keep it on the CPU; the rest
use ``--batch``. Rows whose op minidl does not have yet are printed with a note instead of a time.

On the CPU, "default" means what each library does when nobody sets anything: minidl's
``get_num_threads()`` (all cores, or one when the machine is already oversubscribed at import) and
PyTorch's ``torch.get_num_threads()``.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import minidl  # noqa: E402
import minidl.functional as F  # noqa: E402
from cpu_threads import default_threads, set_cpu_threads, thread_modes  # noqa: E402

# the CPU clock: wall time, or with --cpu-time the process's CPU time (with one thread that is the work
# done, which other processes' load on a shared machine does not stretch; with more it sums the threads)
clock = time.perf_counter

try:
    import torch
    import torch.nn.functional as TF
except ImportError:
    torch = TF = None


# name, input shape (without batch), parameter shapes, minidl op name, keyword options, CPU batch (None:
# --batch)
CASES = [
    ("conv 3x3 64->64 @32 b32", (64, 32, 32), [(64, 64, 3, 3)], "conv2d", dict(padding=1), 32),
    ("conv 3x3 128->128 @28 b16", (128, 28, 28), [(128, 128, 3, 3)], "conv2d", dict(padding=1), 16),
    ("conv 3x3 256->256 @14 b16", (256, 14, 14), [(256, 256, 3, 3)], "conv2d", dict(padding=1), 16),
    ("max_pool 3x3/2 64 @56 b32", (64, 56, 56), [], "max_pool2d", dict(kernel_size=3, stride=2, padding=1), 32),
    ("conv_transpose 4x4/2 64->64 @28 b8", (64, 28, 28), [(64, 64, 4, 4), (64,)], "conv_transpose2d",
     dict(stride=2, padding=1), 8),
    ("conv 3x3 VGG 64->128 @112", (64, 112, 112), [(128, 64, 3, 3), (128,)], "conv2d", dict(padding=1), None),
    ("conv 11x11/4 AlexNet 3->64 @224", (3, 224, 224), [(64, 3, 11, 11), (64,)], "conv2d",
     dict(stride=4, padding=2), None),
    ("conv 1x1 256->64 @56", (256, 56, 56), [(64, 256, 1, 1), (64,)], "conv2d", {}, None),
    ("avg_pool 3x3/2 64 @56", (64, 56, 56), [], "avg_pool2d", dict(kernel_size=3, stride=2, padding=1), None),
    ("lrn size 5, 96 @55", (96, 55, 55), [], "local_response_norm", dict(size=5), None),
]


class Timer:
    """Wall-clock on the CPU; CUDA events around the work on the GPU (after synchronising)."""

    def __init__(self, device, sync, event):
        self.device, self.sync, self.event = device, sync, event

    def __call__(self, fn, repeat):
        fn()
        best = float("inf")
        for _ in range(repeat):
            if self.device == "cuda":
                self.sync()
                start, end = self.event(), self.event()
                start.record()
                fn()
                end.record()
                end.synchronize()
                elapsed = self._elapsed(start, end)
            else:
                t0 = clock()
                fn()
                elapsed = (clock() - t0) * 1e3
            best = min(best, elapsed)
        return best

    @staticmethod
    def _elapsed(start, end):
        if hasattr(start, "elapsed_time"):
            return start.elapsed_time(end)
        import cupy

        return cupy.cuda.get_elapsed_time(start, end)


def minidl_step(op, arrays, grad, options, device):
    fn = getattr(F, op)
    tensors = [minidl.Tensor(a).to(device).requires_grad_() for a in arrays]
    g = minidl.Tensor(grad).to(device)

    def step():
        for t in tensors:
            t.grad = None
        fn(*tensors, **options).backward(g)

    return step


def torch_step(op, arrays, grad, options, device):
    fn = getattr(TF, op)
    tensors = [torch.tensor(a, device=device, requires_grad=True) for a in arrays]
    g = torch.tensor(grad, device=device)

    def step():
        for t in tensors:
            t.grad = None
        fn(*tensors, **options).backward(g)

    return step


def output_shape(op, arrays, options):
    with minidl.no_grad():
        return getattr(F, op)(*(minidl.Tensor(a[:1]) if i == 0 else minidl.Tensor(a)
                                for i, a in enumerate(arrays)), **options).shape[1:]


def time_interleaved(steps, repeat):
    """Best wall-clock ms of each step function, their runs alternating (CPU)."""
    for step in steps:
        step()
    best = [float("inf")] * len(steps)
    for _ in range(repeat):
        for k, step in enumerate(steps):
            t0 = clock()
            step()
            best[k] = min(best[k], (clock() - t0) * 1e3)
    return best


def run_cases(args, device, timer, torch_timer):
    """One table: a row per case, returning {name: ratio}."""
    rng = np.random.default_rng(0)
    ratios = {}
    print(f"{'op':36s} {'batch':>5s} {'output':>16s} {'minidl':>10s} {'torch':>10s} {'ratio':>7s}")
    for name, shape, params, op, options, own_batch in CASES:
        if args.only and not any(word in name for word in args.only.split(",")):
            continue
        batch = args.batch or (own_batch if device == "cpu" and own_batch else (64 if device == "cuda" else 8))
        if args.max_size:
            shape = shape[:1] + tuple(min(d, args.max_size) for d in shape[1:])
        if not hasattr(F, op):
            print(f"{name:36s} {'':>22s} {'skipped: minidl.functional.' + op + ' not present':>30s}")
            continue
        arrays = [rng.standard_normal((batch,) + shape).astype(np.float32)]
        arrays += [(rng.standard_normal(p) * 0.05).astype(np.float32) for p in params]
        out = (batch,) + tuple(output_shape(op, arrays, options))
        grad = rng.standard_normal(out).astype(np.float32)
        ours_step = minidl_step(op, arrays, grad, options, device)
        theirs = ratio = "-"
        if torch_timer is None:
            ours = timer(ours_step, args.repeat)
        elif device == "cpu":
            ours, t = time_interleaved([ours_step, torch_step(op, arrays, grad, options, device)], args.repeat)
        else:
            ours = timer(ours_step, args.repeat)
            t = torch_timer(torch_step(op, arrays, grad, options, device), args.repeat)
        if torch_timer is not None:
            theirs, ratio = f"{t:10.1f}", f"{ours / t:6.2f}x"
            ratios[name] = ours / t
        print(f"{name:36s} {batch:5d} {str(out[1:]):>16s} {ours:10.1f} {theirs:>10s} {ratio:>7s}", flush=True)
    return ratios


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--batch", type=int, default=None,
                        help="every row's batch (default: 64 on cuda; on cpu a row's own batch, else 8)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-size", type=int, default=None,
                        help="shrink every input to at most this height and width (a quick smoke run)")
    parser.add_argument("--only", default=None,
                        help="comma-separated words: run only the rows whose name contains one of them")
    parser.add_argument("--cpu-time", action="store_true",
                        help="cpu: time with the process's CPU time instead of the wall clock (see ``clock``)")
    parser.add_argument("--threads", default="both",
                        help="cpu: 'both' (each library's default threads, then both at one thread; the "
                             "default), 'default', or a number of threads for both libraries")
    args = parser.parse_args(argv)
    global clock
    clock = time.process_time if args.cpu_time else time.perf_counter

    if args.device == "cuda":
        cp = minidl.backend.cupy_module()
        timer = Timer("cuda", cp.cuda.Device().synchronize, lambda: cp.cuda.Event())
        torch_timer = None
        if torch is not None and torch.cuda.is_available():
            torch.backends.cudnn.benchmark = True
            torch_timer = Timer("cuda", torch.cuda.synchronize, lambda: torch.cuda.Event(enable_timing=True))
        modes = [None]
    else:
        timer = torch_timer = Timer("cpu", None, None)
        if torch is None:
            torch_timer = None
        modes = thread_modes(args.threads, "ops")
    defaults = default_threads(torch)

    reference = "PyTorch " + torch.__version__ if torch_timer is not None else "PyTorch (not installed)"
    load = f", load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores" if args.device == "cpu" else ""
    print(f"minidl {minidl.__version__} vs {reference}; device {args.device}{load}; float32, forward + "
          f"backward, best of {args.repeat} ({'CPU' if args.cpu_time else 'wall'} ms); conv algorithm "
          f"{minidl.get_conv_algorithm()}")
    tables = []
    for mode in modes:
        if args.device == "cpu":
            print("\n== " + set_cpu_threads(mode, defaults, torch) + " ==")
        tables.append(("default" if mode is None else f"{mode} thread(s)", run_cases(args, args.device, timer,
                                                                                     torch_timer)))
    if args.device == "cpu":
        set_cpu_threads(None, defaults, torch)
    if len(tables) > 1 and tables[0][1]:
        print("\n== ratio minidl / PyTorch ==")
        print(f"{'op':36s} " + " ".join(f"{label:>14s}" for label, _ in tables))
        for name in tables[0][1]:
            print(f"{name:36s} " + " ".join(f"{ratios.get(name, float('nan')):13.2f}x" for _, ratios in tables))
    return tables


if __name__ == "__main__":
    main()
