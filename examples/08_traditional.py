"""Demonstration 8: the traditional pipeline (hand-made features + classifier) against a small CNN.

The lecture's slide: "feature extraction + classifier: SIFT, HOG, bag of words; SVM, boost". Every pair
runs here, from ``minidl.classic``, on the same Shapes training and test images:

- features: HOG (image gradients, 9-bin cell histograms, L2-Hys blocks), or a bag of visual words over
  dense SIFT (128-number descriptors of 8x8 windows, 2x2-pixel cells, every pixel (every second in the
  fast mode); a k-means codebook learnt on a sample of the training images' descriptors; word histograms
  over a two-level spatial pyramid, the whole image and its quadrants);
- classifiers: a linear SVM (multi-class hinge loss, s = W h + b, on the standardised features) or AdaBoost
  (SAMME, decision stumps on the raw features).

Against them, a small CNN (three 3x3 convolution blocks with batch norm and ReLU, pooling, a linear layer)
trained on the pixels (each image's channels standardised) with Adam and a cosine schedule. The table
gives accuracies against chance (1 / number of classes) and seconds (features + training; a pair that
shares its features with another row counts them in both). The features are fixed and the classifiers
shallow; the CNN learns its own features, and beats the pipelines once it has seen enough data.

    python examples/08_traditional.py [--fast] [--device gpu]
"""
import time

import numpy as np

import _common
import minidl
import minidl.functional as F
from minidl import nn, optim
from minidl.classic import AdaBoost, bow, hog, sift, train_linear_svm
from minidl.data import Shapes


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


def standardized(train, test, device):
    """Both sets scaled by the training set's per-feature mean and spread, as Tensors (the SVM's input)."""
    mean, std = train.mean(axis=0), train.std(axis=0) + 1e-6
    return minidl.tensor((train - mean) / std, device=device), minidl.tensor((test - mean) / std, device=device)


def sift_bow(train_images, test_images, cells, step, words, levels, sample, seed):
    """Spatial-pyramid word histograms of dense SIFT, the codebook learnt on ``sample`` training descriptors."""
    dt, centres = sift.dense_sift(train_images, cell_sizes=cells, step=step)
    dv, _ = sift.dense_sift(test_images, cell_sizes=cells, step=step)
    flat = dt.reshape(-1, dt.shape[-1])
    rng = np.random.default_rng(seed)
    picked = rng.choice(flat.shape[0], min(sample, flat.shape[0]), replace=False)
    codebook = bow.kmeans(flat[minidl.backend.get_array_module(flat).asarray(picked)], words, max_iter=50,
                          seed=seed)
    size = train_images.shape[-2:]
    return (bow.pyramid_histograms(dt, codebook.centres, centres, size, levels),
            bow.pyramid_histograms(dv, codebook.centres, centres, size, levels), dt.shape[1])


def svm_accuracy(train, test, yt, yv, k, device):
    ht, hv = standardized(train, test, device)
    svm = train_linear_svm(ht, yt, k, steps=300, lr=0.01, weight_decay=1e-3)
    with minidl.no_grad():
        return accuracy(svm(ht), yt), accuracy(svm(hv), yv)


def boost_accuracy(train, test, yt, yv, rounds):
    yt, yv = yt.data, yv.data
    model = AdaBoost(n_rounds=rounds).fit(train, yt)
    return (float((model.predict(train) == yt).mean()), float((model.predict(test) == yv).mean()))


