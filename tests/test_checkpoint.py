"""Checkpoint files: bitwise round trips, nested training checkpoints, resuming exactly, atomic saves,
and refusal of truncated, damaged and foreign files."""
import json
import os
import pickle
import tempfile

import numpy as np
import pytest
import safetensors.numpy
from hypothesis import given
from hypothesis import strategies as st

import minidl
from minidl import checkpoint
from minidl.checkpoint import CheckpointError
from minidl.optim import SGD, lr_scheduler


def assert_same(a, b):
    """Equal structure and types; arrays bitwise equal with the same dtype."""
    if isinstance(a, minidl.Tensor):
        assert isinstance(b, minidl.Tensor) and b.dtype == a.dtype and b.shape == a.shape
        np.testing.assert_array_equal(b.numpy(), a.numpy())
    elif isinstance(a, np.ndarray):
        assert isinstance(b, minidl.Tensor) and b.dtype == a.dtype
        np.testing.assert_array_equal(b.numpy(), a)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b)
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert type(b) is type(a) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        assert type(b) is type(a) and (b == a or (a != a and b != b))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "float16", "int32", "uint8", "bool"])
def test_state_dict_round_trip_is_bitwise(tmp_path, rng, dtype):
    values = rng.standard_normal((3, 4)) * 1e3
    state = {
        "features.0.weight": minidl.Tensor(values.astype(dtype)),
        "features.0.bias": values[0].astype(dtype),
        "scalar": minidl.Tensor(np.array(values[0, 0]).astype(dtype)),
        "empty": np.zeros((0, 2), dtype),
        "strided": values.astype(dtype).T,  # not contiguous: saved in its logical order
    }
    path = tmp_path / "model.safetensors"
    minidl.save(state, path)
    assert_same(state, minidl.load(path))


def test_float_bits_survive(tmp_path):
    special = np.array([np.nan, -0.0, np.inf, -np.inf, 5e-324, np.finfo(np.float64).max])
    minidl.save({"x": special}, tmp_path / "f.safetensors")
    loaded = minidl.load(tmp_path / "f.safetensors")["x"].numpy()
    np.testing.assert_array_equal(loaded.view(np.uint64), special.view(np.uint64))


def test_plain_state_dict_keeps_its_exact_keys_for_other_readers(tmp_path):
    state = {"conv1.weight": np.ones((2, 1, 3, 3), np.float32), "bn1.num_batches_tracked": np.array(7)}
    minidl.save(state, tmp_path / "m.safetensors")
    raw = safetensors.numpy.load_file(str(tmp_path / "m.safetensors"))
    assert sorted(raw) == sorted(state)
    for key in state:
        np.testing.assert_array_equal(raw[key], state[key])


def test_plain_safetensors_file_loads_as_a_flat_dict(tmp_path):
    arrays = {"a.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "a.bias": np.zeros(2)}
    safetensors.numpy.save_file(arrays, str(tmp_path / "other.safetensors"))
    loaded = minidl.load(tmp_path / "other.safetensors")
    assert sorted(loaded) == sorted(arrays)
    for key in arrays:
        assert_same(arrays[key], loaded[key])


def test_nested_training_checkpoint_round_trip(tmp_path):
    p = minidl.Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    opt = SGD([{"params": [p]}, {"params": [minidl.Tensor(np.zeros(1), requires_grad=True)], "lr": 0.2}],
              lr=0.1, momentum=0.9)
    p.grad = minidl.Tensor(np.array([0.5, -0.5], np.float32))
    opt.step()
    scheduler = lr_scheduler.StepLR(opt, step_size=2)
    minidl.random.generator().standard_normal(3)
    ckpt = {
        "model": {"layer.weight": p.detach(), "layer.bias": np.zeros(2, np.float64)},
        "optimizer": opt.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": 3,
        "step": 120,
        "rng": minidl.random.get_rng_state(),
        "meta": {"net": "alexnet", "best": float("inf"), "note": None, "sizes": (224, 224), "ok": True,
                 "history": [0.5, 0.25], 7: "int key", "a.b": 1},
        "a.b": np.zeros(1),
        "a": {"b": np.ones(1)},  # the same dotted path as the entry above: names must not collide
    }
    path = tmp_path / "ckpt.safetensors"
    minidl.save(ckpt, path)
    loaded = minidl.load(path)
    assert_same(ckpt, loaded)
    assert json.loads(json.dumps(loaded["rng"])) == ckpt["rng"]
    assert loaded["rng"]["cpu"]["state"]["state"] > 2 ** 64  # PCG64's 128-bit integers kept whole


arrays = st.builds(
    lambda dtype, shape, seed: np.random.default_rng(seed).standard_normal(shape).astype(dtype),
    st.sampled_from(["float32", "float64", "int64", "uint8"]),
    st.lists(st.integers(0, 3), max_size=3).map(tuple),
    st.integers(0, 2 ** 32 - 1),
)
leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5) | arrays
keys = st.text(max_size=4) | st.integers(-3, 3)
trees = st.recursive(
    leaves,
    lambda children: (st.lists(children, max_size=3) | st.lists(children, max_size=3).map(tuple)
                      | st.dictionaries(keys, children, max_size=3)),
    max_leaves=8,
)


