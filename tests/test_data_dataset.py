import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl
from minidl.data import ConcatDataset, Subset, TensorDataset, random_split


def test_tensor_dataset_rows_and_batch():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = minidl.Tensor(np.arange(6, dtype=np.int64))
    ds = TensorDataset(x, y)
    assert len(ds) == 6
    xi, yi = ds[-1]
    np.testing.assert_array_equal(xi, x[5])
    assert yi == 5
    bx, by = ds.get_batch([4, 1])
    assert isinstance(bx, minidl.Tensor) and bx.shape == (2, 2)
    np.testing.assert_array_equal(by.data, [4, 1])


def test_tensor_dataset_errors():
    with pytest.raises(ValueError, match="same first dimension"):
        TensorDataset(np.zeros(3), np.zeros(4))
    with pytest.raises(IndexError, match="out of range"):
        TensorDataset(np.zeros(3))[3]
    with pytest.raises(TypeError, match="integer"):
        TensorDataset(np.zeros(3))[1.5]


def test_subset_and_concat():
    ds = TensorDataset(np.arange(10))
    sub = Subset(ds, [7, 2, 5])
    assert [int(sub[i][0]) for i in range(3)] == [7, 2, 5]
    np.testing.assert_array_equal(sub.get_batch([2, 0])[0].data, [5, 7])
    cat = ConcatDataset([sub, TensorDataset(np.arange(100, 103))])
    assert len(cat) == 6
    assert [int(cat[i][0]) for i in range(6)] == [7, 2, 5, 100, 101, 102]
    assert int((ds + ds)[15][0]) == 5


@given(n=st.integers(1, 60), parts=st.lists(st.integers(0, 20), min_size=1, max_size=4), seed=st.integers(0, 99))
def test_random_split_sizes_disjoint_and_complete(n, parts, seed):
    total = sum(parts)
    if total == 0:
        parts = [n]
    else:
        parts = [p * n // total for p in parts]
        parts[0] += n - sum(parts)
    splits = random_split(TensorDataset(np.arange(n)), parts, generator=seed)
    assert [len(s) for s in splits] == parts
    seen = np.concatenate([np.asarray(s.indices, dtype=np.int64) for s in splits])
    assert sorted(seen.tolist()) == list(range(n))


@given(n=st.integers(1, 50), f=st.floats(0.05, 0.95))
def test_random_split_fractions(n, f):
    a, b = random_split(TensorDataset(np.arange(n)), [f, 1.0 - f], generator=0)
    assert len(a) + len(b) == n
    assert abs(len(a) - n * f) <= 1
    assert not set(a.indices) & set(b.indices)


def test_random_split_repeatable_and_errors():
    ds = TensorDataset(np.arange(20))
    assert random_split(ds, [5, 15], generator=3)[0].indices == random_split(ds, [5, 15], generator=3)[0].indices
    minidl.manual_seed(4)
    first = random_split(ds, [5, 15])[0].indices
    minidl.manual_seed(4)
    assert random_split(ds, [5, 15])[0].indices == first
    with pytest.raises(ValueError, match="sum to 19"):
        random_split(ds, [4, 15])
    with pytest.raises(TypeError, match="Generator"):
        random_split(ds, [5, 15], generator="seed")