def timed(run, *args):
    start = time.perf_counter()
    out = run(*args)
    return out, time.perf_counter() - start


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=None, help="image side (default 16)")
    p.add_argument("--num-train", type=int, default=None, help="training images (default 5000; 2000 fast)")
    p.add_argument("--epochs", type=int, default=None, help="CNN epochs (default 8; 6 fast)")
    p.add_argument("--width", type=int, default=16, help="channels of the CNN's first layer")
    p.add_argument("--classes", default=None, help="comma-separated Shapes classes (default: its six)")
    p.add_argument("--words", type=int, default=None, help="size of the SIFT codebook (default 256; 64 fast)")
    p.add_argument("--rounds", type=int, default=None, help="AdaBoost rounds (default 100; 30 fast)")
    args = p.parse_args(argv)
    device = _common.setup(args)
    size, n_train, n_test, epochs = (16, 2000, 600, 6) if args.fast else (16, 5000, 2000, 8)
    size = size if args.size is None else args.size
    n_train = n_train if args.num_train is None else args.num_train
    epochs = epochs if args.epochs is None else args.epochs
    words, rounds, sample, step = (64, 30, 10000, 2) if args.fast else (256, 100, 30000, 1)
    args.words = words if args.words is None else args.words
    rounds = rounds if args.rounds is None else args.rounds
    cell = 4 if size <= 16 else 8
    classes = {"classes": args.classes.split(",")} if args.classes else {}
    train_set = Shapes(n_train, size, seed=args.seed + 1, **classes)
    test_set = Shapes(n_test, size, seed=args.seed + 2, **classes)
    (xt, yt), (xv, yv) = [tuple(t.to(device) for t in ds.get_batch(np.arange(len(ds))))
                          for ds in (train_set, test_set)]
    k = len(train_set.classes)

    (ht, hv), hog_seconds = timed(lambda: (hog.hog(xt, cell_size=cell), hog.hog(xv, cell_size=cell)))
    (bt, bv, n_descriptors), bow_seconds = timed(sift_bow, xt, xv, (2,), step, args.words, 1, sample,
                                                    args.seed)
    results = {"chance": 1.0 / k}
    for key, features, seconds in (("hog", (ht, hv), hog_seconds), ("bow", (bt, bv), bow_seconds)):
        (tr, te), t = timed(svm_accuracy, *features, yt, yv, k, device)
        results[f"{key}_svm"] = {"train": tr, "test": te, "seconds": seconds + t, "features": features[0].shape[1]}
        (tr, te), t = timed(boost_accuracy, *features, yt, yv, rounds)
        results[f"{key}_boost"] = {"train": tr, "test": te, "seconds": seconds + t, "features": features[0].shape[1]}

    start = time.perf_counter()
    minidl.manual_seed(args.seed)
    xt_std, xv_std = _common.standardize(xt), _common.standardize(xv)
    cnn = train_cnn(small_cnn(args.width, k).to(device), xt_std, yt, epochs, 32, 2e-3, args.seed)
    results["cnn"] = {"train": accuracy(predict(cnn, xt_std), yt), "test": accuracy(predict(cnn, xv_std), yv),
                      "seconds": time.perf_counter() - start}

    hog_name = f"HOG ({ht.shape[1]} features, {cell}x{cell} cells)"
    bow_name = f"SIFT-BoW ({n_descriptors} descriptors, {args.words} words, pyramid {bt.shape[1]})"
    names = {"hog_svm": f"{hog_name} + linear SVM", "hog_boost": f"{hog_name} + AdaBoost ({rounds} stumps)",
             "bow_svm": f"{bow_name} + linear SVM", "bow_boost": f"{bow_name} + AdaBoost ({rounds} stumps)",
             "cnn": f"small CNN ({epochs} epochs)"}
    print(f"Shapes, {k} classes, {size}x{size}: {n_train} training and {n_test} test images")
    print(_common.table(["method", "train accuracy", "test accuracy", "seconds"], [
        ["chance", f"{1 / k:.1%}", f"{1 / k:.1%}", "-"]] + [
        [names[key], f"{results[key]['train']:.1%}", f"{results[key]['test']:.1%}", f"{results[key]['seconds']:.1f}"]
        for key in names]))

    def draw(plt):
        fig, ax = plt.subplots(figsize=(8, 4))
        labels = ["chance", "HOG\n+ SVM", "HOG\n+ AdaBoost", "SIFT-BoW\n+ SVM", "SIFT-BoW\n+ AdaBoost", "CNN"]
        values = [1 / k] + [results[key]["test"] for key in names]
        ax.bar(labels, values, color=["grey"] + ["tab:orange"] * 4 + ["tab:blue"])
        for i, v in enumerate(values):
            ax.text(i, v, f"{v:.1%}", ha="center", va="bottom")
        ax.set_ylabel("test accuracy")
        ax.set_ylim(0, 1)
        ax.set_title("Traditional pipelines against a small CNN (Shapes)")
        return fig

    results["plot"] = _common.save_figure(args, "08_traditional.png", draw)
    return results


if __name__ == "__main__":
    main()
