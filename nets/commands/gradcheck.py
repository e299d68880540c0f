"""``minidl gradcheck``: the gradient-check tour (``minidl.tour``) from the command line.

Prints one row per op (max abs error, max rel error, pass) and exits with status 1 when any op fails,
so that the command can guard a change to a backward in a script or CI job.
"""
from . import arguments
from .common import pick_device


def add_parser(subparsers):
    p = subparsers.add_parser(
        "gradcheck", help="check every op's gradient against central differences (float64)",
        description="Run the float64 central-difference gradient check on every differentiable op of "
                    "minidl.functional and the core tensor ops; exit 1 if any op fails.")
    arguments.add_device(p, default="cpu")
    p.add_argument("--seed", type=arguments.count, default=0, help="seed of the random test inputs (default: 0)")
    p.set_defaults(func=run)


def run(args):
    from minidl import tour

    device = pick_device(args.device)
    rows = tour.run(device=device, seed=args.seed)
    return 0 if all(r.passed for r in rows) else 1
