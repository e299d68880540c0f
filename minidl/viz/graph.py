"""``draw_graph``: the graph that ``backward`` walks, as Graphviz DOT text.

Nodes: one per ``Function`` reachable from the output (its class name, output shape and dtype), one per
leaf tensor that requires a gradient (a parameter's name when ``params`` maps names to parameters, as
``dict(model.named_parameters())``). Edges run the way ``backward`` walks: from a function to the
function or leaf that made each of its inputs (one edge per input slot, so ``x * x`` has two). Inputs
that need no gradient (data, labels, detached tensors) are left out, as ``backward`` never visits them.
A subexpression used twice is one node with two edges into it: nodes are keyed by object identity.

``by_module=True`` draws one box per block of the network (see ``minidl.viz.blocks``), labelled with its
name, type, parameter count and output shape; the functions and parameters inside a block disappear
into its box. It needs the forward to have run inside ``with minidl.trace_modules(model):``, which
records which block made which function.

The result is a ``Digraph``: ``str(g)`` or ``g.source`` is the DOT text; ``g.save("g.dot")`` writes it,
``g.save("g.svg")`` (or .png, .pdf) runs Graphviz's ``dot`` program, which must be installed.
"""
import os
import shutil
import subprocess

from ..tensor import Tensor
from .module_tags import tag_of

RENDERED = ("svg", "png", "pdf")


class Digraph:
    """DOT text of a graph, with ``nodes`` (id -> label) and ``edges`` ((from id, to id) list)."""

    def __init__(self, nodes, edges, styles):
        self.nodes, self.edges, self._styles = nodes, edges, styles

    @property
    def source(self):
        lines = ["digraph minidl {", '  graph [rankdir=TB, fontname="Helvetica"];',
                 '  node [shape=box, style="rounded,filled", fillcolor="#eeeeee", fontname="Helvetica", '
                 'fontsize=10];']
        for node, label in self.nodes.items():
            style = self._styles.get(node, "")
            lines.append(f'  {node} [label="{_escape(label)}"{style}];')
        lines += [f"  {a} -> {b};" for a, b in self.edges]
        lines.append("}")
        return "\n".join(lines) + "\n"

    def __str__(self):
        return self.source

    def save(self, path):
        """Write ``.dot``/``.gv`` text, or ``.svg``/``.png``/``.pdf`` through Graphviz's ``dot``; returns ``path``."""
        ext = os.path.splitext(str(path))[1].lower().lstrip(".")
        if ext in ("dot", "gv"):
            with open(path, "w", encoding="utf-8") as f:
                f.write(self.source)
            return path
        if ext not in RENDERED:
            raise ValueError(f"draw_graph: cannot save {path!r}: expected a .dot, .gv, .svg, .png or .pdf file")
        dot = shutil.which("dot")
        if dot is None:
            raise RuntimeError(f"draw_graph: writing .{ext} needs the 'dot' program of the package graphviz "
                               "(e.g. apt-get install graphviz); save as .dot, or use .source")
        done = subprocess.run([dot, f"-T{ext}", "-o", str(path)], input=self.source.encode(),
                              capture_output=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"draw_graph: dot failed on {path!r}: {done.stderr.decode().strip()}")
        return path


def _escape(text):
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _shape(shape):
    return "x".join(str(int(s)) for s in shape) if len(shape) else "scalar"


def _roots(output):
    outputs = [output] if isinstance(output, Tensor) else list(output) if isinstance(output, (tuple, list)) else None
    if not outputs or not all(isinstance(t, Tensor) for t in outputs):
        raise TypeError(f"draw_graph: expected a Tensor or a sequence of Tensors, got {type(output).__name__}")
    if not any(t.requires_grad for t in outputs):
        raise ValueError("draw_graph: the output has no graph (computed under no_grad, or from tensors "
                         "without requires_grad=True)")
    return outputs


def _walk(outputs):
    """(functions in first-visit order from the outputs, grad-requiring leaves in first-visit order)."""
    functions, leaves, seen = [], [], set()
    stack = list(reversed(outputs))
    while stack:
        t = stack.pop()
        thing = t._ctx if t._ctx is not None else t
        if id(thing) in seen:
            continue
        seen.add(id(thing))
        if t._ctx is None:
            leaves.append(t)
            continue
        functions.append(t._ctx)
        stack.extend(reversed([i for i in t._ctx.inputs if i is not None and i.requires_grad]))
    return functions, leaves


def draw_graph(output, params=None, by_module=False):
    """Graphviz DOT of the graph behind ``output`` (a tensor or tensors), as ``Digraph``."""
    outputs = _roots(output)
    names = {id(p): n for n, p in (params or {}).items()}
    functions, leaves = _walk(outputs)
    ids = {}
    nodes, styles, edges = {}, {}, []
    for k, fn in enumerate(functions):
        ids[id(fn)] = f"f{k}"
        outs = ", ".join(f"{_shape(s)} {d}" for s, d in fn._out_meta)
        nodes[f"f{k}"] = f"{type(fn).__name__}\n{outs}"
    for k, t in enumerate(leaves):
        ids[id(t)] = f"t{k}"
        nodes[f"t{k}"] = f"{names.get(id(t), 'tensor')}\n{_shape(t.shape)} {t.dtype}"
        styles[f"t{k}"] = ', fillcolor="#cfe2f3"'
    for fn in functions:
        for t in fn.inputs:
            if t is not None and t.requires_grad:
                edges.append((ids[id(fn)], ids[id(t._ctx) if t._ctx is not None else id(t)]))
    for t in outputs:
        if t._ctx is not None:
            styles[ids[id(t._ctx)]] = ', fillcolor="#d9ead3"'
    graph = Digraph(nodes, edges, styles)
    return _collapse(graph, functions, leaves, ids) if by_module else graph


def _collapse(graph, functions, leaves, ids):
    """One box per block call: functions tagged with the same call merge; leaves feeding only one box
    (its parameters) go into it; edges between boxes are kept once."""
    group = {}
    calls = {}
    for fn in functions:
        call = tag_of(fn)
        if call is not None:
            box = calls.setdefault(id(call), (f"m{len(calls)}", call))[0]
            group[ids[id(fn)]] = box
    if not calls:
        raise ValueError("draw_graph(by_module=True): no function is tagged with a module; run the forward "
                         "inside 'with minidl.trace_modules(model):'")
    consumers = {}
    for a, b in graph.edges:
        consumers.setdefault(b, set()).add(group.get(a, a))
    for t in leaves:
        users = consumers.get(ids[id(t)], set())
        if len(users) == 1 and next(iter(users)) in {box for box, _ in calls.values()}:
            group[ids[id(t)]] = next(iter(users))
    nodes, styles, edges = {}, {}, []
    for node, label in graph.nodes.items():
        if node not in group:
            nodes[node] = label
            if node in graph._styles:
                styles[node] = graph._styles[node]
    for box, call in calls.values():
        shape = _shape(call.output_shape) if call.output_shape else "-"
        nodes[box] = f"{call.name} ({call.type})\n{call.params:,} parameters\n{shape}"
        styles[box] = ', fillcolor="#fff2cc"'
    seen = set()
    for a, b in graph.edges:
        edge = (group.get(a, a), group.get(b, b))
        if edge[0] != edge[1] and edge not in seen:
            seen.add(edge)
            edges.append(edge)
    return Digraph(nodes, edges, styles)
