"""``Optimizer``: what SGD, Adam and AdamW share — parameter groups, per-parameter state, ``state_dict``.

A parameter group is a dict: ``'params'`` (a list of tensors) and the hyperparameters that apply to
them. ``Optimizer(model.parameters(), lr=0.1)`` makes one group; a list of dicts makes several, each
filling what it does not set from the constructor's defaults — e.g. FCN trains biases at twice the
rate::

    SGD([{'params': weights}, {'params': biases, 'lr': 2 * base_lr}], lr=base_lr, momentum=0.9)

Updates are array code on ``p.data`` (NumPy or CuPy, whichever holds the parameter); no graph is built
and ``p.grad`` is only read, never written in place, since a gradient array may be shared.
"""
import numbers

import numpy as np

from .. import autograd, backend
from ..parallel import run_chunks
from ..tensor import Tensor


# a parameter's elementwise update runs over pieces of at most this many numbers, so that the few arrays
# one piece reads and writes (parameter, gradient, state, a temporary) stay in a core's cache across the
# update's passes, and one large weight is shared among the pool's threads. Measured on a 2-core x86
# machine, SGD with momentum on the 8.4 million parameters of VGG-16 width 1/4 (one fc6 weight of 6.4
# million): 16 ms a step as whole arrays, 9 ms in pieces of 2^17 (2^14: 26 ms of Python overhead; 2^18:
# 8 ms at two threads, but 14 against 13 at one).
PIECE = 2**17


def _pieces(sizes):
    """(k, start, stop): the flat ranges of at most ``PIECE`` numbers covering each of the arrays of the
    given sizes, in order; (k, None, None) for an array given as None, which stays whole."""
    return [piece for k, size in enumerate(sizes)
            for piece in ([(k, None, None)] if size is None else
                          [(k, start, min(start + PIECE, size)) for start in range(0, size, PIECE)])]


def _runs_of_equal_size(sizes, count):
    """(start, stop) ranges cutting a list of work items of the given sizes into about ``count`` runs of
    about equal total size (each item stays whole)."""
    ends = np.cumsum(sizes)
    # run k ends where the running size first reaches k / count of the total
    cuts = np.searchsorted(ends, ends[-1] * np.arange(1, count) / count, side="left") + 1
    bounds = sorted({0, *(int(e) for e in cuts), len(sizes)})
    return list(zip(bounds[:-1], bounds[1:]))


def _flat(array, start, stop):
    return array.reshape(-1)[start:stop]


