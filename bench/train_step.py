"""Time one full training step (forward, cross-entropy, backward, SGD with momentum) in minidl and PyTorch.

    python bench/train_step.py                        # CPU: ResNet-18 small stem 32x32, VGG-16 64x64, batch 32
    python bench/train_step.py --device cuda          # GPU: the lecture's networks at batch 64, 224x224
    python bench/train_step.py --device cuda --nets resnet18,vgg16 --steps 5

Both libraries train the same network: the PyTorch model is built from minidl's by ``torch_twin`` (same
layers, same weights), in the same process, on the same data. Each step is timed after ``--warmup``
untimed steps; the table reports the median of ``--steps`` timed steps as images per second.

On the GPU the step is timed with CUDA events (CuPy's for minidl, torch's for PyTorch), float32 with TF32
off, then again with TF32 on (``minidl.set_tf32(True)`` against ``torch.backends.cuda.matmul.allow_tf32``
and ``torch.backends.cudnn.allow_tf32``), cuDNN autotuning on for PyTorch. Peak memory is what each
library holds at its worst moment of a step: PyTorch's ``max_memory_allocated``, and for minidl the
bytes in use from CuPy's memory pool, followed through one extra step by a memory hook (not during the
timed steps: the hook costs time).

On the CPU the two libraries' steps alternate (minidl, torch, minidl, ...) so that a load from other
processes on the machine falls on both alike; the ratio is the number to read. Both use the same
number of threads (``--threads``, default minidl's choice: see ``minidl.set_num_threads``). Peak memory
is not measured there.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import minidl  # noqa: E402
import minidl.functional as F  # noqa: E402
import nets  # noqa: E402

try:
    import torch

    from torch_twin import torch_twin
except ImportError:
    torch = None

# name, builder options, batch, image size, classes
GPU_CASES = [
    ("alexnet", {}, 64, 224, 1000),
    ("vgg16", {}, 64, 224, 1000),
    ("resnet18", {}, 64, 224, 1000),
    ("resnet50", {}, 64, 224, 1000),
    ("googlenet", {}, 64, 224, 1000),
    ("fcn8s", {}, 8, 320, 21),
]
CPU_CASES = [
    ("resnet18", {"small_input": True}, 32, 32, 10),
    ("vgg16", {"width": 0.25}, 32, 64, 10),
]
LR, MOMENTUM = 0.01, 0.9


def build(name, options, classes):
    """The minidl network, or None when this checkout does not have it (FCN is optional)."""
    try:
        return nets.create(name, num_classes=classes, **options)
    except (KeyError, ValueError, ImportError) as e:
        print(f"skipping {name}: {e}", file=sys.stderr)
        return None


def make_batch(batch, size, classes, segmentation, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 3, size, size)).astype(np.float32)
    shape = (batch, size, size) if segmentation else (batch,)
    return x, rng.integers(0, classes, shape).astype(np.int64)


def minidl_loss(outputs, target):
    return nets.googlenet_loss(outputs, target)


def torch_loss(outputs, target):
    return nets.googlenet_loss(outputs, target, criterion=torch.nn.functional.cross_entropy)


class MinidlRunner:
    def __init__(self, model, x, y, device):
        self.model = model.to(device)
        self.model.train()
        self.x = minidl.Tensor(x).to(device)
        self.y = minidl.Tensor(y).to(device)
        self.opt = minidl.optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)

    def step(self):
        self.opt.zero_grad()
        loss = minidl_loss(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()
        return loss


class TorchRunner:
    def __init__(self, model, x, y, device):
        self.model = torch_twin(model).to(device)
        self.model.train()
        self.x = torch.from_numpy(x).to(device)
        self.y = torch.from_numpy(y).to(device)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)

    def step(self):
        self.opt.zero_grad(set_to_none=True)
        loss = torch_loss(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()
        return loss


# ----------------------------------------------------------------------------- CPU


def time_cpu(runners, warmup, steps):
    """Median wall seconds per step of each runner, the runners' steps interleaved."""
    for _ in range(warmup):
        for r in runners:
            r.step()
    times = [[] for _ in runners]
    for _ in range(steps):
        for k, r in enumerate(runners):
            start = time.perf_counter()
            r.step()
            times[k].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


