"""Every CUDA kernel of minidl/kernels, through the ops that launch it, in float16, float32 and float64.

* float16 on the GPU matches the float32 CPU path within float16's precision (kernels accumulate in
  float32 and take their floating scalars as float32);
* every kernel function is launched for every dtype its file is built for (counted by the stand-in);
* launch shapes do not matter: each launch is repeated with grids x blocks of 1 x 1, 3 x 5 and 2 x 128
  threads and must give the same bits (grid-stride loops, no dependence on the thread count).

Without a GPU these run on the CuPy stand-in (tests/cupy_standin); the last two need its launcher.
"""
import re

import numpy as np
import pytest

import minidl
from minidl import backend
from minidl import functional as F

OTHER_SHAPES = [((1,), (1,)), ((3,), (5,)), ((2,), (128,))]


def _conv(x):
    w = minidl.Tensor(np.linspace(-1, 1, 4 * 3 * 3 * 2).reshape(4, 3, 3, 2).astype(x.dtype), device=x.device,
                      requires_grad=True)
    return F.conv2d(x, w, stride=(2, 1), padding=(1, 2), dilation=(1, 2))


def _winograd(m):
    """A grouped 3x3 conv2d forced onto Winograd F(m x m, 3 x 3) (float16 falls back to im2col); the
    backward uses the algorithm its forward chose."""
    def conv(x):
        w = minidl.Tensor(np.linspace(-1, 1, 6 * 2 * 3 * 3).reshape(6, 2, 3, 3).astype(x.dtype), device=x.device,
                          requires_grad=True)
        old = minidl.get_conv_algorithm()
        minidl.set_conv_algorithm(f"winograd{m}")
        try:
            return F.conv2d(x, w, padding=1, groups=2)
        finally:
            minidl.set_conv_algorithm(old)
    return conv


# op -> (input shape, function of one input tensor); each goes through the kernels named in its key
CASES = {
    "conv2d (im2col, col2im)": ((2, 3, 7, 6), _conv),
    "conv2d winograd2 (winograd_input, winograd_output, winograd_grad_tiles)": ((2, 4, 7, 6), _winograd(2)),
    "conv2d winograd4 (winograd_input, winograd_output, winograd_grad_tiles)": ((2, 4, 9, 5), _winograd(4)),
    "max_pool2d": ((2, 3, 7, 6), lambda x: F.max_pool2d(x, 3, stride=2, padding=1, dilation=(1, 2))),
    "avg_pool2d": ((2, 3, 7, 6), lambda x: F.avg_pool2d(x, (3, 2), stride=(2, 1), padding=1,
                                                          count_include_pad=False)),
    "adaptive_max_pool2d": ((2, 3, 7, 6), lambda x: F.adaptive_max_pool2d(x, (3, 4))),
    "lrn": ((2, 7, 3, 4), lambda x: F.local_response_norm(x, 3, alpha=0.1, beta=0.75, k=1.0)),
    "lrn_paper": ((2, 7, 3), lambda x: F.local_response_norm_paper(x, 5, alpha=1e-2)),
    "dropout": ((4, 50), lambda x: F.dropout(x, 0.3)),
}


def _run(case, dtype, device, seed=0, contiguous=True):
    """(output, input gradient) as float64 NumPy arrays, for a fixed input and output gradient.

    With ``contiguous=False`` the op sees a transposed view (its last two axes swapped back)."""
    shape, fn = CASES[case]
    rng = np.random.default_rng(7)
    stored = shape if contiguous else shape[:-2] + shape[-1:] + shape[-2:-1]
    x = minidl.Tensor(rng.normal(0, 2, stored).astype(dtype), device=device, requires_grad=True)
    minidl.manual_seed(seed)
    y = fn(x if contiguous else x.transpose(-1, -2))
    g = np.random.default_rng(8).normal(size=y.shape).astype(dtype)
    y.backward(minidl.Tensor(g, device=device))
    return [backend.to_numpy(a).astype(np.float64) for a in (y.data, x.grad.data)]


def _standin():
    cupy = backend.cupy_module()
    if not hasattr(cupy.RawModule, "__module__") or "cupy_standin" not in cupy.RawModule.__module__:
        pytest.skip("counts and repeats launches through the CuPy stand-in's launcher (not a real GPU)")
    from cupy_standin import hostcc
    return hostcc


@pytest.mark.gpu
@pytest.mark.parametrize("case", sorted(CASES))
def test_float16_on_the_gpu_matches_float32_on_the_cpu(case):
    half = _run(case, np.float16, "cuda")
    # the reference sees the same float16-rounded input, computed in float32 on the CPU; dropout's
    # CPU mask comes from another generator, so its reference is the float32 GPU mask of the same seed
    reference = _run(case, np.float32, "cuda" if case == "dropout" else "cpu")
    for got, want, what in zip(half, reference, ("output", "input gradient")):
        scale = max(np.abs(want).max(), 1e-6)
        assert np.abs(got - want).max() <= 1e-2 * scale, f"{case}: float16 {what} is off"


@pytest.mark.gpu
@pytest.mark.parametrize("case", sorted(set(CASES) - {"dropout"}))
def test_strided_views_on_the_gpu_match_the_cpu(case):
    # the kernels index flat memory: a launch site must make its arrays contiguous first
    gpu = _run(case, np.float64, "cuda", contiguous=False)
    cpu = _run(case, np.float64, "cpu", contiguous=False)
    for got, want in zip(gpu, cpu):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def _kernel_functions():
    """(file, function, dtype) for every __global__ function and every dtype its file is built for."""
    every = set()
    for path in sorted(backend.KERNEL_DIR.glob("*.cu")):
        for function in re.findall(r'extern\s+"C"\s+__global__\s+void\s+(\w+)', path.read_text()):
            every |= {(function, dtype.name) for dtype in backend.kernel_dtypes(path.stem)}
    return every


@pytest.mark.gpu
def test_every_kernel_is_launched_for_every_dtype():
    hostcc = _standin()
    del hostcc.LAUNCHES[:]
    for case in CASES:
        for dtype in (np.float16, np.float32, np.float64):
            _run(case, dtype, "cuda")
    by_type = {f"-Dscalar_t={name}": dtype.name for dtype, name in backend.KERNEL_TYPES.items()}
    launched = {(function, by_type[o]) for function, options in hostcc.LAUNCHES for o in options if o in by_type}
    missing = sorted(_kernel_functions() - launched)
    assert not missing, f"kernels never launched by the ops of CASES: {missing}"


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", sorted(CASES))
def test_launch_shapes_do_not_matter(case, dtype, monkeypatch):
    hostcc = _standin()
    monkeypatch.setattr(hostcc, "RELAUNCH_SHAPES", OTHER_SHAPES)
    before = len(hostcc.LAUNCHES)
    _run(case, dtype, "cuda")  # the launcher raises when another shape gives other bits
    assert len(hostcc.LAUNCHES) > before
