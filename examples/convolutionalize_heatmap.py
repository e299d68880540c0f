"""From classification to a map of class scores: train a small VGG-style classifier on 32x32 Shapes,
turn its fully connected layers into convolutions (``nets.convolutionalize``), and slide it over a
larger image holding several shapes. One class's score over the image is saved as a heat map.

    python examples/convolutionalize_heatmap.py                 # about 1-2 minutes on a 2-core CPU
    python examples/convolutionalize_heatmap.py --fast          # seconds (a barely trained net)

The classifier is VGG's layout (``features``, adaptive ``avgpool``, three-linear ``classifier``) with
three stages instead of five, so its stride is 8 and the heat map is not too coarse. On 32x32 inputs
its features are 4x4, which the adaptive pooling spreads over 7x7; convolutionalize folds that pooling
into fc6, giving a 4x4 convolution, and the printed check shows the two networks agree on 32x32 inputs.
The large image is a grid of 32x32 Shapes images (unseen in training), so each cell holds one shape.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import minidl  # noqa: E402
from minidl import functional as F  # noqa: E402
from minidl import optim  # noqa: E402
from minidl.data import DataLoader, Shapes  # noqa: E402
from nets import convolutionalize  # noqa: E402
from nets.vgg import vgg  # noqa: E402

STAGES = (("conv3-64",), ("conv3-128",), ("conv3-256", "conv3-256"))


def train_classifier(args):
    train = Shapes(n=args.num_train, image_size=32, mode="classify", seed=args.seed)
    model = vgg(STAGES, num_classes=len(train.classes), batch_norm=True, width=args.width, dropout=0.2)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    loader = DataLoader(train, batch_size=64, shuffle=True, drop_last=True, generator=args.seed)
    for epoch in range(args.epochs):
        model.train()
        correct = seen = 0
        for x, y in loader:
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            correct += int((logits.numpy().argmax(1) == y.numpy()).sum())
            seen += int(y.shape[0])
        print(f"epoch {epoch + 1}: train accuracy {100 * correct / seen:.1f}%", flush=True)
    return model.eval(), train.classes


def mosaic(grid, seed):
    """A (3, 32 grid, 32 grid) image made of grid x grid unseen Shapes images, and their labels."""
    tiles = Shapes(n=grid * grid, image_size=32, mode="classify", seed=seed + 999)
    images, labels = tiles.get_batch(np.arange(grid * grid))
    rows = images.numpy().reshape(grid, grid, 3, 32, 32).transpose(2, 0, 3, 1, 4)
    return rows.reshape(1, 3, 32 * grid, 32 * grid), labels.numpy().reshape(grid, grid)


def save_heatmap(image, score, labels, classes, name, path):
    from minidl.training import plots

    if not plots.available():
        print("heat map: skipped (matplotlib is not installed)")
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = image.shape[-1]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4.5))
    left.imshow(image[0].transpose(1, 2, 0))
    for (r, c), label in np.ndenumerate(labels):
        left.text(c * 32 + 2, r * 32 + 7, classes[label], color="white", fontsize=7,
                  bbox=dict(facecolor="black", alpha=0.5, pad=1))
    left.set_title("input")
    # score (i, j) sees the 32x32 window at (8 i, 8 j): draw it at that window's centre, 8 pixels a cell
    low, high = 16 - 4, 16 + 8 * (score.shape[0] - 1) + 4
    shown = right.imshow(score, cmap="inferno", extent=(low, high, high, low), vmin=0, vmax=1)
    right.set_xlim(0, size)
    right.set_ylim(size, 0)
    right.set_title(f"P({name}) from the convolutionalised classifier")
    fig.colorbar(shown, ax=right, fraction=0.046)
    for ax in (left, right):
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"heat map: {path}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fast", action="store_true", help="a tiny run for tests")
    p.add_argument("--grid", type=int, default=4, help="shapes per side of the large image")
    p.add_argument("--out", default="runs/convolutionalize")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.num_train, args.epochs, args.width = (256, 1, 0.125) if args.fast else (3000, 8, 0.25)
    args.lr = 1e-3
    minidl.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)

    start = time.perf_counter()
    model, classes = train_classifier(args)
    net = convolutionalize(model, input_size=32).eval()

    check, _ = Shapes(n=32, image_size=32, mode="classify", seed=args.seed + 1).get_batch(np.arange(32))
    with minidl.no_grad():
        difference = np.abs(net(check).numpy()[:, :, 0, 0] - model(check).numpy()).max()
    print(f"convolutionalised vs classifier on 32x32: max |difference| = {difference:.2e}")

    image, labels = mosaic(args.grid, args.seed)
    with minidl.no_grad():
        scores = net(minidl.Tensor(image))
        probs = F.softmax(scores, dim=1).numpy()[0]
    target = int(labels[0, 0])
    name = classes[target]
    # every fourth score position sees exactly one tile: there the map is the classifier on that tile
    aligned = probs[:, ::4, ::4].argmax(axis=0)
    print(f"{image.shape[-1]}x{image.shape[-1]} image -> score map {tuple(scores.shape[2:])} per class; "
          f"at the {labels.size} tile-aligned positions it names {int((aligned == labels).sum())} tiles right; "
          f"mean P({name}) there on its tiles {probs[target, ::4, ::4][labels == target].mean():.2f}, "
          f"on the others {probs[target, ::4, ::4][labels != target].mean():.2f}")
    save_heatmap(image, probs[target], labels, classes, name, os.path.join(args.out, "heatmap.png"))
    print(f"done in {time.perf_counter() - start:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
