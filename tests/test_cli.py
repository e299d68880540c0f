"""The ``minidl`` command line end to end, at tiny sizes: train, resume, eval, predict, and bad input."""
import re

import numpy as np
import pytest
from PIL import Image

import minidl
from nets import cli

TINY = ["--net", "resnet18", "--width", "0.0625", "--image-size", "16", "--num-train", "48",
        "--num-val", "24", "--batch-size", "16", "--no-progress"]


def run(argv, capsys):
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny two-epoch run shared by the tests that need a checkpoint."""
    out = tmp_path_factory.mktemp("run")
    assert cli.main(["train", *TINY, "--epochs", "2", "--out", str(out)]) == 0
    return out


def test_nets_lists_the_networks(capsys):
    code, out, _ = run(["nets"], capsys)
    assert code == 0 and "resnet18" in out.split() and "vgg16" in out.split()


def test_tiny_training_run_writes_everything_and_ends_with_the_result_line(trained, capsys):
    for name in ("best.safetensors", "last.safetensors", "metrics.csv", "metrics.json"):
        assert (trained / name).exists(), name
    if minidl.training.plots.available():
        assert (trained / "curves.png").exists() and (trained / "confusion.png").exists()
    code, out, _ = run(["train", *TINY, "--epochs", "1", "--out", str(trained / "again")], capsys)
    assert code == 0
    assert re.fullmatch(r"final validation accuracy: \d+\.\d\d%", out.strip().splitlines()[-1])


def test_ctrl_c_saves_and_resume_equals_an_uninterrupted_run(trained, tmp_path, capsys, monkeypatch):
    """Ctrl-C at the start of epoch 2 saves a checkpoint; resuming it ends bitwise equal to the
    uninterrupted two-epoch run of the ``trained`` fixture."""
    from minidl.training import Trainer

    out = tmp_path / "resumed"
    real_epoch = Trainer.train_epoch

    def interrupt_in_epoch_two(self):
        if self.epoch == 1:
            raise KeyboardInterrupt
        return real_epoch(self)

    monkeypatch.setattr(Trainer, "train_epoch", interrupt_in_epoch_two)
    code, text, _ = run(["train", *TINY, "--epochs", "2", "--out", str(out)], capsys)
    assert code == 130 and "interrupted" in text
    monkeypatch.setattr(Trainer, "train_epoch", real_epoch)
    code, text, _ = run(["train", *TINY, "--epochs", "2", "--out", str(out),
                         "--resume", str(out / "interrupted.safetensors")], capsys)
    assert code == 0 and "resumed" in text
    a = minidl.load(str(trained / "last.safetensors"))
    b = minidl.load(str(out / "last.safetensors"))
    for key, value in a["model"].items():
        np.testing.assert_array_equal(value.numpy(), b["model"][key].numpy(), err_msg=key)
    assert a["history"][-1]["val_loss"] == b["history"][-1]["val_loss"]


def test_eval_and_predict_a_checkpoint(trained, tmp_path, capsys):
    code, out, _ = run(["eval", str(trained / "best.safetensors")], capsys)
    assert code == 0 and "top-1" in out
    image = tmp_path / "x.png"
    Image.fromarray(np.full((20, 24, 3), 200, np.uint8)).save(image)
    code, out, _ = run(["predict", str(trained / "best.safetensors"), str(image)], capsys)
    lines = out.strip().splitlines()
    assert code == 0 and lines[0] == str(image) and len(lines) == 6 and lines[1].strip().endswith(
        tuple(minidl.data.Shapes(n=1).classes))


def test_summary_prints_the_table(capsys):
    code, out, _ = run(["summary", "alexnet"], capsys)
    assert code == 0 and "61,100,840" in out


@pytest.mark.parametrize("argv, message", [
    (["train", "--net", "lenet", "--epochs", "1"], "available: "),
    (["train", "--data", "no/such/place"], "unknown dataset 'no/such/place'"),
    (["eval", "missing.safetensors"], "missing.safetensors: no such checkpoint"),
])
def test_bad_input_gives_one_line(argv, message, capsys):
    code, out, err = run(argv, capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("minidl: error: ") and message in err


def test_unreadable_checkpoint_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint at all")
    code, _, err = run(["eval", str(bad)], capsys)
    assert code == 2 and err.count("\n") == 1 and str(bad) in err


def test_checkpoint_of_another_network_is_refused(trained, tmp_path, capsys):
    code, _, err = run(["train", *TINY[2:], "--net", "vgg11", "--epochs", "2", "--out", str(tmp_path),
                        "--resume", str(trained / "last.safetensors")], capsys)
    assert code == 2 and "resnet18" in err and "vgg11" in err and err.count("\n") == 1


def _folder(root, sizes):
    for k, size in enumerate(sizes):
        d = root / ("a" if k % 2 else "b")
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full(size + (3,), 40 * k, np.uint8)).save(d / f"{k}.png")


def test_folder_errors(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(["train", "--data", str(empty), "--epochs", "1"], capsys)
    assert code == 2 and str(empty) in err and err.count("\n") == 1
    mixed = tmp_path / "mixed"
    _folder(mixed, [(16, 16), (16, 16), (20, 12), (16, 16)])
    code, _, err = run(["train", "--data", str(mixed), "--epochs", "1"], capsys)
    assert code == 2 and "--image-size" in err and err.count("\n") == 1
