"""``minidl segment``: train FCN-32s/16s/8s for semantic segmentation with the ``minidl train`` loop.

    minidl segment                                  # FCN-8s, narrow, on Shapes segmentation at 128x128
    minidl segment --net fcn32s --out runs/32s      # the staged recipe: 32s first,
    minidl segment --net fcn16s --init-from runs/32s/best.safetensors --out runs/16s   # then 16s,
    minidl segment --net fcn8s --init-from runs/16s/best.safetensors                   # then 8s
    minidl segment --data path/to/VOC2012 --image-size 256

``--data`` is ``shapes`` (generated, no download) or a folder in the PASCAL VOC layout (see
``minidl.data.VOCSegmentation``). Progress bars, checkpoints (``best``/``last``), resume and the
metrics logs are the Trainer's, as for ``minidl train``; the scores are the FCN paper's pixel accuracy,
mean accuracy, mean IU and frequency-weighted IU, over pixels whose label is not 255. ``overlays.png``
shows image / ground truth / prediction for a few validation images. The run ends with the line
``final validation mean IU: 0.8312``.

The Shapes defaults are the paper's recipe at small scale: first a VGG-16 classifier (``vgg16_bn``,
width 1/16) is trained on Shapes classification at 48x48 for 12 epochs (``--pretrain``, about 4
minutes on the 2-core CPU), as the paper starts from an ImageNet-trained VGG-16; the FCN starts from
its weights (``init_from_classifier``: fc6 and fc7 become convolutions) and trains on 800 masks at
128x128 for 7 epochs (batch 4, SGD with Nesterov momentum 0.9 at 0.03, cosine, weight decay 5e-4,
dropout 0), about 14 minutes. 128x128 rather than 64x64 because the output stride limits how finely an
FCN draws: on the 64x64 validation masks an oracle that knows the true class shares of every 8x8 cell
reaches only mean IU 0.86 (``nets.fcn.oracle_scores``; 0.98 at 128x128), and the 100 pixels of
padding make a 128x128 input cost only 1.6 times a 64x64 one (328 against 264 pixels a side at conv1).
The classifier sees 48x48 images, where a shape is 17-38 pixels across, close to the 26-64 pixels of a
shape in the 128x128 masks: with a 32x32 classifier (``--pretrain-size 32``) FCN-8s ends at mean IU
0.54 instead of 0.66.

``--batch-norm`` (not in the paper; on by default for Shapes) builds the backbone as ``vgg16_bn`` and
adds batch norm after fc6 and fc7; without it a narrow VGG-16 barely trains from scratch here.
``--class-weights median`` weighs the loss by median frequency balancing (the paper found balancing
unnecessary; on Shapes, where background is 91% of the pixels, it gives background a weight of 0.01
and trains worse). The measured runs are in the README.
"""
import argparse
import os

import numpy as np

import minidl

from . import jobs

