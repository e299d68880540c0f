"""The CuPy stand-in itself: it must fail where a real GPU run would go wrong, or it hides bugs.

Launches are checked against the kernel's C signature as CuPy packs arguments, out-of-bounds writes
and unwritten outputs are caught, and device arrays keep CuPy's rules (no silent trips to NumPy).
"""
import numpy as np
import pytest

import cupy_standin
from cupy_standin import hostcc

pytestmark = pytest.mark.skipif(not cupy_standin.available()[0], reason=cupy_standin.available()[1])

SOURCE = r"""
extern "C" __global__ void scale(const scalar_t* __restrict__ x, scalar_t* __restrict__ y, long long n,
                                 int shift, acc_t factor) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x) {
        y[i] = (scalar_t)((acc_t)x[i] * factor + shift);
    }
}
extern "C" __global__ void past_the_end(scalar_t* y, long long n) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i <= n;
         i += (long long)blockDim.x * gridDim.x) {
        y[i] = (scalar_t)1.0f;
    }
}
extern "C" __global__ void every_other(scalar_t* y, long long n) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += 2 * (long long)blockDim.x * gridDim.x) {
        y[i] = (scalar_t)1.0f;
    }
}
"""
OPTIONS = ("-std=c++14", "-Dscalar_t=float", "-Dacc_t=float")


@pytest.fixture
def cp():
    import minidl  # noqa: F401  (install() resets minidl's backend)
    module = cupy_standin.install()
    yield module
    cupy_standin.uninstall()


def _kernel(cp, name, options=OPTIONS, code=SOURCE):
    return cp.RawModule(code=code, options=options).get_function(name)


def test_a_launch_runs_every_thread_and_reads_the_signature(cp):
    kernel = _kernel(cp, "scale")
    assert kernel.params == ["const*float32", "*float32", "int64", "int32", "float32"]
    x = cp.asarray(np.arange(1000, dtype=np.float32))
    y = cp.empty_like(x)
    kernel((3,), (64,), (x, y, 1000, np.int32(2), np.float32(0.5)))
    np.testing.assert_array_equal(y.get(), np.arange(1000, dtype=np.float32) * 0.5 + 2)


def test_float16_builds_take_half_arrays_and_float_scalars(cp):
    kernel = _kernel(cp, "scale", ("-std=c++14", "-Dscalar_t=__half", "-DMINIDL_HALF=1", "-Dacc_t=float"),
                     "#include <cuda_fp16.h>\n" + SOURCE)
    x = cp.asarray(np.linspace(-2, 2, 9, dtype=np.float16))
    y = cp.empty_like(x)
    kernel((1,), (4,), (x, y, 9, np.int32(0), np.float32(3.0)))
    np.testing.assert_array_equal(y.get(), (x.get().astype(np.float32) * 3).astype(np.float16))
    with pytest.raises(TypeError, match="float16.*2-byte value for a 4-byte parameter"):
        kernel((1,), (4,), (x, y, 9, np.int32(0), np.float16(3.0)))


@pytest.mark.parametrize("args, message", [
    (lambda cp, x, y: (x, y, 8, 2, np.float32(1)), r"argument 3 \(int32\): CuPy would pass int64"),
    (lambda cp, x, y: (x, y, np.int32(8), np.int32(2), np.float32(1)), r"argument 2 \(int64\): CuPy would pass int32"),
    (lambda cp, x, y: (x, y, 8, np.int32(2), 1.0), r"argument 4 \(float32\): CuPy would pass float64"),
    (lambda cp, x, y: (x, y, 8, np.int32(2)), "takes 5 arguments"),
    (lambda cp, x, y: (x, y.astype(np.float64), 8, np.int32(2), np.float32(1)), "got an array of float64"),
    (lambda cp, x, y: (x.get(), y, 8, np.int32(2), np.float32(1)), "expected a device array, got ndarray"),
    (lambda cp, x, y: (x[:, ::2], y, 8, np.int32(2), np.float32(1)), "not C-contiguous"),
    (lambda cp, x, y: (x, y, x, np.int32(2), np.float32(1)), "expected a scalar"),
])
def test_a_launch_that_does_not_match_the_signature_fails(cp, args, message):
    x = cp.asarray(np.ones((4, 4), dtype=np.float32))
    y = cp.zeros((4, 4), dtype=np.float32)
    with pytest.raises((TypeError, ValueError), match=message):
        _kernel(cp, "scale")((1,), (8,), args(cp, x, y))


@pytest.mark.parametrize("grid, block", [((0,), (8,)), ((1,), (2048,)), ((1,), (32, 64)), ((1, 70000), (1,)),
                                         (1, (8,))])
