"""Time forward + backward of the lecture's hot operations in minidl and, when installed, PyTorch.

    python bench/ops.py                    # CPU, batch 8
    python bench/ops.py --device cuda      # GPU, batch 64 (CuPy events, synchronised)

Each row runs the op on the same random float32 data in both libraries, backpropagates a fixed random
output gradient, and reports the best of ``--repeat`` timed runs (after one warm-up) and the ratio
minidl / PyTorch. Rows whose op minidl does not have yet are printed with a note instead of a time.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import minidl  # noqa: E402
import minidl.functional as F  # noqa: E402

try:
    import torch
    import torch.nn.functional as TF
except ImportError:
    torch = TF = None


# name, input shape (without batch), parameter shapes, minidl op name, keyword options
CASES = [
    ("conv 3x3 VGG 64->128 @112", (64, 112, 112), [(128, 64, 3, 3), (128,)], "conv2d", dict(padding=1)),
    ("conv 3x3 ResNet 256->256 @14", (256, 14, 14), [(256, 256, 3, 3), (256,)], "conv2d", dict(padding=1)),
    ("conv 3x3 ResNet-18 small 64->64 @32", (64, 32, 32), [(64, 64, 3, 3)], "conv2d", dict(padding=1)),
    ("conv 11x11/4 AlexNet 3->64 @224", (3, 224, 224), [(64, 3, 11, 11), (64,)], "conv2d",
     dict(stride=4, padding=2)),
    ("conv 1x1 256->64 @56", (256, 56, 56), [(64, 256, 1, 1), (64,)], "conv2d", {}),
    ("conv_transpose 4x4/2 64->64 @28", (64, 28, 28), [(64, 64, 4, 4), (64,)], "conv_transpose2d",
     dict(stride=2, padding=1)),
    ("max_pool 3x3/2 64 @112", (64, 112, 112), [], "max_pool2d", dict(kernel_size=3, stride=2, padding=1)),
    ("lrn size 5, 96 @55", (96, 55, 55), [], "local_response_norm", dict(size=5)),
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
                t0 = time.perf_counter()
                fn()
                elapsed = (time.perf_counter() - t0) * 1e3
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--batch", type=int, default=None, help="default: 64 on cuda, 8 on cpu")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-size", type=int, default=None,
                        help="shrink every input to at most this height and width (a quick smoke run)")
    parser.add_argument("--threads", type=int, default=None,
                        help="cpu: BLAS threads of both libraries (default: minidl.get_num_threads())")
    args = parser.parse_args(argv)
    batch = args.batch or (64 if args.device == "cuda" else 8)

    if args.device == "cuda":
        cp = minidl.backend.cupy_module()
        timer = Timer("cuda", cp.cuda.Device().synchronize, lambda: cp.cuda.Event())
        torch_timer = None
        if torch is not None and torch.cuda.is_available():
            torch.backends.cudnn.benchmark = True
            torch_timer = Timer("cuda", torch.cuda.synchronize, lambda: torch.cuda.Event(enable_timing=True))
    else:
        timer = torch_timer = Timer("cpu", None, None)
        if args.threads:
            minidl.set_num_threads(args.threads)
        if torch is None:
            torch_timer = None
        else:
            torch.set_num_threads(minidl.get_num_threads())

    reference = "PyTorch " + torch.__version__ if torch_timer is not None else "PyTorch (not installed)"
    threads = f", {minidl.get_num_threads()} BLAS thread(s)" if args.device == "cpu" else ""
    print(f"minidl {minidl.__version__} vs {reference}; device {args.device}{threads}, batch {batch}, "
          f"float32, forward + backward, best of {args.repeat} (ms)")
    print(f"{'op':36s} {'output':>16s} {'minidl':>10s} {'torch':>10s} {'ratio':>7s}")
    rng = np.random.default_rng(0)
    for name, shape, params, op, options in CASES:
        if args.max_size:
            shape = shape[:1] + tuple(min(d, args.max_size) for d in shape[1:])
        if not hasattr(F, op):
            print(f"{name:36s} {'':>16s} {'skipped: minidl.functional.' + op + ' not present':>30s}")
            continue
        arrays = [rng.standard_normal((batch,) + shape).astype(np.float32)]
        arrays += [(rng.standard_normal(p) * 0.05).astype(np.float32) for p in params]
        out = (batch,) + tuple(output_shape(op, arrays, options))
        grad = rng.standard_normal(out).astype(np.float32)
        ours = timer(minidl_step(op, arrays, grad, options, args.device), args.repeat)
        theirs = ratio = "-"
        if torch_timer is not None:
            t = torch_timer(torch_step(op, arrays, grad, options, args.device), args.repeat)
            theirs, ratio = f"{t:10.1f}", f"{ours / t:6.2f}x"
        print(f"{name:36s} {str(out[1:]):>16s} {ours:10.1f} {theirs:>10s} {ratio:>7s}")


if __name__ == "__main__":
    main()
