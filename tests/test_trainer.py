"""The training loop's guard rails (a diverging loss stops the run with where and a hint) and its logs."""
import numpy as np
import pytest

import minidl
from minidl import nn
from minidl.data import DataLoader, TensorDataset
from minidl.training import Trainer, TrainingDiverged
from minidl.training.grad_norms import GradNormLog


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


@pytest.mark.gpu
@pytest.mark.parametrize("task", ["classify", "segment"])
def test_epochs_on_the_gpu_match_the_cpu(tmp_path, task):
    # the whole loop on the GPU (moves, loss, clipping, metrics, checkpoint) gives the CPU's history
    def fit(device):
        minidl.manual_seed(0)
        if task == "classify":
            model, data = nn.Sequential(nn.Linear(4, 3)), loader()
        else:
            model = nn.Conv2d(2, 3, 3, padding=1)
            x = np.random.default_rng(0).standard_normal((4, 2, 5, 5)).astype(np.float32)
            y = np.random.default_rng(1).integers(0, 3, (4, 5, 5))
            y[:, 0, 0] = 255  # ignored pixels
            data = DataLoader(TensorDataset(x, y), batch_size=2)
        opt = minidl.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        trainer = Trainer(model, opt, data, data, num_classes=3, task=task, device=device, clip_grad_norm=1.0,
                          out_dir=str(tmp_path / device), progress=False)
        return trainer.fit(2)

    cpu, gpu = fit("cpu"), fit("cuda")
    for a, b in zip(cpu, gpu):
        for key, value in a.items():
            if key != "seconds" and isinstance(value, float):
                assert b[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key


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


def test_grad_norms_are_each_layers_mean_over_the_epoch(tmp_path):
    import json

    import minidl.functional as F
    from minidl.training import plots

    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    opt = minidl.optim.SGD(model.parameters(), lr=0.0)  # weights stay put: every epoch sees the same gradients
    expected = {"0": 0.0, "2": 0.0}
    batches = list(loader())
    for x, y in batches:
        model.zero_grad()
        F.cross_entropy(model(x), y).backward()
        for name in expected:
            layer = model[int(name)]
            expected[name] += float(np.sqrt((layer.weight.grad.numpy() ** 2).sum()
                                            + (layer.bias.grad.numpy() ** 2).sum())) / len(batches)
    trainer = Trainer(model, opt, loader(), loader(), num_classes=3, out_dir=str(tmp_path), progress=False,
                      log_grad_norms=True)
    history = trainer.fit(2)
    for row in history:
        assert sorted(k for k in row if k.startswith("grad_norm/")) == ["grad_norm/0", "grad_norm/2"]
        for name, value in expected.items():
            assert abs(row[f"grad_norm/{name}"] - value) < 1e-5 * value
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "grad_norm/0" in header and "grad_norm/2" in header
    assert "grad_norm/2" in json.loads((tmp_path / "metrics.json").read_text())[1]
    if plots.available():
        plots.plot_grad_norms(history, str(tmp_path / "g.png"))
        assert (tmp_path / "g.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="log_grad_norms"):
        plots.plot_grad_norms([{"epoch": 1}], str(tmp_path / "none.png"))


def test_metrics_csv_takes_rows_with_new_columns(tmp_path):
    model = nn.Sequential(nn.Linear(4, 3))
    trainer = Trainer(model, minidl.optim.SGD(model.parameters(), lr=0.1), loader(), loader(), num_classes=3,
                      out_dir=str(tmp_path), progress=False)
    trainer.fit(1)
    trainer.grad_norms = GradNormLog(model)
    trainer.fit(2)  # as a run resumed with --log-grad-norms: its second row has more columns
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0].endswith("grad_norm/0") and lines[1].endswith(",") and len(lines) == 3


@pytest.mark.gpu
def test_grad_norms_on_the_gpu_match_the_cpu():
    histories = []
    for device in ("cpu", "cuda"):
        minidl.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
        trainer = Trainer(model, minidl.optim.SGD(model.parameters(), lr=0.1), loader(), loader(), num_classes=3,
                          device=device, progress=False, log_grad_norms=True)
        histories.append(trainer.fit(1)[0])
    for key in ("grad_norm/0", "grad_norm/2"):
        assert abs(histories[0][key] - histories[1][key]) < 1e-4 * histories[0][key]
