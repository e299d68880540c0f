"""Demonstration 3: dropout ("randomly suppress node outputs in training, use them all in testing").

Part 1, the behaviour: ``nn.Dropout(p)`` in training mode zeroes each element with probability p and
scales the survivors by 1/(1 - p) (inverted dropout), so the expected output equals the input; in
evaluation mode it is the identity, and the whole network is used at test time with no rescaling.

Part 2, the effect: a big MLP (two hidden layers of 1024) on a small Shapes training set (a few hundred
images) memorises it: its training loss goes to zero while its validation loss turns back up. The same
network with dropout after each hidden layer, trained the same way, overfits less: a smaller gap
between training and validation, and (usually) a lower validation loss. Curves in one plot.

    python examples/03_dropout.py [--fast] [--device gpu]
"""
import numpy as np

import _common
import minidl
import minidl.functional as F
from minidl import nn, optim
from minidl.classic import hog
from minidl.data import Shapes


def behaviour(p=0.5, n=100000):
    """What Dropout does to a tensor of ones in training and in evaluation mode."""
    layer = nn.Dropout(p)
    x = minidl.ones(n)
    layer.train()
    y = layer(x).numpy()
    layer.eval()
    z = layer(x).numpy()
    return {"p": p, "train_zero_fraction": float((y == 0).mean()),
            "train_kept_values": sorted(set(y[y != 0].tolist())), "train_mean": float(y.mean()),
            "eval_equals_input": bool(np.array_equal(z, x.numpy()))}


def mlp(in_features, hidden, num_classes, p):
    layers = [nn.Flatten()]
    for features in (in_features, hidden):
        layers += [nn.Linear(features, hidden), nn.ReLU()]
        if p > 0:
            layers.append(nn.Dropout(p))
    layers.append(nn.Linear(hidden, num_classes))
    return nn.Sequential(*layers)


def evaluate(model, x, y):
    model.eval()
    with minidl.no_grad():
        logits = model(x)
        loss = float(F.cross_entropy(logits, y).item())
    acc = float((minidl.backend.to_numpy(logits.data).argmax(1) == minidl.backend.to_numpy(y.data)).mean())
    return loss, acc


def train(p, data, epochs, hidden, lr, batch, seed, device):
    (xt, yt), (xv, yv) = data
    minidl.manual_seed(seed)
    model = mlp(int(np.prod(xt.shape[1:])), hidden, 6, p).to(device)
    opt = optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    history = []
    for _ in range(epochs):
        model.train()
        order = rng.permutation(len(yt))
        for i in range(0, len(order), batch):
            idx = minidl.tensor(order[i:i + batch]).to(device)
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        history.append(evaluate(model, xt, yt) + evaluate(model, xv, yv))
    return history


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--p", type=float, default=0.5, help="dropout probability")
    p.add_argument("--inputs", choices=["pixels", "hog"], default="pixels",
                   help="what the MLP reads: the pixels, or HOG features of the images (minidl.classic.hog)")
    args = p.parse_args(argv)
    device = _common.setup(args)
    b = behaviour(args.p)
    print(f"nn.Dropout({b['p']}) on {100000} ones: training mode zeroes {b['train_zero_fraction']:.3f}, "
          f"keeps values {b['train_kept_values']} (= 1/(1-p)), mean {b['train_mean']:.3f}; "
          f"evaluation mode returns the input unchanged: {b['eval_equals_input']}")

    size, n_train, n_val, epochs, hidden = (12, 120, 300, 12, 256) if args.fast else (16, 300, 2000, 60, 1024)
    train_set, val_set = Shapes(n_train, size, seed=args.seed + 1), Shapes(n_val, size, seed=args.seed + 2)
    data = [tuple(t.to(device) for t in ds.get_batch(np.arange(len(ds)))) for ds in (train_set, val_set)]
    if args.inputs == "hog":
        data = [(minidl.tensor(hog.hog(x, cell_size=4), device=device), y) for x, y in data]
    histories = {}
    for label, prob in (("no dropout", 0.0), (f"dropout p={args.p}", args.p)):
        histories[label] = train(prob, data, epochs, hidden, 1e-3, 50, args.seed, device)
    rows = []
    for label, h in histories.items():
        tl, ta, vl, va = h[-1]
        rows.append([label, f"{tl:.3f}", f"{ta:.1%}", f"{vl:.3f}", f"{va:.1%}", f"{ta - va:.1%}",
                     f"{min(r[2] for r in h):.3f}"])
    print(f"MLP 2 x {hidden} hidden on {n_train} Shapes images {size}x{size} ({n_val} for validation), "
          f"{epochs} epochs of Adam:")
    headers = ["model", "train loss", "train acc", "val loss", "val acc", "gap", "best val loss"]
    print(_common.table(headers, rows))

    def draw(plt):
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
        for (label, h), colour in zip(histories.items(), ("tab:red", "tab:blue")):
            e = range(1, len(h) + 1)
            ax1.plot(e, [r[0] for r in h], color=colour, linestyle="--", label=f"{label}, train")
            ax1.plot(e, [r[2] for r in h], color=colour, label=f"{label}, validation")
            ax2.plot(e, [r[1] for r in h], color=colour, linestyle="--", label=f"{label}, train")
            ax2.plot(e, [r[3] for r in h], color=colour, label=f"{label}, validation")
        ax1.set_ylabel("cross-entropy loss")
        ax2.set_ylabel("accuracy")
        for ax in (ax1, ax2):
            ax.set_xlabel("epoch")
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
        fig.suptitle(f"Dropout on a small training set ({n_train} images)")
        return fig

    plot = _common.save_figure(args, "03_dropout.png", draw)
    keys = ("train_loss", "train_acc", "val_loss", "val_acc")
    return {"behaviour": b, "plot": plot,
            "histories": {label: [dict(zip(keys, r)) for r in h] for label, h in histories.items()}}


if __name__ == "__main__":
    main()
