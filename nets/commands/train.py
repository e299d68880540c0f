"""``minidl train``: train a classification network, keep its checkpoints, logs and plots.

With no arguments: a narrow ResNet-18 (width 1/4, small-image stem) on the embedded Shapes dataset at
32x32, with the Shapes row of ``nets.recipe.TRAIN``. Ctrl-C stops after the current step and saves
``interrupted.safetensors``; ``--resume`` continues any checkpoint exactly, reading the run's options
from it. The run ends with the line ``final validation accuracy: NN.NN%``.
"""
import os

import numpy as np

import minidl

from .. import recipe
from . import arguments, building, running
from .common import UserError, user_errors

# the options that shape a run, recorded in its checkpoints and read back by --resume
RECORDED = ("net", "data", "image_size", "num_train", "num_val", "epochs", "batch_size", "optimizer", "lr",
            "momentum", "weight_decay", "schedule", "warmup", "width", "augment", "clip_grad_norm", "seed")


def add_parser(subparsers):
    p = subparsers.add_parser(
        "train", help="train a classifier (default: a small ResNet-18 on Shapes)",
        description="Train a classification network. With no arguments: a narrow ResNet-18 (small-image "
                    "stem) on the embedded Shapes dataset at 32x32. Defaults that differ per dataset are "
                    "listed per dataset.")
    p.add_argument("--net", default=None,
                   help=f"classification network (see 'minidl nets') (default: {recipe.DEFAULT_NET})")
    p.add_argument("--data", default=None,
                   help="shapes (embedded, no download), mnist, fashion-mnist, cifar10, or a folder PATH of "
                        "class folders (default: shapes)")
    p.add_argument("--root", default=None, help="where downloaded datasets live (default: ~/.cache/minidl)")
    arguments.add_training(p, recipe.TRAIN)
    p.add_argument("--augment", default=None,
                   help=f"comma-separated augmentations: {', '.join(building.AUGMENTATIONS)}, or none "
                        "(default: none)")
    p.add_argument("--log-grad-norms", action="store_true",
                   help="record each layer's gradient norm per epoch in the metrics files and plot them "
                        "(grad_norms.png) (default: off)")
    p.set_defaults(func=run)


def settings(args):
    """The run's settings: the options given, else the dataset's defaults; checked against each other."""
    import nets

    args.net = args.net or recipe.DEFAULT_NET
    args.data = args.data or "shapes"
    with user_errors():
        task = nets.task_of(args.net)
    if task == "segment":
        raise UserError(f"--net {args.net}: a segmentation network; train it with: minidl segment --net {args.net}")
    kind = building.data_kind(args.data)
    s = recipe.resolve(args, recipe.TRAIN[kind])
    s.update(net=args.net, data=args.data, augment=args.augment, clip_grad_norm=args.clip_grad_norm)
    if "crop" in building.augmentation_names(args.augment) and s["image_size"] is None:
        raise UserError("--augment crop: needs --image-size for folder data")
    return s


def run(args):
    return running.begin(args, RECORDED, "train", settings, _train)


def _train(args, ckpt, s, device, out):
    """The run once begun: the data, the network, the Trainer; fit, then the report and plots."""
    from minidl.training import Trainer

    train_set, val_set, classes = building.classification_data(args.data, s, args.root, args.augment)
    model, net_options = building.build_net(args.net, len(classes), s["width"], s["image_size"])
    optimizer, scheduler, train_loader, val_loader = running.optimisation(
        model, s, train_set, val_set, max(s["batch_size"], 128), args.workers)
    meta = {"net": args.net, "net_options": net_options, "data": args.data, "image_size": s["image_size"],
            "settings": s, "args": {name: s[name] for name in RECORDED}}
    trainer = Trainer(model, optimizer, train_loader, val_loader, num_classes=len(classes),
                      scheduler=scheduler, device=device, out_dir=out, clip_grad_norm=s["clip_grad_norm"],
                      class_names=classes, progress=False if args.no_progress else None, meta=meta,
                      log_grad_norms=args.log_grad_norms)
    params = sum(p.numel() for p in model.parameters())
    size = f"{s['image_size']}x{s['image_size']}" if s["image_size"] else "their own size"
    print(f"training {args.net} ({params:,} parameters) on {args.data} ({len(train_set)} train / "
          f"{len(val_set)} val images, {size}) on {device} for {s['epochs']} epochs", flush=True)
    return running.fit_and_report(trainer, s["epochs"], args.resume, out,
                                  lambda: _plots(trainer, out, val_loader, device))


def _plots(trainer, out, val_loader, device):
    from minidl.training import plots

    paths = [os.path.join(out, name) for name in ("curves.png", "confusion.png", "misclassified.png")]
    plots.plot_curves(trainer.history, paths[0])
    if trainer.last_confusion is None:
        trainer.evaluate()
    plots.plot_confusion(trainer.last_confusion, trainer.class_names, paths[1])
    images, true, pred = _misclassified(trainer.model, val_loader, device)
    plots.plot_misclassified(images, true, pred, trainer.class_names, paths[2])
    if trainer.grad_norms is not None:
        paths.append(os.path.join(out, "grad_norms.png"))
        plots.plot_grad_norms(trainer.history, paths[-1])
    return paths


@minidl.no_grad()
def _misclassified(model, loader, device, limit=16):
    model.eval()
    images, true, pred = [], [], []
    for x, y in loader:
        p = model(x.to(device)).numpy().argmax(axis=1)
        wrong = np.flatnonzero(p != y.numpy())
        images += list(x.numpy()[wrong])
        true += list(y.numpy()[wrong])
        pred += list(p[wrong])
        if len(images) >= limit:
            break
    return images[:limit], np.array(true[:limit], dtype=np.int64), np.array(pred[:limit], dtype=np.int64)
