import collections

import numpy as np
import pytest

import minidl
from minidl.data import DataLoader, Dataset, TensorDataset, default_collate
from minidl.data import transforms as T


class Augmented(Dataset):
    """A tiny dataset whose samples go through random transforms (to test the per-sample streams)."""

    def __init__(self, n=13):
        self.images = np.random.default_rng(0).integers(0, 256, size=(n, 8, 8, 3), dtype=np.uint8)
        self.transform = T.Compose([T.RandomCrop(6, padding=1), T.RandomHorizontalFlip(), T.ColorJitter(0.3),
                                    T.ToTensor()])

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), i


def _epoch(loader):
    return [(x.data.copy(), y.data.copy()) for x, y in loader]


def test_default_collate_structures():
    Pair = collections.namedtuple("Pair", "a b")
    batch = default_collate([(np.zeros((2, 2), np.float32), 1, 0.5, "s", {"k": 2}, Pair(1, 2))] * 3)
    images, labels, floats, names, d, pair = batch
    assert images.shape == (3, 2, 2) and images.dtype == np.float32
    assert labels.dtype == np.int64 and floats.dtype == np.float32
    assert names == ["s"] * 3 and d["k"].dtype == np.int64
    assert isinstance(pair, Pair) and pair.b.shape == (3,)
    tensors = default_collate([minidl.Tensor(np.ones(2, np.float32))] * 2)
    assert tensors.shape == (2, 2)


def test_default_collate_mismatched_shapes_is_clear():
    with pytest.raises(ValueError, match="different shapes"):
        default_collate([np.zeros((3, 4, 4)), np.zeros((3, 5, 5))])
    with pytest.raises(TypeError, match="cannot batch"):
        default_collate([object(), object()])


def test_len_and_drop_last():
    ds = TensorDataset(np.arange(10))
    assert len(DataLoader(ds, batch_size=3)) == 4
    assert len(DataLoader(ds, batch_size=3, drop_last=True)) == 3
    sizes = [len(b[0]) for b in DataLoader(ds, batch_size=3, drop_last=True)]
    assert sizes == [3, 3, 3]
    assert [len(b[0]) for b in DataLoader(ds, batch_size=3)] == [3, 3, 3, 1]


def test_shuffle_seeded_repeatable_and_each_epoch_differs():
    ds = TensorDataset(np.arange(50))
    a, b = DataLoader(ds, batch_size=50, shuffle=True, generator=7), DataLoader(ds, batch_size=50, shuffle=True, generator=7)
    ea1, eb1 = next(iter(a))[0].data, next(iter(b))[0].data
    np.testing.assert_array_equal(ea1, eb1)
    ea2 = next(iter(a))[0].data
    assert not np.array_equal(ea1, ea2)
    assert sorted(ea2.tolist()) == list(range(50))


def test_manual_seed_makes_default_generator_repeat():
    ds = TensorDataset(np.arange(30))
    loader = DataLoader(ds, batch_size=30, shuffle=True)
    minidl.manual_seed(11)
    first = next(iter(loader))[0].data
    minidl.manual_seed(11)
    np.testing.assert_array_equal(next(iter(loader))[0].data, first)
    minidl.manual_seed(11)
    np.testing.assert_array_equal(next(iter(DataLoader(ds, batch_size=30, shuffle=True)))[0].data, first)


def test_augmentation_identical_for_any_num_workers():
    ds = Augmented()
    runs = []
    for workers in (0, 2, 3):
        loader = DataLoader(ds, batch_size=4, shuffle=True, generator=5, num_workers=workers)
        runs.append(_epoch(loader) + _epoch(loader))
    for other in runs[1:]:
        for (x0, y0), (x1, y1) in zip(runs[0], other):
            np.testing.assert_array_equal(x0, x1)
            np.testing.assert_array_equal(y0, y1)
    assert not np.array_equal(runs[0][0][0], runs[0][4][0])


def test_batch_fast_path_matches_per_sample_path():
    x = np.random.default_rng(0).random((9, 3, 2, 2)).astype(np.float32)
    ds = TensorDataset(x, np.arange(9))
    fast = DataLoader(ds, batch_size=4, shuffle=True, generator=1)
    slow = DataLoader(ds, batch_size=4, shuffle=True, generator=1, collate_fn=default_collate)
    assert fast.uses_batch_path and not slow.uses_batch_path
    for (fx, fy), (sx, sy) in zip(fast, slow):
        np.testing.assert_array_equal(fx.data, sx.data)
        np.testing.assert_array_equal(fy.data, sy.data)


def test_device_and_state_dict():
    ds = TensorDataset(np.arange(6))
    loader = DataLoader(ds, batch_size=2, shuffle=True, generator=2, device="cpu")
    state = loader.state_dict()
    first = [b for (b,) in loader]
    assert all(isinstance(b, minidl.Tensor) and b.device == "cpu" for b in first)
    loader.load_state_dict(state)
    for a, (b,) in zip(first, loader):
        np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("workers", [0, 2])
def test_state_in_the_middle_of_an_epoch_continues_with_the_next_batch(workers):
    """A fresh loader given the state after k batches yields the epoch's remaining batches, same
    order and same augmentation, and then the same following epochs."""
    def loader():
        return DataLoader(Augmented(13), batch_size=3, shuffle=True, num_workers=workers, generator=5)

    whole = loader()
    epochs = [[x.numpy() for x, _ in whole] for _ in range(2)]
    stopped = loader()
    it = iter(stopped)
    for _ in range(2):
        next(it)
    state = stopped.state_dict()
    assert state["epoch"]["batches"] == 2
    resumed = loader()
    iter(resumed)  # an iterator made and never used (as tqdm.auto does) changes nothing
    resumed.load_state_dict(state)
    rest = [x.numpy() for x, _ in resumed]
    assert len(rest) == 3 and "epoch" not in resumed.state_dict()
    for a, b in zip(epochs[0][2:], rest):
        np.testing.assert_array_equal(a, b)
    for a, (b, _) in zip(epochs[1], resumed):
        np.testing.assert_array_equal(a, b.numpy())


def test_a_dataset_smaller_than_one_batch():
    ds = TensorDataset(np.arange(3))
    assert [b.numpy().tolist() for (b,) in DataLoader(ds, batch_size=8)] == [[0, 1, 2]]
    assert len(DataLoader(ds, batch_size=8)) == 1
    assert list(DataLoader(ds, batch_size=8, drop_last=True)) == [] and len(DataLoader(ds, 8, drop_last=True)) == 0


def test_argument_errors():
    ds = TensorDataset(np.arange(3))
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="device"):
        DataLoader(ds, device="tpu")


@pytest.mark.gpu
def test_batches_move_to_gpu():
    loader = DataLoader(TensorDataset(np.arange(4, dtype=np.float32)), batch_size=2, device="cuda")
    assert all(b[0].device == "cuda" for b in loader)
