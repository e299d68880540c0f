"""Learning-rate schedules against their closed forms, state round trips, and argument errors."""
import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl
from minidl.optim import SGD, lr_scheduler as sched


def optimizer(lrs=(0.1,)):
    groups = [{"params": [minidl.Tensor(np.zeros(2), requires_grad=True)], "lr": lr} for lr in lrs]
    return SGD(groups, lr=lrs[0], momentum=0.9)


def sequence(opt, scheduler, epochs, metrics=None):
    """The rates seen at epochs 0..epochs-1 (one optimiser step and one scheduler step per epoch)."""
    seen = []
    for epoch in range(epochs):
        seen.append(scheduler.get_last_lr())
        assert seen[-1] == [g["lr"] for g in opt.param_groups]
        opt.step()
        scheduler.step() if metrics is None else scheduler.step(metrics[epoch])
    return seen


def assert_rel(got, want, rel=1e-12):
    assert len(got) == len(want)
    for t, (g, w) in enumerate(zip(got, want)):
        for gi, wi in zip(g, w):
            assert abs(gi - wi) <= rel * abs(wi) + 1e-300, f"epoch {t}: {gi!r} != {wi!r}"


BASES = (0.1, 0.02)


def test_step_lr():
    opt = optimizer(BASES)
    got = sequence(opt, sched.StepLR(opt, step_size=3, gamma=0.5), 10)
    assert_rel(got, [[b * 0.5 ** (t // 3) for b in BASES] for t in range(10)])


def test_multi_step_lr_counts_repeated_milestones():
    opt = optimizer(BASES)
    milestones = [5, 2, 5]
    got = sequence(opt, sched.MultiStepLR(opt, milestones, gamma=0.1), 8)
    assert_rel(got, [[b * 0.1 ** sum(m <= t for m in milestones) for b in BASES] for t in range(8)])


def test_exponential_lr():
    opt = optimizer(BASES)
    got = sequence(opt, sched.ExponentialLR(opt, gamma=0.9), 12)
    assert_rel(got, [[b * 0.9 ** t for b in BASES] for t in range(12)])


def cosine(base, eta_min, t, period):
    return eta_min + (base - eta_min) * (1 + math.cos(math.pi * t / period)) / 2


@pytest.mark.parametrize("eta_min", [0.0, 1e-3])
def test_cosine_annealing_follows_the_closed_form(eta_min):
    opt = optimizer(BASES)
    got = sequence(opt, sched.CosineAnnealingLR(opt, T_max=10, eta_min=eta_min), 11)
    assert_rel(got, [[cosine(b, eta_min, t, 10) for b in BASES] for t in range(11)])
    assert got[10] == [eta_min, eta_min]  # exactly, at the trough


def test_cosine_annealing_past_t_max_climbs_back_along_the_cosine():
    opt = optimizer()
    got = sequence(opt, sched.CosineAnnealingLR(opt, T_max=4, eta_min=0.01), 14)
    assert_rel(got, [[cosine(0.1, 0.01, t, 4)] for t in range(14)], rel=1e-10)


def test_cosine_annealing_resumed_at_an_epoch_uses_the_closed_form():
    opt = optimizer()
    opt.param_groups[0]["initial_lr"] = 0.1
    scheduler = sched.CosineAnnealingLR(opt, T_max=10, last_epoch=3)
    got = sequence(opt, scheduler, 4)
    assert_rel(got, [[cosine(0.1, 0.0, t, 10)] for t in range(4, 8)])


def test_linear_lr_warm_up():
    opt = optimizer(BASES)
    got = sequence(opt, sched.LinearLR(opt), 9)  # start 1/3, end 1, over 5 epochs
    assert_rel(got, [[b * (1 / 3 + (1 - 1 / 3) * min(t, 5) / 5) for b in BASES] for t in range(9)])
    opt = optimizer()
    got = sequence(opt, sched.LinearLR(opt, start_factor=1.0, end_factor=0.5, total_iters=4), 6)
    assert_rel(got, [[0.1 * (1 - 0.5 * min(t, 4) / 4)] for t in range(6)])


def test_sequential_lr_warm_up_then_cosine():
    opt = optimizer(BASES)
    warm = sched.LinearLR(opt, start_factor=0.25, total_iters=3)
    cos = sched.CosineAnnealingLR(opt, T_max=5)
    scheduler = sched.SequentialLR(opt, [warm, cos], milestones=[3])
    got = sequence(opt, scheduler, 9)
    want = [[b * (0.25 + 0.75 * t / 3) for b in BASES] for t in range(3)]
    want += [[cosine(b, 0.0, t - 3, 5) for b in BASES] for t in range(3, 9)]
    assert_rel(got, want, rel=1e-11)


def test_sequential_lr_three_phases_restart_each_at_its_base():
    opt = optimizer()
    parts = [sched.ExponentialLR(opt, gamma=0.5), sched.StepLR(opt, step_size=2, gamma=0.1),
             sched.LinearLR(opt, start_factor=0.5, total_iters=2)]
    got = sequence(opt, sched.SequentialLR(opt, parts, milestones=[2, 5]), 8)
    want = [0.1, 0.05, 0.1, 0.1, 0.01, 0.05, 0.075, 0.1]
    assert_rel(got, [[w] for w in want])


def test_chained_schedulers_multiply():
    opt = optimizer()
    a = sched.ExponentialLR(opt, gamma=0.9)
    b = sched.StepLR(opt, step_size=2, gamma=0.5)
    seen = []
    for _ in range(6):
        seen.append([opt.param_groups[0]["lr"]])
        opt.step()
        a.step()
        b.step()
    assert_rel(seen, [[0.1 * 0.9 ** t * 0.5 ** (t // 2)] for t in range(6)])


def test_reduce_lr_on_plateau_by_hand():
    opt = optimizer()
    plateau = sched.ReduceLROnPlateau(opt, factor=0.5, patience=2, cooldown=1)
    metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95]
    got = [lr for (lr,) in sequence(opt, plateau, 10, metrics)] + plateau.get_last_lr()
    # epochs 3, 4 and 5 do not beat 0.9: after the third the rate halves (patience 2); epoch 6 is
    # cooldown, then epochs 7, 8, 9 are bad again and the rate halves once more.
    assert got == [0.1, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025]


@pytest.mark.parametrize("mode, threshold_mode, metrics, want", [
    # rel: 0.99995 is not 1e-4 * best below 1.0, so epoch 1 is bad and (patience 0) the rate drops.
    ("min", "rel", [1.0, 0.99995, 0.9], [0.1, 0.1, 0.01, 0.01]),
    ("max", "rel", [1.0, 1.00005, 2.0], [0.1, 0.1, 0.01, 0.01]),
    # abs 0.1: 0.85 beats 1.0 - 0.1, but 0.8 does not beat 0.85 - 0.1.
    ("min", "abs", [1.0, 0.85, 0.8], [0.1, 0.1, 0.1, 0.01]),
    ("max", "abs", [1.0, 1.2, 1.25], [0.1, 0.1, 0.1, 0.01]),
])
def test_reduce_lr_on_plateau_thresholds(mode, threshold_mode, metrics, want):
    opt = optimizer()
    threshold = 1e-4 if threshold_mode == "rel" else 0.1
    plateau = sched.ReduceLROnPlateau(opt, mode=mode, patience=0, threshold=threshold,
                                      threshold_mode=threshold_mode)
    got = [lr for (lr,) in sequence(opt, plateau, len(metrics), metrics)] + plateau.get_last_lr()
    assert got == pytest.approx(want, rel=1e-15)


def test_reduce_lr_on_plateau_min_lr_and_eps():
    opt = optimizer(BASES)
    plateau = sched.ReduceLROnPlateau(opt, factor=0.1, patience=0, min_lr=[0.005, 0.0], eps=2e-3)
    for metric in [1.0, 1.0, 1.0]:
        plateau.step(minidl.tensor(metric))
    # The first metric sets the best; each later one is bad. Group 0: 0.1 -> 0.01 -> 0.005 (min_lr).
    # Group 1: 0.02 -> 0.002, then 0.002 -> 0.0002 would change it by 0.0018 < eps, so it stays.
    assert plateau.get_last_lr() == [0.005, pytest.approx(0.002)]


def test_state_dict_round_trip_resumes_the_schedule():
    def build():
        opt = optimizer(BASES)
        warm = sched.LinearLR(opt, start_factor=0.5, total_iters=2)
        return opt, sched.SequentialLR(opt, [warm, sched.CosineAnnealingLR(opt, T_max=6)], milestones=[2])

    opt, scheduler = build()
    straight = sequence(opt, scheduler, 8)
    opt, scheduler = build()
    sequence(opt, scheduler, 3)
    # Through JSON, as a checkpoint stores it: the state is plain numbers and lists.
    opt_state = opt.state_dict()
    scheduler_state = json.loads(json.dumps(scheduler.state_dict()))
    opt2, scheduler2 = build()
    opt2.load_state_dict(opt_state)
    scheduler2.load_state_dict(scheduler_state)
    assert sequence(opt2, scheduler2, 5) == straight[3:]


def test_plateau_state_dict_round_trip():
    opt = optimizer()
    plateau = sched.ReduceLROnPlateau(opt, mode="max", patience=1)
    for metric in [0.5, 0.6, 0.6]:
        plateau.step(metric)
    state = json.loads(json.dumps(plateau.state_dict()))
    fresh = sched.ReduceLROnPlateau(optimizer(), mode="min")
    fresh.load_state_dict(state)
    assert (fresh.mode, fresh.best, fresh.num_bad_epochs, fresh.mode_worse) == ("max", 0.6, 1, -math.inf)
    assert not fresh.is_better(0.6, fresh.best) and fresh.is_better(0.7, fresh.best)


@given(step_size=st.integers(1, 4), gamma=st.floats(0.05, 1.0), t_max=st.integers(1, 8),
       eta_min=st.sampled_from([0.0, 1e-4, 0.05]), epochs=st.integers(1, 12))
def test_schedules_match_closed_forms(step_size, gamma, t_max, eta_min, epochs):
    opt = optimizer()
    assert_rel(sequence(opt, sched.StepLR(opt, step_size, gamma), epochs),
               [[0.1 * gamma ** (t // step_size)] for t in range(epochs)], rel=1e-12)
    opt = optimizer()
    assert_rel(sequence(opt, sched.ExponentialLR(opt, gamma), epochs),
               [[0.1 * gamma ** t] for t in range(epochs)])
    opt = optimizer()
    epochs = min(epochs, t_max + 1)
    got = sequence(opt, sched.CosineAnnealingLR(opt, t_max, eta_min), epochs)
    want = [[cosine(0.1, eta_min, t, t_max)] for t in range(epochs)]
    for t, ((g,), (w,)) in enumerate(zip(got, want)):
        assert abs(g - w) <= 1e-12 * abs(w) + 1e-17, (t, g, w)


@pytest.mark.parametrize("make, error, message", [
    (lambda o: sched.StepLR(object(), 3), TypeError, "StepLR: expected an Optimizer, got object"),
    (lambda o: sched.StepLR(o, 0), ValueError, "StepLR: step_size should be a positive integer, got 0"),
    (lambda o: sched.MultiStepLR(o, [2, 1.5]), ValueError, "MultiStepLR: each milestone"),
    (lambda o: sched.CosineAnnealingLR(o, T_max=0), ValueError, "CosineAnnealingLR: T_max"),
    (lambda o: sched.LinearLR(o, start_factor=0), ValueError, r"LinearLR: start_factor .* \(0, 1\]"),
    (lambda o: sched.LinearLR(o, end_factor=1.5), ValueError, r"LinearLR: end_factor"),
    (lambda o: sched.StepLR(o, 2, last_epoch=4), ValueError, r"needs 'initial_lr' in param_groups\[0\]"),
    (lambda o: sched.SequentialLR(o, [sched.StepLR(o, 2), sched.StepLR(o, 3)], milestones=[]), ValueError,
     "2 schedulers need 1 milestones, got 0"),
    (lambda o: sched.SequentialLR(o, [sched.StepLR(optimizer(), 2)], milestones=[]), ValueError,
     "different optimiser"),
    (lambda o: sched.SequentialLR(o, [sched.ReduceLROnPlateau(o)], milestones=[]), TypeError,
     "ReduceLROnPlateau"),
    (lambda o: sched.ReduceLROnPlateau(o, mode="lowest"), ValueError,
     "mode should be 'min' or 'max', got 'lowest'"),
    (lambda o: sched.ReduceLROnPlateau(o, factor=1.0), ValueError, r"factor should be in \[0, 1\), got 1.0"),
    (lambda o: sched.ReduceLROnPlateau(o, min_lr=[0.1, 0.2]), ValueError,
     "2 min_lr values for 1 parameter groups"),
])
def test_invalid_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make(optimizer())


SCHEDULES = [
    lambda m, o: m.StepLR(o, step_size=3, gamma=0.5),
    lambda m, o: m.MultiStepLR(o, milestones=[2, 5, 5], gamma=0.1),
    lambda m, o: m.ExponentialLR(o, gamma=0.9),
    lambda m, o: m.CosineAnnealingLR(o, T_max=7, eta_min=1e-3),
    lambda m, o: m.LinearLR(o),
    lambda m, o: m.SequentialLR(o, [m.LinearLR(o, total_iters=3), m.CosineAnnealingLR(o, T_max=5)], [3]),
]


@pytest.mark.parametrize("make", SCHEDULES)
def test_lr_sequences_match_torch(make):
    torch = pytest.importorskip("torch")
    groups = [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in BASES]
    torch_opt = torch.optim.SGD(groups, lr=BASES[0])
    torch_scheduler = make(torch.optim.lr_scheduler, torch_opt)
    want = []
    for _ in range(16):
        want.append(torch_scheduler.get_last_lr())
        torch_opt.step()
        torch_scheduler.step()
    opt = optimizer(BASES)
    assert_rel(sequence(opt, make(sched, opt), 16), want, rel=1e-12)


def test_reduce_lr_on_plateau_matches_torch():
    torch = pytest.importorskip("torch")
    metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95]
    torch_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    torch_plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(torch_opt, factor=0.5, patience=1, cooldown=1)
    want = []
    for metric in metrics:
        want.append(torch_opt.param_groups[0]["lr"])
        torch_plateau.step(metric)
    opt = optimizer()
    plateau = sched.ReduceLROnPlateau(opt, factor=0.5, patience=1, cooldown=1)
    assert [lr for (lr,) in sequence(opt, plateau, len(metrics), metrics)] == want
