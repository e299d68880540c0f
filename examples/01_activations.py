"""Demonstration 1: why AlexNet swapped sigmoid for ReLU (the lecture: "ReLU: no vanishing gradient").

A 20-layer MLP is built three times, with sigmoid, tanh and ReLU between its layers, all with the same
initialisation (Glorot/Xavier normal weights, zero biases, the scheme designed for sigmoid and tanh, so
the comparison does not favour ReLU). One batch of Shapes images goes forward, the cross-entropy goes
backward, and the norm of each layer's weight gradient ||dL/dW_l|| is printed, layer 1 (nearest the
input) to layer 20.

Backpropagation multiplies the gradient by sigma'(z) at every layer. sigma'(z) = sigma(z)(1 - sigma(z))
is at most 1/4, so through 19 sigmoid layers the gradient shrinks by roughly 4^-19 ~ 1e-11: the first
layers do not learn. tanh'(0) = 1 loses less; ReLU's derivative is exactly 1 where a unit is active.

The slide's two other claims are measured too. Sparsity: the share of exact zeros in each hidden layer's
activations on the same batch (ReLU sets every negative input to 0, about half of them; sigmoid and tanh
almost never output exactly 0). Cost ("simple to compute"): the time of forward plus backward of each
activation alone on the same tensor, on the CPU and, where CuPy finds one, the GPU: max(0, x) and a mask
against sigmoid's and tanh's exponentials.

    python examples/01_activations.py [--fast] [--device gpu]
"""
import time

import numpy as np

import _common
import minidl
import minidl.functional as F
from minidl import nn
from minidl.data import Shapes
from minidl.viz import activation_sparsity

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}


def mlp(depth, in_features, width, num_classes, activation):
    layers, features = [], in_features
    for _ in range(depth - 1):
        layers += [nn.Linear(features, width), ACTIVATIONS[activation]()]
        features = width
    layers.append(nn.Linear(features, num_classes))
    model = nn.Sequential(*layers)
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_normal_(m.weight)
            nn.init.zeros_(m.bias)
    return model


def gradient_norms(model, x, y):
    """||dL/dW|| of every Linear layer, input side first, for one batch."""
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return [float(np.sqrt(float((m.weight.grad * m.weight.grad).sum()))) for m in linears]


def sparsity(model, x):
    """Share of exact zeros in the output of each activation layer (input side first) on the batch ``x``."""
    return [row.zeros for row in activation_sparsity(model, x, tuple(ACTIVATIONS.values()))]


def _sync(device):
    if device == "cuda":
        minidl.backend.cupy_module().cuda.Device().synchronize()


def cost(name, n, device, repeats):
    """Median seconds of forward + backward of one activation on a tensor of ``n`` standard-normal values."""
    fn = {"sigmoid": F.sigmoid, "tanh": F.tanh, "relu": F.relu}[name]
    x = minidl.randn(n).to(device).requires_grad_(True)
    grad = minidl.ones(n).to(device)
    times = []
    for _ in range(repeats + 1):  # the first run warms up (kernel compilation, allocator)
        _sync(device)
        start = time.perf_counter()
        fn(x).backward(grad)
        _sync(device)
        times.append(time.perf_counter() - start)
        x.grad = None
    return float(np.median(times[1:]))


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--depth", type=int, default=20, help="number of Linear layers")
    args = p.parse_args(argv)
    device = _common.setup(args)
    size, width, batch = (12, 64, 32) if args.fast else (16, 256, 128)
    data = Shapes(batch, size, seed=args.seed)
    x, y = data.get_batch(np.arange(batch))
    x = x.flatten(1).to(device)
    y = y.to(device)

    norms, zeros = {}, {}
    for name in ACTIVATIONS:
        minidl.manual_seed(args.seed)  # the same initial weights (up to the activation) for all three
        model = mlp(args.depth, x.shape[1], width, len(data.classes), name).to(device)
        norms[name] = gradient_norms(model, x, y)
        zeros[name] = sparsity(model, x)

    rows = [[layer + 1] + [f"{norms[n][layer]:.3e}" for n in ACTIVATIONS] for layer in range(args.depth)]
    print(f"||dL/dW|| per layer of a {args.depth}-layer MLP (width {width}, Xavier-normal init, one batch "
          f"of {batch} Shapes images {size}x{size}):")
    print(_common.table(["layer"] + list(ACTIVATIONS), rows))
    ratio = {n: norms[n][0] / norms["sigmoid"][0] for n in ACTIVATIONS}
    print("first-layer gradient relative to sigmoid's: "
          + ", ".join(f"{n} {ratio[n]:.3g}x" for n in ACTIVATIONS))
    decay = {n: norms[n][0] / norms[n][-1] for n in ACTIVATIONS}
    print("first layer / last layer: " + ", ".join(f"{n} {decay[n]:.3g}" for n in ACTIVATIONS))

    rows = [[layer + 1] + [f"{100 * zeros[n][layer]:.1f} %" for n in ACTIVATIONS] for layer in range(args.depth - 1)]
    print("\nshare of exact zeros in each hidden layer's activations (same batch, same networks):")
    print(_common.table(["layer"] + list(ACTIVATIONS), rows))
    mean_zeros = {n: float(np.mean(zeros[n])) for n in ACTIVATIONS}
    print("mean over the layers: " + ", ".join(f"{n} {100 * mean_zeros[n]:.1f} %" for n in ACTIVATIONS))

    n, repeats = (1 << 18, 5) if args.fast else (1 << 22, 20)
    devices = ["cpu"] + (["cuda"] if minidl.gpu_available() else [])
    costs = {d: {a: cost(a, n, d, repeats) for a in ACTIVATIONS} for d in devices}
    rows = [[a] + [f"{1e3 * costs[d][a]:.3f} ms ({costs[d][a] / costs[d]['relu']:.2f}x)" for d in devices]
            for a in ACTIVATIONS]
    print(f"\nforward + backward of each activation on {n:,} float32 values (median of {repeats}; x relu's):")
    print(_common.table(["activation"] + devices, rows))

    def draw(plt):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for n in ACTIVATIONS:
            ax.semilogy(range(1, args.depth + 1), norms[n], marker="o", label=n)
        ax.set_xlabel("layer (1 = next to the input)")
        ax.set_ylabel("||dL/dW||")
        ax.set_title(f"Gradient norm per layer, {args.depth}-layer MLP")
        ax.legend()
        ax.grid(True, which="both", alpha=0.3)
        return fig

    plot = _common.save_figure(args, "01_activations.png", draw)
    return {"norms": norms, "zeros": zeros, "mean_zeros": mean_zeros, "cost": costs,
            "relu_over_sigmoid_first_layer": ratio["relu"],
            "tanh_over_sigmoid_first_layer": ratio["tanh"], "plot": plot}


if __name__ == "__main__":
    main()
