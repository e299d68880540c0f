"""Demonstration 7: residual learning, H(x) = F(x) + x ("the network converges more easily").

The ResNet paper's CIFAR experiment (section 4.2), scaled down: a 3x3 stem, three stages of n blocks of
two 3x3 convolutions (widths w, 2w, 4w, the last two stages starting with stride 2), global average
pooling and a linear layer: 6n + 2 weight layers. With shortcuts the blocks are ``nets.resnet``'s
``BasicBlock``, relu(F(x) + x); without them (``shortcut=False``) the same layers compute relu(F(x)),
the paper's "plain" network. Four networks, plain and residual at 20 and 56 layers (n = 3 and 9, the
paper's Figure 6 pair), train the same way (same data, seed, Adam 5e-3 with a cosine schedule, 400 steps
of 32 images) on 3000 Shapes images of 12x12, width 8, and their training losses share a plot. About
three minutes on a 2-core CPU with MINIDL_NUM_THREADS=1 (4.5 at the default two threads: these tiny
networks' ops are shorter than the thread pool's hand-off); --fast trains 8 and 14 layers for 4 steps,
which only shows that everything runs.

The paper's finding: the deeper *plain* network has the higher training error, not from overfitting but
because it is harder to optimise, while the deeper *residual* network trains at least as well as the
shallow one. Its argument: if the added layers were identity mappings, the deeper network would be no
worse than the shallower; with a shortcut the identity is easy, F(x) = 0. The residual networks here
start exactly there (``zero_init_residual``, as torchvision's option; Goyal et al. 2017): the scale
(gamma) of each F's last batch norm starts at 0, so every block computes H(x) = F(x) + x = x at step 0,
and the 56-layer network starts as the same function as the 20-layer one (the stem, the two projection
shortcuts where a stage begins, the classifier); its 18 extra blocks can only add to it. The plain
networks have no shortcut to fall back on (zeroed blocks would pass nothing on) and start as usual.

Measured 2026-12-01 07:25 on the 2-core CPU (nothing else running, two runs side by side,
MINIDL_NUM_THREADS=1; the standard-init rows at 01:00 on the engine of then, whose small-map convolutions
rounded differently); training loss averaged over the last 40 steps, chance ln 6 = 1.79; a seed also
draws the data:

    network                       seed 0   seed 1   seed 2   seed 3   seconds
    plain-20                       1.201    1.177    1.387    1.255    19-20
    plain-56                       1.784    1.789    1.787    1.778    55-56
    resnet-20                      1.144    1.120    1.215    1.297    20-21
    resnet-56                      1.097    0.950    0.948    1.078    59-60
    resnet-20, standard init       0.969    0.870
    resnet-56, standard init       1.328    1.031

The plain 56 does not leave chance in 400 steps; the residual 56 ends below the residual 20 at every
seed (on the engine of 01:00 too, where its mean loss was lower in each quarter of the run at all four
seeds, not only at the end). With
the standard initialisation (gamma = 1, ``--no-zero-init-residual``) the 56 starts as a different
function from the 20 (27 random branches added along its path instead of 9), learns slower from the start
(its first 100 steps average 1.77-1.82 against 1.67-1.68) and is still behind after 400 steps. That is
the budget, not the engine: the same networks in PyTorch give the same order (Adam 2e-3, two seeds: 56
layers 1.30-1.31, 20 layers 1.03-1.08), and there a 40-step warm-up or width 16 does not change it and
Adam at 1e-2 lets the 56 catch up at one seed of two; with SGD (momentum 0.9, rate 0.1) the standard-init
56 does not train at all in 400 steps. The paper's deeper residual networks pull ahead over 64k SGD
steps, not 400. Zero-init also slows the 20-layer network (see the table): this demonstration compares
depths under one recipe, not each depth's best 400-step recipe.

    python examples/07_residual.py [--fast] [--device gpu] [--depths 20 56] [--no-zero-init-residual]
"""
import argparse
import time

import numpy as np

import _common
import minidl
import minidl.functional as F
from minidl import nn, optim
from minidl.data import Shapes
from nets.resnet import BasicBlock


class CifarResNet(nn.Module):
    """6n + 2 layers: stem, three stages of n ``BasicBlock`` (widths w, 2w, 4w), pooling, linear."""

    def __init__(self, depth, width=16, num_classes=6, shortcut=True, zero_init_residual=False):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"CifarResNet: depth must be 6n + 2 (8, 14, 20, 32, 44, 56, ...), got {depth}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        blocks, channels = [], width
        for stage, planes in enumerate((width, 2 * width, 4 * width)):
            for i in range(n):
                stride = 2 if (stage > 0 and i == 0) else 1
                blocks.append(BasicBlock(channels, planes, stride, shortcut=shortcut))
                channels = planes
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if zero_init_residual:
            for block in blocks:
                block.zero_init_residual()

    def forward(self, x):
        x = self.blocks(self.relu(self.bn1(self.conv1(x))))
        return self.fc(self.pool(x).flatten(1))


