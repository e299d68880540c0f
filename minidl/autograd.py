"""Reverse-mode automatic differentiation.

A ``Function`` computes on raw arrays (NumPy or CuPy): ``forward(*arrays, **options)`` returns the
output array(s) and keeps on ``self`` whatever ``backward`` will need; ``backward(*grad_outputs)``
returns one gradient per positional input (``None`` where an input needs none). ``Function.apply``
wraps this for tensors and, when gradients are enabled and an input requires one, records the call
in the graph: each output tensor points at the ``Function`` that made it, and the ``Function`` keeps
its input tensors.

Each ``Function`` also keeps, per input, the *edge* it was made from: the ``Function`` that had produced
that input (and which of its outputs it was) at the time of the call. The walk follows these edges,
not the tensors' current ``grad_fn``, so that an in-place op that later gives a tensor a new history
(``h.relu_()``) does not reroute the gradients of the ops that read its old value.

``backward`` walks that graph once, in reverse topological order found without recursion (a chain of
100,000 nodes is fine), so diamonds and reused tensors get every contribution exactly once. Before a
``Function``'s backward runs, the tensors it saved are checked against in-place changes
(``minidl/versions.py``).
"""
import functools
import threading

from . import backend, versions

_state = threading.local()


def is_grad_enabled():
    return getattr(_state, "enabled", True)


def _set_enabled(mode):
    _state.enabled = bool(mode)


