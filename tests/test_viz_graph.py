"""``minidl.draw_graph``: the DOT graph has the recorded graph's nodes and edges, once each."""
import re
import shutil
import subprocess

import pytest

import minidl
import nets
from minidl import autograd, nn
from minidl.viz import graph as graph_module
from nets.resnet import BasicBlock


def recorded(outputs):
    """(functions, grad-requiring leaves, edges) of the graph behind ``outputs``, read from autograd."""
    outputs = outputs if isinstance(outputs, (tuple, list)) else [outputs]
    functions = autograd._topological_order([t._ctx for t in outputs if t._ctx is not None])
    inputs = [t for fn in functions for t in fn.inputs if t is not None and t.requires_grad]
    leaves = {id(t) for t in inputs if t._ctx is None} | {id(t) for t in outputs if t._ctx is None}
    return len(functions), len(leaves), len(inputs)


def parse(source):
    """Node ids and edges of our DOT text; checks the braces and that every edge joins declared nodes."""
    assert source.startswith("digraph minidl {") and source.rstrip().endswith("}")
    nodes = re.findall(r"^  (\w+) \[label=", source, flags=re.M)
    edges = re.findall(r"^  (\w+) -> (\w+);", source, flags=re.M)
    assert len(set(nodes)) == len(nodes)
    assert all(a in nodes and b in nodes for a, b in edges)
    return nodes, edges


def check_counts(out, **kw):
    g = minidl.draw_graph(out, **kw)
    functions, leaves, edges = recorded(out)
    nodes, drawn_edges = parse(g.source)
    assert len(nodes) == len(g.nodes) == functions + leaves
    assert len(drawn_edges) == len(g.edges) == edges
    return g


def test_small_expressions_have_the_recorded_counts():
    x = minidl.randn(3, 4, requires_grad=True)
    w = minidl.randn(4, 2, requires_grad=True)
    data = minidl.randn(3, 4)  # needs no gradient: not drawn
    check_counts(((x * data + x) @ w).relu().sum())
    check_counts(x * x)  # one leaf, two edges into it
    a, b = minidl.split(x, 2, dim=1)  # a function with two outputs is one node
    g = check_counts([a.exp(), b.tanh()])
    assert sum("Split" in label for label in g.nodes.values()) == 1


def test_a_diamond_shares_its_subexpression():
    x = minidl.randn(5, requires_grad=True)
    shared = x.exp()
    out = (shared * 2.0 + shared.tanh()).sum()
    g = check_counts(out)
    exp_nodes = [n for n, label in g.nodes.items() if label.startswith("Exp")]
    assert len(exp_nodes) == 1
    assert sum(b == exp_nodes[0] for _, b in g.edges) == 2
    assert "5 float32" in g.nodes[exp_nodes[0]]


def test_a_network_graph_names_its_parameters_and_survives_backward():
    block = BasicBlock(4, 4)
    out = block(minidl.randn(2, 4, 6, 6)).sum()
    g = check_counts(out, params=dict(block.named_parameters()))
    labels = "\n".join(g.nodes.values())
    for name, _ in block.named_parameters():
        assert name + "\\n" in g.source or name + "\n" in labels
    assert "Conv2dOp\n2x4x6x6 float32" in labels
    before = (len(g.nodes), len(g.edges))
    out.backward()  # frees the saved buffers, keeps the structure
    after = minidl.draw_graph(out)
    assert (len(after.nodes), len(after.edges)) == before


def test_by_module_draws_one_box_per_block_that_ran():
    model = nets.create("resnet18", num_classes=3, width=0.125, small_input=True)
    with minidl.trace_modules(model):
        out = model(minidl.randn(1, 3, 16, 16))
    g = minidl.draw_graph(out, params=dict(model.named_parameters()), by_module=True)
    nodes, edges = parse(g.source)
    boxes = [label.split(" ")[0] for label in g.nodes.values() if "parameters\n" in label]
    assert boxes[0] == "fc" and "layer1.0" in boxes and "layer4.1" in boxes
    ran = {name for name, m in minidl.viz.blocks(model) if not isinstance(m, (nn.Identity,))}
    assert set(boxes) <= ran and len(boxes) == len(set(boxes))
    assert not any(label.startswith(("conv1.weight", "fc.weight")) for label in g.nodes.values())
    assert "layer2.0 (BasicBlock)\n" in "\n".join(g.nodes.values())
    # a chain: every box but the last feeds into exactly one other node
    assert len(edges) == len(nodes) - 1


def test_by_module_needs_the_trace():
    model = nn.Sequential(nn.Linear(3, 2))
    out = model(minidl.randn(1, 3))
    with pytest.raises(ValueError, match="trace_modules"):
        minidl.draw_graph(out, by_module=True)


def test_bad_output_is_named():
    with pytest.raises(ValueError, match="no graph"):
        minidl.draw_graph(minidl.randn(3))
    with pytest.raises(TypeError, match="draw_graph: expected a Tensor"):
        minidl.draw_graph([1, 2])


def test_save_dot_and_rendered_formats(tmp_path, monkeypatch):
    x = minidl.randn(2, requires_grad=True)
    g = minidl.draw_graph((x * 3.0).sum())
    g.save(tmp_path / "g.dot")
    assert (tmp_path / "g.dot").read_text() == str(g)
    with pytest.raises(ValueError, match=r"\.txt"):
        g.save(tmp_path / "g.txt")
    if shutil.which("dot") is not None:
        g.save(tmp_path / "g.svg")
        assert "<svg" in (tmp_path / "g.svg").read_text()
        check = subprocess.run(["dot", "-Tcanon"], input=g.source.encode(), capture_output=True)
        assert check.returncode == 0, check.stderr
    monkeypatch.setattr(graph_module.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="graphviz"):
        g.save(tmp_path / "g.png")
