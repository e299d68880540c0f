"""``minidl segment``: train FCN-32s, FCN-16s or FCN-8s for semantic segmentation.

    minidl segment                                  # FCN-8s, narrow, on Shapes segmentation at 128x128
    minidl segment --net fcn32s --out runs/32s      # the staged recipe: 32s first,
    minidl segment --net fcn16s --init-from runs/32s/best.safetensors --out runs/16s   # then 16s,
    minidl segment --net fcn8s --init-from runs/16s/best.safetensors                   # then 8s
    minidl segment --data path/to/VOC2012 --image-size 256

``--data`` is ``shapes`` (generated, no download) or a folder in the PASCAL VOC layout. On Shapes the
FCN starts, as in the paper, from a trained classifier: a VGG-16 of the same width is first trained on
Shapes classification (``--pretrain`` epochs, ``segmentation.py``) and its weights are copied in
(``init_from_classifier``: fc6 and fc7 become convolutions); ``--init-from`` starts from a checkpoint
instead. Training, checkpoints, Ctrl-C and exact ``--resume`` are the Trainer's, as for
``minidl train``. The scores are the FCN paper's pixel accuracy, mean accuracy, mean IU and
frequency-weighted IU over pixels not labelled 255; ``overlays.png`` shows image, truth and
prediction for a few validation images. The run ends with the line ``final validation mean IU: 0.NNNN``.
The defaults per dataset are ``nets.recipe.SEGMENT``; the measured runs are in the README.
"""
import argparse
import os

from .. import recipe
from . import arguments, building, running, segmentation
from .common import UserError, user_errors

FCN_NETS = ("fcn32s", "fcn16s", "fcn8s")
RECORDED = ("net", "data", "image_size", "num_train", "num_val", "epochs", "batch_size", "optimizer", "lr",
            "momentum", "weight_decay", "schedule", "warmup", "width", "seed", "dropout", "batch_norm",
            "at_once", "flip", "class_weights", "overlap", "init_from", "pretrain", "pretrain_size",
            "clip_grad_norm")


def add_parser(subparsers):
    d = lambda field: recipe.per_dataset(recipe.SEGMENT, field)  # noqa: E731
    p = subparsers.add_parser(
        "segment", help="train an FCN for semantic segmentation (default: FCN-8s on Shapes)",
        description="Train FCN-32s/16s/8s per-pixel classifiers. With no arguments: a narrow FCN-8s, started "
                    "from a VGG-16 pretrained on Shapes classification, on the embedded Shapes segmentation "
                    "data at 128x128. Defaults that differ per dataset are listed per dataset (voc: a folder "
                    "in the PASCAL VOC layout).")
    p.add_argument("--net", choices=FCN_NETS, default=None, help=f"the FCN (default: {recipe.DEFAULT_SEGMENT_NET})")
    p.add_argument("--data", default=None, help="shapes, or a folder in the PASCAL VOC layout (default: shapes)")
    arguments.add_training(p, recipe.SEGMENT)
    p.add_argument("--dropout", type=arguments.fraction, default=None,
                   help=f"dropout after fc6 and fc7, in [0, 1) ({d('dropout')})")
    p.add_argument("--batch-norm", action=argparse.BooleanOptionalAction, default=None,
                   help=f"VGG-16 with batch norm after every convolution, fc6 and fc7 included (not in the "
                        f"paper; trains much faster) ({d('batch_norm')})")
    p.add_argument("--at-once", action="store_true", default=None,
                   help="scale pool4 by 0.01 and pool3 by 1e-4 before scoring (the all-at-once variant) "
                        "(default: off)")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                   help=f"random horizontal flips of image and mask ({d('flip')})")
    p.add_argument("--class-weights", choices=["none", "median"], default=None,
                   help="weight the per-pixel loss by class: median frequency balancing (weight of class c = "
                        "median frequency / frequency of c, from the training masks); the paper uses none "
                        "(default: none)")
    p.add_argument("--overlap", action=argparse.BooleanOptionalAction, default=None,
                   help="shapes: whether shapes may overlap and hide parts of each other (default: on)")
    p.add_argument("--init-from", default=None, metavar="CHECKPOINT",
                   help="start from a trained coarser FCN (32s -> 16s -> 8s) or a VGG-16 classifier checkpoint "
                        "(default: --pretrain on shapes, random weights on VOC)")
    p.add_argument("--pretrain", type=arguments.count, default=None, metavar="EPOCHS",
                   help="shapes only: first train a VGG-16 classifier (vgg16_bn with --batch-norm) of the same "
                        "width on Shapes classification for EPOCHS epochs and start the FCN from it, as the "
                        f"paper starts from an ImageNet classifier; 0: from scratch ({d('pretrain')})")
    p.add_argument("--pretrain-size", type=arguments.positive_int, default=None,
                   help=f"image size of the classification pretraining, at least 32 ({d('pretrain_size')})")
    p.set_defaults(func=run)


