"""Demonstration 10: the gradient-check tour, every op's hand-written backward against central differences.

For each differentiable op of ``minidl.functional`` and each core tensor op, on tiny float64 inputs,
``minidl.tour`` compares the analytic gradient (the op's backward) with

    df/dx_i ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps),   eps = 1e-6

element by element, and prints (op, max abs error, max rel error, pass). The same table comes from the
command line as ``minidl gradcheck`` (exit status 1 if any op fails). Errors of 1e-9 and below are the
finite-difference truncation and rounding; a wrong backward shows up as errors of order 1.

    python examples/10_gradcheck_tour.py [--device gpu]
"""
import numpy as np

import _common
from minidl import tour


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    args = p.parse_args(argv)
    device = _common.setup(args)
    rows = tour.run(device=device, seed=args.seed)

    def draw(plt):
        fig, ax = plt.subplots(figsize=(8, 0.22 * len(rows) + 1))
        y = np.arange(len(rows))
        errors = [max(r.max_abs_error, 1e-18) for r in rows]
        ax.barh(y, errors, color=["tab:green" if r.passed else "tab:red" for r in rows])
        ax.set_yticks(y)
        ax.set_yticklabels([r.op for r in rows], fontsize=7)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("max |analytic - numerical| (float64, eps = 1e-6)")
        ax.set_title(f"Gradient-check tour: {sum(r.passed for r in rows)} of {len(rows)} ops pass")
        return fig

    plot = _common.save_figure(args, "10_gradcheck_tour.png", draw)
    return {"rows": rows, "all_passed": all(r.passed for r in rows), "plot": plot}


if __name__ == "__main__":
    main()
