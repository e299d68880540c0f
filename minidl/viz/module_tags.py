"""Which block made which ``Function``: ``trace_modules(model)`` tags the graph as the forward runs.

Inside ``with trace_modules(model):`` every block of ``model`` (see ``blocks``) has a forward hook. When a
block returns, the hook walks the graph back from its output to its inputs and tags each ``Function`` not
tagged yet with the block's call: those are exactly the functions the block's ``forward`` recorded (a
function made before the call is reachable only through the inputs, where the walk stops). The engine is
untouched: outside the context nothing is hooked and nothing costs. Tags live in a weak dictionary, so
they go with the graph and survive ``backward`` freeing its buffers.
"""
import contextlib
import weakref

from ..tensor import Tensor
from .blocks import blocks

_TAGS = weakref.WeakKeyDictionary()  # Function -> BlockCall


class BlockCall:
    """One call of a block: its dotted name, type, parameter count and output shape."""

    def __init__(self, name, module, output_shape):
        self.name = name
        self.type = type(module).__name__
        self.params = sum(p.numel() for p in module.parameters())
        self.output_shape = output_shape


def tag_of(fn):
    """The ``BlockCall`` that recorded ``fn``, or None (made outside every block, or not traced)."""
    return _TAGS.get(fn)


def _tensors(value):
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    return []


def _tag_call(name, module, args, output):
    outputs = _tensors(output)
    shape = tuple(outputs[0].shape) if outputs else None
    call = BlockCall(name, module, shape)
    stop = {id(t._ctx) for t in _tensors(args) if t._ctx is not None}
    stack = [t._ctx for t in outputs if t._ctx is not None]
    while stack:
        fn = stack.pop()
        if id(fn) in stop or fn in _TAGS:
            continue
        _TAGS[fn] = call
        stack.extend(t._ctx for t in fn.inputs if t is not None and t._ctx is not None)


@contextlib.contextmanager
def trace_modules(model):
    """Tag the Functions each block of ``model`` records while the block is hooked (for
    ``draw_graph(..., by_module=True)``)."""
    handles = []
    try:
        for name, module in blocks(model):
            handles.append(module.register_forward_hook(
                lambda m, args, out, name=name: _tag_call(name, m, args, out)))
        yield model
    finally:
        for h in handles:
            h.remove()
