"""The thread pool: results in chunk order, bitwise the same for any thread count, BLAS restored."""
import threading

import numpy as np
import pytest

import minidl
import minidl.functional as F
from minidl import backend, parallel
from minidl.functional import im2col as im2col_module


@pytest.fixture
def threads():
    """Set minidl's thread count for one test; restore it (and the conv algorithm) after."""
    old, algorithm = minidl.get_num_threads(), minidl.get_conv_algorithm()
    yield minidl.set_num_threads
    minidl.set_num_threads(old)
    minidl.set_conv_algorithm(algorithm)


@pytest.fixture
def small_chunks(monkeypatch):
    # chunks of one sample or two, so the pool has several to share even for a small batch
    monkeypatch.setattr(im2col_module, "CHUNK_BYTES", 64 * 2**10)


def test_results_come_back_in_chunk_order(threads):
    threads(2)
    names = []
    out = parallel.run_chunks(lambda a, b: (a, b, names.append(threading.current_thread().name)),
                              [(k, k + 1) for k in range(8)])
    assert [(a, b) for a, b, _ in out] == [(k, k + 1) for k in range(8)]
    assert any(name.startswith("minidl") for name in names)


def test_blas_threads_restored_and_one_inside(threads):
    threads(2)
    if not backend.set_blas_threads(2):
        pytest.skip("no OpenBLAS found: its thread count cannot be read")
    blas_get = backend._openblas()[1]
    inside = parallel.run_chunks(lambda a, b: blas_get(), [(0, 1), (1, 2)])
    assert inside == [1, 1] and blas_get() == 2


def test_nested_call_runs_serially(threads):
    threads(2)
    out = parallel.run_chunks(lambda a, b: parallel.run_chunks(lambda c, d: c * d, [(a, b), (b, a)]),
                              [(1, 2), (3, 4)])
    assert out == [[2, 2], [12, 12]]


