"""Time one full training step (forward, cross-entropy, backward, SGD with momentum) in minidl and PyTorch.

    python bench/train_step.py                        # CPU: ResNet-18 and VGG-16 (width 1/4) at 64x64, batch 32;
                                                      #      a small CNN at 32x32, batch 64; FCN-8s as
                                                      #      ``minidl segment`` trains it (128x128, batch 4);
                                                      #      default threads, then one
    python bench/train_step.py --memory               # CPU: also the peak resident memory, each library alone
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
processes on the machine falls on both alike; the ratio is the number to read. ``--threads both`` (the
default) makes two tables: each library at its own default thread count (minidl's: see
``minidl.set_num_threads``; PyTorch's ``torch.get_num_threads()``), then both at one thread. With
``--memory`` the peak resident memory (``VmHWM``, Linux) of a process that builds one library's network and
runs its step is measured for each library in a fresh process (the minidl one never imports torch).
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
from cpu_threads import default_threads, set_cpu_threads, thread_modes  # noqa: E402
import nets  # noqa: E402

try:
    if os.environ.get("MINIDL_BENCH_NO_TORCH"):  # a memory-measuring child that runs minidl alone
        raise ImportError
    import torch

    from torch_twin import torch_twin
except ImportError:
    torch = None

# the CPU clock: wall time, or with --cpu-time the process's CPU time (with one thread that is the work
# done, which other processes' load on a shared machine does not stretch; with more it sums the threads)
clock = time.perf_counter

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
    ("resnet18", {}, 32, 64, 10),  # torchvision's layout: 7x7/2 stem and max pooling
    ("vgg16", {"width": 0.25}, 32, 64, 10),
    ("small_cnn", {}, 64, 32, 10),
    # ``minidl segment``'s network on Shapes (nets/recipe.py): FCN-8s, VGG-16 width 1/16 with batch norm
    ("fcn8s", {"width": 1 / 16, "batch_norm": True, "dropout": 0.0}, 4, 128, 7),
]
LR, MOMENTUM = 0.01, 0.9


def small_cnn(num_classes):
    """Two 3x3 convolutions with ReLU and 2x2 max pooling, then a linear layer: the small CNN of the
    comparison with Chainer and DeZero (``bench/peers.py`` builds the same one), for 32x32 inputs."""
    nn = minidl.nn
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 8 * 8, num_classes),
    )


def build(name, options, classes):
    """The minidl network, or None when this checkout does not have it (FCN is optional)."""
    if name == "small_cnn":
        return small_cnn(classes)
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
            start = clock()
            r.step()
            times[k].append(clock() - start)
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
    parser.add_argument("--cpu-time", action="store_true",
                        help="cpu: time with the process's CPU time instead of the wall clock (see ``clock``)")
    parser.add_argument("--threads", default="both",
                        help="cpu: 'both' (each library's default threads, then both at one thread; the "
                             "default), 'default', or a number of threads for both libraries")
    parser.add_argument("--memory", action="store_true",
                        help="cpu: also measure each library's peak resident memory for the step, each in "
                             "a process of its own")
    parser.add_argument("--rss-child", nargs=2, metavar=("LIBRARY", "NET"), help=argparse.SUPPRESS)
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


def rss_child(library, case, warmup):
    """In a process of its own: build one library's runner, run the step, print the peak RSS in bytes
    (the kernel's VmHWM of this process image: ``ru_maxrss`` would carry the parent's peak over exec)."""
    name, options, batch, size, classes = case
    model = build(name, options, classes)
    x, y = make_batch(batch, size, classes, segmentation=name.startswith("fcn"))
    runner = MinidlRunner(model, x, y, "cpu") if library == "minidl" else TorchRunner(model, x, y, "cpu")
    for _ in range(max(1, warmup) + 1):
        runner.step()
    with open("/proc/self/status") as status:
        peak = next(line for line in status if line.startswith("VmHWM:"))
    print(int(peak.split()[1]) * 1024)


def peak_rss(library, case, args):
    """Peak resident bytes of a fresh process that runs ``case``'s step with ``library`` (Linux)."""
    import subprocess

    name, options, batch, size, classes = case
    cmd = [sys.executable, os.path.abspath(__file__), "--rss-child", library, name, "--batch", str(batch),
           "--size", str(size), "--warmup", str(args.warmup if args.warmup is not None else 1)]
    env = dict(os.environ)
    if library == "minidl":
        env["MINIDL_BENCH_NO_TORCH"] = "1"
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return int(done.stdout.split()[-1])


def memory_table(cases, args):
    lines = ["\n== peak resident memory of one training step, each library in its own process ==",
             f"{'network':10s} {'minidl MiB':>11s} {'torch MiB':>10s} {'ratio':>7s}"]
    for case in cases:
        ours = peak_rss("minidl", case, args) / 2**20
        if torch is None:
            lines.append(f"{case[0]:10s} {ours:11.0f} {'-':>10s} {'-':>7s}")
            continue
        theirs = peak_rss("torch", case, args) / 2**20
        lines.append(f"{case[0]:10s} {ours:11.0f} {theirs:10.0f} {ours / theirs:6.2f}x")
    return "\n".join(lines)


def main(argv=None):
    global clock
    args = parse_args(argv)
    clock = time.process_time if args.cpu_time else time.perf_counter
    cuda = args.device == "cuda"
    steps = args.steps or (10 if cuda else 5)
    warmup = args.warmup if args.warmup is not None else (3 if cuda else 1)
    if args.rss_child:
        library, name = args.rss_child
        case = next(c for c in select_cases(args) if c[0] == name)
        return rss_child(library, case, warmup)
    with_torch = torch is not None and not args.no_torch and (not cuda or torch.cuda.is_available())
    if cuda:
        minidl.backend.cupy_module()
        if with_torch:
            torch.backends.cudnn.benchmark = True
    else:
        minidl.manual_seed(0)
    defaults = default_threads(torch)
    reference = f"PyTorch {torch.__version__}" if with_torch else "PyTorch (not installed or not asked for)"
    where = _describe_device(cuda)
    print(f"minidl {minidl.__version__} vs {reference} on {where}; {steps} timed steps after {warmup} "
          f"warm-up, median ({'CPU' if args.cpu_time else 'wall'} time); SGD lr {LR} momentum {MOMENTUM}, "
          "float32", flush=True)
    cases = select_cases(args)
    if cuda:
        settings = {"off": [False], "on": [True], "both": [False, True]}[args.tf32]
    else:
        settings = thread_modes(args.threads, "train_step")
    tables = []
    for setting in settings:
        if cuda:
            set_tf32(setting)
            mode = "TF32 on" if setting else "TF32 off"
        else:
            mode = set_cpu_threads(setting, defaults, torch)
        rows = []
        for case in cases:
            row = run_case(case, args.device, warmup, steps, with_torch)
            if row is not None:
                rows.append(row)
                print(f"  {mode}: {row['net']}: minidl {row['minidl'] * 1e3:.1f} ms/step"
                      + (f", torch {row['torch'] * 1e3:.1f} ms/step" if row["torch"] else ""), flush=True)
        tables.append(format_table(rows, f"\n== training step, {where}, {mode} ==", show_memory=cuda))
    if cuda:
        set_tf32(False)
    else:
        set_cpu_threads(None, defaults, torch)
        if args.memory:
            tables.append(memory_table(cases, args))
    print("\n".join(tables))
    return tables


def _describe_device(cuda):
    if not cuda:
        return f"CPU ({os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})"
    cp = _cupy()
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    return f"{name} (CuPy {cp.__version__})"


if __name__ == "__main__":
    main()
