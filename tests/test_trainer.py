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