@given(tree=st.dictionaries(keys, trees, max_size=4))
def test_any_nested_checkpoint_round_trips(tree):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "tree.safetensors")
        minidl.save(tree, path)
        assert_same(tree, minidl.load(path))


def test_resumed_training_continues_exactly(tmp_path):
    """Train, checkpoint, train on; then restore the checkpoint into fresh objects and train on again."""
    target = minidl.Tensor(np.array([1.0, -1.0, 0.5]))

    def build():
        w = minidl.Tensor(np.array([0.2, 0.4, -0.3]), requires_grad=True)
        opt = SGD([w], lr=0.1, momentum=0.9, nesterov=True)
        return w, opt, lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)

    def epoch(w, opt, scheduler):
        noise = minidl.Tensor(minidl.random.generator().standard_normal(3))  # the RNG matters
        opt.zero_grad()
        (((w - target - 0.1 * noise) ** 2).sum()).backward()
        opt.step()
        scheduler.step()

    w, opt, scheduler = build()
    for _ in range(3):
        epoch(w, opt, scheduler)
    minidl.save({"model": {"w": w}, "optimizer": opt.state_dict(), "scheduler": scheduler.state_dict(),
                 "epoch": 3, "rng": minidl.random.get_rng_state()}, tmp_path / "run.safetensors")
    for _ in range(3):
        epoch(w, opt, scheduler)

    minidl.manual_seed(99)
    w2, opt2, scheduler2 = build()
    state = minidl.load(tmp_path / "run.safetensors")
    w2.data[...] = state["model"]["w"].data
    opt2.load_state_dict(state["optimizer"])
    scheduler2.load_state_dict(state["scheduler"])
    minidl.random.set_rng_state(state["rng"])
    for _ in range(3):
        epoch(w2, opt2, scheduler2)
    np.testing.assert_array_equal(w2.data, w.data)
    assert scheduler2.get_last_lr() == scheduler.get_last_lr()


def test_interrupted_save_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.safetensors"
    minidl.save({"w": np.arange(4.0)}, path)

    def dies_midway(f, data):
        f.write(data[: len(data) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "_write_all", dies_midway)
    with pytest.raises(OSError, match="disk full"):
        minidl.save({"w": np.arange(1000.0)}, path)
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]
    np.testing.assert_array_equal(minidl.load(path)["w"].numpy(), np.arange(4.0))


def test_save_overwrites_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    for n in (2, 3):
        minidl.save({"w": np.ones(n)}, str(path))
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]
    assert minidl.load(path)["w"].shape == (3,)