def settings(args):
    args.net = args.net or recipe.DEFAULT_SEGMENT_NET
    args.data = args.data or "shapes"
    kind = "shapes" if args.data == "shapes" else "voc"
    if kind == "voc" and not os.path.isdir(args.data):
        raise UserError(f"--data {args.data}: expected 'shapes' or a folder in the PASCAL VOC layout")
    s = recipe.resolve(args, recipe.SEGMENT[kind])
    if args.init_from and args.pretrain is None:
        s["pretrain"] = 0  # --init-from chooses the starting weights
    s.update(net=args.net, data=args.data, at_once=bool(args.at_once),
             class_weights=args.class_weights or "none", overlap=args.overlap is not False,
             init_from=args.init_from, clip_grad_norm=args.clip_grad_norm)
    if s["pretrain"] and kind != "shapes":
        raise UserError(f"--pretrain {s['pretrain']}: the classifier is pretrained on Shapes; for other data "
                        "start from a VGG-16 checkpoint with --init-from")
    if s["pretrain"] and args.init_from and not args.resume:
        raise UserError("--pretrain and --init-from both choose the starting weights; give one")
    if s["pretrain"] and s["pretrain_size"] < 32:
        raise UserError(f"--pretrain-size {s['pretrain_size']}: VGG-16 needs images of at least 32x32")
    return s


def run(args):
    return running.begin(args, RECORDED, "segment", settings, _segment)


def _segment(args, ckpt, s, device, out):
    """The run once begun: the data, the FCN and its starting weights (a checkpoint, or a classifier
    pretrained here), the Trainer for the segmentation task; fit, then the scores, report and plots."""
    import nets
    from minidl.training import Trainer

    train_set, val_set, classes = building.segmentation_data(args.data, s, s["flip"], s["overlap"])
    options = {"width": s["width"], "dropout": s["dropout"], "at_once": s["at_once"]}
    if s["batch_norm"]:
        options["batch_norm"] = True
    with user_errors():
        model = nets.create(args.net, num_classes=len(classes), **options)
    started_from, source = None, args.init_from
    if ckpt is None and args.init_from:
        started_from = segmentation.initialise(model, args.init_from)
    elif ckpt is None and s["pretrain"]:
        try:
            started_from = segmentation.pretrain_into(model, s, device, out, progress=not args.no_progress)
        except KeyboardInterrupt:
            return 130
        source = os.path.join(out, "pretrain", "last.safetensors")
    optimizer, scheduler, train_loader, val_loader = running.optimisation(
        model, s, train_set, val_set, s["batch_size"], args.workers)
    meta = {"net": args.net, "net_options": options, "data": args.data, "image_size": s["image_size"],
            "settings": s, "init_from": source, "args": {name: s[name] for name in RECORDED}}
    loss_fn = segmentation.weighted_loss(train_set, classes, device) if s["class_weights"] == "median" else None
    trainer = Trainer(model, optimizer, train_loader, val_loader, num_classes=len(classes), task="segment",
                      ignore_index=255, loss_fn=loss_fn, scheduler=scheduler, device=device, out_dir=out,
                      clip_grad_norm=s["clip_grad_norm"], class_names=classes,
                      progress=False if args.no_progress else None, meta=meta)
    params = sum(p.numel() for p in model.parameters())
    start = f", initialised from {started_from} ({source})" if started_from else ""
    print(f"training {args.net} ({params:,} parameters, width {s['width']:g}{start}) on {args.data} "
          f"({len(train_set)} train / {len(val_set)} val images, {s['image_size']}x{s['image_size']}) "
          f"on {device} for {s['epochs']} epochs", flush=True)
    return running.fit_and_report(trainer, s["epochs"], args.resume, out,
                                  lambda: segmentation.plots(trainer, out, val_set, device),
                                  scores=lambda: segmentation.report(trainer, val_set))
