"""Imports run one way: keras_integral's import graph, module-level and lazy imports alike, has no cycle.

Read from the source with `ast` (nothing is imported): every `import` and
`from ... import` anywhere in a file, inside functions too, is an edge from
its module to the module it names. Checked between modules, and between
parts: a part is a top-level module or subpackage (`models`, `zoo`, `data`,
`export`, ...). `keras_integral/__init__.py`, the public API that gathers
every part, is left out.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "keras_integral"


def module_name(path):
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name):
    path = ROOT.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(path):
    """The keras_integral modules a file imports, anywhere in it."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: `from ..d import w` in keras_integral/c/z.py is keras_integral.d.w
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            # `from keras_integral import models` imports the module keras_integral.models;
            # `from keras_integral.models import IntegralPoseModel`, keras_integral.models.
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if is_module(f"{base}.{alias.name}") else base)
    return {name for name in found if name.split(".")[0] == "keras_integral" and is_module(name)}


def part(module):
    """`keras_integral.models.backbones.resnet` -> `models`; the root package -> None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def module_graph():
    """`{module: {modules it imports}}`, the root package left out."""
    graph = {}
    for path in sorted(ROOT.rglob("*.py")):
        source = module_name(path)
        if part(source) is not None:
            graph[source] = {t for t in imported_modules(path) if part(t) is not None and t != source}
    return graph


def part_graph():
    """`{part: {part it imports: [(importing module, imported module), ...]}}`."""
    graph = {}
    for source, targets in module_graph().items():
        for target in targets:
            if part(target) != part(source):
                graph.setdefault(part(source), {}).setdefault(part(target), []).append((source, target))
    return graph


def find_cycle(graph):
    """A cycle `[a, b, ..., a]` of a graph `{node: nodes it points to}`, or None."""
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt, stack + [nxt])
                if cycle:
                    return cycle
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node, [node])
            if cycle:
                return cycle
    return None


def test_the_reader_sees_module_level_lazy_and_relative_imports(tmp_path, monkeypatch):
    package = tmp_path / "keras_integral"
    for name in ("a", "b", "c", "d"):
        (package / name).mkdir(parents=True)
        (package / name / "__init__.py").write_text("")
    (package / "__init__.py").write_text("from keras_integral import a\n")
    (package / "a" / "x.py").write_text("import keras_integral.b\n")
    (package / "b" / "y.py").write_text("def f():\n    from keras_integral.c import z\n")
    (package / "c" / "z.py").write_text("from ..d import w\nfrom keras_integral import a\n")
    (package / "d" / "w.py").write_text("import os\n")
    monkeypatch.setitem(globals(), "ROOT", package)
    graph = part_graph()
    assert {k: sorted(v) for k, v in graph.items()} == {"a": ["b"], "b": ["c"], "c": ["a", "d"]}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert sorted(module_graph()["keras_integral.c.z"]) == ["keras_integral.a", "keras_integral.d.w"]


def test_models_never_import_the_zoo():
    edges = part_graph().get("models", {}).get("zoo", [])
    assert not edges, f"models imports zoo (the zoo imports models): {edges}"


def test_the_parts_import_each_other_one_way():
    graph = part_graph()
    cycle = find_cycle(graph)
    where = [graph[a][b][0] for a, b in zip(cycle, cycle[1:])] if cycle else []
    assert cycle is None, f"import cycle {' -> '.join(cycle)}: {where}"
    assert "models" in graph["zoo"]  # the graph is read, not empty


def test_the_modules_import_each_other_one_way():
    graph = module_graph()
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle {' -> '.join(cycle or [])}"
    assert "keras_integral.models.backbones.torchvision" in graph["keras_integral.models.backbones.resnet"]
