"""What every demonstration shares: its command line, the device, the output folder and the figure.

Each ``examples/NN_name.py`` has ``main(argv=None)`` that returns its numbers as a dict (the tests
assert on them), ``--fast`` for a run of seconds, ``--device`` for a GPU and ``--out`` for the PNG.
matplotlib comes with ``pip install minidl``; where it is missing anyway, the numbers are printed and the
picture is skipped with a note.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    # run as ``python examples/NN_name.py`` from a checkout, without installing minidl
    sys.path.insert(0, ROOT)

import minidl  # noqa: E402


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--fast", action="store_true", help="a small run of seconds (what the tests use)")
    p.add_argument("--device", default="cpu", help="cpu (default), gpu or auto")
    p.add_argument("--out", default=os.path.join(ROOT, "runs", "examples"),
                   help="folder for the PNG (default runs/examples, beside the command line's runs)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random generator")
    p.add_argument("--no-plot", action="store_true", help="print the numbers only")
    return p


def setup(args):
    """Seed minidl and return the canonical device name."""
    minidl.manual_seed(args.seed)
    device = minidl.backend.canonical_device(args.device)
    if device == "cuda" and not minidl.gpu_available():
        raise SystemExit("--device gpu: CuPy finds no CUDA device")
    return device


def pyplot():
    """matplotlib's pyplot with a file-only backend, or None when matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(args, name, draw):
    """Call ``draw(plt)`` (which builds a figure) and save it as ``<out>/<name>``; return the path or
    None when plotting is off or matplotlib is missing (then say so)."""
    if args.no_plot:
        return None
    plt = pyplot()
    if plt is None:
        print(f"(matplotlib is not installed: skipping {name}; pip install matplotlib to get it)")
        return None
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, name)
    fig = draw(plt)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"saved {path}")
    return path


def table(headers, rows):
    """Rows as an aligned text table (the first column left-aligned, numbers right-aligned)."""
    cells = [list(map(str, headers))] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for k, r in enumerate(cells):
        aligned = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(aligned))
        if k == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


def standardize(x):
    """Each image's channels to zero mean and unit spread (plus a floor of 0.05, for flat images): a network
    need not spend its first steps learning to ignore the background colour and brightness of Shapes,
    which vary from image to image (HOG is invariant to them by construction)."""
    mean = x.mean((2, 3), keepdim=True)
    spread = ((x - mean) ** 2).mean((2, 3), keepdim=True).sqrt() + 0.05
    return (x - mean) / spread