def train(model, data, steps, batch, lr, seed, device):
    """Adam with a cosine schedule; the training loss of every step (and the seconds taken)."""
    x, y = data
    opt = optim.Adam(model.parameters(), lr=lr)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    rng = np.random.default_rng(seed)
    losses, order, start = [], np.array([], dtype=np.int64), time.perf_counter()
    model.train()
    for _ in range(steps):
        if len(order) < batch:
            order = np.concatenate([order, rng.permutation(len(y))])
        idx, order = order[:batch], order[batch:]
        idx = minidl.tensor(idx).to(device)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.item()))
    return losses, time.perf_counter() - start


def smooth(values, k):
    """Mean of each run of k consecutive values: the epoch-like averages the plot and the table show."""
    n = len(values) // k * k
    return np.asarray(values[:n]).reshape(-1, k).mean(axis=1)


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--depths", type=int, nargs=2, default=None,
                   help="two depths 6n+2 (default 20 56; 8 14 fast)")
    p.add_argument("--width", type=int, default=8, help="channels of the first stage (default 8)")
    p.add_argument("--steps", type=int, default=None, help="training steps per network (default 400; 4 fast)")
    p.add_argument("--lr", type=float, default=5e-3, help="Adam's learning rate (default 5e-3)")
    p.add_argument("--zero-init-residual", action=argparse.BooleanOptionalAction, default=True,
                   help="start each residual block as the identity, F(x) = 0 (default on; the plain "
                        "networks have no shortcut to fall back on and start as usual)")
    args = p.parse_args(argv)
    if args.steps is not None and args.steps < 1:
        p.error(f"--steps must be at least 1, got {args.steps}")
    if not args.lr > 0:
        p.error(f"--lr must be positive, got {args.lr}")
    for depth in args.depths or ():
        if depth < 8 or (depth - 2) % 6:
            p.error(f"--depths must be 6n + 2 with n >= 1 (8, 14, 20, 32, 44, 56, ...), got {depth}")
    if args.width < 1:
        p.error(f"--width must be at least 1, got {args.width}")
    device = _common.setup(args)
    depths = args.depths or ((8, 14) if args.fast else (20, 56))
    width = args.width
    steps = args.steps if args.steps is not None else (4 if args.fast else 400)
    size, n_train, batch = (12, 64, 16) if args.fast else (12, 3000, 32)
    train_set = Shapes(n_train, size, seed=args.seed + 1)
    x, y = (t.to(device) for t in train_set.get_batch(np.arange(n_train)))
    data = (_common.standardize(x), y)

    curves, seconds = {}, {}
    for depth in depths:
        for shortcut in (False, True):
            name = f"{'resnet' if shortcut else 'plain'}-{depth}"
            minidl.manual_seed(args.seed)
            model = CifarResNet(depth, width, len(train_set.classes), shortcut,
                                zero_init_residual=shortcut and args.zero_init_residual).to(device)
            curves[name], seconds[name] = train(model, data, steps, batch, args.lr, args.seed, device)
            print(f"{name}: {steps} steps in {seconds[name]:.1f} s, final loss "
                  f"{np.mean(curves[name][-max(1, steps // 10):]):.3f}", flush=True)

    tail = max(1, steps // 10)
    final = {name: float(np.mean(c[-tail:])) for name, c in curves.items()}
    rows = [[name, f"{final[name]:.4f}", f"{seconds[name]:.1f}"] for name in curves]
    init = "zero-init residual branches" if args.zero_init_residual else "standard init"
    print(f"training loss (mean of the last {tail} steps), {steps} steps of batch {batch} on {n_train} "
          f"Shapes images {size}x{size}, width {width}, Adam {args.lr:g}, {init}:")
    print(_common.table(["network", "final training loss", "seconds"], rows))
    shallow, deep = depths
    plain_worse = final[f"plain-{deep}"] > final[f"plain-{shallow}"]
    residual_ok = final[f"resnet-{deep}"] <= final[f"resnet-{shallow}"]
    print(f"plain: {deep} layers {'worse' if plain_worse else 'not worse'} than {shallow}; residual: {deep} "
          f"layers {'at least as good as' if residual_ok else 'worse than'} {shallow}")

    def draw(plt):
        fig, ax = plt.subplots(figsize=(8, 4.5))
        k = max(1, steps // 40)
        styles = {f"plain-{shallow}": ("tab:blue", "--"), f"plain-{deep}": ("tab:red", "--"),
                  f"resnet-{shallow}": ("tab:blue", "-"), f"resnet-{deep}": ("tab:red", "-")}
        for name, c in curves.items():
            colour, style = styles[name]
            y = smooth(c, k)
            ax.plot(np.arange(1, len(y) + 1) * k, y, color=colour, linestyle=style, label=name)
        ax.set_xlabel("training step")
        ax.set_ylabel(f"training loss (mean of {k} steps)")
        ax.set_title("Plain (dashed) and residual (solid) networks on Shapes")
        ax.legend()
        ax.grid(alpha=0.3)
        return fig

    plot = _common.save_figure(args, "07_residual.png", draw)
    return {"curves": curves, "final_loss": final, "seconds": seconds, "depths": depths, "plot": plot}


if __name__ == "__main__":
    main()
