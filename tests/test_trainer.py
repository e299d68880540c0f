"""The training loop's guard rails: a diverging loss stops the run with where and a hint."""
import numpy as np
import pytest

import minidl
from minidl import nn
from minidl.data import DataLoader, TensorDataset
from minidl.training import Trainer, TrainingDiverged


class Exploding(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x) * float("nan")


def loader():
    x = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    return DataLoader(TensorDataset(x, np.arange(8) % 3), batch_size=4)


def test_nan_loss_names_epoch_step_and_learning_rate(tmp_path):
    model = Exploding()
    opt = minidl.optim.SGD(model.parameters(), lr=0.5)
    trainer = Trainer(model, opt, loader(), loader(), num_classes=3, out_dir=str(tmp_path), progress=False)
    with pytest.raises(TrainingDiverged, match=r"nan at epoch 1, step 0.*--lr 0.5"):
        trainer.fit(1)


def test_history_and_final_line(tmp_path):
    model = nn.Sequential(nn.Linear(4, 3))
    opt = minidl.optim.SGD(model.parameters(), lr=0.1)
    trainer = Trainer(model, opt, loader(), loader(), num_classes=3, out_dir=str(tmp_path), progress=False)
    history = trainer.fit(2)
    assert [row["epoch"] for row in history] == [1, 2]
    assert trainer.final_line() == f"final validation accuracy: {100 * history[-1]['val_top1']:.2f}%"
    assert (tmp_path / "metrics.csv").read_text().splitlines()[0].startswith("epoch,lr,seconds,train_loss")


def test_a_loader_that_gives_no_batches_is_named(tmp_path):
    x = np.zeros((3, 4), np.float32)
    empty = DataLoader(TensorDataset(x, np.arange(3) % 3), batch_size=4, drop_last=True)
    model = nn.Sequential(nn.Linear(4, 3))
    trainer = Trainer(model, minidl.optim.SGD(model.parameters(), lr=0.1), empty, loader(), num_classes=3,
                      progress=False)
    with pytest.raises(ValueError, match=r"no batches \(3 samples, batch_size 4, drop_last=True\)"):
        trainer.fit(1)


def test_evaluation_needs_no_trainer_and_no_optimiser():
    from minidl.training import evaluate

    model = nn.Sequential(nn.Linear(4, 3))
    summary, meter = evaluate(model, loader(), task="classify", num_classes=3)
    assert meter.count == 8 and set(summary) == {"loss", "top1", "top5"}
    with pytest.raises(ValueError, match="task must be one of"):
        evaluate(model, loader(), task="detect", num_classes=3)


class Stream:
    """A text stream that says whether it is a terminal."""

    def __init__(self, tty):
        self.tty, self.text = tty, []

    def isatty(self):
        return self.tty

    def write(self, s):
        self.text.append(s)

    def flush(self):
        pass


@pytest.mark.parametrize("tty", [True, False])
def test_progress_bars_draw_only_on_a_terminal(tty):
    model = nn.Sequential(nn.Linear(4, 3))
    stream = Stream(tty)
    Trainer(model, minidl.optim.SGD(model.parameters(), lr=0.1), loader(), loader(), num_classes=3,
            stream=stream).fit(1)
    text = "".join(stream.text)
    assert ("epoch 1 train" in text) == tty
    assert "epoch 1: train loss" in text