def _conv_step(op, algorithm, seed=0):
    minidl.set_conv_algorithm(algorithm)
    rng = np.random.default_rng(seed)
    x = minidl.Tensor(rng.standard_normal((6, 16, 10, 10)).astype(np.float32), requires_grad=True)
    if op == "conv2d":
        w = minidl.Tensor(rng.standard_normal((16, 16, 3, 3)).astype(np.float32), requires_grad=True)
        out = F.conv2d(x, w, padding=1)
    else:
        w = minidl.Tensor(rng.standard_normal((16, 8, 4, 4)).astype(np.float32), requires_grad=True)
        b = minidl.Tensor(rng.standard_normal(8).astype(np.float32), requires_grad=True)
        out = F.conv_transpose2d(x, w, b, stride=2, padding=1)
    out.backward(minidl.Tensor(rng.standard_normal(out.shape).astype(np.float32)))
    if op == "conv_transpose2d":  # its bias gradient too: summed per chunk on the phase path
        return out.numpy(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()
    return out.numpy(), x.grad.numpy(), w.grad.numpy()


@pytest.mark.parametrize("op,algorithm", [("conv2d", "im2col"), ("conv2d", "winograd2"),
                                          ("conv2d", "winograd4"), ("conv_transpose2d", "im2col"),
                                          ("conv_transpose2d", "auto")])
def test_bitwise_independent_of_thread_count(op, algorithm, threads, small_chunks):
    threads(1)
    one = _conv_step(op, algorithm)
    threads(2)
    two = _conv_step(op, algorithm)
    for a, b in zip(one, two):
        assert np.array_equal(a, b)


def test_pooling_bitwise_independent_of_thread_count(threads, small_chunks):
    rng = np.random.default_rng(3)
    x_data = rng.standard_normal((6, 8, 12, 12)).astype(np.float32)
    results = []
    for n in (1, 2):
        threads(n)
        x = minidl.Tensor(x_data, requires_grad=True)
        F.max_pool2d(x, 3, 2, 1).sum().backward()
        y = minidl.Tensor(x_data, requires_grad=True)
        F.avg_pool2d(y, 3, 2, 1).sum().backward()
        results.append((x.grad.numpy(), y.grad.numpy()))
    for a, b in zip(*results):
        assert np.array_equal(a, b)


def test_set_num_threads_is_what_get_returns(threads):
    threads(3)
    assert minidl.get_num_threads() == 3
    with pytest.raises(ValueError, match="set_num_threads.*0"):
        minidl.set_num_threads(0)


def test_batch_norm_bitwise_independent_of_thread_count(threads, small_chunks):
    rng = np.random.default_rng(4)
    x_data = (rng.standard_normal((6, 8, 12, 12)) * 3 + 5).astype(np.float32)
    g_data = rng.standard_normal(x_data.shape).astype(np.float32)
    results = []
    for n in (1, 2):
        threads(n)
        x = minidl.Tensor(x_data, requires_grad=True)
        w = minidl.Tensor(np.linspace(0.5, 1.5, 8, dtype=np.float32), requires_grad=True)
        out = F.batch_norm(x, None, None, w, None, training=True)
        out.backward(minidl.Tensor(g_data))
        results.append((out.numpy(), x.grad.numpy(), w.grad.numpy()))
    for a, b in zip(*results):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("value", ["1", "2"])
def test_minidl_num_threads_sets_the_pool_and_blas(value):
    import os
    import subprocess
    import sys

    code = "import minidl; print(minidl.get_num_threads(), minidl.backend._openblas() is not None)"
    env = dict(os.environ, MINIDL_NUM_THREADS=value)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    threads, has_blas = done.stdout.split()
    assert threads == value
    if has_blas == "True":
        code = "import minidl; print(minidl.backend._openblas()[1]())"
        blas = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                              cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        assert blas.stdout.strip() == value


def test_one_blas_thread_inside_and_restored(threads):
    threads(2)
    if not backend.set_blas_threads(2):
        pytest.skip("no OpenBLAS found: its thread count cannot be read")
    blas_get = backend._openblas()[1]
    with parallel.one_blas_thread():
        assert blas_get() == 1
    assert blas_get() == 2


def test_a_batch_that_fits_one_chunk_still_makes_two():
    assert im2col_module.batch_chunks(32, 1000) == [(0, 16), (16, 32)]
    assert im2col_module.batch_chunks(1, 1000) == [(0, 1)]
    assert im2col_module.batch_chunks(32, 1000, cpu=False) == [(0, 32)]  # the GPU: the budget alone


def test_chunks_share_the_batch_evenly(monkeypatch):
    # 32 samples at most 14 to a chunk: not 14 + 14 + 4 (one thread idle through the last chunk)
    monkeypatch.setattr(im2col_module, "CHUNK_MULTIPLE", 2)
    assert im2col_module.batch_chunks(32, 1000, budget=14000) == [(0, 8), (8, 16), (16, 24), (24, 32)]
    assert im2col_module.batch_chunks(7, 1000, budget=3000) == [(0, 2), (2, 4), (4, 6), (6, 7)]
    assert im2col_module.batch_chunks(0, 1000) == []


@pytest.mark.parametrize("make", [
    lambda params: minidl.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4),
    lambda params: minidl.optim.AdamW(params, lr=1e-3),
])
def test_optimizer_step_is_the_same_on_any_thread_count(threads, make):
    def trained(n):
        threads(n)
        rng = np.random.default_rng(0)
        params = [minidl.Tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=True)
                  for shape in [(64, 32, 3, 3), (64,), (10, 64), (10,), (300, 300)]]
        opt = make(params)
        for step in range(3):
            for p in params:
                p.grad = minidl.Tensor(rng.standard_normal(p.shape).astype(np.float32))
            opt.step()
        return [p.numpy() for p in params]

    one, two = trained(1), trained(2)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


