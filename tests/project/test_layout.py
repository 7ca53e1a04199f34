"""The package layout DEVELOPERS.md describes: subpackages by concept, each with a docstring,
imports that only reach down the list of packages, and no import circles."""

import ast
import re

import networkx as nx
from conftest import ROOT

PACKAGE = ROOT / "matchgraph"


def _floors() -> list[str]:
    """The packages in DEVELOPERS.md's Layout table, lowest first (the table lists them that way)."""
    text = (ROOT / "DEVELOPERS.md").read_text()
    section = text[text.index("## Layout"):]
    return re.findall(r"^\| `(\w+)/` \|", section, flags=re.M)


def _imports() -> nx.DiGraph:
    """matchgraph module -> the matchgraph modules it imports (at any depth of the file)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        modules[name] = (path, name if is_package else name.rpartition(".")[0])
    graph = nx.DiGraph()
    for name, (path, package) in modules.items():
        graph.add_node(name)
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for candidate in [f"{target}.{alias.name}" for alias in node.names] + [target]:
                while candidate and candidate not in modules:
                    candidate = candidate.rpartition(".")[0]
                # a package's __init__ importing its own modules is not an edge up or down
                if candidate and candidate != name and not name.startswith(candidate + "."):
                    graph.add_edge(name, candidate)
                    break
    return graph


def test_every_subpackage_says_what_lives_there():
    floors = _floors()
    found = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists() and p.name != "migrations")
    assert sorted(floors) == found, "DEVELOPERS.md's Layout table and matchgraph/'s subpackages differ"
    for name in found:
        assert ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text())), name


def test_no_import_circles():
    graph = _imports()
    assert [sorted(c) for c in nx.simple_cycles(graph)] == []


def test_imports_only_reach_down():
    floors = {name: i for i, name in enumerate(_floors())}
    floors["importers"] = floors.get("importers", len(floors))
    upward = []
    for a, b in _imports().edges:
        pa, pb = (a.split(".") + [""])[1], (b.split(".") + [""])[1]
        if pa in floors and pb in floors and floors[pb] > floors[pa]:
            upward.append(f"{a} -> {b}")
    assert upward == []
