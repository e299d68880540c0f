"""``Module``: the base of every layer and network, holding its weights, as ``torch.nn.Module``.

A ``Module`` registers what is assigned to it: a ``Parameter`` goes to ``_parameters``, a ``Module`` to
``_modules``, a tensor named by ``register_buffer`` to ``_buffers``. Everything else (``parameters()``,
``state_dict()``, ``to()``, ``train()``) walks those three dictionaries, so a network's weights are found
however deeply its layers nest, under PyTorch's dotted names (``features.0.weight``).
"""
import collections
import itertools

import numpy as np

from .. import backend
from ..tensor import Tensor, parse_to_args
from .parameter import Parameter
from .state import load_state

_hook_ids = itertools.count()


class RemovableHandle:
    """What ``register_forward_hook`` returns: ``handle.remove()`` unregisters the hook."""

    def __init__(self, hooks):
        self._hooks = hooks
        self.id = next(_hook_ids)

    def remove(self):
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False


def _parse_to(args, kwargs, who):
    """Split ``to(...)`` arguments into (device or None, dtype or None); modules take float dtypes only."""
    device, dtype = parse_to_args(args, kwargs, who)
    if dtype is not None:
        if dtype.kind != "f":
            raise TypeError(f"{who}.to: only floating-point dtypes can be asked for, got {dtype}")
    return device, dtype


