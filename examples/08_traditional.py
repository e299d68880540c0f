"""Demonstration 8: the traditional pipeline (hand-made features + classifier) against a small CNN.

Traditional: HOG features (``minidl.hog``: image gradients, 9-bin cell histograms with votes split
between neighbouring bins, L2-Hys block normalisation), standardised, then a linear SVM, s = W h + b,
trained with minidl's optimiser on the multi-class hinge loss (Weston & Watkins) plus weight decay:

    L = 1/N sum_n sum_{j != y_n} max(0, 1 + s_j(h_n) - s_{y_n}(h_n)) + lambda |W|^2

Learned: a small CNN (three 3x3 convolution blocks with batch norm and ReLU, pooling, a linear layer)
trained on the pixels (each image's channels standardised) with Adam and a cosine schedule. Same Shapes
training and test images for both; the table gives accuracies against chance (1 / number of classes).
The features are fixed and the classifier linear; the CNN learns its own features, and beats the
pipeline once it has seen enough data.

    python examples/08_traditional.py [--fast] [--device gpu]
"""
import time

import numpy as np

import _common
import minidl
import minidl.functional as F
from minidl import hog, nn, optim
from minidl.data import Shapes


def multiclass_hinge_loss(scores, target, num_classes):
    """Weston-Watkins hinge: mean over samples of sum_{j != y} max(0, 1 + s_j - s_y)."""
    onehot = minidl.tensor(np.eye(num_classes, dtype=np.float32)[minidl.backend.to_numpy(target.data)],
                           device=scores.device)
    correct = (scores * onehot).sum(1, keepdim=True)
    margins = F.relu(scores - correct + 1.0) * (1.0 - onehot)
    return margins.sum(1).mean()


def train_svm(features, target, num_classes, steps, lr, weight_decay, device):
    svm = nn.Linear(features.shape[1], num_classes).to(device)
    opt = optim.SGD(svm.parameters(), lr=lr, momentum=0.9)
    for _ in range(steps):
        loss = multiclass_hinge_loss(svm(features), target, num_classes)
        loss = loss + weight_decay * (svm.weight ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return svm


def small_cnn(width, num_classes):
    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
    return nn.Sequential(*block(3, width), nn.MaxPool2d(2), *block(width, 2 * width), nn.MaxPool2d(2),
                         *block(2 * width, 4 * width), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4 * width, num_classes))


def train_cnn(model, x, y, epochs, batch, lr, seed):
    opt = optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((len(y) + batch - 1) // batch)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    rng = np.random.default_rng(seed)
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for i in range(0, len(order), batch):
            idx = minidl.tensor(order[i:i + batch]).to(x.device)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model


def accuracy(logits, y):
    return float((minidl.backend.to_numpy(logits.data).argmax(1) == minidl.backend.to_numpy(y.data)).mean())


def predict(model, x, batch=500):
    model.eval()
    with minidl.no_grad():
        return minidl.cat([model(x[i:i + batch]) for i in range(0, x.shape[0], batch)], 0)


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=None, help="image side (default 16)")
    p.add_argument("--num-train", type=int, default=None, help="training images (default 5000; 2000 fast)")
    p.add_argument("--epochs", type=int, default=None, help="CNN epochs (default 8; 6 fast)")
    p.add_argument("--width", type=int, default=16, help="channels of the CNN's first layer")
    p.add_argument("--classes", default=None, help="comma-separated Shapes classes (default: its six)")
    args = p.parse_args(argv)
    device = _common.setup(args)
    size, n_train, n_test, epochs = (16, 2000, 600, 6) if args.fast else (16, 5000, 2000, 8)
    size, n_train, epochs = args.size or size, args.num_train or n_train, args.epochs or epochs
    cell = 4 if size <= 16 else 8
    classes = {"classes": args.classes.split(",")} if args.classes else {}
    train_set = Shapes(n_train, size, seed=args.seed + 1, **classes)
    test_set = Shapes(n_test, size, seed=args.seed + 2, **classes)
    (xt, yt), (xv, yv) = [tuple(t.to(device) for t in ds.get_batch(np.arange(len(ds))))
                          for ds in (train_set, test_set)]
    k = len(train_set.classes)

    start = time.perf_counter()
    ht, hv = hog.hog(xt, cell_size=cell), hog.hog(xv, cell_size=cell)
    mean, std = ht.mean(axis=0), ht.std(axis=0) + 1e-6
    ht, hv = minidl.tensor((ht - mean) / std, device=device), minidl.tensor((hv - mean) / std, device=device)
    svm = train_svm(ht, yt, k, steps=300, lr=0.01, weight_decay=1e-3, device=device)
    with minidl.no_grad():
        svm_train, svm_test = accuracy(svm(ht), yt), accuracy(svm(hv), yv)
    svm_seconds = time.perf_counter() - start

    start = time.perf_counter()
    minidl.manual_seed(args.seed)
    xt_std, xv_std = _common.standardize(xt), _common.standardize(xv)
    cnn = train_cnn(small_cnn(args.width, k).to(device), xt_std, yt, epochs, 32, 2e-3, args.seed)
    cnn_train, cnn_test = accuracy(predict(cnn, xt_std), yt), accuracy(predict(cnn, xv_std), yv)
    cnn_seconds = time.perf_counter() - start

    results = {"chance": 1.0 / k,
               "hog_svm": {"train": svm_train, "test": svm_test, "seconds": svm_seconds,
                           "features": ht.shape[1]},
               "cnn": {"train": cnn_train, "test": cnn_test, "seconds": cnn_seconds}}
    print(f"Shapes, {k} classes, {size}x{size}: {n_train} training and {n_test} test images")
    print(_common.table(["method", "train accuracy", "test accuracy", "seconds"], [
        ["chance", f"{1 / k:.1%}", f"{1 / k:.1%}", "-"],
        [f"HOG ({ht.shape[1]} features, {cell}x{cell} cells) + linear SVM", f"{svm_train:.1%}",
         f"{svm_test:.1%}",
         f"{svm_seconds:.1f}"],
        [f"small CNN ({epochs} epochs)", f"{cnn_train:.1%}", f"{cnn_test:.1%}", f"{cnn_seconds:.1f}"],
    ]))

    def draw(plt):
        fig, ax = plt.subplots(figsize=(6, 4))
        labels = ["chance", "HOG + SVM", "CNN"]
        values = [1 / k, svm_test, cnn_test]
        ax.bar(labels, values, color=["grey", "tab:orange", "tab:blue"])
        for i, v in enumerate(values):
            ax.text(i, v, f"{v:.1%}", ha="center", va="bottom")
        ax.set_ylabel("test accuracy")
        ax.set_ylim(0, 1)
        ax.set_title("Traditional pipeline against a small CNN (Shapes)")
        return fig

    results["plot"] = _common.save_figure(args, "08_traditional.png", draw)
    return results


if __name__ == "__main__":
    main()
