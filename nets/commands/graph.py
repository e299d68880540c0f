"""``minidl graph NET -o FILE``: draw the graph that backward walks through a network.

Builds the network, runs one forward pass on a zero batch of ``--input-size`` in evaluation mode (dropout
off, batch norm on its running statistics: the graph of a fine-tuning step), and writes
``minidl.draw_graph`` of the output: one node per op and parameter, or with ``--by-module`` one box per
block. ``.dot`` is written directly; ``.svg``, ``.png`` and ``.pdf`` go through Graphviz's ``dot``.
"""
import os
import shutil

import minidl

from .building import build_net
from .common import UserError, user_errors

EXTENSIONS = (".dot", ".gv", ".svg", ".png", ".pdf")


def add_parser(subparsers):
    p = subparsers.add_parser(
        "graph", help="draw a network's autograd graph as Graphviz DOT (or SVG/PNG/PDF)",
        description="Draw the graph backward walks through a network: one node per op and parameter, "
                    "or one box per block with --by-module.")
    p.add_argument("net", help="network name (see 'minidl nets')")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help=f"file to write; its extension chooses the format: {', '.join(EXTENSIONS)} "
                        "(all but .dot/.gv need Graphviz's dot program)")
    p.add_argument("--input-size", default="3,224,224", help="C,H,W of the input (default 3,224,224)")
    p.add_argument("--num-classes", type=int, default=1000, help="classes of the network (default 1000)")
    p.add_argument("--width", type=float, default=None, help="channel-width factor (default: the network's, 1.0)")
    p.add_argument("--by-module", action="store_true", help="one box per block (default: one node per op)")
    p.set_defaults(func=run)


def input_size(text):
    try:
        size = tuple(int(v) for v in text.split(","))
    except ValueError:
        size = ()
    if len(size) != 3 or min(size) <= 0:
        raise UserError(f"--input-size takes three positive integers C,H,W, got {text!r}")
    return size


def check_output(path):
    ext = os.path.splitext(path)[1].lower()
    if ext not in EXTENSIONS:
        raise UserError(f"-o {path}: unknown extension {ext or '(none)'!r}; expected one of {', '.join(EXTENSIONS)}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"-o {path}: no such folder {folder}")
    if ext not in (".dot", ".gv") and shutil.which("dot") is None:
        raise UserError(f"-o {path}: writing {ext} needs the 'dot' program of the package graphviz "
                        "(e.g. apt-get install graphviz); write a .dot file instead")


def run(args):
    size = input_size(args.input_size)
    check_output(args.output)
    if args.num_classes <= 0:
        raise UserError(f"--num-classes must be positive, got {args.num_classes}")
    model, _ = build_net(args.net, args.num_classes, args.width)
    model.eval()
    with user_errors():
        with minidl.trace_modules(model):
            out = model(minidl.zeros((1,) + size))
        graph = minidl.draw_graph(out, params=dict(model.named_parameters()), by_module=args.by_module)
        graph.save(args.output)
    print(f"{args.output}: {args.net}, {len(graph.nodes)} nodes, {len(graph.edges)} edges"
          f"{' (one box per block)' if args.by_module else ''}")
    return 0
