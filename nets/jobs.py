"""What each ``minidl`` command does: build data, network and optimiser from the arguments, then run.

The default ``minidl train`` (no arguments) trains a narrow ResNet-18 with the small-image stem on the
embedded Shapes dataset at 32x32; the defaults below were chosen so it passes 95% validation accuracy
within ten minutes on a 2-core CPU.
"""
import contextlib
import importlib
import os

import numpy as np

import minidl
from minidl import optim
from minidl.checkpoint import CheckpointError

DEFAULT_NET = "resnet18"
DEFAULTS = {
    # data      : (image size, train images, val images, epochs, batch, optimizer, lr, weight decay, width)
    # shapes: SGD at lr 0.1 stayed at chance for 3 epochs; with AdamW at 2e-3 for 5 epochs `minidl train`
    # reached 99.3% validation accuracy in 473 s on the 2-core CPU (bench/README.md)
    "shapes": (32, 6000, 1000, 5, 64, "adamw", 2e-3, 5e-4, 0.25),
    "mnist": (28, None, None, 5, 128, "sgd", 0.05, 5e-4, 0.25),
    "fashion-mnist": (28, None, None, 10, 128, "sgd", 0.05, 5e-4, 0.25),
    "cifar10": (32, None, None, 30, 128, "sgd", 0.1, 5e-4, 0.5),
    "folder": (None, None, None, 10, 64, "sgd", 0.05, 5e-4, None),
}
DOWNLOADS = ("mnist", "fashion-mnist", "cifar10")
EXTRA_COMMANDS = ("nets.gradcheck_cli", "nets.segment_cli")  # modules with add_parser(subparsers), e.g. the segmentation command


class UserError(Exception):
    """Bad input from the person at the keyboard: shown as one line, without a traceback."""


@contextlib.contextmanager
def user_errors():
    """Turn the engine's clear errors about input (files, names, shapes) into one-line ``UserError``s."""
    try:
        yield
    except (ValueError, TypeError, OSError, CheckpointError) as e:
        raise UserError(str(e)) from None


def extra_commands():
    return [importlib.import_module(name) for name in EXTRA_COMMANDS]


def data_kind(name):
    if name in DEFAULTS and name != "folder":
        return name
    if os.path.isdir(name):
        return "folder"
    raise UserError(
        f"unknown dataset {name!r}: expected shapes, {', '.join(DOWNLOADS)} or an existing folder"
    )


def pick_device(name):
    with user_errors():
        device = minidl.backend.canonical_device(name)
        if device == "cuda" and not minidl.gpu_available():
            raise UserError("--device gpu: CuPy finds no CUDA device (use --device auto or cpu)")
        return device


# ---------------------------------------------------------------------- data


