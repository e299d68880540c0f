"""Time minidl against the NumPy engines it is compared with: Chainer 7.8.1 and DeZero 0.0.13.

    python bench/peers.py                                  # peers from /work/peers-venv (or $MINIDL_PEERS_PYTHON)
    python bench/peers.py --peers-python /path/to/python   # another environment that has them

Chainer and DeZero need NumPy 1.x, so they live in an environment of their own, e.g.::

    python3.11 -m venv peers-venv
    peers-venv/bin/pip install numpy==1.23.5 "setuptools<70" wheel "matplotlib<3.8"
    peers-venv/bin/pip install --no-build-isolation chainer==7.8.1 dezero==0.0.13

This script times minidl in its own process and runs itself in the peers' environment (``--child``) to
time them on the same cases, then prints each peer's time over minidl's (higher means minidl is
faster). When that environment is missing it says so and times minidl alone. Cases (float32, CPU):
conv2d 3x3 64->64 on 32x32, batch 32, forward + backward; max pooling 3x3/2 on 64 x 56 x 56, batch 32,
forward + backward; one SGD-with-momentum step of a small CNN (two 3x3 convolutions with ReLU and
2x2 max pooling, a linear layer) on 32x32 images, batch 64. Best of ``--repeat`` after one warm-up;
every library at its default threads. Runs in separate processes cannot share a load, so read the
ratios next to the printed load average.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

DEFAULT_PEERS_PYTHON = os.environ.get("MINIDL_PEERS_PYTHON", "/work/peers-venv/bin/python")
CASES = ["conv 3x3 64->64 @32 b32", "max_pool 3x3/2 64 @56 b32", "small CNN step b64 @32"]
LR, MOMENTUM = 0.01, 0.9


def best_ms(step, repeat):
    step()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        step()
        best = min(best, (time.perf_counter() - t0) * 1e3)
    return best


def data(seed=0):
    rng = np.random.default_rng(seed)
    f32 = np.float32
    return {
        "conv_x": rng.standard_normal((32, 64, 32, 32)).astype(f32),
        "conv_w": (rng.standard_normal((64, 64, 3, 3)) * 0.05).astype(f32),
        "conv_g": rng.standard_normal((32, 64, 32, 32)).astype(f32),
        "pool_x": rng.standard_normal((32, 64, 56, 56)).astype(f32),
        "pool_g": rng.standard_normal((32, 64, 28, 28)).astype(f32),
        "cnn_x": rng.standard_normal((64, 3, 32, 32)).astype(f32),
        "cnn_y": rng.integers(0, 10, 64).astype(np.int32),
    }


# ----------------------------------------------------------------------------- minidl


def time_minidl(repeat):
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, ".."))
    sys.path.insert(0, here)
    import minidl
    import minidl.functional as F
    from train_step import small_cnn

    d = data()
    x, w = minidl.Tensor(d["conv_x"], requires_grad=True), minidl.Tensor(d["conv_w"], requires_grad=True)
    g = minidl.Tensor(d["conv_g"])
    px, pg = minidl.Tensor(d["pool_x"], requires_grad=True), minidl.Tensor(d["pool_g"])
    model = small_cnn(10)
    opt = minidl.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    cx, cy = minidl.Tensor(d["cnn_x"]), minidl.Tensor(d["cnn_y"].astype(np.int64))

    def conv():
        x.grad = w.grad = None
        F.conv2d(x, w, padding=1).backward(g)

    def pool():
        px.grad = None
        F.max_pool2d(px, 3, 2, 1).backward(pg)

    def cnn():
        opt.zero_grad()
        F.cross_entropy(model(cx), cy).backward()
        opt.step()

    return dict(zip(CASES, (best_ms(f, repeat) for f in (conv, pool, cnn))))


# ----------------------------------------------------------------------------- peers (their own venv)


def time_chainer_like(repeat, F, Variable, conv, pool, model, opt, as_grad):
    """The three cases in an engine of Chainer's design (DeZero follows it): ``Variable``s with
    ``cleargrad``, an output gradient set on ``y.grad`` before ``y.backward()``, ``model.cleargrads()``
    and ``opt.update()``. ``conv(x, w)`` and ``pool(x)`` are the engine's calls for the two ops;
    ``as_grad`` wraps an array the way the engine wants ``y.grad``."""
    d = data()
    x, w, px = Variable(d["conv_x"]), Variable(d["conv_w"]), Variable(d["pool_x"])

    def conv_step():
        x.cleargrad()
        w.cleargrad()
        y = conv(x, w)
        y.grad = as_grad(d["conv_g"])
        y.backward()

    def pool_step():
        px.cleargrad()
        y = pool(px)
        y.grad = as_grad(d["pool_g"])
        y.backward()

    def cnn_step():
        model.cleargrads()
        F.softmax_cross_entropy(model(d["cnn_x"]), d["cnn_y"]).backward()
        opt.update()

    return dict(zip(CASES, (best_ms(f, repeat) for f in (conv_step, pool_step, cnn_step))))


def time_chainer(repeat):
    import chainer
    import chainer.functions as F
    import chainer.links as L

    class SmallCNN(chainer.Chain):
        def __init__(self):
            super().__init__()
            with self.init_scope():
                self.c1 = L.Convolution2D(3, 32, 3, pad=1)
                self.c2 = L.Convolution2D(32, 64, 3, pad=1)
                self.fc = L.Linear(64 * 8 * 8, 10)

        def forward(self, x):
            h = F.max_pooling_2d(F.relu(self.c1(x)), 2)
            h = F.max_pooling_2d(F.relu(self.c2(h)), 2)
            return self.fc(h)

    model = SmallCNN()
    opt = chainer.optimizers.MomentumSGD(lr=LR, momentum=MOMENTUM)
    opt.setup(model)
    return time_chainer_like(repeat, F, chainer.Variable,
                             conv=lambda x, w: F.convolution_2d(x, w, pad=1),
                             pool=lambda x: F.max_pooling_2d(x, 3, stride=2, pad=1, cover_all=False),
                             model=model, opt=opt, as_grad=lambda g: g)


def time_dezero(repeat):
    import dezero
    import dezero.functions as F
    import dezero.layers as L

    class SmallCNN(dezero.Model):
        def __init__(self):
            super().__init__()
            self.c1 = L.Conv2d(32, 3, pad=1, in_channels=3)
            self.c2 = L.Conv2d(64, 3, pad=1, in_channels=32)
            self.fc = L.Linear(10, in_size=64 * 8 * 8)

        def forward(self, x):
            h = F.pooling(F.relu(self.c1(x)), 2, 2)
            h = F.pooling(F.relu(self.c2(h)), 2, 2)
            return self.fc(F.reshape(h, (h.shape[0], -1)))

    model = SmallCNN()
    opt = dezero.optimizers.MomentumSGD(lr=LR, momentum=MOMENTUM).setup(model)
    return time_chainer_like(repeat, F, dezero.Variable,
                             conv=lambda x, w: F.conv2d(x, w, pad=1),
                             pool=lambda x: F.pooling(x, 3, stride=2, pad=1),
                             model=model, opt=opt, as_grad=dezero.Variable)


def child(repeat):
    """In the peers' environment: time each peer that imports, print JSON {peer: {case: ms} or error}."""
    import warnings

    warnings.filterwarnings("ignore")
    results = {}
    for name, fn in (("Chainer", time_chainer), ("DeZero", time_dezero)):
        try:
            results[name] = fn(repeat)
        except ImportError as e:
            results[name] = f"not installed ({e})"
    print(json.dumps(results))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--peers-python", default=DEFAULT_PEERS_PYTHON,
                        help="the Python of the environment holding Chainer and DeZero (default: %(default)s)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.repeat)
    print(f"minidl vs Chainer 7.8.1 and DeZero 0.0.13 on the CPU ({os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.1f}); float32, best of {args.repeat} (ms); default threads")
    ours = time_minidl(args.repeat)
    peers = {}
    if not os.path.exists(args.peers_python):
        print(f"note: {args.peers_python} not found; Chainer and DeZero skipped (see this script's docstring "
              f"for their environment)")
    else:
        done = subprocess.run([args.peers_python, os.path.abspath(__file__), "--child", "--repeat",
                               str(args.repeat)], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"note: the peers' run failed:\n{done.stderr.strip()[-2000:]}")
        else:
            peers = json.loads(done.stdout.strip().splitlines()[-1])
    names = list(peers)
    print(f"{'case':28s} {'minidl':>9s} " + " ".join(f"{n:>9s} {n + '/minidl':>15s}" for n in names))
    for case in CASES:
        line = f"{case:28s} {ours[case]:9.1f} "
        for n in names:
            if isinstance(peers[n], str):
                line += f"{peers[n][:25]:>25s} "
            else:
                line += f"{peers[n][case]:9.1f} {peers[n][case] / ours[case]:14.2f}x "
        print(line.rstrip())
    return ours, peers


if __name__ == "__main__":
    main()
