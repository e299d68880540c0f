"""Demonstration 4: local response normalisation, the AlexNet paper's form against PyTorch's.

The lecture's formula (the paper's, ``local_response_norm_paper``) divides by a power of the *sum* of
squares over n neighbouring channels:

    b_i = a_i / (k + alpha * sum_{j=max(0,i-n/2)}^{min(N-1,i+n/2)} a_j^2)^beta
    (k = 2, n = 5, alpha = 1e-4, beta = 0.75)

PyTorch's ``local_response_norm`` divides alpha by the window size (a *mean* of squares):

    b_c = a_c / (k + alpha/size * sum_{j=c-size/2}^{c+(size-1)/2} a_j^2)^beta

so the paper's layer is PyTorch's with size = n and alpha_pytorch = n * alpha_paper (odd n). Both run on
the same activations: AlexNet's first convolution (paper layout, ReLU) applied to Shapes images.
Taking the paper's alpha = 1e-4 into PyTorch's form unchanged normalises five times more weakly.

    python examples/04_lrn.py [--fast]
"""
import numpy as np

import _common
import minidl
import minidl.functional as F
from minidl.data import Shapes
from nets.alexnet import alexnet_paper

PAPER = dict(n=5, alpha=1e-4, beta=0.75, k=2.0)


def activations(size, count, seed, device):
    """ReLU(conv1(x)) of AlexNet (paper layout: 96 filters 11x11/4) on Shapes images, (count, 96, h, w)."""
    data = Shapes(count, size, seed=seed)
    x, _ = data.get_batch(np.arange(count))
    model = alexnet_paper(num_classes=10).to(device)
    conv1 = model.features[0]
    with minidl.no_grad():
        # scaled to [0, 255] as the paper's (mean-subtracted) pixels were: LRN's constants assume that range
        return F.relu(conv1((x.to(device) - 0.5) * 255.0))


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    args = p.parse_args(argv)
    device = _common.setup(args)
    size, count = (67, 2) if args.fast else (227, 8)
    a = activations(size, count, args.seed, device)
    n, alpha = PAPER["n"], PAPER["alpha"]
    paper = F.local_response_norm_paper(a, **PAPER)
    mapped = F.local_response_norm(a, size=n, alpha=n * alpha, beta=PAPER["beta"], k=PAPER["k"])
    naive = F.local_response_norm(a, size=n, alpha=alpha, beta=PAPER["beta"], k=PAPER["k"])
    a_np, paper_np, mapped_np, naive_np = (minidl.backend.to_numpy(t.data).astype(np.float64)
                                           for t in (a, paper, mapped, naive))
    scale = np.abs(paper_np).max()
    diff_mapped = float(np.abs(paper_np - mapped_np).max() / scale)
    diff_naive = float(np.abs(paper_np - naive_np).max() / scale)
    active = a_np > 0
    damping = {name: float(np.median(out[active] / a_np[active])) for name, out in
               (("paper", paper_np), ("pytorch_mapped", mapped_np), ("pytorch_same_alpha", naive_np))}

    print(f"activations: ReLU(conv1) of AlexNet on {count} Shapes images {size}x{size} -> {tuple(a.shape)}")
    print(f"paper form: n={n}, alpha={alpha}, beta={PAPER['beta']}, k={PAPER['k']}")
    print(_common.table(
        ["form", "arguments", "max |b - b_paper| / max|b_paper|", "median b/a"],
        [["paper", f"n={n}, alpha={alpha}", "0", f"{damping['paper']:.4f}"],
         ["PyTorch, mapped", f"size={n}, alpha={n * alpha:g}", f"{diff_mapped:.2e}",
          f"{damping['pytorch_mapped']:.4f}"],
         ["PyTorch, same alpha", f"size={n}, alpha={alpha}", f"{diff_naive:.2e}",
          f"{damping['pytorch_same_alpha']:.4f}"]]))
    print("mapping: local_response_norm_paper(x, n, alpha, beta, k) == "
          "local_response_norm(x, size=n, alpha=n*alpha, beta, k) for odd n")

    def draw(plt):
        channel = int(np.argmax(a_np[0].reshape(a_np.shape[1], -1).max(axis=1)))
        panels = [("input a (ReLU(conv1))", a_np[0, channel]), ("paper", paper_np[0, channel]),
                  (f"PyTorch, alpha={n * alpha:g}", mapped_np[0, channel]),
                  (f"PyTorch, alpha={alpha}", naive_np[0, channel]),
                  ("|paper - PyTorch same alpha|", np.abs(paper_np[0, channel] - naive_np[0, channel]))]
        fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4))
        for ax, (title, img) in zip(axes, panels):
            im = ax.imshow(img, cmap="viridis")
            ax.set_title(title, fontsize=9)
            ax.axis("off")
            fig.colorbar(im, ax=ax, fraction=0.046)
        fig.suptitle(f"LRN on channel {channel} of AlexNet's conv1: the paper's form and PyTorch's")
        return fig

    plot = _common.save_figure(args, "04_lrn.png", draw)
    return {"max_rel_diff_mapped": diff_mapped, "max_rel_diff_same_alpha": diff_naive,
            "median_damping": damping, "plot": plot}


if __name__ == "__main__":
    main()
