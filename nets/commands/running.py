"""The steps a training command (``train``, ``segment``) takes in the same order, written once:

    begin      -> the settings (a resumed run's recorded ones first), seed, device, output folder,
                  then the command's own training function
    optimisation -> the optimiser, learning-rate schedule and data loaders the settings ask for
    fit_and_report -> train for the settings' epochs, then print where the checkpoints, metrics and
                      plots are, and the last line

What differs between the commands (the data, the network, the Trainer's task) stays in each command.
"""
import os

import minidl

from . import resuming
from .common import UserError, pick_device, prepare_out, report_files, user_errors
from .. import recipe


def begin(args, recorded, command, settings, train):
    """Start a run and return its exit status: resolve the settings (``settings(args)``; with ``--resume``
    the run's recorded options first), seed, pick the device, create the output folder, then
    ``train(args, checkpoint or None, settings, device, out)``. A resumed run that has already trained
    its epochs is said on stdout and not trained again (status 0)."""
    ckpt = resuming.apply(args, recorded, command) if args.resume else None
    s = settings(args)
    if ckpt is not None:
        done = resuming.finished(ckpt, s["epochs"], args.resume)
        if done:
            print(done)
            return 0
    minidl.manual_seed(s["seed"])
    device = pick_device(args.device)
    out = prepare_out(args.out or os.path.join("runs", f"{args.net}-{os.path.basename(os.path.normpath(args.data))}"))
    return train(args, ckpt, s, device, out)


def optimisation(model, s, train_set, val_set, val_batch_size, workers):
    """``(optimizer, scheduler, train_loader, val_loader)`` as the settings ``s`` ask for; the training
    batches are shuffled with the run's seed."""
    from minidl.data import DataLoader

    with user_errors():
        optimizer = recipe.build_optimizer(model, s["optimizer"], s["lr"], s["momentum"], s["weight_decay"])
        scheduler = recipe.build_scheduler(optimizer, s["schedule"], s["epochs"], s["warmup"])
        train_loader = DataLoader(train_set, batch_size=s["batch_size"], shuffle=True,
                                  num_workers=workers, generator=s["seed"])
        val_loader = DataLoader(val_set, batch_size=val_batch_size, num_workers=workers)
    return optimizer, scheduler, train_loader, val_loader


def fit_and_report(trainer, epochs, resume, out, plots_written, scores=None):
    """Train for ``epochs`` (from the ``--resume`` checkpoint, if any), then print ``scores()`` (when
    given), the run's files and the last line. Returns the exit status: 0, or 130 when interrupted with
    Ctrl-C (the Trainer has saved ``interrupted.safetensors``). A diverging loss is a ``UserError``."""
    from minidl.training import TrainingDiverged

    try:
        with user_errors():
            trainer.fit(epochs, resume=resume)
    except TrainingDiverged as e:
        raise UserError(str(e)) from None
    except KeyboardInterrupt:
        return 130
    if scores is not None:
        scores()
    report_files(out, plots_written)
    print(trainer.final_line(), flush=True)
    return 0