# ----------------------------------------------------------------------------- GPU


def _cupy():
    return minidl.backend.cupy_module()


def time_gpu_minidl(runner, warmup, steps):
    cp = _cupy()
    for _ in range(warmup):
        runner.step()
    cp.cuda.Device().synchronize()
    times = []
    for _ in range(steps):
        start, end = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        runner.step()
        end.record()
        end.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, end) / 1e3)
    return statistics.median(times)


def time_gpu_torch(runner, warmup, steps):
    for _ in range(warmup):
        runner.step()
    torch.cuda.synchronize()
    times = []
    for _ in range(steps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        runner.step()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times)


def peak_bytes_minidl(runner):
    """Most bytes minidl holds from CuPy's pool during one step (parameters, state and buffers included)."""
    cp = _cupy()
    pool = cp.get_default_memory_pool()
    cp.cuda.Device().synchronize()

    class Peak(cp.cuda.MemoryHook):
        name = "minidl-bench-peak"

        def __init__(self, start):
            self.used = self.peak = start

        def malloc_postprocess(self, **kwargs):
            self.used += kwargs["mem_size"]
            self.peak = max(self.peak, self.used)

        def free_postprocess(self, **kwargs):
            self.used -= kwargs["mem_size"]

    hook = Peak(pool.used_bytes())
    with hook:
        runner.step()
        cp.cuda.Device().synchronize()
    return hook.peak


def peak_bytes_torch(runner):
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    runner.step()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated()


def release_gpu_memory():
    """Hand back what the previous network left in both libraries' caches, so each starts clean."""
    import gc

    gc.collect()
    _cupy().get_default_memory_pool().free_all_blocks()
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def set_tf32(enabled):
    minidl.set_tf32(enabled)
    if torch is not None:
        torch.backends.cuda.matmul.allow_tf32 = enabled
        torch.backends.cudnn.allow_tf32 = enabled


# ----------------------------------------------------------------------------- driver


def run_case(case, device, warmup, steps, with_torch):
    """One table row: (name, batch, size, minidl s/step, torch s/step or None, minidl bytes, torch bytes)."""
    name, options, batch, size, classes = case
    model = build(name, options, classes)
    if model is None:
        return None
    x, y = make_batch(batch, size, classes, segmentation=name.startswith("fcn"))
    ours = MinidlRunner(model, x, y, device)
    theirs = TorchRunner(model, x, y, device) if with_torch else None
    row = {"net": name, "batch": batch, "size": size, "minidl": None, "torch": None,
           "minidl_mem": None, "torch_mem": None}
    if device == "cpu":
        runners = [ours] + ([theirs] if theirs else [])
        times = time_cpu(runners, warmup, steps)
        row["minidl"] = times[0]
        row["torch"] = times[1] if theirs else None
        return row
    row["minidl"] = time_gpu_minidl(ours, warmup, steps)
    row["minidl_mem"] = peak_bytes_minidl(ours)
    del ours
    release_gpu_memory()
    if theirs is not None:
        row["torch"] = time_gpu_torch(theirs, warmup, steps)
        row["torch_mem"] = peak_bytes_torch(theirs)
        del theirs
    release_gpu_memory()
    return row


