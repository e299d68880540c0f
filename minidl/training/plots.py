"""Pictures of a run: learning curves, confusion matrix, misclassified images, segmentation overlays,
gradient norm per layer.

matplotlib is one of minidl's requirements; where it is missing anyway (minidl used from a source
tree), ``available()`` is False and the command line says so in one line and skips the plots.
"""
import numpy as np


def available():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _image(chw):
    """A CHW float image (any range) as HWC in [0, 1] for display."""
    a = np.asarray(chw, dtype=np.float64)
    a = np.transpose(a, (1, 2, 0)) if a.ndim == 3 else a
    lo, hi = a.min(), a.max()
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def plot_curves(history, path, task="classify"):
    """Loss and accuracy (or mean IU) per epoch, train and validation."""
    plt = _pyplot()
    epochs = [row["epoch"] for row in history]
    fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
    ax_loss.plot(epochs, [r["val_loss"] for r in history], "o-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    if task == "segment":
        ax_score.plot(epochs, [r["val_mean_iu"] for r in history], "o-", label="val mean IU")
        ax_score.plot(epochs, [r["val_pixel_acc"] for r in history], "o-", label="val pixel acc")
        ax_score.set(xlabel="epoch", title="segmentation")
    else:
        ax_score.plot(epochs, [100 * r["train_top1"] for r in history], "o-", label="train top-1")
        ax_score.plot(epochs, [100 * r["val_top1"] for r in history], "o-", label="val top-1")
        ax_score.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_score):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion(confusion, class_names, path):
    """The confusion matrix, rows true class, columns prediction, counts written in the cells."""
    plt = _pyplot()
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * n, 1.0 + 0.6 * n))
    ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set(xlabel="predicted", ylabel="true", title="confusion matrix")
    top = confusion.max() if confusion.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(j, i, int(confusion[i, j]), ha="center", va="center",
                    color="white" if confusion[i, j] > top / 2 else "black", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_misclassified(images, true, pred, class_names, path, limit=16):
    """A grid of validation images the model got wrong, titled 'true -> predicted'."""
    plt = _pyplot()
    wrong = np.flatnonzero(np.asarray(true) != np.asarray(pred))[:limit]
    cols = 4
    rows = max(1, -(-len(wrong) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), wrong):
        ax.imshow(_image(images[i]))
        ax.set_title(f"{class_names[int(true[i])]} -> {class_names[int(pred[i])]}", fontsize=8)
    if not len(wrong):
        axes[0, 0].set_title("no misclassified images")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_segmentation(images, targets, preds, num_classes, path, ignore_index=255):
    """Rows of image / ground truth / prediction, masks coloured per class (ignore in white)."""
    plt = _pyplot()
    cmap = plt.get_cmap("tab20", max(num_classes, 2))

    def colour(mask):
        mask = np.asarray(mask)
        rgb = cmap(np.where(mask == ignore_index, 0, mask) % cmap.N)[..., :3]
        rgb[mask == ignore_index] = 1.0
        return rgb

    n = len(images)
    fig, axes = plt.subplots(n, 3, figsize=(7.5, 2.5 * n), squeeze=False)
    for r in range(n):
        for ax, picture, title in zip(axes[r], (_image(images[r]), colour(targets[r]), colour(preds[r])),
                                      ("image", "ground truth", "prediction")):
            ax.imshow(picture, interpolation="nearest")
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_grad_norms(history, path, prefix="grad_norm/"):
    """Each layer's gradient norm per epoch (columns ``grad_norm/<layer>`` of the history), one line per
    layer on a log scale, coloured from the input side (dark) to the output side (light)."""
    plt = _pyplot()
    names = list(dict.fromkeys(k for row in history for k in row if k.startswith(prefix)))
    if not names:
        raise ValueError("plot_grad_norms: the history has no grad_norm/ columns (train with log_grad_norms=True)")
    cmap = plt.get_cmap("viridis")
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, name in enumerate(names):
        rows = [r for r in history if name in r]
        ax.semilogy([r["epoch"] for r in rows], [r[name] for r in rows], "o-", markersize=3, linewidth=1,
                    color=cmap(i / max(1, len(names) - 1)), label=name[len(prefix):])
    if len(names) <= 12:
        ax.legend(fontsize=7)
    else:
        scale = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(1, len(names)))
        fig.colorbar(scale, ax=ax, label=f"layer (1 = {names[0][len(prefix):]} ... {len(names)} = "
                                         f"{names[-1][len(prefix):]})")
    ax.set(xlabel="epoch", ylabel="mean ||dL/dW|| of the layer", title="gradient norm per layer")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