def test_optimizer_updates_run_in_the_pool(threads, monkeypatch):
    threads(2)
    names = set()
    real = minidl.optim.SGD._elementwise
    monkeypatch.setattr(minidl.optim.SGD, "_elementwise",
                        lambda self, *a: names.add(threading.current_thread().name) or real(self, *a))
    params = [minidl.Tensor(np.ones((1000,), np.float32), requires_grad=True) for _ in range(8)]
    for p in params:
        p.grad = minidl.Tensor(np.ones((1000,), np.float32))
    minidl.optim.SGD(params, lr=0.5).step()
    assert all(np.all(p.numpy() == 0.5) for p in params)
    assert any(name.startswith("minidl") for name in names)


OPTIMIZERS = [
    lambda params: minidl.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4),
    lambda params: minidl.optim.SGD(params, lr=0.1, momentum=0.5, dampening=0.3, maximize=True),
    lambda params: minidl.optim.Adam(params, lr=1e-2, weight_decay=1e-3, amsgrad=True),
    lambda params: minidl.optim.AdamW(params, lr=1e-3),
]


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_optimizer_pieces_give_the_bits_of_whole_arrays(threads, make, monkeypatch):
    # a weight of 2.5 pieces, a non-contiguous gradient (it stays whole), an empty parameter, a bias
    from minidl.optim import optimizer
    piece = optimizer.PIECE
    rng = np.random.default_rng(1)
    shapes = [(5, piece // 2), (40, 30), (0, 3), (7,)]
    starts = [rng.standard_normal(shape).astype(np.float32) for shape in shapes]
    grads = [[rng.standard_normal(shape).astype(np.float32) for shape in shapes] for _ in range(3)]
    grads = [[g if g.ndim < 2 or g.shape[0] != 40 else np.asfortranarray(g) for g in step] for step in grads]

    def trained(n, whole):
        threads(n)
        params = [minidl.Tensor(x.copy(), requires_grad=True) for x in starts]
        opt = make(params)
        if whole:
            monkeypatch.setattr(opt, "updates_in_parallel", False)
        calls = []
        real = opt._elementwise
        monkeypatch.setattr(opt, "_elementwise", lambda theta, *a: calls.append(theta.size) or real(theta, *a))
        for step in grads:
            for p, g in zip(params, step):
                p.grad = minidl.Tensor(g)
            opt.step()
        return [p.numpy() for p in params], calls

    (want, whole_calls), (one, calls) = trained(1, True), trained(1, False)
    two, _ = trained(2, False)
    assert max(calls) == piece and sorted(whole_calls)[-1] == 5 * piece // 2  # it did cut
    assert 40 * 30 in calls  # the Fortran-ordered gradient's update ran whole
    for w, a, b in zip(want, one, two):
        np.testing.assert_array_equal(a, w)
        np.testing.assert_array_equal(b, w)


def test_one_large_weight_is_cut_into_pieces_for_the_pool(threads, monkeypatch):
    from minidl.optim import optimizer
    threads(2)
    seen = []
    real = minidl.optim.SGD._elementwise
    monkeypatch.setattr(minidl.optim.SGD, "_elementwise",
                        lambda self, theta, *a: seen.append((threading.current_thread().name, theta.size))
                        or real(self, theta, *a))
    p = minidl.Tensor(np.ones(16 * optimizer.PIECE, np.float32), requires_grad=True)
    p.grad = minidl.Tensor(np.ones(p.shape, np.float32))
    minidl.optim.SGD([p], lr=0.5, momentum=0.9).step()
    assert np.all(p.numpy() == 0.5)
    assert [size for _, size in seen] == [optimizer.PIECE] * 16
    assert all(name.startswith("minidl") for name, _ in seen)


def test_pieces_depend_on_sizes_only():
    assert parallel.pieces(0, 10) == []
    assert parallel.pieces(100, 10) == [(0, 100)]  # small work: one piece
    big = parallel.pieces(1000, 2**22, align=64)
    assert big[0][0] == 0 and big[-1][1] == 1000 and all(b == c for (_, b), (c, _) in zip(big, big[1:]))
    assert all((b - a) % 64 == 0 for a, b in big[:-1]) and len(big) > 1


@pytest.mark.parametrize("shape", [(4608, 512), (262144, 9), (9, 262144)])
def test_large_transposes_and_weight_transforms_are_the_same_on_any_thread_count(threads, shape, rng):
    from minidl.functional import winograd
    a = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((256, 256, 3, 3)).astype(np.float32)
    results = []
    for n in (1, 2):
        threads(n)
        results.append((im2col_module.transposed(a), winograd._transformed_weight(w, 1, 4)))
    assert np.array_equal(results[0][0], a.T) and np.array_equal(results[1][0], a.T)
    assert np.array_equal(results[0][1], results[1][1])


def test_winograd_weight_gradient_of_a_wide_layer_is_the_same_on_any_thread_count(threads, rng):
    # 256 channels: the weight gradient's closing sum and transform are shared out over the pool
    from minidl.functional import winograd
    from minidl.functional.im2col import Geometry
    x = rng.standard_normal((4, 256, 4, 4)).astype(np.float32)
    y = rng.standard_normal((4, 256, 4, 4)).astype(np.float32)
    geo = Geometry((3, 3), (1, 1), (1, 1, 1, 1), (1, 1), (4, 4), (4, 4))
    results = []
    for n in (1, 2):
        threads(n)
        results.append(winograd.correlate_weight_grad(x, y, geo, 1, 4))
    assert np.array_equal(results[0], results[1])


@pytest.mark.parametrize("shape", [((300, 500), (500, 40)), ((10, 4096), (4096, 1000)), ((3, 4), (4, 5)),
                                   ((2000, 600), (600, 700)), ((1024, 32), (32, 6000))])
def test_matmul_on_the_pool_equals_numpy_and_any_thread_count(threads, shape, rng):
    a = rng.standard_normal(shape[0]).astype(np.float32)
    b = rng.standard_normal(shape[1]).astype(np.float32)
    results = []
    for n in (1, 2):
        threads(n)
        results.append(parallel.matmul(a, b))
    assert np.array_equal(results[0], results[1])
    np.testing.assert_allclose(results[0], a @ b, rtol=1e-5, atol=1e-4)
    batched = rng.standard_normal((2, 3, 4))
    assert np.array_equal(parallel.matmul(batched, batched.swapaxes(-1, -2)), batched @ batched.swapaxes(-1, -2))


def test_pointwise_convolution_multiplies_on_the_pool(threads, monkeypatch):
    # a 1x1 convolution's products (forward and input gradient) run in the pool's workers, one BLAS thread
    # each: one left to OpenBLAS's own threads would leave its worker spinning into the next pooled op
    threads(2)
    rng = np.random.default_rng(5)
    x = minidl.Tensor(rng.standard_normal((4, 16, 6, 6)).astype(np.float32), requires_grad=True)
    w = minidl.Tensor(rng.standard_normal((8, 16, 1, 1)).astype(np.float32), requires_grad=True)
    names, real = [], np.matmul
    monkeypatch.setattr(np, "matmul", lambda *a, **k: names.append(threading.current_thread().name)
                        or real(*a, **k))
    out = F.conv2d(x, w)
    out.backward(minidl.ones(*out.shape))
    monkeypatch.setattr(np, "matmul", real)
    assert len(names) >= 4 and all(name.startswith("minidl") for name in names), names
    expected = np.einsum("oc,nchw->nohw", w.numpy()[:, :, 0, 0], x.numpy())
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), np.broadcast_to(w.numpy().sum(axis=0)[None], (4, 16, 6, 6)),
                               rtol=1e-5, atol=1e-5)
