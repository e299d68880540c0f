"""The version counter: what keeps in-place operations (``add_``, ``mul_``, ``zero_``, ``x -= y``; they
live in ``minidl/inplace.py``) from corrupting gradients.

What it promises, as PyTorch does:

* An in-place op writes into the tensor's own memory, so every view of it (``reshape``, ``permute``,
  basic indexing, ``detach``) sees the new values; under ``no_grad`` (an optimizer step, an
  initialisation) it is a plain write.
* A gradient is never computed from a value that changed after the op that needed it had run:
  ``backward`` raises a ``RuntimeError`` naming that op. (``y = x.exp(); y.add_(1)`` changes what
  ``exp`` saved, its output, so ``y.sum().backward()`` refuses; ``y = x + 1; y.mul_(2)`` is fine.)
* A leaf that requires grad (a weight) cannot be changed in place while gradients are recorded, nor
  can a tensor that shares memory with another one while both would need a history.
* Outside those refusals an in-place op on a tensor in the graph is recorded like its out-of-place
  twin, and the tensor takes the new history (``h.relu_()`` then ``h.sum().backward()`` works).

How: every tensor carries a ``VersionCounter``, shared by tensors that share memory (``Function.apply``
hands an input's counter to an output that is a view of it). Each in-place write adds one. When
``Function.apply`` records an op, it looks at what ``forward`` kept on ``self``: an array that is an
input's or an output's array (or a view of it) is a saved tensor, and its counter and current value
are noted. Before the op's backward runs, ``check_saved_versions`` compares them. Writes straight into
``.data`` (the optimizers' updates, ``nn.init``, ``load_state_dict``) bypass the counter, as writes
through PyTorch's ``.data`` do.

Why this way: ``forward`` works on raw arrays and saves them under any names, so the op cannot tell
which tensors it saved; looking for the arrays it kept finds exactly those and needs no declaration in
each of the ops. An op that kept a converted copy (``a.astype(...)``) is correctly not tied to the
tensor, because a later write cannot reach the copy. Recording an in-place op runs its out-of-place
twin on a snapshot of the old value, so the twin may save that value safely, and then writes the result
into the tensor's memory; the graph's edges (``Function.input_edges``) still lead earlier readers of the
old value to its old history.
"""
import numpy as np

from . import backend


class VersionCounter:
    """How many in-place writes the memory of a tensor (and its views) has seen."""

    __slots__ = ("value", "shared")

    def __init__(self):
        self.value = 0
        self.shared = False  # True once a second tensor uses the same memory


def _owner(array):
    """The array that owns ``array``'s memory (``array`` itself unless it is a view)."""
    base = getattr(array, "base", None)
    return array if base is None else base


def share_counter_if_view(out, inputs):
    """Give output tensor ``out`` the counter of the input whose memory it views, if any."""
    owner = out.data.base
    if owner is None:  # a fresh array (most op outputs): nothing to share
        return
    for t in inputs:
        if t is not None and _owner(t.data) is owner:
            share_counter(out, t)
            return


def share_counter(view, base):
    view._version_counter = base._version_counter
    base._version_counter.shared = True


def _kept_arrays(fn):
    """The ids of the memory owners of the arrays ``fn``'s forward kept on ``self``, directly or in a
    tuple or list (this runs for every recorded op, so it is kept to plain loops)."""
    array_types = (np.ndarray,) if backend._cupy is None else (np.ndarray, backend._cupy.ndarray)
    owners = set()
    for name, value in vars(fn).items():
        if isinstance(value, array_types):
            owners.add(id(_owner(value)))
        elif isinstance(value, (tuple, list)) and name not in fn._GRAPH_ATTRIBUTES:
            for item in value:
                if isinstance(item, array_types):
                    owners.add(id(_owner(item)))
    return owners


def saved_versions(fn, inputs, outputs):
    """(counter, version when saved, which tensor) for each input or output whose array ``fn`` kept.

    Which tensor is noted as ("input" or "output", index, shape, dtype), put into words only if the
    check fails: this runs for every recorded op (and must not keep the array itself alive)."""
    kept = _kept_arrays(fn)
    if not kept:
        return ()
    found = []
    for what, tensors in (("input", inputs), ("output", outputs)):
        for i, t in enumerate(tensors):
            if t is not None and id(_owner(t.data)) in kept:
                counter = t._version_counter
                found.append((counter, counter.value, (what, i, t.data.shape, t.data.dtype)))
    return tuple(found)


def check_saved_versions(fn):
    for counter, version, (what, i, shape, dtype) in fn.saved_versions:
        if counter.value != version:
            raise RuntimeError(
                f"backward: a tensor that {type(fn).__name__} saved for its gradient (its {what} {i}, of shape "
                f"{tuple(shape)} and dtype {dtype}) was modified by an in-place operation: it is at version "
                f"{counter.value}, but was saved at version {version}. Use the out-of-place op (x = x + 1 "
                "instead of x.add_(1)) or clone() the tensor before changing it"
            )
