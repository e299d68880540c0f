"""The ``minidl`` command line end to end, at tiny sizes: train, resume, eval, predict, and bad input."""
import os
import re
import signal

import numpy as np
import pytest
from PIL import Image

import minidl
from cli_helpers import one_line_error, run, tiny
from nets import cli

TINY = tiny(num_train=48, num_val=24)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny two-epoch run shared by the tests that need a checkpoint."""
    out = tmp_path_factory.mktemp("run")
    assert cli.main(["train", *TINY, "--epochs", "2", "--out", str(out)]) == 0
    return out


def test_nets_lists_the_networks_by_task(capsys):
    code, out, _ = run(["nets"], capsys)
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("classification") and "  resnet18" in lines
    segmentation = lines.index(next(line for line in lines if line.startswith("segmentation")))
    assert lines[segmentation + 1:] == ["  fcn16s", "  fcn32s", "  fcn8s"] and "  vgg16" in lines[:segmentation]


def test_tiny_training_run_writes_everything_and_ends_with_the_result_line(trained, capsys):
    for name in ("best.safetensors", "last.safetensors", "metrics.csv", "metrics.json", "curves.png",
                 "confusion.png", "misclassified.png"):
        assert (trained / name).exists(), name
    # without --no-progress: the output is not a terminal, so no progress bar, one line per epoch
    argv = [a for a in TINY if a != "--no-progress"]
    code, out, err = run(["train", *argv, "--epochs", "1", "--out", str(trained / "again")], capsys)
    assert code == 0 and "\r" not in out + err and "it/s" not in out + err
    assert len([line for line in out.splitlines() if line.startswith("epoch ")]) == 1
    assert re.fullmatch(r"final validation accuracy: \d+\.\d\d%", out.strip().splitlines()[-1])


def test_ctrl_c_in_the_middle_of_an_epoch_and_resume_alone_equal_an_uninterrupted_run(
        trained, tmp_path, capsys, monkeypatch):
    """SIGINT during step 4 (epoch 2, batch 1) stops after that step; ``--resume`` with no other option
    restores network, data and recipe and ends bitwise equal to the uninterrupted run."""
    from minidl.training import Trainer

    out = tmp_path / "resumed"
    real = Trainer._check_finite

    def ctrl_c_in_step_four(self, value):
        if self.step == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return real(self, value)

    monkeypatch.setattr(Trainer, "_check_finite", ctrl_c_in_step_four)
    code, text, _ = run(["train", *TINY, "--epochs", "2", "--out", str(out)], capsys)
    assert code == 130 and "interrupted: checkpoint saved" in text
    monkeypatch.setattr(Trainer, "_check_finite", real)
    code, text, _ = run(["train", "--no-progress", "--resume", str(out / "interrupted.safetensors")], capsys)
    assert code == 0 and "resumed from" in text and "in epoch 2, after its batch 1" in text
    a = minidl.load(str(trained / "last.safetensors"))
    b = minidl.load(str(out / "last.safetensors"))
    assert a["step"] == b["step"] == 6
    for key, value in a["model"].items():
        np.testing.assert_array_equal(value.numpy(), b["model"][key].numpy(), err_msg=key)
    assert [r["val_loss"] for r in a["history"]] == [r["val_loss"] for r in b["history"]]
    assert [r["train_loss"] for r in a["history"]] == [r["train_loss"] for r in b["history"]]


def test_resuming_a_finished_run_and_training_further(trained, tmp_path, capsys):
    code, out, err = run(["train", "--resume", str(trained / "last.safetensors")], capsys)
    assert code == 0 and err == "" and len(out.strip().splitlines()) == 1
    assert "has finished its 2 epochs; nothing to do" in out
    further = tmp_path / "further"
    further.mkdir()
    (further / "last.safetensors").write_bytes((trained / "last.safetensors").read_bytes())
    code, out, _ = run(["train", "--no-progress", "--resume", str(further / "last.safetensors"), "--epochs", "3"],
                       capsys)
    assert code == 0 and "after epoch 2" in out
    assert [r["epoch"] for r in minidl.load(str(further / "last.safetensors"))["history"]] == [1, 2, 3]


def test_resume_refuses_options_that_disagree_and_plain_state_dicts(trained, tmp_path, capsys):
    last = str(trained / "last.safetensors")
    code, _, err = run(["train", "--resume", last, "--width", "0.5"], capsys)
    one_line_error(code, err, "--width 0.5", "--width 0.0625", last)
    code, _, err = run(["train", "--resume", last, "--net", "vgg11"], capsys)
    one_line_error(code, err, "--net vgg11", "--net resnet18")
    weights = tmp_path / "weights.safetensors"
    minidl.save(minidl.load(last)["model"], str(weights))
    code, _, err = run(["train", "--resume", str(weights)], capsys)
    one_line_error(code, err, str(weights), "weights only (a plain state dict)")
    code, _, err = run(["segment", "--resume", last], capsys)
    one_line_error(code, err, "resume it with minidl train --resume")


def test_eval_and_predict_a_checkpoint(trained, tmp_path, capsys):
    code, out, _ = run(["eval", str(trained / "best.safetensors"), "--batch-size", "7"], capsys)
    assert code == 0 and "top-1" in out
    image = tmp_path / "x.png"
    Image.fromarray(np.full((20, 24, 3), 200, np.uint8)).save(image)
    code, out, _ = run(["predict", str(trained / "best.safetensors"), str(image)], capsys)
    lines = out.strip().splitlines()
    assert code == 0 and lines[0] == str(image) and len(lines) == 6 and lines[1].strip().endswith(
        tuple(minidl.data.Shapes(n=1).classes))


def test_a_training_set_smaller_than_one_batch_still_trains(tmp_path, capsys):
    code, out, _ = run(["train", *TINY, "--num-train", "5", "--epochs", "1", "--out", str(tmp_path)], capsys)
    assert code == 0 and "(5 train / 24 val images" in out
    ckpt = minidl.load(str(tmp_path / "last.safetensors"))
    assert ckpt["step"] == 1 and ckpt["history"][0]["train_loss"] > 0


def test_summary_counts_what_train_builds(capsys):
    code, out, _ = run(["summary", "alexnet"], capsys)
    assert code == 0 and "61,100,840" in out
    code, out, _ = run(["summary", "resnet18", "--data", "shapes"], capsys)
    assert code == 0 and "small-image stem" in out and "Total params: 700,950" in out  # as README's train line
    code, out, _ = run(["summary", "resnet18", "--width", "0.25"], capsys)
    assert code == 0 and "small-image stem" not in out and "input 3x224x224" in out


@pytest.mark.parametrize("argv, needles", [
    (["train", "--net", "lenet", "--epochs", "1"], ["available: "]),
    (["train", "--net", "fcn8s"], ["--net fcn8s", "minidl segment --net fcn8s"]),
    (["train", "--data", "no/such/place"], ["--data no/such/place", "unknown dataset"]),
    (["eval", "missing.safetensors"], ["missing.safetensors: no such checkpoint"]),
    (["train", "--epochs", "0"], ["--epochs", "0"]),
    (["train", "--epochs", "-3"], ["--epochs", "-3"]),
    (["train", "--batch-size", "0"], ["--batch-size", "0"]),
    (["train", "--num-train", "0"], ["--num-train", "0"]),
    (["train", "--num-val", "0"], ["--num-val", "0"]),
    (["train", "--image-size", "0"], ["--image-size", "0"]),
    (["train", "--lr", "-0.1"], ["--lr", "-0.1"]),
    (["train", "--lr", "nan"], ["--lr", "nan"]),
    (["train", "--momentum", "1"], ["--momentum", ">= 0 and < 1"]),
    (["train", "--width", "0"], ["--width", "> 0"]),
    (["train", "--workers", "-1"], ["--workers", "-1"]),
    (["train", "--warmup", "two"], ["--warmup", "'two'"]),
    (["train", "--clip-grad-norm", "0"], ["--clip-grad-norm"]),
    (["train", "--augment", "mirror"], ["--augment mirror", "'mirror'"]),
    (["train", "--device", "tpu"], ["--device tpu", "cuda:N"]),
    (["train", "--device", "cuda"], ["--device cuda", "no CUDA device"]),
    (["train", "--device", "cuda:1"], ["--device cuda:1"]),
    (["eval", "x.safetensors", "--batch-size", "0"], ["--batch-size", "0"]),
    (["segment", "--epochs", "0"], ["--epochs", "0"]),
    (["segment", "--dropout", "1"], ["--dropout"]),
    (["segment", "--net", "resnet18"], ["--net", "resnet18"]),
    (["summary", "resnet18", "--input-size", "3,0,5"], ["--input-size 3,0,5"]),
    (["summary", "resnet18", "--num-classes", "0"], ["--num-classes"]),
    (["gradcheck", "--seed", "-1"], ["--seed"]),
    (["train", "--bogus"], ["--bogus"]),
])
def test_bad_input_gives_one_line(argv, needles, capsys):
    if "cuda" in " ".join(argv) and minidl.gpu_available():
        pytest.skip("a GPU is present")
    code, _, err = run(argv, capsys)
    one_line_error(code, err, *needles)


def test_out_naming_a_file_is_one_line(tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("")
    code, _, err = run(["train", *TINY, "--epochs", "1", "--out", str(taken)], capsys)
    one_line_error(code, err, f"--out {taken}", "not a folder")


def test_cuda_names_are_the_gpu(monkeypatch):
    from nets.commands import common

    monkeypatch.setattr(minidl, "gpu_available", lambda: True)
    assert common.pick_device("cuda") == common.pick_device("gpu") == common.pick_device("auto") == "cuda"
    assert common.pick_device("CPU") == "cpu"


def test_unreadable_checkpoint_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint at all")
    code, _, err = run(["eval", str(bad)], capsys)
    one_line_error(code, err, str(bad))


def test_version_and_help_show_every_default(capsys):
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.strip() == f"minidl {minidl.__version__}"
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if a.choices and "train" in a.choices).choices
    assert set(subparsers) == {"train", "eval", "predict", "summary", "nets", "segment", "gradcheck", "graph", "inspect"}
    for name, sub in subparsers.items():
        for action in sub._actions:
            if action.dest == "help":
                continue
            assert action.help, (name, action.dest)
            takes_value = action.nargs != 0 and action.option_strings and not action.required
            if takes_value or isinstance(action, __import__("argparse").BooleanOptionalAction):
                assert "default" in action.help, (name, action.dest)
    code, out, _ = run(["segment", "--help"], capsys)
    assert code == 0 and "128x128" in out and "64x64" not in out
    code, out, _ = run(["train", "--help"], capsys)
    assert "shapes 5, mnist 5, fashion-mnist 10, cifar10 30" in " ".join(out.split())


def test_missing_matplotlib_is_said_in_one_line(tmp_path, capsys, monkeypatch):
    from minidl.training import plots

    monkeypatch.setattr(plots, "available", lambda: False)
    code, out, _ = run(["train", *TINY, "--epochs", "1", "--out", str(tmp_path)], capsys)
    assert code == 0 and "plots: skipped (matplotlib is missing" in out and not (tmp_path / "curves.png").exists()


def _folder(root, sizes):
    for k, size in enumerate(sizes):
        d = root / ("a" if k % 2 else "b")
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full(size + (3,), 40 * k, np.uint8)).save(d / f"{k}.png")


def test_folder_errors(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(["train", "--data", str(empty), "--epochs", "1", "--out", str(tmp_path / "o")], capsys)
    one_line_error(code, err, str(empty))
    mixed = tmp_path / "mixed"
    _folder(mixed, [(16, 16), (16, 16), (20, 12), (16, 16)])
    code, _, err = run(["train", "--data", str(mixed), "--epochs", "1", "--out", str(tmp_path / "o")], capsys)
    one_line_error(code, err, "--image-size")


def test_every_command_in_the_readme_parses_and_resolves_its_settings(capsys):
    """The README's ``minidl ...`` lines are accepted as written; train and segment lines resolve their
    settings from the stated defaults (nothing is trained here)."""
    from nets.commands import segment, train

    readme = open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")).read()
    blocks = "\n".join(re.findall(r"```bash\n(.*?)```", readme, flags=re.S))
    lines = [m.split("#")[0].split() for m in re.findall(r"^(?:pip install -e \. && )?(minidl\b.*)$", blocks, flags=re.M)]
    assert len(lines) >= 18
    parser = cli.build_parser()
    for words in lines:
        if words[1:] == ["--version"]:
            continue
        args = parser.parse_args(words[1:])
        if args.command == "train" and args.data in (None, "shapes", "cifar10") and not args.resume:
            s = train.settings(args)
            assert s["epochs"] >= 1 and s["batch_size"] >= 1, words
        if args.command == "segment" and args.data in (None, "shapes") and not args.resume:
            s = segment.settings(args)
            assert s["image_size"] == 128 and s["pretrain"] == (0 if args.init_from else 12), words


KILLED_RUN = """
import sys, time
from minidl.training import Trainer
from nets import cli

real = Trainer.train_epoch

def hang_in_epoch_two(self):
    if self.epoch == 1:
        time.sleep(60)
    return real(self)

Trainer.train_epoch = hang_in_epoch_two
sys.exit(cli.main(sys.argv[1:]))
"""


def test_kill_9_then_resume_from_last_equals_an_uninterrupted_run(trained, tmp_path, capsys):
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = tmp_path / "killed"
    child = subprocess.Popen([sys.executable, "-c", KILLED_RUN, "train", *TINY, "--epochs", "2", "--out", str(out)],
                             cwd=root, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": root})
    for line in child.stdout:
        if line.startswith("epoch 1:"):
            break
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    assert not (out / "interrupted.safetensors").exists()
    code, text, _ = run(["train", "--no-progress", "--resume", str(out / "last.safetensors")], capsys)
    assert code == 0 and "after epoch 1" in text
    a, b = minidl.load(str(trained / "last.safetensors")), minidl.load(str(out / "last.safetensors"))
    for key, value in a["model"].items():
        np.testing.assert_array_equal(value.numpy(), b["model"][key].numpy(), err_msg=key)
    assert [r["val_loss"] for r in a["history"]] == [r["val_loss"] for r in b["history"]]
