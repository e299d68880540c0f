"""``minidl gradcheck``: the gradient-check tour (``minidl.tour``) from the command line.

Prints one row per op (max abs error, max rel error, pass) and exits with status 1 when any op fails,
so that the command can guard a change to a backward in a script or CI job.
"""
from . import jobs


def add_parser(subparsers):
    p = subparsers.add_parser(
        "gradcheck", help="check every op's gradient against central differences (float64)",
        description="Run the float64 central-difference gradient check on every differentiable op of "
                    "minidl.functional and the core tensor ops; exit 1 if any op fails.")
    p.add_argument("--device", default="cpu", help="cpu (default), gpu, or auto")
    p.add_argument("--seed", type=int, default=0, help="seed of the random test inputs")
    p.set_defaults(func=run)


def run(args):
    from minidl import tour

    device = jobs.pick_device(args.device)
    rows = tour.run(device=device, seed=args.seed)
    return 0 if all(r.passed for r in rows) else 1
