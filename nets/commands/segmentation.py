"""The parts of ``minidl segment`` around the training loop: where the FCN's weights start, the class
weights of the loss, and the report after the run.

Starting weights, as in the FCN paper's staged recipe: ``pretrain_into`` trains a VGG-16 classifier
(``vgg16_bn`` with batch norm) of the FCN's width and dropout on Shapes classification
(``recipe.PRETRAIN``) and copies it into the FCN (``init_from_classifier``: fc6 and fc7 become
convolutions); ``initialise`` copies a checkpoint instead, a coarser FCN (32s -> 16s -> 8s) or a VGG-16 classifier.
"""
import os

import numpy as np

import minidl

from .. import recipe
from .building import SEED_OFFSETS
from .common import UserError, read_checkpoint, rebuild, user_errors

OVERLAY_IMAGES = 4
CLASSIFIERS = ("vgg16", "vgg16_bn")


def initialise(model, path):
    """Copy a coarser FCN's (or a VGG-16 classifier's) weights from the checkpoint ``path`` into ``model``;
    return the source network's name."""
    from nets.convolutionalize import init_from_classifier
    from nets.fcn import init_from_coarser

    ckpt, meta = read_checkpoint(path, "--init-from")
    source = rebuild(ckpt, meta, "cpu")
    with user_errors():
        if meta.get("task") == "segment":
            init_from_coarser(model, source)
        elif meta["net"] in CLASSIFIERS:
            init_from_classifier(model, source, input_size=meta["image_size"])
        else:
            raise UserError(f"--init-from {path}: a {meta['net']} checkpoint; expected an FCN, vgg16 or vgg16_bn")
    return meta["net"]


def pretrain_into(model, s, device, out, progress=True):
    """Train the VGG-16 classifier on Shapes (checkpoints in ``out/pretrain``), copy it into ``model``,
    and return its name. The classifier has the FCN's width, batch norm and dropout: at width 1/16 its fc
    layers have 256 units, and dropout 0.5 there held it at 87.6% on Shapes after 12 epochs where
    dropout 0 reaches 99.8% (README)."""
    import nets
    from minidl import data
    from minidl.data import DataLoader
    from minidl.training import Trainer
    from nets.convolutionalize import init_from_classifier

    net = "vgg16_bn" if s["batch_norm"] else "vgg16"
    size, p, seed = s["pretrain_size"], recipe.PRETRAIN, s["seed"]
    minidl.manual_seed(seed)  # the same classifier whichever FCN it starts
    with user_errors():
        train = data.Shapes(n=p.num_train, image_size=size, seed=seed + SEED_OFFSETS["pretrain"])
        val = data.Shapes(n=p.num_val, image_size=size, seed=seed + SEED_OFFSETS["pretrain_val"])
        classifier = nets.create(net, num_classes=len(train.classes), width=s["width"],
                                 dropout=s["dropout"])
        optimizer = recipe.build_optimizer(classifier, p.optimizer, p.lr, p.momentum, p.weight_decay)
        scheduler = recipe.build_scheduler(optimizer, "cosine", s["pretrain"], 0)
    meta = {"net": net, "net_options": {"width": s["width"], "dropout": s["dropout"]}, "data": "shapes",
            "image_size": size, "settings": {"image_size": size, "epochs": s["pretrain"], "width": s["width"], "seed": seed}}
    trainer = Trainer(classifier, optimizer, DataLoader(train, batch_size=p.batch_size, shuffle=True, generator=seed),
                      DataLoader(val, batch_size=128), num_classes=len(train.classes), scheduler=scheduler,
                      device=device, out_dir=os.path.join(out, "pretrain"), class_names=train.classes,
                      progress=None if progress else False, meta=meta)
    print(f"pretraining {net} (width {s['width']:g}, dropout {s['dropout']:g}) on shapes classification "
          f"({len(train)} train / {len(val)} val images, {size}x{size}) on {device} for {s['pretrain']} epochs",
          flush=True)
    with user_errors():
        trainer.fit(s["pretrain"])
    print(f"pretrained {net}: validation accuracy {100 * trainer.history[-1]['val_top1']:.2f}%", flush=True)
    with user_errors():
        init_from_classifier(model, classifier, input_size=size)
    return net


def weighted_loss(train_set, classes, device):
    """Per-pixel cross-entropy weighted by median frequency balancing (``--class-weights median``)."""
    weights = median_frequency_weights(train_set, len(classes))
    print("class weights (median frequency): " + ", ".join(f"{c} {w:.2f}" for c, w in zip(classes, weights)))
    weight = minidl.tensor(weights.astype(np.float32)).to(device)
    return lambda out, y: minidl.functional.cross_entropy(out, y, weight=weight, ignore_index=255)


def median_frequency_weights(dataset, num_classes, ignore_index=255):
    """Median frequency balancing (Eigen & Fergus, 2015): class c weighs median(f) / f_c, f_c the share of
    c among the labelled pixels of the training masks; a class that never occurs weighs 0."""
    every = mask_array(dataset)
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


def mask_array(dataset):
    """All masks of ``dataset`` as one (N, H, W) array when it holds them so (Shapes), else None."""
    targets = getattr(dataset, "targets", None)
    if isinstance(targets, np.ndarray) and targets.ndim == 3:
        return targets
    return None


def report(trainer, val_set):
    """The four scores of the last epoch, and the oracle at the net's output stride (Shapes)."""
    last = trainer.history[-1]
    print(f"validation: pixel acc {last['val_pixel_acc']:.4f}, mean acc {last['val_mean_acc']:.4f}, "
          f"mean IU {last['val_mean_iu']:.4f}, f.w. IU {last['val_fw_iu']:.4f}")
    masks = mask_array(val_set)
    if masks is not None:
        from minidl.training.metrics import oracle_scores

        stride = trainer.model.stride
        best = oracle_scores(masks, stride, trainer.num_classes)["mean_iu"]
        print(f"the stride-{stride} oracle (true class shares per {stride}x{stride} cell, upsampled "
              f"bilinearly) scores mean IU {best:.4f} on these validation masks")


def plots(trainer, out, val_set, device):
    from minidl.training import plots as P

    paths = [os.path.join(out, "curves.png"), os.path.join(out, "overlays.png")]
    P.plot_curves(trainer.history, paths[0], task="segment")
    images, targets, preds = predict_some(trainer.model, val_set, device, OVERLAY_IMAGES)
    P.plot_segmentation(images, targets, preds, trainer.num_classes, paths[1])
    return paths


@minidl.no_grad()
def predict_some(model, dataset, device, count):
    """The first ``count`` images of ``dataset`` with their masks and the model's per-pixel argmax."""
    model.eval()
    samples = [dataset[i] for i in range(min(count, len(dataset)))]
    images = np.stack([np.asarray(getattr(x, "data", x)) for x, _ in samples]).astype(np.float32)
    targets = [np.asarray(getattr(y, "data", y)) for _, y in samples]
    scores = model(minidl.Tensor(images).to(device)).numpy()
    return list(images), targets, list(scores.argmax(axis=1))
