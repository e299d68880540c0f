"""Demonstration 5: VGG's "two 3x3 convolutions can replace a 5x5" (and three a 7x7).

A stack of n 3x3 convolutions (stride 1) sees r = 1 + 2n input pixels per axis, the same 5x5 (n = 2)
or 7x7 (n = 3) field as one large kernel, with fewer weights for C channels in and out:

    two 3x3:   2 * 9 C^2 = 18 C^2   against   one 5x5: 25 C^2   (28% fewer)
    three 3x3: 3 * 9 C^2 = 27 C^2   against   one 7x7: 49 C^2   (45% fewer)

and with a ReLU between each pair, more non-linearity. The fields come from ``minidl.receptive_field``,
the counts from ``minidl.summary`` (convolutions without bias, so the count is the formula's exactly).

    python examples/05_stacks.py [--fast] [--channels 64]
"""
import _common
import minidl
from minidl import nn


def stack(n, kernel, channels):
    """n convolutions of ``kernel`` x ``kernel`` keeping the size (padding k // 2), ReLU after each."""
    layers = []
    for _ in range(n):
        layers += [nn.Conv2d(channels, channels, kernel, padding=kernel // 2, bias=False), nn.ReLU()]
    return nn.Sequential(*layers)


CASES = [  # (label, number of layers, kernel, field by the formula, weights by the formula / C^2)
    ("two 3x3", 2, 3, 5, 18),
    ("one 5x5", 1, 5, 5, 25),
    ("three 3x3", 3, 3, 7, 27),
    ("one 7x7", 1, 7, 7, 49),
]


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--channels", type=int, default=None, help="C, channels in and out (default 64; 8 fast)")
    args = p.parse_args(argv)
    device = _common.setup(args)
    c = args.channels or (8 if args.fast else 64)
    size = 16 if args.fast else 32
    results = {}
    for label, n, kernel, field, per_c2 in CASES:
        model = stack(n, kernel, c).to(device)
        rf = minidl.receptive_field(model, (1, c, size, size))
        s = minidl.summary(model, (1, c, size, size))
        results[label] = {"receptive_field": rf.size[0], "params": s.total_params, "macs": s.total_macs,
                          "formula_field": field, "formula_params": per_c2 * c * c}
    rows = [[label, r["receptive_field"], r["formula_field"], f"{r['params']:,}", f"{r['formula_params']:,}",
             f"{r['macs']:,}"] for label, r in results.items()]
    print(f"C = {c} channels in and out, {size}x{size} input:")
    print(_common.table(["stack", "receptive field", "1 + 2n (or k)", "params (summary)", "formula",
                         "MACs"], rows))
    saving5 = 1 - results["two 3x3"]["params"] / results["one 5x5"]["params"]
    saving7 = 1 - results["three 3x3"]["params"] / results["one 7x7"]["params"]
    print(f"two 3x3 use {saving5:.0%} fewer weights than one 5x5; three 3x3 {saving7:.0%} fewer than one 7x7")
    print("\nreceptive_field of the three-3x3 stack, layer by layer:")
    print(minidl.receptive_field(stack(3, 3, c).to(device), (1, c, size, size)))

    def draw(plt):
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
        labels = list(results)
        colours = ["tab:blue", "tab:orange", "tab:blue", "tab:orange"]
        ax1.bar(labels, [results[k]["params"] / (c * c) for k in labels], color=colours)
        ax1.set_ylabel("weights / C^2")
        ax1.set_title("Parameters")
        for i, k in enumerate(labels):
            ax1.text(i, results[k]["params"] / (c * c), f"{results[k]['params'] // (c * c)} C²", ha="center",
                     va="bottom")
        ax2.bar(labels, [results[k]["receptive_field"] for k in labels], color=colours)
        ax2.set_ylabel("receptive field (pixels per axis)")
        ax2.set_title("Receptive field")
        fig.suptitle("Stacked 3x3 convolutions against one large kernel")
        return fig

    plot = _common.save_figure(args, "05_stacks.png", draw)
    return {"channels": c, "results": results, "saving_5x5": saving5, "saving_7x7": saving7, "plot": plot}


if __name__ == "__main__":
    main()