class Optimizer:
    """Base class: a subclass passes its ``defaults``, may refine ``_check(group)``, and defines
    ``_begin(p, grad, group)`` and ``_elementwise(theta, grad, arrays, scalars, group)``.

    ``_begin`` runs once per parameter and step: it creates the parameter's state on the first step,
    counts steps, and returns ``(arrays, scalars)``: a dict of the state arrays the update reads and
    writes (each of the parameter's shape) and a dict of anything else it needs. ``_elementwise`` then
    changes ``theta`` (the parameter's data) from ``grad`` and those arrays, number by number.

    A subclass whose ``_elementwise`` treats every number on its own (SGD, Adam, AdamW) sets
    ``updates_in_parallel = True``: on the CPU it is then called on pieces of the flattened arrays
    (``PIECE`` numbers at most) spread over the thread pool; the same operations on the same numbers, so
    the same bits as a whole-array call, at any thread count.
    """

    updates_in_parallel = False

    def __init__(self, params, defaults):
        self._check(defaults)
        self.defaults = dict(defaults)
        self.state = {}
        self.param_groups = []
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(
                f"{name}: params should be an iterable of Tensors or of dicts, got a single Tensor "
                "(wrap it in a list)"
            )
        if isinstance(params, dict):
            raise TypeError(
                f"{name}: params should be an iterable of Tensors or of dicts, got a dict "
                "(pass model.parameters(), or a list of parameter-group dicts)"
            )
        _refuse_set(name, params)
        groups = list(params)
        if not groups:
            raise ValueError(f"{name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines + [")"])

    def _check(self, group):
        """Raise ``ValueError`` for a hyperparameter out of range (each optimiser knows its own)."""

    def add_param_group(self, param_group):
        """Add a group of parameters (a dict with ``'params'``), e.g. layers unfrozen during fine-tuning."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}.add_param_group: expected a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{name}.add_param_group: the group has no 'params' entry")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        _refuse_set(name, params)
        params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimise Tensors, got {type(p).__name__}")
            if p.dtype.kind != "f":
                raise TypeError(
                    f"{name}: can only optimise floating-point tensors, got one of dtype {p.dtype}"
                )
            if not p.is_leaf:
                raise ValueError(
                    f"{name}: can't optimise a non-leaf tensor (one computed from others); "
                    "optimise the leaves it was computed from"
                )
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}: a parameter group lists the same parameter twice")
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in taken for p in params):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        group["params"] = params
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check(group)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        """Forget the gradients: set ``.grad`` to None (default) or to fresh zero arrays."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad = Tensor._wrap(backend.get_array_module(p.grad.data).zeros_like(p.grad.data))

    def step(self, closure=None):
        """Update every parameter that has a gradient; ``closure`` re-evaluates and returns the loss."""
        loss = None
        if closure is not None:
            with autograd.enable_grad():
                loss = closure()
        # every gradient is checked before any state changes
        checked = [(p, self._grad_of(p), group) for group in self.param_groups for p in group["params"]
                   if p.grad is not None]
        updates = [(p.data, grad, group) + self._begin(p, grad, group) for p, grad, group in checked]
        if self.updates_in_parallel and updates and all(isinstance(u[1], np.ndarray) for u in updates):
            # on the CPU: cache-sized pieces, about equal runs of them per thread (a ResNet-18 step's SGD
            # took about 25 ms on one core as whole arrays one after another)
            pieces = _pieces([u[1].size if _can_cut(*u[:2], u[3]) else None for u in updates])

            def work(a, b):
                for k, start, stop in pieces[a:b]:
                    theta, grad, group, arrays, scalars = updates[k]
                    if start is not None:
                        theta, grad = _flat(theta, start, stop), _flat(grad, start, stop)
                        arrays = {name: _flat(array, start, stop) for name, array in arrays.items()}
                    self._elementwise(theta, grad, arrays, scalars, group)

            sizes = [updates[k][1].size if start is None else stop - start for k, start, stop in pieces]
            run_chunks(work, _runs_of_equal_size(sizes, 4 * backend.get_num_threads()))
        else:
            for theta, grad, group, arrays, scalars in updates:
                self._elementwise(theta, grad, arrays, scalars, group)
        return loss

    def _begin(self, p, grad, group):
        """Create or advance ``p``'s state; returns (state arrays, other values) for ``_elementwise``."""
        raise NotImplementedError(f"{type(self).__name__} does not define _begin")

    def _elementwise(self, theta, grad, arrays, scalars, group):
        """Update ``theta`` in place from ``grad`` and the state ``arrays`` (all the same shape)."""
        raise NotImplementedError(f"{type(self).__name__} does not define _elementwise")

    def _grad_of(self, p):
        grad = p.grad.data
        if tuple(grad.shape) != p.shape:
            raise ValueError(
                f"{type(self).__name__}.step: a parameter of shape {p.shape} has a gradient of shape "
                f"{tuple(grad.shape)}"
            )
        if backend.device_of(grad) != p.device:
            raise ValueError(
                f"{type(self).__name__}.step: a parameter on {p.device} has its gradient on "
                f"{backend.device_of(grad)}"
            )
        return grad

    def _state_of(self, p):
        return self.state.setdefault(p, {})

    def state_dict(self):
        """PyTorch's layout: ``{'state': {index: {...}}, 'param_groups': [{..., 'params': [indices]}]}``.

        Parameters are numbered in group order. The state's tensors are the live buffers, not copies
        (as in PyTorch): save or copy the dict before stepping again if it must stay as it is.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = dict(self.state[p])
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Take hyperparameters and state from ``state_dict`` (as made by ``state_dict()``).

        Buffers are copied onto each parameter's device; floating-point buffers take the parameter's
        dtype, as in PyTorch. The groups must list as many parameters as this optimiser's groups.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise ValueError(
                f"{name}.load_state_dict: expected a dict with keys 'state' and 'param_groups', got "
                f"{sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__}"
            )
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: the state dict has {len(saved_groups)} parameter groups but "
                f"the optimiser has {len(self.param_groups)}"
            )
        by_index = {}
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: parameter group {i} of the state dict has "
                    f"{len(saved['params'])} parameters but the optimiser's has {len(group['params'])}"
                )
            by_index.update(zip(saved["params"], group["params"]))
        state = {}
        for index, values in state_dict["state"].items():
            if index not in by_index:
                raise ValueError(f"{name}.load_state_dict: state for parameter {index}, which no group lists")
            p = by_index[index]
            state[p] = {key: self._restore(p, index, key, value) for key, value in values.items()}
        groups = []
        for group, saved in zip(self.param_groups, saved_groups):
            restored = {k: v for k, v in saved.items() if k != "params"}
            restored["params"] = group["params"]
            self._check(restored)
            groups.append(restored)
        self.state = state
        self.param_groups = groups

    def _restore(self, p, index, key, value):
        if not (isinstance(value, (Tensor, np.ndarray)) or backend.is_gpu_array(value)):
            return value
        array = value.data if isinstance(value, Tensor) else value
        if key == "step":
            return int(array.item())
        if tuple(array.shape) != p.shape:
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: state '{key}' of parameter {index} has shape "
                f"{tuple(array.shape)} but the parameter has shape {p.shape}"
            )
        array = backend.to_device(array, p.device)
        xp = backend.get_array_module(array)
        dtype = p.dtype if array.dtype.kind == "f" else array.dtype
        return Tensor._wrap(xp.array(array, dtype=dtype, copy=True))


def _can_cut(theta, grad, arrays):
    """Whether an update can run on flat pieces: all its arrays C-contiguous (a flat view of each) and
    none empty."""
    return theta.size > 0 and all(a.flags.c_contiguous for a in (theta, grad, *arrays.values()))


def _refuse_set(name, params):
    if isinstance(params, (set, frozenset)):
        raise TypeError(
            f"{name}: parameters must be given in a fixed order (a list), not a set, so that "
            "state_dict indices mean the same parameter every run"
        )


def check_non_negative(name, what, value):
    """Raise naming the optimiser ``name`` unless ``value`` is a number >= 0 (for ``_check``)."""
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: {what} should be a number, got {type(value).__name__}")
    if not value >= 0:
        raise ValueError(f"{name}: invalid {what} {value!r} (expected >= 0)")
