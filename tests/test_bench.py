"""Smoke tests of the benchmark scripts at tiny sizes on the CPU (they must not rot between GPU runs)."""
import importlib.util
import pathlib
import sys

import numpy as np
import pytest

import minidl
import nets

BENCH = pathlib.Path(__file__).resolve().parents[1] / "bench"


def _load(name):
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def train_step():
    return _load("train_step")


def test_train_step_cpu_tiny(train_step, capsys):
    tables = train_step.main(["--nets", "resnet18", "--batch", "2", "--size", "8", "--steps", "1",
                              "--warmup", "0"])
    out = capsys.readouterr().out
    # each library at its default threads, then both at one thread
    assert len(tables) == 2 and all("resnet18" in table for table in tables)
    assert "default threads" in tables[0] and "1 thread(s)" in tables[1]
    assert out.rstrip().endswith("as fast)")  # the tables are printed last


def test_train_step_rejects_unknown_net(train_step):
    with pytest.raises(SystemExit, match="unknown network"):
        train_step.main(["--nets", "lenet"])


def test_train_step_table_format(train_step):
    rows = [{"net": "resnet18", "batch": 64, "size": 224, "minidl": 0.5, "torch": 0.25,
             "minidl_mem": 3 * 2**30, "torch_mem": 2 * 2**30}]
    table = train_step.format_table(rows, "t", show_memory=True)
    line = table.splitlines()[2]
    assert "128.0" in line and "256.0" in line and "2.00x" in line and "1.50x" in line


def test_ops_cpu_tiny(capsys):
    ops = _load("ops")
    tables = ops.main(["--batch", "1", "--max-size", "8", "--repeat", "1"])
    out = capsys.readouterr().out
    assert "conv 3x3 VGG" in out and "max_pool" in out
    if tables[0][1]:  # PyTorch installed: a ratio per op at default threads and at one thread
        assert [label for label, _ in tables] == ["default", "1 thread(s)"]
        assert "ratio minidl / PyTorch" in out


@pytest.mark.parametrize("name, options, size", [
    ("resnet18", {"small_input": True, "width": 0.25}, 16),
    ("resnet50", {"width": 0.125}, 32),
    ("vgg16", {"width": 0.125}, 32),
    ("alexnet", {"width": 0.125}, 64),
    ("googlenet", {"width": 0.125}, 32),
])
def test_torch_twin_is_the_same_network(name, options, size):
    """The PyTorch model the benchmark times computes what minidl's does (same layers, same weights)."""
    torch = pytest.importorskip("torch")
    twin_module = _load("torch_twin")
    model = nets.create(name, num_classes=7, **options)
    model.eval()
    twin = twin_module.torch_twin(model)
    assert not twin.training
    x = np.random.default_rng(0).standard_normal((2, 3, size, size)).astype(np.float32)
    with minidl.no_grad():
        ours = model(minidl.Tensor(x)).numpy()
    with torch.no_grad():
        theirs = twin(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(ours).max()))
    assert set(twin.state_dict()) == set(model.state_dict())


def test_torch_twin_of_fcn_with_skips():
    """FCN's forward (skips, crops, learned upsampling) runs the same in the twin; its score layers start
    at zero, so random weights are put in first to make the comparison mean something."""
    torch = pytest.importorskip("torch")
    twin_module = _load("torch_twin")
    model = nets.create("fcn8s", num_classes=5, width=0.125)
    rng = np.random.default_rng(1)
    with minidl.no_grad():
        for p in model.parameters():
            p.data[...] = rng.standard_normal(p.shape).astype(np.float32) * 0.1
    model.eval()
    twin = twin_module.torch_twin(model)
    x = rng.standard_normal((2, 3, 40, 40)).astype(np.float32)
    with minidl.no_grad():
        ours = model(minidl.Tensor(x)).numpy()
    with torch.no_grad():
        theirs = twin(torch.from_numpy(x)).numpy()
    assert ours.shape == (2, 5, 40, 40)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * np.abs(ours).max())


def test_peak_rss_child_runs_a_segmentation_case(train_step, capsys):
    # the memory table's child process builds segmentation targets for an FCN (it once passed labels)
    train_step.rss_child("minidl", ("fcn8s", {"width": 1 / 16, "batch_norm": True, "dropout": 0.0}, 1, 64, 3), 0)
    assert int(capsys.readouterr().out.strip()) > 0
