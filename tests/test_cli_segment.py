"""``minidl segment`` end to end, at toy size: the final line, checkpoints, resume, staged init, VOC data."""
import json
import os

import numpy as np
from PIL import Image

import minidl
from minidl.data import voc_colormap
from nets import cli

TOY = ["--width", "0.015625", "--num-train", "4", "--num-val", "2", "--image-size", "32", "--batch-size", "2",
       "--pretrain", "0", "--no-batch-norm", "--no-progress"]


def run(capsys, *args):
    status = cli.main(["segment", *TOY, *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_train_resume_and_staged_init(tmp_path, capsys):
    first = tmp_path / "fcn32s"
    status, out, _ = run(capsys, "--net", "fcn32s", "--epochs", "1", "--out", str(first))
    assert status == 0
    lines = out.strip().splitlines()
    assert lines[-1].startswith("final validation mean IU: ") and len(lines[-1].split(": ")[1]) == 6
    assert "pixel acc" in out and "f.w. IU" in out
    assert "the stride-32 oracle (true class shares per 32x32 cell, upsampled bilinearly) scores mean IU" in out
    for name in ("best.safetensors", "last.safetensors", "metrics.csv", "metrics.json"):
        assert (first / name).exists()
    ckpt = minidl.load(str(first / "last.safetensors"))
    assert ckpt["epoch"] == 1 and ckpt["meta"]["net"] == "fcn32s" and ckpt["meta"]["task"] == "segment"
    assert ckpt["meta"]["class_names"][0] == "background"

    status, out, _ = run(capsys, "--net", "fcn32s", "--epochs", "2", "--out", str(first),
                         "--resume", str(first / "last.safetensors"))
    assert status == 0 and "resumed from" in out and "after epoch 1" in out
    history = json.loads((first / "metrics.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]

    fine = tmp_path / "fcn16s"
    status, out, _ = run(capsys, "--net", "fcn16s", "--epochs", "1", "--out", str(fine),
                         "--init-from", str(first / "last.safetensors"))
    assert status == 0 and "initialised from fcn32s" in out
    assert out.strip().splitlines()[-1].startswith("final validation mean IU: ")


def test_bad_input_is_one_line(tmp_path, capsys):
    status, _, err = run(capsys, "--data", str(tmp_path / "nowhere"))
    assert status == 2 and err.startswith("minidl: error: ") and "VOC layout" in err
    status, _, err = run(capsys, "--init-from", str(tmp_path / "missing.safetensors"), "--out", str(tmp_path))
    assert status == 2 and "no such checkpoint" in err


def test_voc_folder_with_a_bad_mask_is_named(tmp_path, capsys):
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (tmp_path / folder).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(tmp_path / f"JPEGImages/{i}.jpg")
        mask = np.zeros((20, 24), dtype=np.uint8)
        mask[5:12, 6:14] = 7 if i != 3 else 30
        Image.fromarray(voc_colormap()[mask]).save(tmp_path / f"SegmentationClass/{i}.png")
    (tmp_path / "ImageSets/Segmentation/train.txt").write_text("0\n1\n2\n")
    (tmp_path / "ImageSets/Segmentation/val.txt").write_text("3\n")
    status, out, err = run(capsys, "--data", str(tmp_path), "--epochs", "1", "--batch-size", "2",
                           "--out", str(tmp_path / "run"))
    assert status == 2
    bad = os.path.join(str(tmp_path), "SegmentationClass", "3.png")
    assert f"{bad}: colour(s) (64, 192, 128) are not in the VOC colour map of 21 classes" in err


def test_batch_norm_option_is_recorded_and_reloads(tmp_path, capsys):
    out_dir = tmp_path / "bn"
    status, out, _ = run(capsys, "--batch-norm", "--epochs", "1", "--out", str(out_dir))
    assert status == 0 and out.strip().splitlines()[-1].startswith("final validation mean IU: ")
    ckpt = minidl.load(str(out_dir / "last.safetensors"))
    assert ckpt["meta"]["net_options"]["batch_norm"] is True
    assert any(key.endswith("running_mean") for key in ckpt["model"])
    status, out, _ = run(capsys, "--batch-norm", "--epochs", "2", "--out", str(out_dir),
                         "--resume", str(out_dir / "last.safetensors"))
    assert status == 0 and "after epoch 1" in out
    # without batch norm the checkpoint records no option, as before
    plain = tmp_path / "plain"
    assert run(capsys, "--epochs", "1", "--out", str(plain))[0] == 0
    assert "batch_norm" not in minidl.load(str(plain / "last.safetensors"))["meta"]["net_options"]


def test_shapes_defaults_are_the_measured_recipe():
    from nets import recipe
    from nets.commands import segment

    args = cli.build_parser().parse_args(["segment"])
    s = segment.settings(args)
    assert (s["image_size"], s["num_train"], s["epochs"], s["batch_size"], s["optimizer"], s["lr"]) == \
        (128, 1200, 10, 4, "sgd", 0.03)
    assert (s["pretrain"], s["batch_norm"], s["dropout"], s["pretrain_size"], s["flip"]) == (12, True, 0.0, 48, True)
    assert recipe.SEGMENT["voc"].dropout == 0.5 and recipe.SEGMENT["voc"].batch_norm is False
    assert recipe.SEGMENT["voc"].flip is False  # the paper's recipe: no augmentation
    assert segment.settings(cli.build_parser().parse_args(["segment", "--no-flip"]))["flip"] is False
    # the flips reach the training images and masks, not the validation ones
    from minidl.data import transforms as T
    from nets.commands import building

    train, val, _ = building.segmentation_data("shapes", dict(s, num_train=4, num_val=2), s["flip"])
    assert any(isinstance(t, T.RandomHorizontalFlip) for t in train.transform.transforms)
    assert val.transform is None
    # --init-from chooses the starting weights, so pretraining is off unless asked for
    assert segment.settings(cli.build_parser().parse_args(["segment", "--init-from", "x"]))["pretrain"] == 0


def test_pretrain_starts_the_fcn_from_a_shapes_classifier(tmp_path, capsys, monkeypatch):
    import dataclasses
    import importlib

    from nets import recipe

    # the module, not the function nets/__init__ exports under the same name
    surgery = importlib.import_module("nets.convolutionalize")

    monkeypatch.setattr(recipe, "PRETRAIN", dataclasses.replace(recipe.PRETRAIN, num_train=8, num_val=4,
                                                                batch_size=4))
    captured = {}
    real = surgery.init_from_classifier

    def spy(model, classifier, **kwargs):
        captured["conv1_2"] = classifier.features[2].weight.numpy().copy()
        captured["dropout"] = [m.p for m in classifier.classifier if isinstance(m, minidl.nn.Dropout)]
        return real(model, classifier, **kwargs)

    monkeypatch.setattr(surgery, "init_from_classifier", spy)
    # no --pretrain: the Shapes default number of epochs
    monkeypatch.setitem(recipe.SEGMENT, "shapes", dataclasses.replace(recipe.SEGMENT["shapes"], pretrain=1))
    out_dir = tmp_path / "pre"
    toy = [a for a in TOY if a not in ("--pretrain", "0")]
    status = cli.main(["segment", *toy, "--epochs", "1", "--lr", "0", "--out", str(out_dir)])
    out, _ = capsys.readouterr()
    assert status == 0
    assert ("pretraining vgg16 (width 0.015625, dropout 0) on shapes classification (8 train / 4 val images, "
            "48x48)") in out
    # the classifier has the FCN's dropout (Shapes: 0), not VGG's 0.5
    assert captured["dropout"] == [0.0, 0.0]
    classifier_meta = minidl.load(str(out_dir / "pretrain" / "last.safetensors"))["meta"]
    assert classifier_meta["net_options"] == {"width": 0.015625, "dropout": 0.0}
    assert "pretrained vgg16: validation accuracy" in out and "initialised from vgg16" in out
    assert (out_dir / "pretrain" / "last.safetensors").exists()
    ckpt = minidl.load(str(out_dir / "last.safetensors"))
    assert ckpt["meta"]["settings"]["pretrain"] == 1
    assert ckpt["meta"]["init_from"] == str(out_dir / "pretrain" / "last.safetensors")
    # with lr 0 the FCN keeps the classifier's weights: its conv1_2 is the pretrained one
    np.testing.assert_array_equal(ckpt["model"]["features.2.weight"].numpy(), captured["conv1_2"])

    status, _, err = run(capsys, "--pretrain", "1", "--init-from", str(out_dir / "last.safetensors"))
    assert status == 2 and "give one" in err
    status, _, err = run(capsys, "--pretrain", "1", "--pretrain-size", "16", "--out", str(tmp_path / "x"))
    assert status == 2 and "at least 32x32" in err


def test_eval_and_predict_a_segmentation_checkpoint(tmp_path, capsys):
    from minidl.data import voc_colormap

    run_dir = tmp_path / "run"
    assert run(capsys, "--net", "fcn32s", "--epochs", "1", "--out", str(run_dir))[0] == 0
    ckpt = str(run_dir / "last.safetensors")
    status = cli.main(["eval", ckpt])
    out, _ = capsys.readouterr()
    assert status == 0 and "pixel acc" in out and "mean IU" in out and "f.w. IU" in out
    image = tmp_path / "picture.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(image)
    status = cli.main(["predict", ckpt, str(image), "--out", str(tmp_path / "pred")])
    out, err = capsys.readouterr()
    assert status == 0 and err == "" and out.startswith(f"{image}: mask ")
    mask = Image.open(tmp_path / "pred" / "picture_mask.png")
    overlay = Image.open(tmp_path / "pred" / "picture_overlay.png")
    assert mask.mode == "P" and mask.size == overlay.size == (40, 30) and overlay.mode == "RGB"
    assert np.asarray(mask).max() < 7
    np.testing.assert_array_equal(np.asarray(mask.getpalette(), np.uint8).reshape(-1, 3)[:7], voc_colormap()[:7])


def test_segment_resume_in_the_middle_of_an_epoch_is_exact(tmp_path, capsys, monkeypatch):
    """Ctrl-C during the second step of a two-epoch FCN run; ``--resume`` alone ends where the
    uninterrupted run ends."""
    import signal

    from minidl.training import Trainer

    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert run(capsys, "--net", "fcn32s", "--epochs", "2", "--out", str(whole))[0] == 0
    real = Trainer._check_finite

    def ctrl_c(self, value):
        if self.step == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return real(self, value)

    monkeypatch.setattr(Trainer, "_check_finite", ctrl_c)
    assert run(capsys, "--net", "fcn32s", "--epochs", "2", "--out", str(cut))[0] == 130
    monkeypatch.setattr(Trainer, "_check_finite", real)
    status = cli.main(["segment", "--no-progress", "--resume", str(cut / "interrupted.safetensors")])
    out, _ = capsys.readouterr()
    assert status == 0 and "after its batch 2" in out
    a, b = minidl.load(str(whole / "last.safetensors")), minidl.load(str(cut / "last.safetensors"))
    for key, value in a["model"].items():
        np.testing.assert_array_equal(value.numpy(), b["model"][key].numpy(), err_msg=key)
    assert [r["val_mean_iu"] for r in a["history"]] == [r["val_mean_iu"] for r in b["history"]]


def test_median_frequency_weights_by_hand(tmp_path, capsys):
    from nets.commands.segmentation import median_frequency_weights

    class Masks:
        targets = np.array([[[0, 0, 0, 0], [0, 0, 1, 1], [2, 255, 255, 255]]])  # 6 / 2 / 1 labelled pixels

    # frequencies 6/9, 2/9, 1/9 (median 2/9); a fourth class that never occurs weighs 0
    np.testing.assert_allclose(median_frequency_weights(Masks(), 4), [1 / 3, 1.0, 2.0, 0.0])
    status, out, _ = run(capsys, "--class-weights", "median", "--epochs", "1", "--out", str(tmp_path / "w"))
    assert status == 0 and "class weights (median frequency): background " in out
