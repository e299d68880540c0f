"""Demonstration 11: the revolution of depth, the ImageNet (ILSVRC) winners from 8 to 152 layers.

The lecture's slide "Revolution of Depth" plots each year's best top-5 error against the depth of the
network that reached it. Here minidl builds those networks (``nets.create``) and counts, with
``minidl.summary`` at 224x224, their parameters and multiply-adds, and the weight layers (convolutions and
fully connected layers) on the longest path from the input to the output: the depth the papers name,
8 for AlexNet, 22 for GoogLeNet (two per Inception module), 152 for ResNet-152 (the 1x1 projections of
the shortcuts sit beside the path, not on it). Beside them, the published top-5 errors, cited facts:

- AlexNet: Krizhevsky, Sutskever & Hinton, "ImageNet classification with deep convolutional neural
  networks", NIPS 2012: ILSVRC 2012 winner, 16.4 % top-5 test error (five CNNs averaged).
- VGG: Simonyan & Zisserman, "Very deep convolutional networks for large-scale image recognition",
  ICLR 2015: ILSVRC 2014 entry (second in classification), 7.3 % top-5 test error (an ensemble of 16- and
  19-layer nets).
- GoogLeNet: Szegedy et al., "Going deeper with convolutions", CVPR 2015: ILSVRC 2014 winner, 6.67 %
  top-5 test error (seven models).
- ResNet: He, Zhang, Ren & Sun, "Deep residual learning for image recognition", CVPR 2016: ILSVRC 2015
  winner, 3.57 % top-5 test error (an ensemble with two 152-layer nets); single models on the validation
  set (their Table 4): ResNet-50 5.25 %, ResNet-152 4.49 %.

Counting needs the shapes of the weights, not their values, so the networks are built with zeros in place
of the random draws (drawing VGG's 140 M numbers takes most of its build time). ``--fast`` traces at
64x64 instead of 224x224 (depth and parameters do not depend on the input size; the multiply-adds do).

    python examples/11_depth.py [--fast]
"""
import contextlib
import gc

import _common
import minidl
import nets
from minidl import nn
from minidl.nn import init

# (name, registry name, options, ILSVRC year, published top-5 error in %, what that number is)
NETWORKS = [
    ("AlexNet", "alexnet", {}, 2012, 16.4, "ILSVRC 2012 test, 5 CNNs"),
    ("VGG-16", "vgg16", {}, 2014, 7.3, "ILSVRC 2014 test, VGG ensemble"),
    ("VGG-19", "vgg19", {}, 2014, 7.3, "ILSVRC 2014 test, VGG ensemble"),
    ("GoogLeNet", "googlenet", {"aux_logits": False}, 2014, 6.67, "ILSVRC 2014 test, 7 models"),
    ("ResNet-50", "resnet50", {}, 2015, 5.25, "single model, validation"),
    ("ResNet-152", "resnet152", {}, 2015, 3.57, "ILSVRC 2015 test, ensemble"),
]
WEIGHT_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


@contextlib.contextmanager
def zero_initialisation():
    """Build networks with zeros where the initialisers would draw random numbers."""
    def fill_zeros(tensor, *args, **kwargs):
        tensor.data.fill(0.0)
        return tensor

    saved = {name: getattr(init, name) for name in ("uniform_", "normal_", "trunc_normal_")}
    try:
        for name in saved:
            setattr(init, name, fill_zeros)
        yield
    finally:
        for name, fn in saved.items():
            setattr(init, name, fn)


def _first_tensor(value):
    if isinstance(value, minidl.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        return next((v for v in value if isinstance(v, minidl.Tensor)), None)
    return None


def weight_depth(model, input_size):
    """Weight layers on the longest path through ``model``, from one forward pass with hooks.

    Every tensor a module returns carries the number of weight layers behind it. A module's input is
    looked up; a tensor made by plain array code inside a ``forward`` (a sum of branches, a
    concatenation, a flatten) is not a module's output, and gets, when a module first takes it, the deepest
    value produced so far in the innermost module still running: the longest of the paths that met there.
    """
    depth, keep, frames, handles = {}, [], [{"deepest": 0}], []

    def before(module, args):
        x = _first_tensor(args)
        start = frames[-1]["deepest"]
        if x is not None:
            # the first use of a tensor no module made fixes its depth for every later use (branches)
            start = depth.setdefault(id(x), start)
            keep.append(x)
        frames.append({"start": start, "deepest": start})

    def after(module, args, output):
        frame = frames.pop()
        leaf = not any(True for _ in module.children())
        out = frame["start"] + isinstance(module, WEIGHT_LAYERS) if leaf else frame["deepest"]
        y = _first_tensor(output)
        if y is not None:
            depth[id(y)] = out
            keep.append(y)   # the tensors stay alive during the pass, so that no id is reused
        frames[-1]["deepest"] = max(frames[-1]["deepest"], out)

    training = model.training
    for module in model.modules():
        handles.append(module.register_forward_pre_hook(before))
        handles.append(module.register_forward_hook(after))
    try:
        model.eval()
        with minidl.no_grad():
            model(minidl.zeros(input_size))
    finally:
        for h in handles:
            h.remove()
        model.train(training)
    return frames[0]["deepest"]


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    args = p.parse_args(argv)
    _common.setup(args)
    side = 64 if args.fast else 224
    rows, results = [], {"input_size": side, "networks": {}}
    for name, key, options, year, error, source in NETWORKS:
        with zero_initialisation():
            model = nets.create(key, **options)
        info = minidl.summary(model, (1, 3, side, side))
        layers = weight_depth(model, (1, 3, side, side))
        results["networks"][name] = {"weight_layers": layers, "params": info.total_params,
                                     "macs": info.total_macs, "year": year, "top5_error": error}
        rows.append([name, year, layers, f"{info.total_params / 1e6:.1f} M", f"{info.total_macs / 1e9:.2f} G",
                     f"{error:.2f} %", source])
        del model, info
        gc.collect()
    print(f"Depth, size and published error of the ImageNet networks (multiply-adds at {side}x{side})")
    print(_common.table(["network", "year", "weight layers", "parameters", "multiply-adds", "top-5 error",
                         "published as"], rows))

    def draw(plt):
        fig, ax = plt.subplots(figsize=(6.5, 4))
        for (name, *_, source), net in zip(NETWORKS, results["networks"].values()):
            test = "test" in source   # the competition's test set; hollow: a single model on validation
            ax.scatter(net["weight_layers"], net["top5_error"], s=30 + net["params"] / 1e6, alpha=0.7,
                       facecolors=None if test else "none", edgecolors="tab:blue", color="tab:blue" if test else None)
            below = name == "VGG-16"   # VGG-16 and VGG-19 share their error: one label above, one below
            ax.annotate(f"{name} ({net['year']})", (net["weight_layers"], net["top5_error"]),
                        textcoords="offset points", xytext=(-10, -14) if below else (6, 4), fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel("weight layers on the longest path (counted by minidl)")
        ax.set_ylabel("published top-5 error (%)")
        ax.set_title("Revolution of depth (area: parameters; hollow: one model, validation set)")
        ax.set_ylim(0, 18)
        return fig

    results["plot"] = _common.save_figure(args, "11_depth.png", draw)
    return results


if __name__ == "__main__":
    main()
