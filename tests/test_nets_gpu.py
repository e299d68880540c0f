"""Every full-size network runs forward and backward on the GPU at batch 8, 224x224, and shrunk networks
give the CPU's outputs there. The full-size steps need a CUDA device; step times are printed (run with -s)."""
import time

import numpy as np
import pytest

import minidl
import nets

FULL_SIZE = [
    ("alexnet", {}),
    ("alexnet_paper", {}),
    ("vgg11", {}),
    ("vgg11_bn", {}),
    ("vgg11_lrn", {}),
    ("vgg13", {}),
    ("vgg16_c", {}),
    ("vgg16", {}),
    ("vgg16_bn", {}),
    ("vgg19", {}),
    ("googlenet", {}),
    ("googlenet", {"torchvision_compat": True}),
    ("resnet18", {}),
    ("resnet34", {}),
    ("resnet50", {}),
    ("resnet101", {}),
    ("resnet152", {}),
    ("plain34", {}),
]
BATCH = 8
TIMED_STEPS = 2


def _synchronize():
    minidl.backend.cupy_module().cuda.Device().synchronize()


def _id(case):
    name, options = case
    return name + ("-compat" if options.get("torchvision_compat") else "")


@pytest.mark.gpu
@pytest.mark.real_gpu("times full-size steps (batch 8, 224x224), which only a real device can run in time")
@pytest.mark.slow
@pytest.mark.parametrize("name, options", FULL_SIZE, ids=[_id(c) for c in FULL_SIZE])
def test_full_size_forward_backward(name, options):
    model = nets.create(name, **options).cuda().train()
    x = minidl.randn(BATCH, 3, 224, 224, device="cuda")
    y = minidl.tensor(np.arange(BATCH) * 97 % 1000, device="cuda")
    times = []
    # The first step compiles kernels and fills CuPy's memory pool; the ones after it are timed.
    for _ in range(1 + TIMED_STEPS):
        _synchronize()
        start = time.perf_counter()
        model.zero_grad()
        loss = nets.googlenet_loss(model(x), y)
        loss.backward()
        _synchronize()
        times.append(time.perf_counter() - start)
    assert np.isfinite(loss.item())
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert p.grad.shape == p.shape and p.grad.device == "cuda", pname
    print(f"\nGPU step {_id((name, options))}: batch {BATCH}, 224x224, forward+backward "
          f"{min(times[1:]) * 1000:.1f} ms (first step {times[0] * 1000:.0f} ms)")


@pytest.mark.gpu
@pytest.mark.parametrize("name, options", [
    ("alexnet_paper", {"width": 0.25}),
    ("vgg11_lrn", {"width": 0.25}),
    ("googlenet", {"width": 0.25}),
    ("googlenet", {"width": 0.25, "torchvision_compat": True}),
    ("resnet50", {"width": 0.25}),
])
def test_gpu_matches_cpu(name, options):
    model = nets.create(name, num_classes=10, **options).eval()
    x = minidl.randn(2, 3, 96, 96)
    with minidl.no_grad():
        cpu = model(x).numpy()
        gpu = model.cuda()(x.cuda()).numpy()
    np.testing.assert_allclose(gpu, cpu, rtol=1e-3, atol=1e-4 * np.abs(cpu).max())


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["alexnet_paper", "vgg11_bn", "googlenet", "resnet18"])
def test_gpu_gradients_match_cpu(name):
    # evaluation mode: no dropout draws, batch norm from running statistics; the CPU and the GPU then
    # compute the same function, so every parameter's gradient must agree
    model = nets.create(name, num_classes=10, width=0.25).eval()
    x, labels = minidl.randn(2, 3, 96, 96), minidl.tensor([3, 7])

    def gradients(model, x, labels):
        model.zero_grad()
        loss = minidl.functional.cross_entropy(model(x), labels)
        loss.backward()
        # (GoogLeNet's auxiliary classifiers take no part in evaluation and get no gradient)
        return loss.item(), {n: minidl.backend.to_numpy(p.grad.data) for n, p in model.named_parameters()
                             if p.grad is not None}

    cpu_loss, cpu = gradients(model, x, labels)
    gpu_loss, gpu = gradients(model.cuda(), x.cuda(), labels.cuda())
    assert gpu_loss == pytest.approx(cpu_loss, rel=1e-4) and gpu.keys() == cpu.keys()
    for pname, g in cpu.items():
        # loose enough for a real GPU, where a ReLU input within rounding of 0 may switch sides; a wrong
        # kernel or launch is off by the size of the gradient itself
        np.testing.assert_allclose(gpu[pname], g, rtol=1e-2, atol=1e-2 * np.abs(g).max() + 1e-7, err_msg=pname)


@pytest.mark.gpu
def test_half_precision_alexnet_on_the_gpu():
    # AlexNet (the paper's, with LRN and dropout) in float16 on the GPU: evaluation gives the float32
    # CPU output within float16's precision, and a training step (dropout masks drawn) runs end to end
    model = nets.create("alexnet_paper", num_classes=10, width=0.25).eval()
    x = minidl.randn(2, 3, 96, 96)
    with minidl.no_grad():
        cpu = model(x).numpy()
    model.half().cuda()
    with minidl.no_grad():
        half = model(x.half().cuda())
    assert half.dtype == np.float16
    np.testing.assert_allclose(half.numpy().astype(np.float32), cpu, rtol=0, atol=2e-2 * np.abs(cpu).max())
    model.train()
    loss = minidl.functional.cross_entropy(model(x.half().cuda()), minidl.tensor([3, 7], device="cuda"))
    loss.backward()
    assert np.isfinite(loss.item()) and all(p.grad.dtype == np.float16 for p in model.parameters())
