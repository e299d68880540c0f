"""Exact resume anywhere: a run stopped by Ctrl-C (SIGINT) at any step and resumed from its checkpoint
ends bitwise equal to one that never stopped, with dropout, batch norm, a per-step scheduler and a
shuffled loader whose random augmentation runs in worker threads."""
import os
import signal

import numpy as np
import pytest

import minidl
from minidl import nn
from minidl.data import DataLoader, Dataset
from minidl.data.randomness import current_generator
from minidl.optim import lr_scheduler
from minidl.training import Trainer

EPOCHS, N, BATCH = 3, 22, 4   # 6 batches an epoch, the last one partial: 18 steps


class Noisy(Dataset):
    """Random augmentation from the per-sample stream: noise on every image."""

    def __init__(self, n, seed):
        rng = np.random.default_rng(seed)
        self.x = rng.standard_normal((n, 2, 6, 6)).astype(np.float32)
        self.y = rng.integers(0, 3, n)
        self.hook = None

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        if self.hook is not None:
            self.hook(i)
        noise = current_generator().standard_normal(self.x[i].shape).astype(np.float32)
        return self.x[i] + 0.1 * noise, int(self.y[i])


class Net(nn.Module):
    def __init__(self, on_forward=None):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                                  nn.Dropout(0.3), nn.Linear(4 * 36, 3))
        self.on_forward = on_forward

    def forward(self, x):
        if self.on_forward is not None and self.training:
            self.on_forward()
        return self.body(x)


def build(out, on_forward=None, workers=2):
    minidl.manual_seed(0)
    model = Net(on_forward)
    opt = minidl.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    steps = EPOCHS * -(-N // BATCH)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    train = DataLoader(Noisy(N, 1), batch_size=BATCH, shuffle=True, num_workers=workers, generator=7)
    val = DataLoader(Noisy(8, 2), batch_size=4)
    return Trainer(model, opt, train, val, num_classes=3, scheduler=sched, scheduler_interval="step",
                   out_dir=str(out), progress=False, stream=open(os.devnull, "w"))


def final_state(out):
    ckpt = minidl.load(str(out / "last.safetensors"))
    for row in ckpt["history"]:
        row.pop("seconds")
    return ckpt


def assert_same_run(a, b):
    assert a["step"] == b["step"] == EPOCHS * -(-N // BATCH)
    for part in ("model",):
        for key, value in a[part].items():
            np.testing.assert_array_equal(value.numpy(), b[part][key].numpy(), err_msg=key)
    for key, value in a["optimizer"]["state"].items():
        for name, buf in value.items():
            np.testing.assert_array_equal(buf.numpy(), b["optimizer"]["state"][key][name].numpy())
    assert a["history"] == b["history"]
    assert a["scheduler"] == b["scheduler"] and a["rng"] == b["rng"] and a["loader"] == b["loader"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    build(out).fit(EPOCHS)
    return final_state(out)


@pytest.mark.parametrize("stop_at", [1, 5, 6, 9, 17])
def test_sigint_at_any_step_then_resume_is_bitwise_exact(reference, tmp_path, stop_at):
    calls = {"n": 0}

    def sigint_at_step():
        calls["n"] += 1
        if calls["n"] == stop_at:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C in the middle of the step's forward

    with pytest.raises(KeyboardInterrupt):
        build(tmp_path, sigint_at_step).fit(EPOCHS)
    ckpt = minidl.load(str(tmp_path / "interrupted.safetensors"))
    assert ckpt["step"] == stop_at  # the step in flight was finished, none repeated
    trainer = build(tmp_path)
    trainer.fit(EPOCHS, resume=str(tmp_path / "interrupted.safetensors"))
    assert_same_run(reference, final_state(tmp_path))


def test_fit_again_in_the_same_process_continues_where_it_stopped(reference, tmp_path):
    calls = {"n": 0}

    def sigint_at_step_eight():
        calls["n"] += 1
        if calls["n"] == 8:
            os.kill(os.getpid(), signal.SIGINT)

    trainer = build(tmp_path, sigint_at_step_eight)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(EPOCHS)
    trainer.fit(EPOCHS)
    assert_same_run(reference, final_state(tmp_path))


def test_interrupt_while_loading_a_batch_resumes_exactly(reference, tmp_path):
    """A KeyboardInterrupt raised while a worker thread loads a sample (between two steps)."""
    trainer = build(tmp_path)
    seen = {"n": 0}

    def interrupt_once(i):
        seen["n"] += 1
        if seen["n"] == 31:
            trainer.train_loader.dataset.hook = None
            raise KeyboardInterrupt

    trainer.train_loader.dataset.hook = interrupt_once
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(EPOCHS)
    ckpt = minidl.load(str(tmp_path / "interrupted.safetensors"))
    assert 0 < ckpt["step"] < 18 and ckpt["position"]["batches"] == ckpt["step"] - 6 * ckpt["epoch"]
    build(tmp_path, workers=0).fit(EPOCHS, resume=str(tmp_path / "interrupted.safetensors"))
    assert_same_run(reference, final_state(tmp_path))


def test_resume_from_an_epoch_boundary_and_from_an_older_checkpoint(reference, tmp_path):
    first = build(tmp_path)
    first.fit(1)
    assert minidl.load(str(tmp_path / "last.safetensors"))["position"] is None
    build(tmp_path).fit(EPOCHS, resume=str(tmp_path / "last.safetensors"))
    assert_same_run(reference, final_state(tmp_path))
    # a checkpoint written before positions were recorded resumes at the start of the next epoch
    old = minidl.load(str(tmp_path / "last.safetensors"))
    del old["position"]
    minidl.save(old, str(tmp_path / "old.safetensors"))
    trainer = build(tmp_path)
    assert "older minidl" in trainer.load_checkpoint(str(tmp_path / "old.safetensors"))


def test_a_second_ctrl_c_stops_at_once_and_writes_nothing(tmp_path):
    def two_sigints():
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)

    trainer = build(tmp_path, two_sigints)
    trainer.stream = open(os.devnull, "w")
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(EPOCHS)
    assert not (tmp_path / "interrupted.safetensors").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