class _GradMode:
    """Base of the grad-mode switches: each is a context manager and a function decorator."""

    mode = True

    def _fresh(self):
        return type(self)()

    def __enter__(self):
        self._prev = is_grad_enabled()
        _set_enabled(self.mode)
        return self

    def __exit__(self, *exc):
        _set_enabled(self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self._fresh():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Within this block (or decorated function) no graph is recorded."""

    mode = False


class enable_grad(_GradMode):
    """Turn gradient recording back on inside a ``no_grad`` block."""

    mode = True


class set_grad_enabled(_GradMode):
    """``set_grad_enabled(False)`` acts at once (as in PyTorch) and, used with ``with``, is undone on exit."""

    def __init__(self, mode):
        self.mode = bool(mode)
        self._prev = is_grad_enabled()
        _set_enabled(self.mode)

    def _fresh(self):
        return set_grad_enabled(self.mode)

    def __enter__(self):
        return self


class Function:
    """One differentiable operation. Subclass it and write ``forward`` and ``backward`` on arrays."""

    # positions of the inputs whose gradient ``backward`` returns as a new array that it keeps no
    # reference to (a layer's weight and bias gradients): a leaf takes such an array as its ``.grad``
    # instead of a copy, which saves a pass over every weight each step. Any other gradient is copied,
    # since it may be the op's incoming gradient passed on, or go to two inputs.
    fresh_grads = ()

    def __init__(self):
        self.inputs = ()
        self.input_edges = ()  # per input: (producing Function or None for a leaf, its output index)
        self.needs_input_grad = ()
        self.saved_versions = ()  # (tensor's version counter, version when saved, description)
        self._freed = False

    def forward(self, *arrays, **options):  # pragma: no cover - the contract
        raise NotImplementedError

    def backward(self, *grad_outputs):  # pragma: no cover - the contract
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **options):
        """Run the op on tensors (``None`` allowed for optional inputs) and record it when needed."""
        from .tensor import Tensor

        fn = cls()
        arrays = []
        device = None
        for i, t in enumerate(inputs):
            if t is None:
                arrays.append(None)
                continue
            if not isinstance(t, Tensor):
                raise TypeError(
                    f"{cls.__name__}: input {i} must be a Tensor or None, got {type(t).__name__}"
                )
            if device is None:
                device = t.device
            elif t.device != device:
                raise ValueError(
                    f"{cls.__name__}: expected all tensors on the same device, "
                    f"got {device} and {t.device}"
                )
            arrays.append(t.data)
        fn.needs_input_grad = tuple(isinstance(t, Tensor) and t.requires_grad for t in inputs)
        record = is_grad_enabled() and any(fn.needs_input_grad)
        out = fn.forward(*arrays, **options)
        multiple = isinstance(out, tuple)
        outs = tuple(_as_array(o) for o in out) if multiple else (_as_array(out),)
        results = []
        for k, o in enumerate(outs):
            t = Tensor._wrap(o)
            versions.share_counter_if_view(t, inputs)
            if record and _is_float(o):
                t.requires_grad = True
                t._ctx = fn
                t._out_index = k
            results.append(t)
        if record:
            fn.inputs = inputs
            fn.input_edges = tuple(None if t is None else (t._ctx, t._out_index) for t in inputs)
            fn._out_meta = tuple((o.shape, o.dtype) for o in outs)
            fn.saved_versions = versions.saved_versions(fn, inputs, results)
        return tuple(results) if multiple else results[0]

    # What backward needs besides what forward saved; ``_release`` keeps exactly these (and the
    # version check does not look in them for saved arrays).
    _GRAPH_ATTRIBUTES = frozenset({"inputs", "input_edges", "needs_input_grad", "_out_meta", "saved_versions"})

    def _release(self):
        """Drop what forward saved, so memory is returned as soon as backward is through.

        Every attribute not in ``_GRAPH_ATTRIBUTES`` is deleted: ``forward`` may keep anything on
        ``self`` under any name, and all of it counts as saved for the backward. A second backward
        through this ``Function`` then finds ``_freed`` set and says so.
        """
        for name in list(vars(self)):
            if name not in self._GRAPH_ATTRIBUTES:
                delattr(self, name)
        self._freed = True


def _as_array(value):
    """NumPy turns 0-d results into scalars (np.float32(2.0)); a tensor always holds an array."""
    return value if hasattr(value, "flags") else backend.np.asarray(value)


def _is_float(array):
    return array.dtype.kind in "fc"


def _topological_order(roots):
    """Functions reachable from ``roots``, each after every function that consumes its outputs."""
    order, visited = [], set()
    stack = [(fn, False) for fn in roots]
    while stack:
        fn, expanded = stack.pop()
        if expanded:
            order.append(fn)
            continue
        if id(fn) in visited:
            continue
        visited.add(id(fn))
        stack.append((fn, True))
        for edge in fn.input_edges:
            if edge is not None and edge[0] is not None and id(edge[0]) not in visited:
                stack.append((edge[0], False))
    order.reverse()
    return order


def backward(tensors, grad_tensors=None, retain_graph=False):
    """Accumulate d(tensors)/d(leaf) into every leaf's ``.grad`` (and ``retain_grad`` tensors')."""
    from .tensor import Tensor

    if isinstance(tensors, Tensor):
        tensors = [tensors]
        grad_tensors = [grad_tensors]
    grad_tensors = list(grad_tensors) if grad_tensors is not None else [None] * len(tensors)

    pending = {}  # (id(fn), output index) -> accumulated gradient array
    roots = []
    for t, g in zip(tensors, grad_tensors):
        if not t.requires_grad:
            raise RuntimeError(
                "backward: the tensor does not require grad and has no graph "
                "(was it computed under no_grad, or from inputs without requires_grad=True?)"
            )
        if g is None:
            if t.data.size != 1:
                raise RuntimeError(
                    f"backward: grad can be implicitly created only for scalar outputs; this tensor "
                    f"has shape {tuple(t.shape)}: pass a gradient of that shape, e.g. t.backward(g)"
                )
            g = t._xp.ones_like(t.data)
        else:
            g = g.data if isinstance(g, Tensor) else g
            if tuple(g.shape) != tuple(t.shape):
                raise ValueError(
                    f"backward: gradient shape {tuple(g.shape)} does not match tensor shape {tuple(t.shape)}"
                )
            if backend.device_of(g) != t.device:
                raise ValueError(f"backward: gradient on {backend.device_of(g)} but tensor on {t.device}")
        _send(t, (t._ctx, t._out_index), g, pending)
        if t._ctx is not None:
            roots.append(t._ctx)

    for fn in _topological_order(roots):
        if fn._freed:
            raise RuntimeError(
                f"backward: trying to backward through the graph a second time ({type(fn).__name__}); "
                "its saved buffers were freed after the first backward. "
                "Pass retain_graph=True to the first backward() if you need to go through it twice."
            )
        grads_out = []
        for k, (shape, dtype) in enumerate(fn._out_meta):
            g = pending.pop((id(fn), k), None)
            if g is None and len(fn._out_meta) > 1:
                xp = _xp_of_inputs(fn)
                g = xp.zeros(shape, dtype=dtype)
            grads_out.append(g)
        if all(g is None for g in grads_out):
            continue
        versions.check_saved_versions(fn)
        grads_in = fn.backward(*grads_out)
        if not isinstance(grads_in, tuple):
            grads_in = (grads_in,)
        if len(grads_in) != len(fn.inputs):
            raise RuntimeError(
                f"{type(fn).__name__}.backward returned {len(grads_in)} gradients "
                f"for {len(fn.inputs)} inputs"
            )
        for k, (t, edge, g) in enumerate(zip(fn.inputs, fn.input_edges, grads_in)):
            if g is None or t is None or not t.requires_grad:
                continue
            if tuple(g.shape) != tuple(t.shape):
                raise RuntimeError(
                    f"{type(fn).__name__}.backward returned a gradient of shape {tuple(g.shape)} "
                    f"for an input of shape {tuple(t.shape)}"
                )
            _send(t, edge, g, pending, owned=k in fn.fresh_grads)
        if not retain_graph:
            fn._release()


def _send(t, edge, g, pending, owned=False):
    """Deliver gradient ``g`` of tensor ``t``, reached through ``edge`` = (producing Function, output
    index): a leaf accumulates it into ``.grad`` (``owned``: ``g`` is a new array nothing else holds, so
    it may become the ``.grad`` itself); an op's output adds it to what its producer has pending (and
    into ``.grad`` too when ``retain_grad()`` asked for it)."""
    producer, index = edge
    if producer is None or t._retain_grad:
        t._accumulate(g, owned=owned and producer is None)
    if producer is not None:
        key = (id(producer), index)
        pending[key] = pending[key] + g if key in pending else g


def _xp_of_inputs(fn):
    for t in fn.inputs:
        if t is not None:
            return t._xp
    return backend.np
