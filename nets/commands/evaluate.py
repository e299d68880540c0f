"""``minidl eval``: a trained checkpoint's loss and scores on validation data, no training.

A classification checkpoint gives its loss, top-1 and top-5 accuracy; a segmentation checkpoint (from
``minidl segment``) its loss and the FCN paper's pixel accuracy, mean accuracy, mean IU and
frequency-weighted IU. The data defaults to the validation set the checkpoint was trained with.
"""
from . import arguments, building, resuming
from .common import UserError, load_trained, pick_device, user_errors


def add_parser(subparsers):
    p = subparsers.add_parser(
        "eval", help="evaluate a checkpoint (classification or segmentation) on validation data",
        description="Evaluate a checkpoint written by 'minidl train' or 'minidl segment' on validation data.")
    p.add_argument("checkpoint", help="a run's best.safetensors, last.safetensors or interrupted.safetensors")
    p.add_argument("--data", default=None,
                   help="dataset to evaluate on, with the same classes (default: the one it was trained on)")
    p.add_argument("--root", default=None, help="where downloaded datasets live (default: ~/.cache/minidl)")
    arguments.add_device(p)
    p.add_argument("--batch-size", type=arguments.positive_int, default=128, help="images per batch (default: 128)")
    p.set_defaults(func=run)


def run(args):
    from minidl.data import DataLoader
    from minidl.training import TASKS, evaluate

    device = pick_device(args.device)
    model, meta = load_trained(args.checkpoint, device)
    task = meta.get("task", "classify")
    s = {"seed": 0, "num_train": 1, "num_val": None, "image_size": meta.get("image_size"),
         **{k: v for k, v in resuming.recorded(meta).items() if k in ("seed", "num_val", "image_size")}}
    data = args.data or meta["data"]
    if task == "segment":
        _, val_set, classes = building.segmentation_data(data, s, overlap=meta.get("args", {}).get("overlap", True))
    else:
        _, val_set, classes = building.classification_data(data, s, args.root)
    if len(classes) != meta["num_classes"]:
        raise UserError(f"--data {data}: has {len(classes)} classes; "
                        f"the checkpoint was trained on {meta['num_classes']}")
    with user_errors():
        summary, _ = evaluate(model, DataLoader(val_set, batch_size=args.batch_size), task=task,
                              num_classes=meta["num_classes"], device=device)
    print(f"{args.checkpoint} on {data}: {TASKS[task].scores_line(summary)}")
    return 0