class Module:
    """Base class of every layer and network: subclass it, assign layers in ``__init__``, write ``forward``."""

    def __init__(self):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", collections.OrderedDict())
        object.__setattr__(self, "_buffers", collections.OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", collections.OrderedDict())
        object.__setattr__(self, "_forward_hooks", collections.OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", collections.OrderedDict())

    # ----------------------------------------------------------------- registration
    def _registry(self, what):
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {what} before Module.__init__() call "
                f"(call super().__init__() first in {type(self).__name__}.__init__)"
            )

    @staticmethod
    def _check_name(name, kind):
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a str, got {type(name).__name__}")
        if name == "" or "." in name:
            raise KeyError(f"{kind} name can't be empty or contain '.', got {name!r}")

    def register_parameter(self, name, param):
        """Add ``param`` (a ``Parameter`` or ``None``) under ``name``."""
        self._registry("parameters")
        self._check_name(name, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign {type(param).__name__!r} as parameter {name!r} "
                "(minidl.nn.Parameter or None expected)"
            )
        if name in self.__dict__ or name in self._modules or name in self._buffers:
            raise KeyError(f"attribute {name!r} already exists")
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Add a tensor that is state but not a weight (BN's running mean); ``persistent`` puts it in ``state_dict``."""
        self._registry("buffers")
        self._check_name(name, "buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign {type(tensor).__name__!r} as buffer {name!r} (Tensor or None expected)")
        if name in self._parameters or name in self._modules or (
            name in self.__dict__ and name not in self._buffers
        ):
            raise KeyError(f"attribute {name!r} already exists")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name, module):
        """Add a child module (or ``None``) under ``name``."""
        self._registry("submodules")
        self._check_name(name, "module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if name in self._parameters or name in self._buffers or (
            name in self.__dict__ and name not in self._modules
        ):
            raise KeyError(f"attribute {name!r} already exists")
        self._modules[name] = module

    register_module = add_module

    def _drop(self, name):
        for store in (self.__dict__, self._parameters, self._buffers, self._modules):
            store.pop(name, None)
        self._non_persistent_buffers.discard(name)

    def __setattr__(self, name, value):
        if isinstance(value, Parameter):
            self._registry("parameters")
            self._drop(name)
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            self._registry("submodules")
            self._drop(name)
            self._modules[name] = value
        elif "_parameters" in self.__dict__ and name in self._parameters:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__!r} as parameter {name!r} "
                    "(minidl.nn.Parameter or None expected)"
                )
            self._parameters[name] = None
        elif "_modules" in self.__dict__ and name in self._modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__!r} as child module {name!r} (Module or None expected)"
                )
            self._modules[name] = None
        elif "_buffers" in self.__dict__ and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__!r} as buffer {name!r} (Tensor or None expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # reached only when normal lookup fails; read __dict__ directly so a half-built object
        # (copy.deepcopy, unpickling) cannot recurse here
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        if name in self._parameters or name in self._buffers or name in self._modules:
            self._drop(name)
        else:
            object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    # ----------------------------------------------------------------- walking the tree
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """(dotted name, module) for this module and every descendant, parents before children."""
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is None:
                continue
            yield from child.named_modules(memo, prefix + "." + name if prefix else name, remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, store, prefix, recurse, remove_duplicate=True):
        seen = set()
        walk = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mod_prefix, module in walk:
            for name, value in getattr(module, store).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (mod_prefix + "." + name if mod_prefix else name), value

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(dotted name, Parameter) pairs; a parameter shared by two layers is listed once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target):
        """The module at dotted path ``target`` (``'features.0'``); ``''`` is this module."""
        module = self
        for part in target.split(".") if target else []:
            child = module._modules.get(part)
            if child is None:
                raise AttributeError(f"{type(module).__name__} has no submodule {part!r} (looking up {target!r})")
            module = child
        return module

    def apply(self, fn):
        """Call ``fn(m)`` on every submodule (children first) and on this module; used for custom init."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ----------------------------------------------------------------- modes and gradients
    def train(self, mode=True):
        """Training mode (dropout active, BN uses batch statistics) or, with ``False``, evaluation mode."""
        if not isinstance(mode, bool):
            raise ValueError(f"train: mode is expected to be a bool, got {type(mode).__name__}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Forget every parameter's gradient (``None``), or zero it in place with ``set_to_none=False``."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.data[...] = 0

    # ----------------------------------------------------------------- devices and dtypes
    def _convert(self, device, dtype):
        """Move/cast every parameter and buffer in place: the same Parameter objects get new ``.data``,
        so an optimiser that already holds them keeps working. Only floating tensors change dtype."""

        def convert(array):
            if device is not None:
                array = backend.to_device(array, device)
            if dtype is not None and array.dtype.kind == "f" and array.dtype != dtype:
                array = array.astype(dtype)
            return array

        for t in itertools.chain(self.parameters(), self.buffers()):
            t.data = convert(t.data)
            if t.grad is not None:
                t.grad.data = convert(t.grad.data)
        return self

    def to(self, *args, **kwargs):
        """``to('cuda')``, ``to(minidl.float64)``, ``to('cpu', minidl.float32)`` (in place; returns self)."""
        device, dtype = _parse_to(args, dict(kwargs), type(self).__name__)
        return self._convert(device, dtype)

    def cuda(self):
        return self._convert("cuda", None)

    def cpu(self):
        return self._convert("cpu", None)

    def float(self):
        return self._convert(None, np.dtype(np.float32))

    def double(self):
        return self._convert(None, np.dtype(np.float64))

    def half(self):
        return self._convert(None, np.dtype(np.float16))

    # ----------------------------------------------------------------- state
    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """OrderedDict dotted name -> tensor: parameters, then persistent buffers, module by module.

        The tensors share the module's arrays (no copy) and are cut from the graph unless ``keep_vars``.
        """
        out = collections.OrderedDict() if destination is None else destination
        for mod_prefix, module in self.named_modules(prefix=prefix.rstrip(".")):
            dot = mod_prefix + "." if mod_prefix else ""
            for name, p in module._parameters.items():
                if p is not None:
                    out[dot + name] = p if keep_vars else p.detach()
            for name, b in module._buffers.items():
                if b is not None and name not in module._non_persistent_buffers:
                    out[dot + name] = b if keep_vars else b.detach()
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy ``state_dict``'s values into this module's parameters and buffers, in place.

        Values may be minidl Tensors, NumPy or CuPy arrays; each is cast to the existing tensor's dtype and
        moved to its device (a float64 file loads into a float32 model on the GPU). Every problem is
        found before anything is copied and reported in one error: missing and unexpected keys (only
        when ``strict``) and shape mismatches (always, with both shapes). Returns
        ``IncompatibleKeys(missing_keys, unexpected_keys)``.
        """
        return load_state(self, state_dict, strict)

    # ----------------------------------------------------------------- calling
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def register_forward_pre_hook(self, hook):
        """``hook(module, args)`` runs before ``forward``; returning a value (or tuple) replaces the args."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    def register_forward_hook(self, hook):
        """``hook(module, args, output)`` runs after ``forward``; returning a value replaces the output."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def __call__(self, *args, **kwargs):
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        output = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, output)
            if result is not None:
                output = result
        return output

    # ----------------------------------------------------------------- printing
    def extra_repr(self):
        """The constructor arguments shown inside this module's ``repr``; layers override it."""
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for name, child in self._modules.items():
            child_text = repr(child).replace("\n", "\n  ")
            lines.append(f"({name}): {child_text}")
        if not lines:
            return type(self).__name__ + "()"
        if len(lines) == 1 and not self._modules:
            return f"{type(self).__name__}({lines[0]})"
        return type(self).__name__ + "(\n  " + "\n  ".join(lines) + "\n)"
