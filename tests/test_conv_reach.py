"""conv2d whose padding reaches past its kernel (FCN's conv1_1 pads a 3x3 kernel by 100): the outputs
that read padding only are the bias, and the convolution runs on the rest only (``conv.reading_part``)."""
import numpy as np
import pytest

import minidl
import minidl.functional as F
from minidl.functional import conv as conv_module
from test_conv import _rel, _run, naive_conv2d, t


@pytest.mark.parametrize("algorithm", ["im2col", "winograd2", "winograd4", "taps", "auto"])
@pytest.mark.parametrize("padding,dil", [((5, 5), (1, 1)), ((4, 1), (1, 1)), ((6, 6), (2, 2))])
def test_padding_past_the_kernels_reach(algorithm, padding, dil, rng, monkeypatch):
    # the outputs whose windows read padding only are the bias; the convolution runs on the rest only
    old = minidl.get_conv_algorithm()
    minidl.set_conv_algorithm(algorithm)
    try:
        x, w, b = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
        seen = []
        real = conv_module.Geometry.__init__

        def spy(self, *args):
            real(self, *args)
            seen.append((self.oh, self.ow))

        monkeypatch.setattr(conv_module.Geometry, "__init__", spy)
        out = F.conv2d(t(x), t(w), t(b), padding=padding, dilation=dil)
        monkeypatch.undo()
        (ph, pw), reach = padding, 2 * dil[0]
        np.testing.assert_allclose(out.numpy(), naive_conv2d(x, w, b, (1, 1), (ph, ph, pw, pw), dil, 1),
                                   rtol=1e-10, atol=1e-10)
        # the part that reads the input: each padding cut to the kernel's reach
        top, left = max(0, ph - reach), max(0, pw - reach)
        part = (out.shape[2] - 2 * top, out.shape[3] - 2 * left)
        assert part in seen and part != out.shape[2:]
        border = np.ones(out.shape[2:], bool)
        border[top:top + part[0], left:left + part[1]] = False
        np.testing.assert_array_equal(out.numpy()[:, :, border],
                                      np.broadcast_to(b[None, :, None], (2, 4, int(border.sum()))))
        assert minidl.gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=padding, dilation=dil),
                                (t(x, True), t(w, True), t(b, True)))
    finally:
        minidl.set_conv_algorithm(old)


@pytest.mark.gpu
def test_gpu_padding_past_the_kernels_reach():
    rng = np.random.default_rng(11)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((2, 3, 7, 6), (4, 3, 3, 3), (4,)))
    opts = dict(padding=5)
    cpu = _run(F.conv2d, x, w, b, opts, "cpu")
    gpu = _run(F.conv2d, x, w, b, opts, "cuda")
    assert _rel(gpu[0], cpu[0]) <= 1e-5
    for a, c in zip(gpu[1:], cpu[1:]):
        assert _rel(a, c) <= 1e-4