def test_grid_and_block_limits(cp, grid, block):
    x = cp.asarray(np.ones(8, dtype=np.float32))
    with pytest.raises((TypeError, ValueError), match="grid|block"):
        _kernel(cp, "scale")(grid, block, (x, cp.empty_like(x), 8, np.int32(0), np.float32(1)))


def test_an_out_of_bounds_write_fails(cp):
    y = cp.empty(16, dtype=np.float32)
    with pytest.raises(AssertionError, match=r"past_the_end: argument 0 .*wrote outside the array \(16 elements\)"):
        _kernel(cp, "past_the_end")((2,), (8,), (y, 16))


def test_an_output_element_nobody_writes_fails(cp):
    y = cp.zeros(16, dtype=np.float32)  # even zeroed memory: outputs start as the sentinel
    with pytest.raises(AssertionError, match="8 of 16 output elements were not written"):
        _kernel(cp, "every_other")((1,), (4,), (y, 16))


def test_launch_shapes_are_compared_when_asked(cp, monkeypatch):
    monkeypatch.setattr(hostcc, "RELAUNCH_SHAPES", [((1,), (1,))])
    y = cp.empty(16, dtype=np.float32)
    # every_other with one thread writes all even elements; with 16 threads, it writes all of them
    with pytest.raises(AssertionError, match="not written|differs"):
        _kernel(cp, "every_other")((1,), (16,), (y, 16))


def test_shared_memory_is_a_compile_error_with_a_reason(cp):
    code = 'extern "C" __global__ void k(float* y) { __shared__ float s[4]; __syncthreads(); y[0] = s[0]; }'
    with pytest.raises(RuntimeError, match="needs_a_block_synchronous_host_runner"):
        cp.RawModule(code=code, options=OPTIONS)


def test_unknown_nvrtc_options_are_refused(cp):
    with pytest.raises(ValueError, match="--use_fast_math"):
        cp.RawModule(code=SOURCE, options=OPTIONS + ("--use_fast_math",))


def test_builds_are_cached_by_source_hash(cp, tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDL_STANDIN_CACHE", str(tmp_path))
    code = SOURCE + "\n// a source of its own\n"
    cp.RawModule(code=code, options=OPTIONS)
    assert len(list(tmp_path.glob("*.so"))) == 1
    hostcc.build.cache_clear()
    cp.RawModule(code=code, options=OPTIONS)  # from the disk cache: no second library
    assert len(list(tmp_path.glob("*.so"))) == 1


def test_no_compiler_means_the_stand_in_is_unavailable(monkeypatch):
    monkeypatch.setattr(hostcc.shutil, "which", lambda name: None)
    assert cupy_standin.available() == (False, "no C++ compiler (g++ or clang++) for the CuPy stand-in")


def test_device_arrays_keep_cupys_rules(cp):
    a = cp.asarray(np.arange(6.0).reshape(2, 3))
    host = np.ones((2, 3))
    for mixed in (lambda: a + host, lambda: host * a, lambda: cp.where(host > 0, a, a),
                  lambda: cp.concatenate([a, host]), lambda: cp.stack([host, a]), lambda: np.add(a, host)):
        with pytest.raises(TypeError, match="Unsupported type"):
            mixed()
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array"):
        np.asarray(a)
    total = a.sum()
    assert isinstance(total, cp.ndarray) and total.shape == () and float(total) == 15.0
    assert isinstance(np.max(a), cp.ndarray) and isinstance(a[1, 2], cp.ndarray)
    assert isinstance(a * np.float32(2), cp.ndarray) and isinstance(2.0 - a, cp.ndarray)
    with pytest.raises(AttributeError, match="no attribute 'errstate'"):
        cp.errstate
    with pytest.raises(AttributeError, match="'cupy.ndarray' object has no attribute 'tofile_text'"):
        a.tofile_text
    with pytest.raises(TypeError, match="unexpected keyword argument 'where'"):
        cp.sum(a, where=a > 0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'initial'"):
        a.max(initial=0)
    # host-side parameters (split points, shapes, pad widths) may be NumPy values, as in CuPy
    assert [p.shape for p in cp.split(a, np.array([1]), axis=1)] == [(2, 1), (2, 2)]
    fresh = cp.empty(3, dtype=np.float64)
    assert np.isnan(fresh.get()).all()  # uninitialised memory is not zeros


def test_a_view_s_base_is_the_array_it_views_as_in_cupy(cp):
    x = cp.zeros((2, 3))
    v = x.reshape(6)[1:]
    assert v.base is x and x.base is None
