"""A small thread pool that runs an op's work over chunks of the batch on every core.

Promise: ``run_chunks(work, chunks)`` returns ``[work(a, b) for a, b in chunks]``, in that order, and the
arrays it leads to are bitwise the same whatever ``minidl.set_num_threads`` says (tested in
``tests/test_parallel.py``). It holds because

- the chunks are chosen by the caller from the work's shape alone, never from the thread count
  (``im2col.batch_chunks``), so every thread count computes the same pieces;
- each chunk writes its own rows of the result, or returns a partial sum that the caller adds up in
  chunk order after all have finished, so no sum depends on which thread finished first;
- inside the pool every matrix product runs with one OpenBLAS thread, the same setting as a one-thread
  run (OpenBLAS's products also agree bitwise between thread counts for the shapes tested: it splits
  the output, not the inner sum, among its threads).

How: with ``n = get_num_threads() > 1`` and more than one chunk, ``n`` worker threads take the chunks;
NumPy releases the interpreter lock inside copies, ufuncs and matrix products, so the workers really
run at once. OpenBLAS is set to one thread for the duration and restored afterwards.

Why this way: a convolution is a column copy (im2col or a Winograd transform) followed by a GEMM, and
only the GEMM is threaded by OpenBLAS; the copies ran on one core, which cost about half of a ResNet
step on two cores. Chunks that each do their own copies and their own GEMM keep every core busy for
the whole op, and a chunk's columns are small enough to still be in cache when its GEMM reads them.
A call made from inside a worker (or while another thread holds the pool) runs its chunks serially.
"""
import concurrent.futures
import contextlib
import os
import threading

import numpy as np

from . import backend


_pool = None
_pool_size = 0
_busy = threading.Lock()
_local = threading.local()


def _executor(threads):
    global _pool, _pool_size
    if _pool is None or _pool_size != threads:
        if _pool is not None:
            _pool.shutdown(wait=True)
        _pool = concurrent.futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="minidl",
                                                      initializer=_mark_worker)
        _pool_size = threads
    return _pool


def _mark_worker():
    _local.worker = True


def run_chunks(work, chunks):
    """``[work(a, b) for a, b in chunks]``, the chunks spread over ``get_num_threads()`` threads."""
    alone = min(backend.get_num_threads(), len(chunks)) <= 1 or getattr(_local, "worker", False)
    if alone or not _busy.acquire(blocking=False):
        return _serial(work, chunks)
    try:
        with one_blas_thread():
            pool = _executor(backend.get_num_threads())
            futures = [pool.submit(work, a, b) for a, b in chunks]
            return [f.result() for f in futures]
    finally:
        _busy.release()


# how many shares a piece of work is cut into, per round of the pool: the machine's cores (at least 2, at
# most 8). A property of the machine, not of ``set_num_threads``, so results do not depend on the latter.
SHARES = min(8, max(2, os.cpu_count() or 1))

# work on fewer array elements than this runs as one piece: handing a piece to a worker and collecting
# it costs some tens of microseconds, what a pass over about 10^5 numbers takes
POOL_MIN_ELEMENTS = 2**20


def pieces(n, elements, align=1):
    """(start, stop) ranges covering ``range(n)`` for ``run_chunks``, for work on ``elements`` array
    elements in all: one range when that is small, else two per core of the machine, each a multiple
    of ``align`` long but the last. They depend on the sizes and the machine only, never on the
    thread count."""
    if n <= 0:
        return []
    count = 1 if elements < POOL_MIN_ELEMENTS else 2 * SHARES
    step = -(-max(1, -(-n // count)) // align) * align
    return [(a, min(a + step, n)) for a in range(0, n, step)]


# ``matmul`` cuts the output's rows when it has at least this many (or as many as columns): each piece then
# writes whole rows. A linear layer's weight gradient (1024 x 32) @ (32 x 6272) took 5.1 ms at one thread
# cut by rows, 7.2 ms by columns (2-core x86, OpenBLAS 0.3.31).
ROWS_ENOUGH = 128


def matmul(a, b):
    """``a @ b``; for two 2-D NumPy arrays made on the pool, one OpenBLAS thread per piece.

    The output's rows (or its columns, when it has fewer rows than ``ROWS_ENOUGH`` and than columns) are
    cut into ``pieces``, each one product: the same bits at any thread count. A product left to
    OpenBLAS's own threads (a linear layer's, between pooled convolutions) leaves an OpenBLAS worker
    spinning for a while after it returns, which takes a core from the pool's next op: the small CNN of
    the benchmarks (a 4096 -> 10 linear layer, batch 64) stepped in 64-72 ms at two threads that way,
    50 ms this way.
    """
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.ndim == 2 and b.ndim == 2):
        return a @ b
    (m, k), n = a.shape, b.shape[1]
    out = np.empty((m, n), dtype=np.result_type(a, b))
    by_rows = m >= min(n, ROWS_ENOUGH)

    def work(start, stop):
        if by_rows:
            np.matmul(a[start:stop], b, out=out[start:stop])
        else:
            np.matmul(a, b[:, start:stop], out=out[:, start:stop])

    # the work, in multiply-adds, counted as elements of a pass (a product of 2^24 of them takes
    # about as long as a copy of 2^20 numbers)
    with one_blas_thread():
        run_chunks(work, pieces(m if by_rows else n, m * n * k // 16) or [(0, 0)])
    return out


def _serial(work, chunks):
    if len(chunks) <= 1:
        return [work(a, b) for a, b in chunks]
    # several chunks on one thread: one BLAS thread per product, as in the pool (the same bits)
    with one_blas_thread():
        return [work(a, b) for a, b in chunks]


@contextlib.contextmanager
def one_blas_thread():
    """Run the small matrix products an op makes between its pooled sections (a Winograd weight
    transform) on one OpenBLAS thread. An OpenBLAS worker that such a product wakes keeps spinning for
    a while afterwards and takes a core from the pool's threads (measured on 2 cores: a Winograd
    convolution used twice the CPU time at two threads until its weight transforms ran this way)."""
    blas = backend.get_num_threads()
    if blas == 1 or getattr(_local, "worker", False):
        yield
        return
    backend.set_blas_threads(1)
    try:
        yield
    finally:
        backend.set_blas_threads(blas)
