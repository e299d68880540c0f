"""The ``minidl`` command line: ``train``, ``eval``, ``predict``, ``summary``, ``nets`` (and ``segment``,
``gradcheck`` where they are installed).

Bad input (an unknown network or dataset, an empty folder, an unreadable checkpoint, ...) ends with one
line ``minidl: error: ...`` and exit status 2, never a traceback.
"""
import argparse
import sys

from . import jobs
from .commands import graph, inspect

COMMANDS = (graph, inspect)  # modules with add_parser(subparsers) and run(args)


def _add_common_training(p, net_default, data_default):
    p.add_argument("--net", default=net_default, help=f"network name (see 'minidl nets'; default {net_default})")
    p.add_argument("--data", default=data_default,
                   help="shapes (embedded, no download), mnist, fashion-mnist, cifar10, or a folder PATH")
    p.add_argument("--root", default=None, help="where downloaded datasets live (default ~/.cache/minidl)")
    p.add_argument("--epochs", type=int, default=None, help="epochs to train")
    p.add_argument("--batch-size", type=int, default=None, help="images per batch")
    p.add_argument("--lr", type=float, default=None, help="learning rate")
    p.add_argument("--optimizer", choices=["sgd", "adam", "adamw"], default=None)
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    p.add_argument("--weight-decay", type=float, default=None)
    p.add_argument("--schedule", choices=["cosine", "step", "none"], default="cosine",
                   help="learning-rate schedule over the epochs")
    p.add_argument("--warmup", type=int, default=0, help="epochs of linear warm-up")
    p.add_argument("--image-size", type=int, default=None, help="resize images to this size")
    p.add_argument("--width", type=float, default=None, help="channel-width factor of the network")
    p.add_argument("--num-train", type=int, default=None, help="training images (shapes: generated)")
    p.add_argument("--num-val", type=int, default=None, help="validation images (shapes: generated)")
    p.add_argument("--device", default="auto", help="auto (GPU when CuPy finds one), cpu or gpu")
    p.add_argument("--out", default=None, help="folder for checkpoints, logs and plots (default runs/NAME)")
    p.add_argument("--resume", default=None, metavar="CHECKPOINT", help="continue a run from its checkpoint")
    p.add_argument("--clip-grad-norm", type=float, default=None, help="clip gradients to this global norm")
    p.add_argument("--workers", type=int, default=0, help="loader threads for decoding and augmentation")
    p.add_argument("--seed", type=int, default=0, help="seed of every random generator")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="minidl", description="minidl: train and inspect the lecture's image networks.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", help="train a classifier (default: a small ResNet on Shapes)",
                       description="Train a classification network. With no arguments: a small ResNet "
                                   "on the embedded Shapes dataset at 32x32.")
    _add_common_training(p, jobs.DEFAULT_NET, "shapes")
    p.add_argument("--augment", default=None,
                   help="comma-separated augmentations: flip, crop, color, lighting, affine, lens, none")
    p.add_argument("--log-grad-norms", action="store_true",
                   help="record each layer's gradient norm per epoch in the metrics files and plot them "
                        "(grad_norms.png; default off)")
    p.set_defaults(func=jobs.train)

    p = sub.add_parser("eval", help="evaluate a checkpoint on its validation data")
    p.add_argument("checkpoint")
    p.add_argument("--data", default=None, help="dataset to evaluate on (default: the one it was trained on)")
    p.add_argument("--root", default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=128)
    p.set_defaults(func=jobs.evaluate)

    p = sub.add_parser("predict", help="top-5 classes of images with a trained checkpoint")
    p.add_argument("checkpoint")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=jobs.predict)

    p = sub.add_parser("summary", help="layers, output shapes, parameters and multiply-adds of a network")
    p.add_argument("net")
    p.add_argument("--input-size", default="3,224,224", help="C,H,W (default 3,224,224)")
    p.add_argument("--num-classes", type=int, default=1000)
    p.add_argument("--width", type=float, default=None)
    p.set_defaults(func=jobs.summary)

    p = sub.add_parser("nets", help="list the available networks")
    p.set_defaults(func=jobs.list_nets)

    for extra in jobs.extra_commands():
        extra.add_parser(sub)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except jobs.UserError as e:
        print(f"minidl: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
