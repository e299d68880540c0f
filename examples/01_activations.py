"""Demonstration 1: why AlexNet swapped sigmoid for ReLU (the lecture: "ReLU: no vanishing gradient").

A 20-layer MLP is built three times, with sigmoid, tanh and ReLU between its layers, all with the same
initialisation (Glorot/Xavier normal weights, zero biases, the scheme designed for sigmoid and tanh, so
the comparison does not favour ReLU). One batch of Shapes images goes forward, the cross-entropy goes
backward, and the norm of each layer's weight gradient ||dL/dW_l|| is printed, layer 1 (nearest the
input) to layer 20.

Backpropagation multiplies the gradient by sigma'(z) at every layer. sigma'(z) = sigma(z)(1 - sigma(z))
is at most 1/4, so through 19 sigmoid layers the gradient shrinks by roughly 4^-19 ~ 1e-11: the first
layers do not learn. tanh'(0) = 1 loses less; ReLU's derivative is exactly 1 where a unit is active.

    python examples/01_activations.py [--fast] [--device gpu]
"""
import numpy as np

import _common
import minidl
import minidl.functional as F
from minidl import nn
from minidl.data import Shapes

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

    norms = {}
    for name in ACTIVATIONS:
        minidl.manual_seed(args.seed)  # the same initial weights (up to the activation) for all three
        model = mlp(args.depth, x.shape[1], width, len(data.classes), name).to(device)
        norms[name] = gradient_norms(model, x, y)

    rows = [[layer + 1] + [f"{norms[n][layer]:.3e}" for n in ACTIVATIONS] for layer in range(args.depth)]
    print(f"||dL/dW|| per layer of a {args.depth}-layer MLP (width {width}, Xavier-normal init, one batch "
          f"of {batch} Shapes images {size}x{size}):")
    print(_common.table(["layer"] + list(ACTIVATIONS), rows))
    ratio = {n: norms[n][0] / norms["sigmoid"][0] for n in ACTIVATIONS}
    print("first-layer gradient relative to sigmoid's: "
          + ", ".join(f"{n} {ratio[n]:.3g}x" for n in ACTIVATIONS))
    decay = {n: norms[n][0] / norms[n][-1] for n in ACTIVATIONS}
    print("first layer / last layer: " + ", ".join(f"{n} {decay[n]:.3g}" for n in ACTIVATIONS))

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
    return {"norms": norms, "relu_over_sigmoid_first_layer": ratio["relu"],
            "tanh_over_sigmoid_first_layer": ratio["tanh"], "plot": plot}


if __name__ == "__main__":
    main()
