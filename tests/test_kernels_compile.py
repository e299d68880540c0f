"""Every CUDA kernel in minidl/kernels compiles, for every dtype its '// dtypes:' line names.

This runs where no GPU is present: the source and options come from ``backend.kernel_program``, the
same ones NVRTC gets at run time, and ``nvcc --ptx`` compiles them for sm_90 (H100/H200).
"""
import concurrent.futures
import shutil
import subprocess

import numpy as np
import pytest

from minidl import backend

KERNELS = sorted(p.stem for p in backend.KERNEL_DIR.glob("*.cu"))
NVCC = shutil.which("nvcc")


def _compile(name, dtype, workdir):
    source, options = backend.kernel_program(name, dtype)
    path = workdir / f"{name}_{np.dtype(dtype).name}.cu"
    path.write_text(source)
    cmd = [NVCC, "--ptx", "-arch=sm_90", *options, str(path), "-o", str(path.with_suffix(".ptx"))]
    done = subprocess.run(cmd, capture_output=True, text=True)
    return name, np.dtype(dtype).name, done.returncode, done.stdout + done.stderr


def test_there_are_kernels():
    assert "im2col" in KERNELS and "col2im" in KERNELS


def test_every_kernel_is_built_for_float16_float32_float64():
    # a float16 model (`.half()`) runs on the GPU only if every kernel it reaches has a float16 build
    floats = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
    assert {name: backend.kernel_dtypes(name) for name in KERNELS} == {name: floats for name in KERNELS}


@pytest.mark.skipif(NVCC is None, reason="nvcc is not on PATH")
def test_every_kernel_compiles(tmp_path):
    jobs = [(name, dtype) for name in KERNELS for dtype in backend.kernel_dtypes(name)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda job: _compile(*job, tmp_path), jobs))
    failures = [f"{name}.cu for {dtype}:\n{output}" for name, dtype, rc, output in results if rc != 0]
    assert not failures, "nvcc failed:\n\n" + "\n\n".join(failures)
