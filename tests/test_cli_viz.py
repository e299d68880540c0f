"""``minidl graph`` and ``minidl inspect`` end to end: files written, help with defaults, one-line errors."""
import shutil

import numpy as np
import pytest
from PIL import Image

import minidl
from cli_helpers import one_line_error, run, tiny
from nets import cli
from nets.commands import graph as graph_command

TINY = tiny(num_train=32, num_val=16)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert cli.main(["train", *TINY, "--epochs", "1", "--out", str(out)]) == 0
    return out / "last.safetensors"


@pytest.mark.parametrize("command, defaults", [
    ("graph", ["default 3,224,224", "default 1000"]),
    ("inspect", ["default 128", "default auto", "default: the predicted class"]),
])
def test_help_shows_the_defaults(command, defaults, capsys):
    assert cli.main([command, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for d in defaults:
        assert d in text


def test_graph_writes_dot_and_svg(tmp_path, capsys):
    code, out, _ = run(["graph", "alexnet", "--width", "0.25", "--num-classes", "10", "--input-size", "3,64,64",
                        "-o", str(tmp_path / "g.dot")], capsys)
    assert code == 0 and "nodes" in out
    text = (tmp_path / "g.dot").read_text()
    assert text.startswith("digraph") and "features.0.weight" in text and "Conv2dOp" in text
    if shutil.which("dot") is None:
        return
    code, out, _ = run(["graph", "resnet50", "--by-module", "--width", "0.25", "--num-classes", "10",
                        "--input-size", "3,64,64", "-o",
                        str(tmp_path / "g.svg")], capsys)
    assert code == 0 and "one box per block" in out
    svg = (tmp_path / "g.svg").read_text()
    assert "<svg" in svg and "layer4.2 (Bottleneck)" in svg


def test_graph_errors_are_one_line(tmp_path, capsys, monkeypatch):
    one_line_error(*run(["graph", "nonet", "-o", str(tmp_path / "g.dot")], capsys)[::2], "nonet")
    one_line_error(*run(["graph", "alexnet", "--input-size", "3,64", "-o", str(tmp_path / "g.dot")], capsys)[::2],
                   "--input-size", "'3,64'")
    one_line_error(*run(["graph", "alexnet", "-o", str(tmp_path / "g.txt")], capsys)[::2], "'.txt'")
    one_line_error(*run(["graph", "alexnet", "-o", str(tmp_path / "none" / "g.dot")], capsys)[::2], "no such folder")
    monkeypatch.setattr(graph_command.shutil, "which", lambda name: None)
    one_line_error(*run(["graph", "alexnet", "-o", str(tmp_path / "g.svg")], capsys)[::2], "graphviz")


def test_inspect_writes_every_picture(checkpoint, tmp_path, capsys):
    out = tmp_path / "pictures"
    code, text, _ = run(["inspect", str(checkpoint), "--cam", "circle", "--batch-size", "8", "--out", str(out)],
                        capsys)
    assert code == 0, text
    assert "ReLU sparsity (share of exact zeros) over 8 validation images" in text
    assert "| layer1.0.relu (call 1) |" in text
    names = sorted(p.name for p in out.iterdir())
    assert "filters.png" in names and "cam_circle.png" in names and "sparsity.md" in names
    assert sum(n.startswith("features_") for n in names) == 4
    image = tmp_path / "square.png"
    pixels = np.zeros((16, 16, 3), np.uint8)
    pixels[4:10, 4:10] = 255
    Image.fromarray(pixels).save(image)
    code, text, _ = run(["inspect", str(checkpoint), str(image), "--cam", "1", "--batch-size", "4", "--out",
                         str(out)], capsys)
    assert code == 0 and "cam_square.png" in text
    code, text, _ = run(["inspect", str(checkpoint), str(image), "--batch-size", "4", "--out", str(out)], capsys)
    predicted = text.split("class activation map and saliency of ")[1].split(":")[0]
    assert code == 0 and f"cam_{predicted}.png" in text


def test_inspect_errors_are_one_line(checkpoint, tmp_path, capsys):
    one_line_error(*run(["inspect", str(tmp_path / "no.safetensors")], capsys)[::2], "no such checkpoint")
    minidl.save({"weight": minidl.zeros(2)}, str(tmp_path / "plain.safetensors"))
    one_line_error(*run(["inspect", str(tmp_path / "plain.safetensors")], capsys)[::2],
                   "not a minidl training checkpoint")
    ckpt = minidl.load(str(checkpoint))
    ckpt["meta"]["task"] = "segment"
    minidl.save(ckpt, str(tmp_path / "seg.safetensors"))
    one_line_error(*run(["inspect", str(tmp_path / "seg.safetensors"), "--cam", "circle"], capsys)[::2],
                   "--cam", "segmentation checkpoint")
    one_line_error(*run(["inspect", str(checkpoint), "--cam", "dragon"], capsys)[::2], "'dragon'", "circle")
    one_line_error(*run(["inspect", str(checkpoint), str(tmp_path / "missing.png")], capsys)[::2], "no such image")
    for name, size, mode, words in [("big.png", 32, "RGB", ["32x32", "16x16"]),
                                    ("grey.png", 16, "L", ["1 channel", "RGB"]),
                                    ("alpha.png", 16, "RGBA", ["4 channel"])]:
        Image.new(mode, (size, size)).save(tmp_path / name)
        one_line_error(*run(["inspect", str(checkpoint), str(tmp_path / name)], capsys)[::2], name, *words)
    (tmp_path / "text.png").write_text("not an image")
    one_line_error(*run(["inspect", str(checkpoint), str(tmp_path / "text.png")], capsys)[::2], "cannot read")


def test_inspect_an_fcn_checkpoint_draws_its_score_maps(tmp_path, capsys):
    toy = ["--width", "0.015625", "--num-train", "4", "--num-val", "2", "--image-size", "32", "--batch-size", "2",
           "--pretrain", "0", "--no-batch-norm", "--no-progress", "--epochs", "1"]
    assert cli.main(["segment", "--net", "fcn32s", *toy, "--out", str(tmp_path / "fcn")]) == 0
    capsys.readouterr()
    code, text, _ = run(["inspect", str(tmp_path / "fcn" / "last.safetensors"), "--batch-size", "2"], capsys)
    assert code == 0 and "score maps: " in text and "class activation map" not in text
    assert (tmp_path / "fcn" / "inspect" / "scores.png").stat().st_size > 0


def test_train_logs_gradient_norms(tmp_path, capsys):
    import csv

    code, out, _ = run(["train", *TINY, "--epochs", "1", "--num-train", "16", "--log-grad-norms",
                        "--out", str(tmp_path)], capsys)
    assert code == 0
    with open(tmp_path / "metrics.csv") as f:
        row = next(csv.DictReader(f))
    assert float(row["grad_norm/conv1"]) > 0 and float(row["grad_norm/layer4.1.bn2"]) > 0 and "grad_norm/fc" in row
    from minidl.training import plots

    if plots.available():
        assert "grad_norms.png" in out
        assert (tmp_path / "grad_norms.png").stat().st_size > 1000


@pytest.mark.gpu
def test_inspect_on_the_gpu(checkpoint, tmp_path, capsys):
    code, text, _ = run(["inspect", str(checkpoint), "--device", "gpu", "--batch-size", "8", "--out", str(tmp_path)],
                        capsys)
    assert code == 0 and "class activation map and saliency of" in text
    assert (tmp_path / "filters.png").stat().st_size > 0
