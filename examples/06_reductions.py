"""Demonstration 6: GoogLeNet's 1x1 reductions ("use 1x1 convolutions to cut the parameters").

Each Inception module of ``nets/googlenet.py`` (the paper's Table 1) is built twice:

* with reductions (the paper's Figure 2b, what GoogLeNet uses): 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 |
  3x3 max-pool -> 1x1 projection;
* naive (Figure 2a): 1x1 | 3x3 | 5x5 straight on the module's input | 3x3 max-pool, no projection.

Same input, same numbers of 1x1, 3x3 and 5x5 filters. For a module with C_in input channels and
Table 1's (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj) = (a, r3, c3, r5, c5, p), weights:

    with reductions:  C_in a + C_in r3 + 9 r3 c3 + C_in r5 + 25 r5 c5 + C_in p
    naive:            C_in a + 9 C_in c3 + 25 C_in c5

(plus one bias per filter), and multiply-adds are the weights of each convolution times its output
pixels. ``minidl.summary`` counts both models; the formula is checked against it. The naive module also
passes all C_in pooled channels on, so its output is wider and the next module costs more still.

    python examples/06_reductions.py [--fast]
"""
import _common
import minidl
from minidl import functional as F
from minidl import nn
from nets.googlenet import INCEPTION_TABLE, BasicConv2d, Inception

# (input channels of 3a, spatial size of the module groups 3x, 4x, 5x at a 224x224 input)
FIRST_IN_CHANNELS = 192
SIZES = {"3": 28, "4": 14, "5": 7}


class NaiveInception(nn.Module):
    """Figure 2a: the 3x3 and 5x5 convolutions read all input channels; the pool branch is not projected."""

    def __init__(self, in_channels, ch1x1, ch3x3, ch5x5):
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, False, kernel_size=1)
        self.branch2 = BasicConv2d(in_channels, ch3x3, False, kernel_size=3, padding=1)
        self.branch3 = BasicConv2d(in_channels, ch5x5, False, kernel_size=5, padding=2)
        self.branch4 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + in_channels

    def forward(self, x):
        return F.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


def formula(c_in, row, hw):
    """(params, MACs) of the module with and without reductions, from the formulas in the docstring."""
    a, r3, c3, r5, c5, p = row
    weights_reduced = c_in * a + c_in * r3 + 9 * r3 * c3 + c_in * r5 + 25 * r5 * c5 + c_in * p
    weights_naive = c_in * a + 9 * c_in * c3 + 25 * c_in * c5
    return {
        "reduced_params": weights_reduced + a + r3 + c3 + r5 + c5 + p,
        "naive_params": weights_naive + a + c3 + c5,
        "reduced_macs": weights_reduced * hw * hw,
        "naive_macs": weights_naive * hw * hw,
    }


def modules():
    """(name, input channels, spatial size, table row) of the nine modules, channels chained."""
    c_in, out = FIRST_IN_CHANNELS, []
    for name, row in INCEPTION_TABLE.items():
        out.append((name, c_in, SIZES[name[0]], row))
        c_in = row[0] + row[2] + row[4] + row[5]
    return out


def measure(name, c_in, hw, row, device):
    a, r3, c3, r5, c5, p = row
    reduced = Inception(c_in, a, r3, c3, r5, c5, p).to(device)
    naive = NaiveInception(c_in, a, c3, c5).to(device)
    s_red = minidl.summary(reduced, (1, c_in, hw, hw))
    s_naive = minidl.summary(naive, (1, c_in, hw, hw))
    return {
        "in_channels": c_in, "size": hw,
        "reduced_params": s_red.total_params, "naive_params": s_naive.total_params,
        "reduced_macs": s_red.total_macs, "naive_macs": s_naive.total_macs,
        "reduced_out": reduced.out_channels, "naive_out": naive.out_channels,
        "formula": formula(c_in, row, hw),
        "param_factor": s_naive.total_params / s_red.total_params,
        "mac_factor": s_naive.total_macs / s_red.total_macs,
    }


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    args = p.parse_args(argv)
    device = _common.setup(args)
    chosen = modules()[:1] if args.fast else modules()
    results = {name: measure(name, c_in, hw, row, device) for name, c_in, hw, row in chosen}
    rows = [[name, f"{r['in_channels']}x{r['size']}x{r['size']}", f"{r['naive_params']:,}",
             f"{r['reduced_params']:,}", f"{r['param_factor']:.2f}x", f"{r['naive_macs'] / 1e6:.1f} M",
             f"{r['reduced_macs'] / 1e6:.1f} M", f"{r['mac_factor']:.2f}x",
             f"{r['naive_out']} / {r['reduced_out']}"]
            for name, r in results.items()]
    print("Inception modules without (naive, Fig. 2a) and with (Fig. 2b) the 1x1 reductions, "
          "at 224x224 input:")
    print(_common.table(["module", "input", "params naive", "params reduced", "factor", "MACs naive",
                         "MACs reduced", "factor", "out channels"], rows))
    total_naive = sum(r["naive_params"] for r in results.values())
    total_reduced = sum(r["reduced_params"] for r in results.values())
    print(f"all {len(results)} module(s): {total_naive:,} parameters naive, {total_reduced:,} with "
          f"reductions ({total_naive / total_reduced:.2f}x fewer)")

    def draw(plt):
        import numpy as np
        fig, ax = plt.subplots(figsize=(9, 4))
        names = list(results)
        x = np.arange(len(names))
        ax.bar(x - 0.2, [results[n]["naive_params"] / 1e6 for n in names], 0.4, label="naive (Fig. 2a)")
        ax.bar(x + 0.2, [results[n]["reduced_params"] / 1e6 for n in names], 0.4, label="with 1x1 reductions")
        ax.set_xticks(x)
        ax.set_xticklabels(names)
        ax.set_ylabel("parameters (millions)")
        ax.set_title("Inception modules: parameters with and without 1x1 reductions")
        ax.legend()
        return fig

    plot = _common.save_figure(args, "06_reductions.png", draw)
    return {"modules": results, "plot": plot}


if __name__ == "__main__":
    main()