def _transforms(kind, image_size, augment, train):
    from minidl.data import transforms as T

    steps = []
    if kind == "folder" and image_size:
        steps += [T.Resize(image_size), T.CenterCrop(image_size)]
    if train:
        names = [a.strip() for a in (augment or "").split(",") if a.strip() and a.strip() != "none"]
        table = {
            "flip": lambda: T.RandomHorizontalFlip(),
            "crop": lambda: T.RandomCrop(image_size, padding=max(1, image_size // 8)),
            "color": lambda: T.ColorJitter(0.3, 0.3, 0.3, 0.05),
            "lighting": lambda: T.Lighting(0.1),
            "affine": lambda: T.RandomAffine(degrees=15, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=5),
            "lens": lambda: T.RandomLensDistortion(),
        }
        for name in names:
            if name not in table:
                raise UserError(f"unknown augmentation {name!r}: expected {', '.join(table)} or none")
            steps.append(table[name]())
    if not steps and kind == "shapes":
        return None
    steps.append(T.ToTensor())
    if kind in ("mnist", "fashion-mnist"):
        steps.append(three_channels)
    return T.Compose(steps)


def three_channels(chw):
    """Grayscale images repeated into RGB, so every network's 3-channel first layer takes them."""
    return np.repeat(chw, 3, axis=0) if chw.shape[0] == 1 else chw


def build_datasets(args, kind, image_size):
    """(train set, validation set, class names) for ``--data``."""
    from minidl import data

    size, n_train, n_val = DEFAULTS[kind][:3]
    augment = getattr(args, "augment", None)
    train_tf = _transforms(kind, image_size, augment, train=True)
    val_tf = _transforms(kind, image_size, None, train=False)
    with user_errors():
        if kind == "shapes":
            n_train = args.num_train or n_train
            n_val = args.num_val or n_val
            train = data.Shapes(n=n_train, image_size=image_size, seed=args.seed, transform=train_tf)
            val = data.Shapes(n=n_val, image_size=image_size, seed=args.seed + 10_000, transform=val_tf)
            return train, val, list(train.classes)
        if kind in DOWNLOADS:
            cls = {"mnist": data.MNIST, "fashion-mnist": data.FashionMNIST, "cifar10": data.CIFAR10}[kind]
            root = args.root or os.path.join(os.path.expanduser("~"), ".cache", "minidl")
            train = cls(root, train=True, download=True, transform=train_tf)
            val = cls(root, train=False, download=True, transform=val_tf)
            return train, val, list(train.classes)
        return _folder_datasets(args.data, image_size, train_tf, val_tf, args.seed)


def _folder_datasets(path, image_size, train_tf, val_tf, seed):
    """A folder with ``train/`` and ``val/`` class folders, or class folders split 90/10."""
    from minidl import data

    halves = [os.path.join(path, h) for h in ("train", "val")]
    if all(os.path.isdir(h) for h in halves):
        train = data.ImageFolder(halves[0], transform=train_tf)
        val = data.ImageFolder(halves[1], transform=val_tf)
        if val.classes != train.classes:
            raise UserError(f"{path}: train/ and val/ have different class folders")
    else:
        train = data.ImageFolder(path, transform=train_tf)
        val_all = data.ImageFolder(path, transform=val_tf)
        n_val = max(1, len(train) // 10)
        order = np.random.default_rng(seed).permutation(len(train))
        train, val = data.Subset(train, order[n_val:]), data.Subset(val_all, order[:n_val])
    if image_size is None:
        _check_one_size(path, train)
    return train, val, list(getattr(train, "classes", None) or train.dataset.classes)


def _check_one_size(path, dataset):
    from PIL import Image

    folder = getattr(dataset, "dataset", dataset)
    sizes = set()
    for file, _ in folder.samples[:256]:
        with Image.open(file) as im:
            sizes.add(im.size)
    if len(sizes) > 1:
        raise UserError(
            f"{path}: images have different sizes {sorted(sizes)[:3]}...; pass --image-size N to resize them"
        )


# ---------------------------------------------------------------------- network and optimiser


def build_net(name, num_classes, width=None, image_size=None, extra=None):
    """``nets.create`` with the small-scale options the command line offers."""
    import inspect

    import nets

    with user_errors():
        accepted = inspect.signature(nets.get_builder(name)).parameters
        options = dict(extra or {})
        if width is not None:
            options["width"] = width
        if image_size is not None and image_size <= 64 and "small_input" in accepted:
            options["small_input"] = True
        return nets.create(name, num_classes=num_classes, **options), options


def build_optimizer(model, kind, lr, momentum, weight_decay):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    with user_errors():
        if kind == "sgd":
            return optim.SGD(groups, lr=lr, momentum=momentum, nesterov=momentum > 0)
        if kind == "adam":
            return optim.Adam(groups, lr=lr)
        return optim.AdamW(groups, lr=lr)


def build_scheduler(optimizer, schedule, epochs, warmup):
    from minidl.optim import lr_scheduler as S

    main = None
    if schedule == "cosine":
        main = S.CosineAnnealingLR(optimizer, T_max=max(1, epochs - warmup))
    elif schedule == "step":
        main = S.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    if warmup <= 0:
        return main
    warm = S.LinearLR(optimizer, start_factor=0.1, total_iters=warmup)
    if main is None:
        return warm
    return S.SequentialLR(optimizer, [warm, main], milestones=[warmup])


# ---------------------------------------------------------------------- commands


def settings(args, row):
    """The run's settings: each command-line value, or else the dataset's row of defaults
    (image size, train images, val images, epochs, batch, optimizer, lr, weight decay, width)."""
    size, n_train, n_val, epochs, batch, opt, lr, wd, width = row
    return {
        "image_size": args.image_size or size,
        "num_train": args.num_train or n_train,
        "num_val": args.num_val or n_val,
        "epochs": args.epochs or epochs,
        "batch_size": args.batch_size or batch,
        "optimizer": args.optimizer or opt,
        "lr": args.lr if args.lr is not None else lr,
        "weight_decay": args.weight_decay if args.weight_decay is not None else wd,
        "width": args.width if args.width is not None else width,
    }


def train(args):
    """``minidl train``: build everything from the arguments, train, save, plot, and print the result."""
    from minidl.data import DataLoader
    from minidl.training import Trainer, TrainingDiverged

    minidl.manual_seed(args.seed)
    kind = data_kind(args.data)
    s = settings(args, DEFAULTS[kind])
    device = pick_device(args.device)
    train_set, val_set, classes = build_datasets(args, kind, s["image_size"])
    model, net_options = build_net(args.net, len(classes), s["width"], s["image_size"])
    optimizer = build_optimizer(model, s["optimizer"], s["lr"], args.momentum, s["weight_decay"])
    scheduler = build_scheduler(optimizer, args.schedule, s["epochs"], args.warmup)
    out = args.out or os.path.join("runs", f"{args.net}-{os.path.basename(os.path.normpath(args.data))}")
    meta = {"net": args.net, "net_options": net_options, "data": args.data, "image_size": s["image_size"],
            "settings": s}
    with user_errors():
        train_loader = DataLoader(train_set, batch_size=s["batch_size"], shuffle=True, drop_last=True,
                                  num_workers=args.workers, generator=args.seed)
        val_loader = DataLoader(val_set, batch_size=max(s["batch_size"], 128), num_workers=args.workers)
    trainer = Trainer(model, optimizer, train_loader, val_loader, num_classes=len(classes),
                      scheduler=scheduler, device=device, out_dir=out, clip_grad_norm=args.clip_grad_norm,
                      class_names=classes, progress=not args.no_progress, meta=meta,
                      log_grad_norms=args.log_grad_norms)
    params = sum(p.numel() for p in model.parameters())
    print(f"training {args.net} ({params:,} parameters) on {args.data} ({len(train_set)} train / "
          f"{len(val_set)} val images, {s['image_size']}x{s['image_size']}) on {device} "
          f"for {s['epochs']} epochs", flush=True)
    try:
        with user_errors():
            trainer.fit(s["epochs"], resume=args.resume)
    except TrainingDiverged as e:
        raise UserError(str(e)) from None
    except KeyboardInterrupt:
        return 130
    _report_files(trainer, out, val_loader, device)
    print(trainer.final_line(), flush=True)
    return 0


def _report_files(trainer, out, val_loader, device):
    from minidl.training import plots

    print(f"checkpoints: {os.path.join(out, 'best.safetensors')} (best), "
          f"{os.path.join(out, 'last.safetensors')} (last)")
    print(f"metrics: {os.path.join(out, 'metrics.csv')}, {os.path.join(out, 'metrics.json')}")
    if not plots.available():
        print("plots: skipped (matplotlib is not installed: pip install 'minidl[plots]')")
        return
    plots.plot_curves(trainer.history, os.path.join(out, "curves.png"))
    plots.plot_confusion(trainer.last_confusion, trainer.class_names, os.path.join(out, "confusion.png"))
    images, true, pred = _misclassified(trainer.model, val_loader, device)
    plots.plot_misclassified(images, true, pred, trainer.class_names, os.path.join(out, "misclassified.png"))
    names = ["curves.png", "confusion.png", "misclassified.png"]
    if trainer.grad_norms is not None:
        plots.plot_grad_norms(trainer.history, os.path.join(out, "grad_norms.png"))
        names.append("grad_norms.png")
    print(f"plots: {', '.join(os.path.join(out, n) for n in names)}")


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


def load_trained(path, device):
    """Rebuild the network a checkpoint was trained as and load its weights."""
    with user_errors():
        if not os.path.exists(path):
            raise UserError(f"{path}: no such checkpoint")
        ckpt = minidl.load(path)
        meta = ckpt.get("meta") if isinstance(ckpt, dict) else None
        if not meta or "net" not in meta or "model" not in ckpt:
            raise UserError(f"{path}: not a minidl training checkpoint (no network recorded in it)")
        model, _ = build_net(meta["net"], meta["num_classes"], extra=meta.get("net_options"))
        model.load_state_dict(ckpt["model"])
        model.to(device)
        model.eval()
    return model, meta


def evaluate(args):
    from minidl.data import DataLoader
    from minidl.training import Trainer

    device = pick_device(args.device)
    model, meta = load_trained(args.checkpoint, device)
    args.data = args.data or meta["data"]
    args.seed, args.num_train, args.num_val = 0, 1, None
    kind = data_kind(args.data)
    _, val_set, classes = build_datasets(args, kind, meta["image_size"])
    if len(classes) != meta["num_classes"]:
        raise UserError(f"{args.data} has {len(classes)} classes; the checkpoint was trained on {meta['num_classes']}")
    loader = DataLoader(val_set, batch_size=args.batch_size)
    trainer = Trainer(model, optim.SGD(model.parameters(), lr=0.0), loader, loader,
                      num_classes=meta["num_classes"], device=device, class_names=classes,
                      task=meta.get("task", "classify"), progress=False)
    s = trainer.evaluate()
    if trainer.task == "segment":
        print(f"{args.checkpoint} on {args.data}: loss {s['loss']:.4f}, pixel acc {s['pixel_acc']:.4f}, "
              f"mean IU {s['mean_iu']:.4f}")
    else:
        print(f"{args.checkpoint} on {args.data}: loss {s['loss']:.4f}, top-1 {100 * s['top1']:.2f}%, "
              f"top-5 {100 * s['top5']:.2f}%")
    return 0


def predict(args):
    from PIL import Image, UnidentifiedImageError

    from minidl.data import transforms as T

    device = pick_device(args.device)
    model, meta = load_trained(args.checkpoint, device)
    size = meta["image_size"]
    tf = T.Compose([T.Resize(size), T.CenterCrop(size), T.ToTensor()])
    names = meta["class_names"]
    for path in args.images:
        try:
            with Image.open(path) as im:
                x = tf(im.convert("RGB"))
        except (OSError, UnidentifiedImageError) as e:
            raise UserError(f"{path}: cannot read the image ({e})") from None
        x = minidl.Tensor(np.asarray(getattr(x, "data", x))[None]).to(device)
        with minidl.no_grad():
            probs = minidl.functional.softmax(model(x), dim=1).numpy()[0]
        top = np.argsort(-probs)[: min(5, len(probs))]
        print(path)
        for k in top:
            print(f"  {100 * probs[k]:6.2f}%  {names[k]}")
    return 0


def summary(args):
    with user_errors():
        size = tuple(int(v) for v in args.input_size.split(","))
        if len(size) != 3:
            raise UserError(f"--input-size takes C,H,W, got {args.input_size!r}")
        model, _ = build_net(args.net, args.num_classes, args.width)
        print(minidl.summary(model, (1,) + size))
    return 0


def list_nets(args):
    import nets

    for name in nets.available():
        print(name)
    return 0
