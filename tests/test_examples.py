"""Every demonstration of examples/ runs in its fast mode and shows its claim (see docs/lecture.md)."""
import contextlib
import importlib.util
import io
import math
import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


def load(name):
    """The demonstration ``examples/<name>.py`` as a module (its name starts with a digit: no import)."""
    if EXAMPLES not in sys.path:
        sys.path.insert(0, EXAMPLES)
    spec = importlib.util.spec_from_file_location(f"example_{name}", os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(name, tmp_path, *extra):
    result = load(name).main(["--fast", "--out", str(tmp_path)] + list(extra))
    has_matplotlib = importlib.util.find_spec("matplotlib") is not None
    if has_matplotlib:
        assert result["plot"] and os.path.isfile(result["plot"]) and os.path.getsize(result["plot"]) > 1000
    else:
        assert result["plot"] is None
    return result


@pytest.fixture(scope="module")
def demo01(tmp_path_factory):
    """One fast run of demonstration 1 shared by its tests: (returned numbers, printed text)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = run("01_activations", tmp_path_factory.mktemp("demo01"))
    return result, printed.getvalue()


def test_01_relu_first_layer_gradient_dwarfs_sigmoid(demo01):
    r, out = demo01
    for name in ("sigmoid", "tanh", "relu"):
        assert len(r["norms"][name]) == 20
        assert all(math.isfinite(v) and v > 0 for v in r["norms"][name])
    assert r["relu_over_sigmoid_first_layer"] >= 100
    # sigmoid's gradient shrinks on the way to the input: the vanishing gradient itself
    assert r["norms"]["sigmoid"][0] < 1e-3 * r["norms"]["sigmoid"][-1]
    assert "first-layer gradient relative to sigmoid's" in out


def test_01_relu_activations_are_sparse_and_every_activation_is_timed(demo01):
    r, out = demo01
    assert all(len(r["zeros"][n]) == 19 for n in ("sigmoid", "tanh", "relu"))
    # ReLU zeroes about half of its inputs; sigmoid and tanh (almost) never output exactly 0
    assert 0.3 < r["mean_zeros"]["relu"] < 0.7 and min(r["zeros"]["relu"]) > 0.2
    assert r["mean_zeros"]["sigmoid"] < 0.01 and r["mean_zeros"]["tanh"] < 0.01
    assert "cpu" in r["cost"] and "share of exact zeros" in out and "forward + backward" in out
    for seconds in r["cost"]["cpu"].values():
        assert 0 < seconds < 5


def test_02_every_augmentation_changes_the_image_and_keeps_its_size(tmp_path):
    r = run("02_augmentation", tmp_path)
    assert len(r["names"]) == 10
    for name in r["names"]:
        assert all(shape == (48, 48, 3) for shape in r["shapes"][name]), name
        assert 0 < r["mean_change"][name] < 1, name


def test_03_dropout_behaviour_and_overfitting(tmp_path):
    r = run("03_dropout", tmp_path)
    b = r["behaviour"]
    assert abs(b["train_zero_fraction"] - 0.5) < 0.01
    assert b["train_kept_values"] == [2.0]
    assert abs(b["train_mean"] - 1.0) < 0.02
    assert b["eval_equals_input"]
    plain = r["histories"]["no dropout"]
    assert len(plain) == len(r["histories"]["dropout p=0.5"]) > 1
    # the big MLP fits its few training images better than it generalises
    assert plain[-1]["train_acc"] > plain[-1]["val_acc"]
    assert plain[-1]["train_loss"] < plain[0]["train_loss"]


def test_04_lrn_paper_form_is_pytorch_form_with_alpha_times_n(tmp_path):
    r = run("04_lrn", tmp_path)
    assert r["max_rel_diff_mapped"] < 1e-6
    assert r["max_rel_diff_same_alpha"] > 1e-2
    # with the paper's constants the normaliser is dominated by k = 2: about 2^-0.75
    assert 0.4 < r["median_damping"]["paper"] <= 2 ** -0.75 + 1e-6


def test_05_stacks_match_the_formulas(tmp_path):
    r = run("05_stacks", tmp_path)
    c = r["channels"]
    res = r["results"]
    assert res["two 3x3"]["receptive_field"] == res["one 5x5"]["receptive_field"] == 5
    assert res["three 3x3"]["receptive_field"] == res["one 7x7"]["receptive_field"] == 7
    assert res["two 3x3"]["params"] == 2 * 9 * c * c
    assert res["one 5x5"]["params"] == 25 * c * c
    assert res["three 3x3"]["params"] == 3 * 9 * c * c
    assert res["one 7x7"]["params"] == 49 * c * c
    assert r["saving_5x5"] == pytest.approx(1 - 18 / 25)
    assert r["saving_7x7"] == pytest.approx(1 - 27 / 49)


def test_06_reductions_cut_parameters_by_the_computed_factor(tmp_path):
    r = run("06_reductions", tmp_path)
    m = r["modules"]["3a"]
    f = m["formula"]
    for key in ("reduced_params", "naive_params", "reduced_macs", "naive_macs"):
        assert m[key] == f[key], key
    # Inception 3a by hand: 192 in; (64, 96, 128, 16, 32, 32)
    reduced = (192 * 64 + 192 * 96 + 9 * 96 * 128 + 192 * 16 + 25 * 16 * 32 + 192 * 32
               + (64 + 96 + 128 + 16 + 32 + 32))
    naive = 192 * 64 + 9 * 192 * 128 + 25 * 192 * 32 + (64 + 128 + 32)
    assert (m["reduced_params"], m["naive_params"]) == (reduced, naive) == (163696, 387296)
    assert m["param_factor"] == pytest.approx(naive / reduced)
    assert m["param_factor"] > 2
    assert m["reduced_out"] == 256


def test_07_residual_runs_and_produces_curves(tmp_path):
    r = run("07_residual", tmp_path)
    assert set(r["curves"]) == {"plain-8", "resnet-8", "plain-14", "resnet-14"}
    for name, curve in r["curves"].items():
        assert len(curve) == 4 and all(math.isfinite(v) for v in curve), name
        assert r["final_loss"][name] == pytest.approx(curve[-1])


def test_07_network_has_6n_plus_2_layers_and_the_plain_one_no_shortcuts():
    ex = load("07_residual")
    from minidl import nn

    for depth in (8, 20):
        net = ex.CifarResNet(depth, 4, 6, shortcut=True)
        convs = [m for name, m in net.named_modules()
                 if isinstance(m, nn.Conv2d) and "downsample" not in name]
        assert len(convs) + 1 == depth   # + the final linear layer
        assert all(block.has_shortcut for block in net.blocks)
        assert not any(block.has_shortcut for block in ex.CifarResNet(depth, 4, 6, shortcut=False).blocks)
    with pytest.raises(ValueError, match="6n"):
        ex.CifarResNet(10)


def test_07_zero_init_residual_starts_the_deep_network_as_its_shallow_skeleton():
    """With F(x) = 0 in every block, 20 and 56 layers compute the same function at the start: the stem,
    the two projection shortcuts where a stage begins, pooling and the linear layer."""
    ex = load("07_residual")
    import minidl

    nets = {}
    for depth in (20, 56):
        minidl.manual_seed(0)
        nets[depth] = ex.CifarResNet(depth, 4, 6, zero_init_residual=True).eval()
        assert all(not block.bn2.weight.numpy().any() for block in nets[depth].blocks)
    shallow, deep = nets[20], nets[56]
    # give both the same stem, projections and classifier; every other block is then the identity
    projections = [i for i, block in enumerate(deep.blocks) if block.downsample is not None]
    assert projections == [9, 18]
    for i, j in zip([3, 6], projections):
        deep.blocks[j].load_state_dict(shallow.blocks[i].state_dict())
    for name in ("conv1", "bn1", "fc"):
        getattr(deep, name).load_state_dict(getattr(shallow, name).state_dict())
    x = minidl.randn(2, 3, 12, 12)
    with minidl.no_grad():
        np.testing.assert_allclose(deep(x).numpy(), shallow(x).numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="shortcuts"):
        ex.CifarResNet(20, 4, 6, shortcut=False, zero_init_residual=True)


def test_08_traditional_pipelines_lose_to_a_cnn(tmp_path):
    r = run("08_traditional", tmp_path)
    pipelines = ("hog_svm", "hog_boost", "bow_svm", "bow_boost")
    for key in pipelines:
        assert r[key]["test"] > r["chance"] + 0.1, key
        assert r[key]["seconds"] > 0
    assert r["cnn"]["test"] > max(r[key]["test"] for key in pipelines)


def test_10_gradcheck_tour_passes_every_op(tmp_path):
    r = run("10_gradcheck_tour", tmp_path)
    assert r["all_passed"]
    assert len(r["rows"]) > 50


def test_11_depth_counts_the_layers_the_papers_name(tmp_path):
    r = run("11_depth", tmp_path)
    nets = r["networks"]
    assert [nets[n]["weight_layers"] for n in ("AlexNet", "VGG-16", "VGG-19", "GoogLeNet", "ResNet-50",
                                               "ResNet-152")] == [8, 16, 19, 22, 50, 152]
    assert nets["VGG-19"]["params"] == 143_667_240 and nets["ResNet-152"]["params"] == 60_192_808
    # deeper winners, lower published error: the slide's trend, year by year
    assert nets["AlexNet"]["top5_error"] > nets["GoogLeNet"]["top5_error"] > nets["ResNet-152"]["top5_error"]
    assert all(n["macs"] > 0 for n in nets.values())


def test_11_depth_follows_branches_and_shortcuts():
    ex = load("11_depth")
    from minidl import nn

    class TwoBranches(nn.Module):
        def __init__(self):
            super().__init__()
            self.short = nn.Conv2d(1, 1, 1)
            self.long = nn.Sequential(nn.Conv2d(1, 1, 1), nn.ReLU(), nn.Conv2d(1, 1, 1), nn.Conv2d(1, 1, 1))
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            y = self.short(x) + self.long(x)       # the sum is plain array code: 3 layers deep
            return self.head(y.flatten(1))

    assert ex.weight_depth(TwoBranches(), (1, 1, 2, 2)) == 4


def test_readme_lists_every_demonstration():
    with open(os.path.join(EXAMPLES, "README.md"), encoding="utf-8") as f:
        text = f.read()
    for name in sorted(os.listdir(EXAMPLES)):
        if name[:2].isdigit() and name.endswith(".py"):
            assert name in text, f"examples/README.md does not mention {name}"


@pytest.mark.parametrize("argv,message", [
    (["--depths", "20", "21"], "--depths must be 6n + 2"), (["--width", "0"], "--width must be at least 1"),
    (["--lr", "-1"], "--lr must be positive"), (["--steps", "0"], "--steps must be at least 1"),
])
def test_07_refuses_wrong_options_in_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        load("07_residual").main(argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err