def saved_bytes(tmp_path):
    path = tmp_path / "good.safetensors"
    minidl.save({"weight": np.arange(64, dtype=np.float32), "epoch": 1}, path)
    return path.read_bytes()


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[: len(b) - 10], "not a valid safetensors checkpoint"),
    (lambda b: b[:20], "not a valid safetensors checkpoint"),
    (lambda b: b"", "not a valid safetensors checkpoint"),
    (lambda b: b[:-4] + bytes(4), "fail their checksum"),
    (lambda b: b.replace(b'"dtype"', b'"dtypo"', 1), "not a valid safetensors checkpoint"),
    (lambda b: b.replace(b'"tensor\\"', b'"tensox\\"', 1), "damaged 'minidl.structure'"),
    (lambda b: b.replace(b"minidl.crc32\":\"{", b"minidl.crc32\":\"[", 1), "not valid JSON"),
    (lambda b: pickle.dumps({"weight": np.ones(3)}), "looks like a pickle"),
    (lambda b: b"PK\x03\x04" + bytes(100), "zip archive"),
])
def test_damaged_and_foreign_files_are_refused_naming_the_file(tmp_path, damage, message):
    path = tmp_path / "bad.ckpt"
    path.write_bytes(damage(saved_bytes(tmp_path)))
    with pytest.raises(CheckpointError, match=message) as info:
        minidl.load(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


class _Trap:
    """Unpickling this would create the file ``path``: proof that load never unpickles."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_pickle_pretending_to_be_a_checkpoint_never_runs(tmp_path):
    sprung = tmp_path / "sprung"
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps({"weight": _Trap(sprung)}))
    with pytest.raises(CheckpointError, match="model.safetensors"):
        minidl.load(path)
    assert not sprung.exists()


def test_save_and_load_argument_errors(tmp_path):
    with pytest.raises(TypeError, match="save: expected a dict"):
        minidl.save([np.ones(2)], tmp_path / "x")
    with pytest.raises(TypeError, match=r"cannot store a set at 'meta.tags'"):
        minidl.save({"meta": {"tags": {1, 2}}}, tmp_path / "x")
    with pytest.raises(TypeError, match="dict keys must be str or int"):
        minidl.save({"meta": {(1, 2): 3}}, tmp_path / "x")
    with pytest.raises(TypeError, match="'labels' has dtype <U1"):
        minidl.save({"labels": np.array(["a"])}, tmp_path / "x")
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        minidl.load(tmp_path / "missing.safetensors")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        minidl.save({"w": np.ones(1)}, tmp_path / "no" / "such" / "folder.safetensors")
    assert os.listdir(tmp_path) == []


def test_torch_reads_what_minidl_writes_and_back(tmp_path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    state = {"fc.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
             "fc.bias": np.array([1.0, 2.0], np.float32)}
    minidl.save(state, tmp_path / "m.safetensors")
    from_torch = st_torch.load_file(str(tmp_path / "m.safetensors"))
    assert sorted(from_torch) == sorted(state)
    for key in state:
        np.testing.assert_array_equal(from_torch[key].numpy(), state[key])
    st_torch.save_file({k: torch.from_numpy(v) for k, v in state.items()}, str(tmp_path / "t.safetensors"))
    back = minidl.load(tmp_path / "t.safetensors")
    for key in state:
        assert_same(state[key], back[key])


@pytest.mark.gpu
def test_gpu_tensors_are_saved_from_and_loaded_to_the_device(tmp_path):
    import cupy

    w = minidl.Tensor(np.arange(6, dtype=np.float32).reshape(2, 3), device="cuda")
    minidl.save({"model": {"w": w}, "epoch": 1}, tmp_path / "g.safetensors")
    on_gpu = minidl.load(tmp_path / "g.safetensors", device="cuda")
    assert isinstance(on_gpu["model"]["w"].data, cupy.ndarray)
    np.testing.assert_array_equal(on_gpu["model"]["w"].numpy(), w.numpy())
    assert minidl.load(tmp_path / "g.safetensors")["model"]["w"].device == "cpu"


def test_module_state_dict_round_trips_through_a_file(tmp_path):
    nn = minidl.nn

    def net():
        return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))

    model = net()
    model(minidl.randn(2, 1, 4, 4))  # training mode: moves BN's running statistics off their defaults
    model.eval()
    path = tmp_path / "model.safetensors"
    minidl.save(model.state_dict(), path)
    assert sorted(safetensors.numpy.load_file(str(path))) == sorted(model.state_dict())
    fresh = net()
    fresh.load_state_dict(minidl.load(path))
    fresh.eval()
    assert_same(model.state_dict(), fresh.state_dict())
    x = minidl.randn(1, 1, 4, 4)
    np.testing.assert_array_equal(fresh(x).numpy(), model(x).numpy())


KILLED_SAVE = """
import sys, time
import numpy as np
from minidl import checkpoint

def write_half_then_hang(f, data):
    f.write(data[: len(data) // 2])
    f.flush()
    print("writing", flush=True)
    time.sleep(60)

checkpoint._write_all = write_half_then_hang
checkpoint.save({"w": np.full(100_000, float(sys.argv[2]))}, sys.argv[1])
"""


def test_saves_killed_mid_write_leave_nothing_behind_once_one_succeeds(tmp_path):
    """kill -9 during three saves leaves three temporaries; the next successful save removes them and
    only them, and the file is that save's complete checkpoint."""
    import signal
    import subprocess
    import sys

    path = tmp_path / "ckpt.safetensors"
    minidl.save({"w": np.zeros(100_000)}, path)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for k in range(1, 4):
        child = subprocess.Popen([sys.executable, "-c", KILLED_SAVE, str(path), str(k)], cwd=root,
                                 stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": root})
        assert child.stdout.readline().strip() == "writing"
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    leftovers = sorted(n for n in os.listdir(tmp_path) if n.endswith(".tmp"))
    assert len(leftovers) == 3 and all(n.startswith(".ckpt.safetensors.") for n in leftovers)
    np.testing.assert_array_equal(minidl.load(path)["w"].numpy(), np.zeros(100_000))  # never corrupt
    # files that are not this target's temporaries, and one of a save still running, stay
    keep = [".other.safetensors.0123456789ab.tmp", "ckpt.safetensors.tmp", ".ckpt.safetensors.notes.tmp",
            f".ckpt.safetensors.{os.getppid()}.0123456789ab.tmp"]
    for name in keep + [".ckpt.safetensors.0123456789ab.tmp"]:  # the last: an older version's leftover
        (tmp_path / name).write_bytes(b"x")
    minidl.save({"w": np.full(100_000, 7.0)}, path)
    assert sorted(os.listdir(tmp_path)) == sorted(keep + ["ckpt.safetensors"])
    np.testing.assert_array_equal(minidl.load(path)["w"].numpy(), np.full(100_000, 7.0))