# data: (image size, train images, val images, epochs, batch, optimizer, lr, weight decay, width)
DEFAULTS = {
    "shapes": (128, 800, 100, 7, 4, "sgd", 0.03, 5e-4, 1 / 16),
    "voc": (256, None, None, 20, 8, "sgd", 1e-4, 5e-4, 0.25),
}
# The classifier pretraining (``--pretrain``): Shapes classification, SGD with Nesterov momentum, cosine.
PRETRAIN = {"image_size": 48, "num_train": 6000, "num_val": 500, "batch_size": 64, "optimizer": "sgd",
            "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4}
# per dataset: classifier pretraining epochs, batch norm, dropout after fc6 and fc7
PRETRAIN_EPOCHS = {"shapes": 12, "voc": 0}
BATCH_NORM = {"shapes": True, "voc": False}
DROPOUT = {"shapes": 0.0, "voc": 0.5}
OVERLAY_IMAGES = 4
FCN_NETS = ("fcn32s", "fcn16s", "fcn8s")


def add_parser(subparsers):
    p = subparsers.add_parser(
        "segment", help="train an FCN for semantic segmentation (default: FCN-8s on Shapes)",
        description="Train FCN-32s/16s/8s per-pixel classifiers. With no arguments: a narrow FCN-8s on "
                    "the embedded Shapes segmentation data at 64x64.")
    p.add_argument("--net", choices=FCN_NETS, default="fcn8s")
    p.add_argument("--data", default="shapes", help="shapes, or a folder in the PASCAL VOC layout")
    p.add_argument("--width", type=float, default=None, help="channel-width factor (VGG-16 and fc6/fc7)")
    p.add_argument("--image-size", type=int, default=None, help="train and validate at this square size")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--optimizer", choices=["sgd", "adam", "adamw"], default=None)
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (the paper: 0.99 with batch 1)")
    p.add_argument("--weight-decay", type=float, default=None)
    p.add_argument("--schedule", choices=["cosine", "step", "none"], default="cosine")
    p.add_argument("--warmup", type=int, default=0, help="epochs of linear warm-up")
    p.add_argument("--dropout", type=float, default=None,
                   help="dropout after fc6 and fc7 (default: 0.5 as the paper; 0 on shapes)")
    p.add_argument("--batch-norm", action=argparse.BooleanOptionalAction, default=None,
                   help="VGG-16 with batch norm after every convolution, fc6 and fc7 included (not in the "
                        "paper; trains much faster; default on shapes, off on VOC data)")
    p.add_argument("--at-once", action="store_true",
                   help="scale pool4 by 0.01 and pool3 by 1e-4 before scoring (the all-at-once variant)")
    p.add_argument("--num-train", type=int, default=None, help="training images (shapes: generated)")
    p.add_argument("--num-val", type=int, default=None, help="validation images (shapes: generated)")
    p.add_argument("--flip", action="store_true", help="random horizontal flips of image and mask")
    p.add_argument("--class-weights", choices=["none", "median"], default="none",
                   help="weight the per-pixel loss by class: median frequency balancing (weight of class c = "
                        "median frequency / frequency of c, from the training masks); the paper uses none")
    p.add_argument("--overlap", action=argparse.BooleanOptionalAction, default=True,
                   help="shapes: whether shapes may overlap and hide parts of each other")
    p.add_argument("--init-from", default=None, metavar="CHECKPOINT",
                   help="start from a trained coarser FCN (32s -> 16s -> 8s) or a VGG-16 classifier checkpoint")
    p.add_argument("--pretrain", type=int, default=None, metavar="EPOCHS",
                   help="shapes only: first train a VGG-16 classifier (vgg16_bn with --batch-norm) of the same "
                        "width on Shapes classification for EPOCHS epochs and start the FCN from it, as the "
                        "paper starts from an ImageNet classifier (default 12 on shapes; 0: from scratch)")
    p.add_argument("--pretrain-size", type=int, default=PRETRAIN["image_size"],
                   help="image size of the classification pretraining")
    p.add_argument("--device", default="auto", help="auto, cpu or gpu")
    p.add_argument("--out", default=None, help="folder for checkpoints, logs and plots (default runs/NET-DATA)")
    p.add_argument("--resume", default=None, metavar="CHECKPOINT", help="continue a run from its checkpoint")
    p.add_argument("--clip-grad-norm", type=float, default=None)
    p.add_argument("--workers", type=int, default=0, help="loader threads for decoding and augmentation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=segment)


def build_datasets(args, kind, s):
    """(train set, validation set, class names including 'background')."""
    from minidl import data
    from minidl.data import transforms as T

    flip = [T.RandomHorizontalFlip()] if args.flip else []
    with jobs.user_errors():
        if kind == "shapes":
            size = s["image_size"]
            tf = T.Compose(flip + [T.ToTensor()]) if flip else None
            train = data.Shapes(n=s["num_train"], image_size=size, mode="segment", seed=args.seed, transform=tf,
                                overlap=args.overlap)
            val = data.Shapes(n=s["num_val"], image_size=size, mode="segment", seed=args.seed + 10_000,
                              overlap=args.overlap)
            return train, val, ["background"] + list(train.classes)
        size = s["image_size"]
        fit = [T.Resize(size), T.CenterCrop(size)]
        train = data.VOCSegmentation(args.data, "train", transform=T.Compose(fit + flip + [T.ToTensor()]))
        val = data.VOCSegmentation(args.data, "val", transform=T.Compose(fit + [T.ToTensor()]))
        train, val = _limit(train, s["num_train"]), _limit(val, s["num_val"])
        return train, val, list(data.VOC_CLASSES)


def _limit(dataset, n):
    from minidl.data import Subset

    return dataset if not n or n >= len(dataset) else Subset(dataset, list(range(n)))


def _load_checkpoint(path):
    with jobs.user_errors():
        if not os.path.exists(path):
            raise jobs.UserError(f"--init-from {path}: no such checkpoint")
        ckpt = minidl.load(path)
    meta = ckpt.get("meta") if isinstance(ckpt, dict) else None
    if not meta or "net" not in meta or "model" not in ckpt:
        raise jobs.UserError(f"--init-from {path}: not a minidl training checkpoint (no network recorded in it)")
    return ckpt, meta


def initialise(model, path, device):
    """The staged recipe: copy a coarser FCN's (or a VGG-16 classifier's) weights into ``model``."""
    import nets
    from nets.fcn import init_from_classifier, init_from_coarser

    ckpt, meta = _load_checkpoint(path)
    with jobs.user_errors():
        source = nets.create(meta["net"], num_classes=meta["num_classes"], **(meta.get("net_options") or {}))
        source.load_state_dict(ckpt["model"])
        source.to(device)
        if meta["net"] in FCN_NETS:
            init_from_coarser(model, source)
        elif meta["net"] in ("vgg16", "vgg16_bn"):
            init_from_classifier(model, source, input_size=meta["image_size"])
        else:
            raise jobs.UserError(f"--init-from {path}: a {meta['net']} checkpoint; expected an FCN, vgg16 or vgg16_bn")
    return meta["net"]


def pretrain(args, epochs, width, batch_norm, device, out):
    """The paper's first step at small scale: a VGG-16 classifier (``vgg16_bn`` with ``--batch-norm``) of
    the FCN's width trained on Shapes classification; its checkpoints go to ``out/pretrain``.

    Returns the trained classifier and the image size it was trained at (for ``init_from_classifier``).
    """
    import nets
    from minidl import data
    from minidl.data import DataLoader
    from minidl.training import Trainer

    net = "vgg16_bn" if batch_norm else "vgg16"
    size, p = args.pretrain_size, PRETRAIN
    minidl.manual_seed(args.seed)  # the same classifier whichever FCN it starts
    with jobs.user_errors():
        if size < 32:
            raise jobs.UserError(f"--pretrain-size {size}: VGG-16 needs images of at least 32x32")
        train = data.Shapes(n=p["num_train"], image_size=size, seed=args.seed + 20_000)
        val = data.Shapes(n=p["num_val"], image_size=size, seed=args.seed + 30_000)
        model = nets.create(net, num_classes=len(train.classes), width=width)
    optimizer = jobs.build_optimizer(model, p["optimizer"], p["lr"], p["momentum"], p["weight_decay"])
    scheduler = jobs.build_scheduler(optimizer, "cosine", epochs, 0)
    settings = dict(p, image_size=size, epochs=epochs, width=width)
    meta = {"net": net, "net_options": {"width": width}, "data": "shapes", "image_size": size,
            "settings": settings}
    trainer = Trainer(model, optimizer, DataLoader(train, batch_size=p["batch_size"], shuffle=True,
                                                   drop_last=True, generator=args.seed),
                      DataLoader(val, batch_size=128), num_classes=len(train.classes), scheduler=scheduler,
                      device=device, out_dir=os.path.join(out, "pretrain"), class_names=train.classes,
                      progress=not args.no_progress, meta=meta)
    print(f"pretraining {net} (width {width:g}) on shapes classification ({len(train)} train / {len(val)} val "
          f"images, {size}x{size}) on {device} for {epochs} epochs", flush=True)
    with jobs.user_errors():
        trainer.fit(epochs)
    print(f"pretrained {net}: validation accuracy {100 * trainer.history[-1]['val_top1']:.2f}%", flush=True)
    return model, size


def segment(args):
    """Build data, FCN, optimiser and schedule from the arguments, train, plot, and print the result."""
    import nets
    from minidl.data import DataLoader
    from minidl.training import Trainer, TrainingDiverged
    from nets.fcn import init_from_classifier

    minidl.manual_seed(args.seed)
    kind = "shapes" if args.data == "shapes" else "voc"
    if kind == "voc" and not os.path.isdir(args.data):
        raise jobs.UserError(f"--data {args.data!r}: expected 'shapes' or a folder in the PASCAL VOC layout")
    s = jobs.settings(args, DEFAULTS[kind])
    s["pretrain"] = PRETRAIN_EPOCHS[kind] if args.pretrain is None else args.pretrain
    s["batch_norm"] = BATCH_NORM[kind] if args.batch_norm is None else args.batch_norm
    s["dropout"] = DROPOUT[kind] if args.dropout is None else args.dropout
    if s["pretrain"] and kind != "shapes":
        raise jobs.UserError("--pretrain trains the classifier on Shapes; for other data start from a "
                             "VGG-16 checkpoint with --init-from")
    if s["pretrain"] and args.init_from:
        raise jobs.UserError("--pretrain and --init-from both choose the starting weights; give one")
    if s["pretrain"] < 0:
        raise jobs.UserError(f"--pretrain {s['pretrain']}: expected a number of epochs >= 0")
    device = jobs.pick_device(args.device)
    train_set, val_set, classes = build_datasets(args, kind, s)
    options = {"width": s["width"], "dropout": s["dropout"], "at_once": args.at_once}
    if s["batch_norm"]:
        options["batch_norm"] = True
    with jobs.user_errors():
        model = nets.create(args.net, num_classes=len(classes), **options)
    out = args.out or os.path.join("runs", f"{args.net}-{os.path.basename(os.path.normpath(args.data))}")
    started_from = initialise(model, args.init_from, "cpu") if args.init_from and not args.resume else None
    if s["pretrain"] and not args.resume:
        try:
            classifier, size = pretrain(args, s["pretrain"], s["width"], s["batch_norm"], device, out)
        except KeyboardInterrupt:
            return 130
        with jobs.user_errors():
            init_from_classifier(model, classifier, input_size=size)
        started_from = "vgg16_bn" if s["batch_norm"] else "vgg16"
        source = os.path.join(out, "pretrain", "last.safetensors")
    else:
        source = args.init_from
    optimizer = jobs.build_optimizer(model, s["optimizer"], s["lr"], args.momentum, s["weight_decay"])
    scheduler = jobs.build_scheduler(optimizer, args.schedule, s["epochs"], args.warmup)
    meta = {"net": args.net, "net_options": options, "data": args.data, "image_size": s["image_size"],
            "settings": s, "init_from": source}
    with jobs.user_errors():
        train_loader = DataLoader(train_set, batch_size=s["batch_size"], shuffle=True, drop_last=True,
                                  num_workers=args.workers, generator=args.seed)
        val_loader = DataLoader(val_set, batch_size=s["batch_size"], num_workers=args.workers)
    loss_fn = None
    if args.class_weights == "median":
        weights = median_frequency_weights(train_set, len(classes))
        print("class weights (median frequency): " + ", ".join(f"{c} {w:.2f}" for c, w in zip(classes, weights)))
        weight = minidl.tensor(weights.astype(np.float32)).to(device)

        def loss_fn(out, y):
            return minidl.functional.cross_entropy(out, y, weight=weight, ignore_index=255)
    trainer = Trainer(model, optimizer, train_loader, val_loader, num_classes=len(classes), task="segment",
                      ignore_index=255, loss_fn=loss_fn, scheduler=scheduler, device=device, out_dir=out,
                      clip_grad_norm=args.clip_grad_norm, class_names=classes,
                      progress=not args.no_progress, meta=meta)
    params = sum(p.numel() for p in model.parameters())
    start = f", initialised from {started_from} ({source})" if started_from else ""
    print(f"training {args.net} ({params:,} parameters, width {s['width']:g}{start}) on {args.data} "
          f"({len(train_set)} train / {len(val_set)} val images, {s['image_size']}x{s['image_size']}) "
          f"on {device} for {s['epochs']} epochs", flush=True)
    try:
        with jobs.user_errors():
            trainer.fit(s["epochs"], resume=args.resume)
    except TrainingDiverged as e:
        raise jobs.UserError(str(e)) from None
    except KeyboardInterrupt:
        return 130
    _report(trainer, out, val_set, device)
    print(trainer.final_line(), flush=True)
    return 0


def _report(trainer, out, val_set, device):
    from minidl.training import plots

    last = trainer.history[-1]
    print(f"validation: pixel acc {last['val_pixel_acc']:.4f}, mean acc {last['val_mean_acc']:.4f}, "
          f"mean IU {last['val_mean_iu']:.4f}, f.w. IU {last['val_fw_iu']:.4f}")
    masks = _mask_array(val_set)
    if masks is not None:
        from nets.fcn import oracle_scores

        stride = trainer.model.stride
        best = oracle_scores(masks, stride, trainer.num_classes)["mean_iu"]
        print(f"the stride-{stride} oracle (true class shares per {stride}x{stride} cell, upsampled "
              f"bilinearly) scores mean IU {best:.4f} on these validation masks")
    print(f"checkpoints: {os.path.join(out, 'best.safetensors')} (best), "
          f"{os.path.join(out, 'last.safetensors')} (last)")
    print(f"metrics: {os.path.join(out, 'metrics.csv')}, {os.path.join(out, 'metrics.json')}")
    if not plots.available():
        print("plots: skipped (matplotlib is not installed: pip install 'minidl[plots]')")
        return
    plots.plot_curves(trainer.history, os.path.join(out, "curves.png"), task="segment")
    images, targets, preds = predict_some(trainer.model, val_set, device, OVERLAY_IMAGES)
    plots.plot_segmentation(images, targets, preds, trainer.num_classes, os.path.join(out, "overlays.png"))
    print(f"plots: {os.path.join(out, 'curves.png')}, {os.path.join(out, 'overlays.png')}")


def median_frequency_weights(dataset, num_classes, ignore_index=255):
    """Median frequency balancing (Eigen & Fergus, 2015): class c weighs median(f) / f_c, f_c the share of
    c among the labelled pixels of the training masks; a class that never occurs weighs 0."""
    every = _mask_array(dataset)
    if every is not None:
        masks = [every]
    else:
        masks = [np.asarray(getattr(y, "data", y)) for _, y in (dataset[i] for i in range(len(dataset)))]
    counts = np.zeros(num_classes, dtype=np.float64)
    for m in masks:
        m = np.asarray(m).reshape(-1)
        m = m[m != ignore_index].astype(np.int64)
        counts += np.bincount(m, minlength=num_classes)[:num_classes]
    freq = counts / max(counts.sum(), 1.0)
    seen = freq > 0
    weights = np.zeros(num_classes)
    weights[seen] = np.median(freq[seen]) / freq[seen]
    return weights


def _mask_array(dataset):
    """All masks of ``dataset`` as one (N, H, W) array when it holds them so (Shapes), else None."""
    targets = getattr(dataset, "targets", None)
    if isinstance(targets, np.ndarray) and targets.ndim == 3:
        return targets
    return None


@minidl.no_grad()
def predict_some(model, dataset, device, count):
    """The first ``count`` images of ``dataset`` with their masks and the model's per-pixel argmax."""
    model.eval()
    samples = [dataset[i] for i in range(min(count, len(dataset)))]
    images = np.stack([np.asarray(getattr(x, "data", x)) for x, _ in samples]).astype(np.float32)
    targets = [np.asarray(getattr(y, "data", y)) for _, y in samples]
    scores = model(minidl.Tensor(images).to(device)).numpy()
    return list(images), targets, list(scores.argmax(axis=1))
