"""Export the match graph as GraphML, GEXF, node-link JSON or CSV (nodes.csv + edges.csv).

Files read back with networkx give the same node and edge counts and attributes; GraphML and
GEXF open in Gephi. Edge attributes: relation, matches, selects, weight. Node attributes:
type (query|capability|artifact), label, and for artifacts kind, task, times_matched.
"""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from pathlib import Path

import networkx as nx

from .errors import ValidationFailed

FORMATS = ("graphml", "gexf", "json", "csv")
NODE_FIELDS = ("id", "type", "label", "kind", "task", "times_matched")
EDGE_FIELDS = ("source", "target", "relation", "matches", "selects", "weight")


def filter_graph(graph: nx.DiGraph, min_weight: float = 0.0, ego: str | None = None,
                 radius: int = 1) -> nx.DiGraph:
    """Drop query edges lighter than `min_weight` (and queries left alone); keep the ego net of `ego`."""
    sub = graph.copy()
    if min_weight > 0:
        light = [(u, v) for u, v, d in sub.edges(data=True)
                 if d.get("relation") != "capability_of" and d.get("weight", 0) < min_weight]
        sub.remove_edges_from(light)
        # The ego stays even when all its edges were light: its net is then the node alone.
        sub.remove_nodes_from([n for n, d in sub.nodes(data=True)
                               if d.get("type") == "query" and sub.degree(n) == 0 and n != ego])
    if ego is not None:
        sub = nx.ego_graph(sub, ego, radius=radius, undirected=True).copy()
    return sub


def _clean(graph: nx.DiGraph) -> nx.DiGraph:
    """GraphML and GEXF take only scalar attributes: drop None values."""
    out = nx.DiGraph()
    out.add_nodes_from((n, {k: v for k, v in d.items() if v is not None}) for n, d in graph.nodes(data=True))
    out.add_edges_from((u, v, {k: x for k, x in d.items() if x is not None}) for u, v, d in graph.edges(data=True))
    return out


def _bad_output(path: Path, why: str) -> ValidationFailed:
    exc = ValidationFailed("export", [f"output: {path}: {why}"])
    exc.parameter = "output"
    return exc


def check_output(path: str | Path, fmt: str, protected: list[Path]) -> Path:
    """The export target `path`, resolved (symlinks followed), once it is safe to write: its
    folder exists, it is a file (csv: a folder) or absent, and it is neither one of `protected`
    nor inside one (the home folder, the store). Raises ValidationFailed naming `output`."""
    given = Path(path).expanduser()
    target = given.resolve()
    if not target.parent.is_dir():
        raise _bad_output(given, f"folder {target.parent} does not exist")
    if fmt == "csv" and target.exists() and not target.is_dir():
        raise _bad_output(given, "csv writes a folder (nodes.csv and edges.csv), and this is a file")
    if fmt != "csv" and target.is_dir():
        raise _bad_output(given, "is a folder; give a file name")
    written = [target / name for name in ("nodes.csv", "edges.csv")] if fmt == "csv" else [target]
    for place in protected:
        place = place.resolve()
        for file in [target, *written]:
            if file == place or place in file.parents:
                raise _bad_output(given, f"would write over {place} (the home folder or the store); "
                                         "choose a path outside it")
    return target


def write_graph(graph: nx.DiGraph, fmt: str, path: str | Path) -> Path:
    """Write `graph` to `path` (for csv, a folder holding nodes.csv and edges.csv). A file is
    written to a temporary name beside it and renamed into place: a failed export leaves any
    previous file whole."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got '{fmt}'")
    path = Path(path)
    graph = _clean(graph)
    if fmt != "csv":
        partial = path.with_name(f".{path.name}.partial")
        try:
            if fmt == "graphml":
                nx.write_graphml(graph, partial)
            elif fmt == "gexf":
                nx.write_gexf(graph, partial)
            else:
                partial.write_text(json.dumps(nx.node_link_data(graph, edges="edges"), ensure_ascii=False))
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
    else:
        path.mkdir(parents=True, exist_ok=True)
        for name, fields, rows in (("nodes.csv", NODE_FIELDS, _node_rows(graph)),
                                   ("edges.csv", EDGE_FIELDS, _edge_rows(graph))):
            with (path / name).open("w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(rows)
    return path


def graph_bytes(graph: nx.DiGraph, fmt: str) -> tuple[bytes, str, str]:
    """(content, media type, file name) for a download; csv comes as a zip of the two files."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        target = write_graph(graph, fmt, Path(tmp) / f"matchgraph.{fmt}")
        if fmt != "csv":
            media = {"graphml": "application/graphml+xml", "gexf": "application/gexf+xml",
                     "json": "application/json"}[fmt]
            return target.read_bytes(), media, target.name
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in ("nodes.csv", "edges.csv"):
                zf.write(target / name, name)
        return buffer.getvalue(), "application/zip", "matchgraph-csv.zip"


def read_graph(fmt: str, path: str | Path) -> nx.DiGraph:
    """Read back what write_graph wrote (used by tests and by anyone checking an export)."""
    path = Path(path)
    if fmt == "graphml":
        return nx.read_graphml(path)
    if fmt == "gexf":
        return nx.read_gexf(path)
    if fmt == "json":
        return nx.node_link_graph(json.loads(path.read_text()), directed=True, edges="edges")
    graph = nx.DiGraph()
    with (path / "nodes.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            graph.add_node(row.pop("id"), **{k: v for k, v in row.items() if v != ""})
    with (path / "edges.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            graph.add_edge(row.pop("source"), row.pop("target"), **row)
    return graph


def _node_rows(graph: nx.DiGraph):
    for node, data in graph.nodes(data=True):
        yield {"id": node, **data}


def _edge_rows(graph: nx.DiGraph):
    for source, target, data in graph.edges(data=True):
        yield {"source": source, "target": target, **data}


def to_view(graph: nx.DiGraph, limit: int = 300) -> dict:
    """Nodes and edges as plain dicts for the graph explorer, heaviest edges first, at most `limit` nodes."""
    edges = sorted(graph.edges(data=True), key=lambda e: -e[2].get("weight", 0))
    keep: set = set()
    chosen = []
    for u, v, d in edges:
        if len(keep | {u, v}) > limit:
            continue
        keep |= {u, v}
        chosen.append({"source": u, "target": v, **d})
    keep |= set(list(graph.nodes)[: max(0, limit - len(keep))]) if not chosen else set()
    nodes = [{"id": n, **graph.nodes[n]} for n in graph.nodes if n in keep]
    return {"nodes": nodes, "edges": chosen}
