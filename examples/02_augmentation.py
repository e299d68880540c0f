"""Demonstration 2: the lecture's data augmentations, each applied to the same image, in one grid.

Rows: random crops and scales (``RandomResizedCrop``, the lecture's code), horizontal flip, colour
(``ColorJitter``: brightness, contrast, saturation, hue), AlexNet's PCA lighting noise (``Lighting``),
translation, rotation, stretching, shearing (``RandomAffine``), lens distortion
(``RandomLensDistortion``), and a random mix of them all ("go crazy"). Each row shows several draws.

A network sees a new variant of every image at every epoch, so it cannot memorise pixels: AlexNet's
crops and flips multiplied its training set by 2048 and were its main defence against overfitting.

    python examples/02_augmentation.py [--fast] [--size 128]
"""
import numpy as np

import _common
from minidl.data import Shapes
from minidl.data import transforms as T


def augmentations(size):
    affine = dict(interpolation="bilinear", fill=0)
    return {
        "random resized crop": T.RandomResizedCrop(size, scale=(0.25, 1.0)),
        "horizontal flip": T.RandomHorizontalFlip(p=1.0),
        "colour jitter": T.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.6, hue=0.1),
        "PCA lighting": T.Lighting(alphastd=0.5),
        "translation": T.RandomAffine(0, translate=(0.2, 0.2), **affine),
        "rotation": T.RandomAffine(40, **affine),
        "stretching": T.RandomAffine(0, stretch=(0.5, 2.0), **affine),
        "shearing": T.RandomAffine(0, shear=(-30, 30, -15, 15), **affine),
        "lens distortion": T.RandomLensDistortion(k=0.5),
        "random mix": T.Compose([
            T.RandomResizedCrop(size, scale=(0.4, 1.0)), T.RandomHorizontalFlip(),
            T.RandomAffine(25, translate=(0.1, 0.1), shear=10, stretch=(0.8, 1.25), **affine),
            T.RandomLensDistortion(k=0.3), T.ColorJitter(0.3, 0.3, 0.3, 0.05),
        ]),
    }


def as_float(image):
    image = np.asarray(image)
    return image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=None, help="image side (default 128; 48 fast)")
    p.add_argument("--draws", type=int, default=None, help="samples per augmentation (default 5; 3 fast)")
    args = p.parse_args(argv)
    _common.setup(args)
    size = args.size or (48 if args.fast else 128)
    draws = args.draws or (3 if args.fast else 5)
    image = Shapes(1, size, seed=args.seed + 3).data[0]  # HWC uint8, one shape on a textured background
    rng = np.random.default_rng(args.seed)
    original = as_float(image)
    grid, changes = {}, {}
    for name, transform in augmentations(size).items():
        outs = [as_float(transform(image, rng=rng)) for _ in range(draws)]
        grid[name] = outs
        changes[name] = float(np.mean([np.abs(o - original).mean() if o.shape == original.shape else np.inf
                                       for o in outs]))
    rows = [[name, "x".join(map(str, grid[name][0].shape)), f"{changes[name]:.3f}"] for name in grid]
    print(f"{len(grid)} augmentations of one {size}x{size} Shapes image, {draws} draws each:")
    print(_common.table(["augmentation", "output shape", "mean |out - original|"], rows))

    def draw(plt):
        fig, axes = plt.subplots(len(grid), draws + 1, figsize=(1.6 * (draws + 1), 1.6 * len(grid)))
        for r, (name, outs) in enumerate(grid.items()):
            for c, img in enumerate([original] + outs):
                ax = axes[r, c]
                ax.imshow(np.clip(img, 0, 1))
                ax.set_xticks([])
                ax.set_yticks([])
                if c == 0:
                    ax.set_ylabel(name, fontsize=8)
                if r == 0:
                    ax.set_title("original" if c == 0 else f"draw {c}", fontsize=8)
        fig.suptitle("The lecture's data augmentations on one image")
        fig.tight_layout(rect=(0, 0, 1, 0.98))
        return fig

    plot = _common.save_figure(args, "02_augmentation.png", draw)
    return {"names": list(grid), "shapes": {k: [o.shape for o in v] for k, v in grid.items()},
            "mean_change": changes, "plot": plot}


if __name__ == "__main__":
    main()
