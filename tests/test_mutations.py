"""The GPU tests catch deliberately broken kernels and launch sites (see tests/mutate.py)."""
import pathlib
import subprocess
import sys

import pytest

import cupy_standin
import minidl


@pytest.mark.slow
@pytest.mark.skipif(not (minidl.gpu_available() or cupy_standin.available()[0]),
                    reason="the gpu tests cannot run here: " + cupy_standin.available()[1])
def test_every_mutation_is_caught():
    script = pathlib.Path(__file__).with_name("mutate.py")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(done.stdout.splitlines()) - 1} of " in done.stdout and "MISSED" not in done.stdout
