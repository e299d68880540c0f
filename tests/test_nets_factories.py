"""Every registered network has a factory a reader can grep (``def vgg16``), builds its public layers by
name (no ``setattr``), and accepts ``weights=PATH``: a safetensors state dict loaded strictly, or a
one-line ``ValueError`` naming the file and what does not fit."""
import ast
import inspect
import pathlib

import numpy as np
import pytest

import minidl
import nets

NETS_DIR = pathlib.Path(nets.__file__).parent
MODEL_FILES = ("alexnet.py", "vgg.py", "googlenet.py", "resnet.py", "fcn.py")
SMALL = 1 / 16


def _defined_functions(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_every_registered_network_has_a_def_factory():
    defined = set().union(*(_defined_functions(NETS_DIR / f) for f in MODEL_FILES))
    missing = [name for name in nets.available() if name not in defined]
    assert missing == []
    for name in nets.available():
        builder = nets.get_builder(name)
        assert builder.__name__ == name
        kinds = {p.kind for p in inspect.signature(builder).parameters.values()}
        assert kinds == {inspect.Parameter.KEYWORD_ONLY}, f"{name} takes keyword arguments only"
        assert "weights" in inspect.signature(builder).parameters


def test_no_setattr_builds_a_layer():
    for f in MODEL_FILES:
        assert "setattr(" not in (NETS_DIR / f).read_text(encoding="utf-8"), f


def test_factories_refuse_positional_arguments_and_fixed_options():
    with pytest.raises(TypeError):
        nets.vgg16(10)
    with pytest.raises(TypeError, match="batch_norm"):
        nets.create("vgg16", batch_norm=True)
    with pytest.raises(TypeError, match="shortcut"):
        nets.create("resnet18", shortcut=False)


def _small(name, **options):
    return nets.create(name, num_classes=3, width=SMALL, **options)


@pytest.mark.parametrize("name", nets.available())
def test_weights_load_what_was_saved(tmp_path, name):
    source = _small(name)
    path = tmp_path / f"{name}.safetensors"
    minidl.save(source.state_dict(), path)
    minidl.manual_seed(123)  # a different draw, so equality comes from the file
    loaded = _small(name, weights=str(path))
    expected = source.state_dict()
    for key, value in loaded.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), expected[key].numpy(), err_msg=key)


def test_weights_from_a_training_checkpoint_use_its_model_entry(tmp_path):
    source = _small("resnet18", small_input=True)
    path = tmp_path / "checkpoint.safetensors"
    minidl.save({"model": source.state_dict(), "epoch": 3}, path)
    loaded = nets.resnet18(num_classes=3, width=SMALL, small_input=True, weights=path)
    np.testing.assert_array_equal(loaded.fc.weight.numpy(), source.fc.weight.numpy())


def _one_line_error(build, path):
    with pytest.raises(ValueError) as caught:
        build()
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    return message


def test_weights_of_another_network_are_refused_in_one_line(tmp_path):
    path = tmp_path / "vgg11.safetensors"
    minidl.save(_small("vgg11").state_dict(), path)
    message = _one_line_error(lambda: _small("vgg16", weights=path), path)
    assert message.startswith("vgg16: ")
    assert "missing from the file (features.2.weight, features.2.bias, features.5.weight and " in message
    assert "key(s) the network does not have (features.3.weight" in message


def test_weights_for_other_classes_name_the_layer_and_both_shapes(tmp_path):
    path = tmp_path / "ten.safetensors"
    minidl.save(nets.alexnet(num_classes=10, width=SMALL).state_dict(), path)
    message = _one_line_error(lambda: nets.alexnet(num_classes=3, width=SMALL, weights=path), path)
    assert "classifier.6.weight is (10, 256) in the file, (3, 256) in the network" in message
    assert "missing" not in message


def test_extra_keys_are_refused(tmp_path):
    state = dict(_small("fcn32s").state_dict())
    state["score_pool4.weight"] = minidl.zeros(3, 32, 1, 1)
    path = tmp_path / "extra.safetensors"
    minidl.save(state, path)
    message = _one_line_error(lambda: _small("fcn32s", weights=path), path)
    assert "1 key(s) the network does not have (score_pool4.weight)" in message


def test_a_file_that_is_not_safetensors_is_refused_in_one_line(tmp_path):
    path = tmp_path / "weights.pth"
    path.write_bytes(b"PK\x03\x04 not a safetensors file")
    message = _one_line_error(lambda: _small("googlenet", weights=path), path)
    assert message.startswith("googlenet: ")


def test_a_missing_file_is_named():
    with pytest.raises(FileNotFoundError, match="no-such.safetensors"):
        _small("alexnet", weights="no-such.safetensors")


def test_weights_written_by_pytorch_load(tmp_path):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    source = _small("googlenet", torchvision_compat=True, aux_logits=False)
    running_var = source.conv1.bn.running_var
    running_var.data[...] = np.random.default_rng(1).random(running_var.shape) + 0.5  # a buffer, not 1s
    state = {key: torch.from_numpy(value.numpy().copy()) for key, value in source.state_dict().items()}
    path = tmp_path / "from_torch.safetensors"
    safetensors_torch.save_file(state, str(path))
    loaded = nets.googlenet(num_classes=3, width=SMALL, torchvision_compat=True, aux_logits=False,
                            weights=path)
    np.testing.assert_array_equal(loaded.fc.weight.numpy(), source.fc.weight.numpy())
    np.testing.assert_array_equal(loaded.conv1.bn.running_var.numpy(), source.conv1.bn.running_var.numpy())