def format_table(rows, title, show_memory):
    lines = [title]
    header = f"{'network':10s} {'batch':>5s} {'size':>5s} {'minidl img/s':>13s} {'torch img/s':>12s} {'time ratio':>11s}"
    if show_memory:
        header += f" {'minidl MiB':>11s} {'torch MiB':>10s} {'mem ratio':>10s}"
    lines.append(header)
    for r in rows:
        ours = r["batch"] / r["minidl"]
        theirs = f"{r['batch'] / r['torch']:12.1f}" if r["torch"] else f"{'-':>12s}"
        ratio = f"{r['minidl'] / r['torch']:10.2f}x" if r["torch"] else f"{'-':>11s}"
        line = f"{r['net']:10s} {r['batch']:5d} {r['size']:5d} {ours:13.1f} {theirs} {ratio}"
        if show_memory:
            mib = 2.0 ** 20
            line += f" {r['minidl_mem'] / mib:11.0f}"
            if r["torch_mem"]:
                line += f" {r['torch_mem'] / mib:10.0f} {r['minidl_mem'] / r['torch_mem']:9.2f}x"
            else:
                line += f" {'-':>10s} {'-':>10s}"
        lines.append(line)
    lines.append("time ratio = minidl step time / PyTorch step time (lower is better; 1.00x = as fast)")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--nets", default=None,
                        help="comma-separated subset of the device's networks (default: all of them)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default: 10 on cuda, 5 on cpu)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: 3 on cuda, 1 on cpu)")
    parser.add_argument("--batch", type=int, default=None, help="override every network's batch size")
    parser.add_argument("--size", type=int, default=None, help="override every network's image size")
    parser.add_argument("--tf32", choices=["off", "on", "both"], default="both",
                        help="cuda: the table(s) to make, float32 GEMMs without and/or with TF32 (default both)")
    parser.add_argument("--no-torch", action="store_true", help="time minidl alone")
    parser.add_argument("--threads", type=int, default=None,
                        help="cpu: BLAS threads of both libraries (default: minidl.get_num_threads())")
    return parser.parse_args(argv)


def select_cases(args):
    cases = GPU_CASES if args.device == "cuda" else CPU_CASES
    if args.nets:
        wanted = [n.strip() for n in args.nets.split(",") if n.strip()]
        known = {c[0] for c in cases}
        unknown = [n for n in wanted if n not in known]
        if unknown:
            raise SystemExit(f"train_step: unknown network(s) {unknown} for {args.device}; "
                             f"expected some of {sorted(known)}")
        cases = [c for c in cases if c[0] in wanted]
    return [(name, options, args.batch or batch, args.size or size, classes)
            for name, options, batch, size, classes in cases]


def main(argv=None):
    args = parse_args(argv)
    cuda = args.device == "cuda"
    steps = args.steps or (10 if cuda else 5)
    warmup = args.warmup if args.warmup is not None else (3 if cuda else 1)
    with_torch = torch is not None and not args.no_torch and (not cuda or torch.cuda.is_available())
    if cuda:
        minidl.backend.cupy_module()
        if with_torch:
            torch.backends.cudnn.benchmark = True
    else:
        minidl.manual_seed(0)
        if args.threads:
            minidl.set_num_threads(args.threads)
        if torch is not None:
            torch.set_num_threads(minidl.get_num_threads())
    reference = f"PyTorch {torch.__version__}" if with_torch else "PyTorch (not installed or not asked for)"
    where = _describe_device(cuda)
    print(f"minidl {minidl.__version__} vs {reference} on {where}; {steps} timed steps after {warmup} "
          f"warm-up, median; SGD lr {LR} momentum {MOMENTUM}, float32", flush=True)
    cases = select_cases(args)
    settings = {"off": [False], "on": [True], "both": [False, True]}[args.tf32] if cuda else [False]
    tables = []
    for tf32 in settings:
        if cuda:
            set_tf32(tf32)
        rows = []
        for case in cases:
            row = run_case(case, args.device, warmup, steps, with_torch)
            if row is not None:
                rows.append(row)
                print(f"  {'tf32 ' if tf32 else ''}{row['net']}: minidl {row['minidl'] * 1e3:.1f} ms/step"
                      + (f", torch {row['torch'] * 1e3:.1f} ms/step" if row["torch"] else ""), flush=True)
        mode = "TF32 on" if tf32 else ("TF32 off" if cuda else "CPU")
        tables.append(format_table(rows, f"\n== training step, {where}, {mode} ==", show_memory=cuda))
    if cuda:
        set_tf32(False)
    print("\n".join(tables))
    return tables


def _describe_device(cuda):
    if not cuda:
        return (f"CPU ({os.cpu_count()} cores, {minidl.get_num_threads()} BLAS thread(s) each, "
                f"load {os.getloadavg()[0]:.1f})")
    cp = _cupy()
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    return f"{name} (CuPy {cp.__version__})"


if __name__ == "__main__":
    main()
