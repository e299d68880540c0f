"""``minidl summary NET``: layers, output shapes, parameters and multiply-adds of a network.

The network is built as ``minidl train`` builds it: the small-image stem for inputs of at most 64
pixels (``building.SMALL_INPUT``), the ImageNet stem above. By default it counts the paper's network
(1000 classes, 3x224x224); ``--data shapes`` (or another dataset) counts exactly the network
``minidl train --data shapes`` trains: that dataset's image size, number of classes and width.
"""
import minidl

from .. import recipe
from . import arguments, building
from .common import UserError, user_errors

CLASSES = {"shapes": 6, "mnist": 10, "fashion-mnist": 10, "cifar10": 10}


def add_parser(subparsers):
    p = subparsers.add_parser(
        "summary", help="layers, output shapes, parameters and multiply-adds of a network",
        description="Print a network's layers, output shapes, parameters and multiply-adds. Inputs of at "
                    "most 64 pixels get the small-image stem, as 'minidl train' builds them.")
    p.add_argument("net", help="network name (see 'minidl nets')")
    p.add_argument("--data", choices=sorted(CLASSES), default=None,
                   help="count the network 'minidl train --data DATA' builds: its image size, classes and "
                        "width (default: none, the paper's network)")
    p.add_argument("--input-size", default=None, help="C,H,W (default: 3,224,224, or the --data image size)")
    p.add_argument("--num-classes", type=arguments.positive_int, default=None,
                   help="outputs of the classifier (default: 1000, or the --data classes)")
    p.add_argument("--width", type=arguments.positive, default=None,
                   help="channel-width factor (default: 1, or the --data width)")
    p.set_defaults(func=run)


def _input_size(text):
    try:
        size = tuple(int(v) for v in text.split(","))
    except ValueError:
        size = ()
    if len(size) != 3 or min(size) < 1:
        raise UserError(f"--input-size {text}: expected C,H,W, three positive integers such as 3,224,224")
    return size


def run(args):
    row = recipe.TRAIN[args.data] if args.data else None
    default_size = f"3,{row.image_size},{row.image_size}" if row else "3,224,224"
    size = _input_size(args.input_size or default_size)
    classes = args.num_classes if args.num_classes is not None else CLASSES[args.data] if row else 1000
    width = args.width if args.width is not None else row.width if row else None
    model, options = building.build_net(args.net, classes, width, image_size=max(size[1:]))
    stem = ", small-image stem" if options.get("small_input") else ""
    with user_errors():
        table = minidl.summary(model, (1,) + size)
    print(f"{args.net} ({classes} classes, width {1 if width is None else width:g}{stem}), "
          f"input {size[0]}x{size[1]}x{size[2]}")
    print(table)
    return 0
