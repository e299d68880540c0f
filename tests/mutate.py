"""Break the GPU path on purpose and check that the tests notice.

Each mutation is one small edit a person could make by mistake in a kernel or at a launch site. The
script copies the project to a temporary folder, applies one mutation, runs the tests that should catch
it (on a real GPU or on the CuPy stand-in) and reports whether they failed. A mutation the tests miss is
a hole in the GPU tests. Exit status 0 when every mutation is caught.

    python tests/mutate.py            # all mutations
    python tests/mutate.py swapped    # those whose name contains "swapped"
"""
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]

# name, file, text, replacement, tests that must fail
MUTATIONS = [
    ("off-by-one loop bound in im2col.cu (writes one element past the columns)",
     "minidl/kernels/im2col.cu", "idx < total;", "idx <= total;",
     ["tests/test_gpu_kernels.py", "-k", "float32 and conv2d"]),
    ("off-by-one window extent in max_pool2d.cu's backward",
     "minidl/kernels/max_pool2d.cu", "first_window(h + ph, (kh - 1) * dh + 1, sh)",
     "first_window(h + ph, (kh - 1) * dh, sh)",
     ["tests/test_gpu_kernels.py", "-k", "float32 and max_pool2d"]),
    ("wrong scalar type at the LRN launch site (the input's dtype instead of the accumulator's)",
     "minidl/functional/lrn.py", "    acc = backend.accumulator_type(x.dtype)\n    y = xp.empty_like(x)",
     "    acc = x.dtype.type\n    y = xp.empty_like(x)",
     ["tests/test_gpu_kernels.py", "-k", "float16 and lrn"]),
    ("wrong scalar type at the dropout launch site (a Python float for a float parameter)",
     "minidl/functional/dropout.py", "backend.accumulator_type(dtype)(scale)", "scale",
     ["tests/test_dropout.py", "-m", "gpu"]),
    ("missing ascontiguousarray before the max-pooling kernel",
     "minidl/functional/pooling_common.py", "        x4 = xp.ascontiguousarray(x4)\n", "",
     ["tests/test_gpu_kernels.py", "-k", "strided and max_pool2d"]),
    ("swapped stride and dilation in im2col's launch arguments",
     "minidl/functional/im2col.py",
     "i32(geo.sh), i32(geo.sw),\n        i32(geo.pt), i32(geo.pl), i32(geo.dh), i32(geo.dw)",
     "i32(geo.dh), i32(geo.dw),\n        i32(geo.pt), i32(geo.pl), i32(geo.sh), i32(geo.sw)",
     ["tests/test_gpu_kernels.py", "-k", "float32 and conv2d"]),
]


def _copy_project(target):
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def run(mutation):
    """(caught, seconds, last lines of the test output) for one mutation."""
    name, path, text, replacement, tests = mutation
    with tempfile.TemporaryDirectory() as work:
        work = pathlib.Path(work)
        _copy_project(work)
        source = (work / path).read_text()
        if source.count(text) != 1:
            raise SystemExit(f"mutation {name!r}: the text to change occurs {source.count(text)} times in {path}")
        (work / path).write_text(source.replace(text, replacement))
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
                              cwd=work, capture_output=True, text=True, timeout=600)
        # 1: tests ran and failed; 5 (none collected) or 0 (all passed) mean the mutation went unseen
        return done.returncode == 1, time.perf_counter() - start, done.stdout.strip().splitlines()[-1:]


def main(argv):
    chosen = [m for m in MUTATIONS if not argv or any(word in m[0] for word in argv)]
    missed = 0
    for mutation in chosen:
        caught, seconds, tail = run(mutation)
        missed += not caught
        print(f"{'caught' if caught else 'MISSED'}  {seconds:5.1f} s  {mutation[0]}  [{' '.join(tail)}]", flush=True)
    print(f"{len(chosen) - missed} of {len(chosen)} mutations caught")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
