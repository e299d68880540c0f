"""summary (parameters, MACs, shapes) and receptive_field, on small networks counted by hand."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minidl
from minidl import nn


def _hand_counted():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),           # 3*8*9 + 8 = 224 params; 8*8*8 outputs * 27 = 13,824 MACs
        nn.BatchNorm2d(8),                       # 16 params, no MACs
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 4, 1, groups=2, bias=False),  # 4*4 = 16 params; 4*4*4 outputs * 8/2 = 256 MACs
        nn.Flatten(),
        nn.Linear(64, 10),                       # 650 params; 10 * 64 = 640 MACs
    )


def test_summary_totals_and_rows_by_hand():
    s = minidl.summary(_hand_counted(), (1, 3, 8, 8))
    assert (s.total_params, s.trainable_params, s.non_trainable_params) == (906, 906, 0)
    assert s.total_macs == 13824 + 256 + 640
    assert [r.name for r in s.rows] == ["0", "1", "2", "3", "4", "5", "6"]
    assert [r.type for r in s.rows][:4] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]
    assert [r.params for r in s.rows] == [224, 16, 0, 0, 16, 0, 650]
    assert [r.macs for r in s.rows] == [13824, 0, 0, 0, 256, 0, 640]
    assert s.rows[3].output_shape == (1, 8, 4, 4) and s.rows[-1].output_shape == (1, 10)
    text = str(s)
    assert "Total params: 906" in text and "Total MACs: 14,720" in text and "MaxPool2d" in text
    assert "(1, 8, 4, 4)" in text


def test_summary_scales_macs_with_the_batch_and_counts_frozen_params():
    net = _hand_counted()
    net[0].requires_grad_(False)
    s = minidl.summary(net, (2, 3, 8, 8))
    assert s.total_macs == 2 * 14720
    assert (s.trainable_params, s.non_trainable_params) == (682, 224)


def test_summary_transposed_conv_shared_modules_and_own_parameters():
    up = nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1)
    s = minidl.summary(up, (1, 4, 3, 3))
    assert s.total_macs == 4 * 3 * 3 * 2 * 16 and s.total_params == 4 * 2 * 16 + 2
    assert s.rows[0].output_shape == (1, 2, 6, 6)
    shared = nn.Linear(3, 3)
    s = minidl.summary(nn.Sequential(shared, nn.ReLU(), shared), (1, 3))
    assert [r.params for r in s.rows] == [12, 0, 0] and [r.macs for r in s.rows] == [9, 0, 9]

    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(minidl.ones(1))
            self.body = nn.Linear(2, 2)

        def forward(self, x):
            return self.body(x) * self.scale

    s = minidl.summary(Scaled(), (1, 2))
    assert s.total_params == 7 and sorted(r.name for r in s.rows) == ["Scaled", "body"]


def test_summary_leaves_modes_and_running_statistics_alone():
    net = _hand_counted()
    net[2].eval()
    before = net[1].running_mean.numpy().copy()
    minidl.summary(net, (2, 3, 8, 8))
    assert net.training and net[1].training and not net[2].training
    np.testing.assert_array_equal(net[1].running_mean.numpy(), before)
    assert net[1].num_batches_tracked.item() == 0


def test_summary_argument_errors():
    with pytest.raises(ValueError, match="input_size must be a tuple of positive ints"):
        minidl.summary(_hand_counted(), (1, 0, 8))
    with pytest.raises(ValueError, match="the model is on cpu but device='cuda'"):
        minidl.summary(_hand_counted(), (1, 3, 8, 8), device="cuda")
    with pytest.raises(TypeError, match="expected a minidl.nn.Module"):
        minidl.summary(lambda x: x, (1, 3))


# ---------------------------------------------------------------------- receptive field
def _convs(n, **kw):
    return nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=1, **kw) for _ in range(n)])


def test_stacked_three_by_three_see_five_and_seven():
    assert minidl.receptive_field(_convs(1), (1, 1, 9, 9)).size == (3, 3)
    two = minidl.receptive_field(_convs(2), (1, 1, 9, 9))
    assert two.size == (5, 5) and two.jump == (1, 1) and two.start == (0, 0)
    three = minidl.receptive_field(_convs(3), (1, 1, 9, 9))
    assert [r.size for r in three.rows] == [(3, 3), (5, 5), (7, 7)]
    assert "Receptive field 7, jump 1, start 0" in str(three)
    assert minidl.receptive_field(nn.Conv2d(1, 1, 3, dilation=2), (1, 1, 9, 9)).size == (5, 5)


def test_stride_two_stack_by_hand():
    net = nn.Sequential(
        nn.Conv2d(1, 1, 3, stride=2, padding=1),  # r = 3, j = 2, start = 0 + (1 - 1) * 1 = 0
        nn.ReLU(),                               # unchanged
        nn.MaxPool2d(2),                         # r = 3 + 1 * 2 = 5, j = 4, start = 0 + (0.5 - 0) * 2 = 1
        nn.Conv2d(1, 1, 3, padding=1),           # r = 5 + 2 * 4 = 13, j = 4, start = 1 + (1 - 1) * 4 = 1
        nn.Flatten(),                            # the walk ends here
        nn.Linear(16, 2),
    )
    rf = minidl.receptive_field(net, (1, 1, 16, 16))
    assert [(r.size[0], r.jump[0], r.start[0]) for r in rf.rows] == [(3, 2, 0), (3, 2, 0), (5, 4, 1), (13, 4, 1)]
    assert (rf.size, rf.jump, rf.start) == ((13, 13), (4, 4), (1, 1))


def test_alexnet_first_layers_and_rectangular_kernels():
    net = nn.Sequential(nn.Conv2d(1, 2, 11, stride=4), nn.MaxPool2d(3, 2), nn.Conv2d(2, 2, 5, padding=2))
    rf = minidl.receptive_field(net, (1, 1, 67, 67))
    assert [r.size[0] for r in rf.rows] == [11, 19, 51] and rf.jump == (8, 8) and rf.start == (9, 9)
    rect = minidl.receptive_field(nn.Conv2d(1, 1, (3, 5)), (1, 1, 9, 9))
    assert rect.size == (3, 5) and rect.start == (1, 2) and "3x5" in str(rect)


def test_receptive_field_matches_the_gradient_support():
    net = nn.Sequential(nn.Conv2d(1, 1, 3, stride=2, padding=1, bias=False), nn.AvgPool2d(2),
                        nn.Conv2d(1, 1, 3, padding=1, bias=False)).double()
    for m in (net[0], net[2]):
        nn.init.ones_(m.weight)
    rf = minidl.receptive_field(net, (1, 1, 32, 32), dtype=minidl.float64)
    x = minidl.zeros(1, 1, 32, 32, dtype=minidl.float64).requires_grad_()
    i = 4  # an output well inside, so padding does not clip its field
    net(x)[0, 0, i, i].backward()
    rows, cols = np.nonzero(x.grad.numpy()[0, 0])
    assert rows.max() - rows.min() + 1 == rf.size[0] and cols.max() - cols.min() + 1 == rf.size[1]
    assert (rows.min() + rows.max()) / 2 == rf.start[0] + i * rf.jump[0]


_layer = st.one_of(
    st.tuples(st.just("conv"), st.integers(1, 3), st.integers(1, 2), st.integers(0, 1), st.integers(1, 2)),
    st.tuples(st.just("pool"), st.integers(1, 3), st.integers(1, 2), st.just(0), st.just(1)),
)


@given(st.lists(_layer, min_size=1, max_size=3))
def test_receptive_field_formula_matches_gradient_support_for_random_stacks(spec):
    layers = []
    for kind, k, s, p, d in spec:
        if kind == "conv":
            conv = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d, bias=False)
            nn.init.ones_(conv.weight)
            layers.append(conv)
        else:
            layers.append(nn.AvgPool2d(k, s))
    net = nn.Sequential(*layers).double()
    size = 40  # big enough for three stride-2, dilation-2 layers to leave an output
    rf = minidl.receptive_field(net, (1, 1, size, size), dtype=minidl.float64)
    out_size = rf.rows[-1].output_shape[-1]
    i = out_size // 2
    lo = rf.start[0] + i * rf.jump[0] - (rf.size[0] - 1) / 2
    hi = rf.start[0] + i * rf.jump[0] + (rf.size[0] - 1) / 2
    assume(lo >= 0 and hi <= size - 1)
    x = minidl.zeros(1, 1, size, size, dtype=minidl.float64).requires_grad_()
    net(x)[0, 0, i, i].backward()
    rows = np.nonzero(x.grad.numpy()[0, 0].any(axis=1))[0]
    assert (rows.min(), rows.max()) == (lo, hi)


def test_receptive_field_refuses_what_it_cannot_follow():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.main = nn.Conv2d(1, 1, 3, stride=2, padding=1)
            self.down = nn.Conv2d(1, 1, 1, stride=2)

        def forward(self, x):
            return self.main(x) + self.down(x)

    with pytest.raises(ValueError, match="down .*takes a \\(8, 8\\) map but the layer before made \\(4, 4\\)"):
        minidl.receptive_field(Branchy(), (1, 1, 8, 8))
    with pytest.raises(ValueError, match="whose bins are not all alike"):
        minidl.receptive_field(nn.AdaptiveAvgPool2d(3), (1, 1, 8, 8))
    assert minidl.receptive_field(nn.AdaptiveAvgPool2d(2), (1, 1, 8, 8)).size == (4, 4)
    with pytest.raises(ValueError, match="transposed convolutions are not supported"):
        minidl.receptive_field(nn.ConvTranspose2d(1, 1, 2, stride=2), (1, 1, 4, 4))
    with pytest.raises(ValueError, match="cannot follow 0 \\(Upsampler\\)"):
        class Upsampler(nn.Module):
            def forward(self, x):
                return x

        minidl.receptive_field(nn.Sequential(Upsampler()), (1, 1, 4, 4))


@pytest.mark.gpu
def test_summary_and_receptive_field_on_gpu():
    net = _hand_counted().cuda()
    s = minidl.summary(net, (1, 3, 8, 8))
    assert s.total_macs == 14720 and s.total_params == 906
    assert minidl.receptive_field(_convs(2).cuda(), (1, 1, 9, 9)).size == (5, 5)
