"""docs/lecture.md and docs/architecture.md stay honest: every file they name exists and every function
or class they name is defined there.

A reference is an inline code span of the form `path` or `path::Name` (``Name`` may be dotted,
``Class.method``), with ``path`` relative to the repository root; Markdown links to files are checked too.
"""
import ast
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAP = os.path.join(ROOT, "docs", "lecture.md")
ARCHITECTURE = os.path.join(ROOT, "docs", "architecture.md")
REFERENCE = re.compile(
    r"`((?:minidl|nets|tests|examples|docs|bench)/[\w./-]+\.(?:py|md|cu))(?:::([\w.]+))?`")
LINK = re.compile(r"\]\(((?!https?:)[^)#\s]+)(?:#[^)]*)?\)")


def _text(doc=MAP):
    with open(doc, encoding="utf-8") as f:
        return f.read()


def references(doc=MAP):
    return sorted(set(REFERENCE.findall(_text(doc))))


def _documented():
    return [(os.path.basename(doc), path, name)
            for doc in (MAP, ARCHITECTURE) for path, name in references(doc)]


def defined_names(path):
    """Dotted names defined at module level and inside classes: functions, classes, assignments."""
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    names = set()

    def visit(body, prefix):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(prefix + node.name)
                if isinstance(node, ast.ClassDef):
                    visit(node.body, prefix + node.name + ".")
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    for n in ast.walk(t):
                        if isinstance(n, ast.Name):
                            names.add(prefix + n.id)

    visit(tree.body, "")
    return names


def test_the_map_has_references_in_every_section():
    text = _text()
    sections = re.split(r"^## ", text, flags=re.M)[1:]
    assert len(sections) >= 9
    for section in sections:
        title = section.splitlines()[0]
        assert REFERENCE.search(section), f"section '{title}' names no file or function"


@pytest.mark.parametrize("doc, path, name", _documented(), ids=lambda v: v or "-")
def test_reference_exists(doc, path, name):
    assert os.path.isfile(os.path.join(ROOT, path)), f"docs/{doc} names {path}, which does not exist"
    if name:
        assert path.endswith(".py"), f"{path}::{name}: only Python files have named definitions"
        assert name in defined_names(path), f"docs/{doc} names {path}::{name}, which is not defined there"


@pytest.mark.parametrize("doc", [MAP, ARCHITECTURE], ids=os.path.basename)
def test_markdown_links_point_at_files(doc):
    for target in LINK.findall(_text(doc)):
        assert os.path.exists(os.path.normpath(os.path.join(ROOT, "docs", target))), f"broken link {target}"


def test_the_architecture_gives_a_reading_order():
    text = _text(ARCHITECTURE)
    assert "\n## Reading order\n" in text
    section = text.split("\n## Reading order\n", 1)[1].split("\n## ", 1)[0]
    steps = re.findall(r"^\d+\. (.*)", section, flags=re.M)
    assert 8 <= len(steps) <= 14
    for step in steps:
        assert REFERENCE.search(step), f"reading-order step names no file: {step}"
    assert "minidl/tensor.py::Tensor" in steps[0] and "minidl/kernels/" in section and "nets/" in steps[-1]


def test_every_demonstration_is_on_the_map():
    named = {path for path, _ in references()}
    demos = {f"examples/{f}" for f in os.listdir(os.path.join(ROOT, "examples"))
             if re.match(r"\d\d_\w+\.py$", f)}
    assert demos, "no demonstrations found"
    assert not demos - named, f"demonstrations missing from docs/lecture.md: {sorted(demos - named)}"


def test_the_checker_catches_a_wrong_name(tmp_path):
    assert "hog" in defined_names("minidl/classic/hog.py")
    architecture = defined_names("tests/test_nets_architecture.py")
    assert "TestResNet.test_block_is_identity_plus_residual" in architecture
    assert "no_such_function" not in defined_names("minidl/classic/hog.py")
    assert REFERENCE.findall("see `minidl/hog.py::hog` and `nets/vgg.py`") == [("minidl/hog.py", "hog"),
                                                                              ("nets/vgg.py", "")]
