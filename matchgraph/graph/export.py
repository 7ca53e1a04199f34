"""Export the match graph as GraphML, GEXF, node-link JSON or CSV (one zip of nodes.csv + edges.csv).

Files read back with networkx give the same node and edge counts and attributes; GraphML and
GEXF open in Gephi. Edge attributes: relation, matches, selects, weight. Node attributes:
type (query|capability|artifact), label, and for artifacts kind, task, times_matched.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import networkx as nx

from ..core.arrays import row_entries
from ..core.errors import ValidationFailed
from ..core.outputs import protected_hit
from .match_graph import MatchGraph, anode, cnode, edge_weight, qnode

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


def has_node(mg: MatchGraph, name: str) -> bool:
    """Whether `name` is a node id of `mg.network` ("a:<artifact>", "c:<artifact>#<capability>",
    "q:<query>"), answered from the index and the graph's lookups without building it."""
    index = mg.index
    if name.startswith("a:"):
        return name[2:] in index.position
    if name.startswith("q:"):
        return name[2:] in mg.query_pos
    if name.startswith("c:"):
        return _capability_row(mg, name) is not None
    return False


def _capability_row(mg: MatchGraph, name: str) -> int | None:
    """The capability row of node id "c:<artifact>#<capability>" (either id may hold a '#')."""
    index, body = mg.index, name[2:]
    at = body.find("#")
    while at >= 0:
        pos = index.position.get(body[:at])
        if pos is not None and body[at + 1:] in index.cap_ids[pos]:
            return int(index.cap_start[pos]) + index.cap_ids[pos].index(body[at + 1:])
        at = body.find("#", at + 1)
    return None


def ego_graph(mg: MatchGraph, ego: str, radius: int = 1, min_weight: float = 0.0) -> nx.DiGraph:
    """What `filter_graph(mg.network, min_weight, ego, radius)` returns (the same nodes, edges and
    attributes; nodes in the full graph's order), built from the index and the graph's sparse
    weights: the cost is the neighbourhood's, not the catalog's (6 s a call at 100,000 artifacts
    through the full NetworkX graph). `ego` is a node id (`has_node`)."""
    index = mg.index
    by_artifact = mg.weights_by_artifact  # CSC: an artifact's queries are one column slice
    weights = mg.weights  # CSR: a query's artifacts are one row slice

    def matched(q: int, pos: int) -> tuple[int, int] | None:
        """The (matches, selects) of query row q -> artifact pos when that edge survives min_weight."""
        counts = mg.edges.get((mg.queries[q], index.ids[pos]))
        if counts is None or (min_weight > 0 and edge_weight(*counts, mg.select_weight) < min_weight):
            return None
        return counts

    def cap_matches(q: int, row: int) -> int | None:
        pos = int(index.cap_owner[row])
        cap_id = index.cap_ids[pos][row - int(index.cap_start[pos])]
        counts = mg.capability_edges.get((mg.queries[q], index.ids[pos], cap_id))
        return None if counts is None or (min_weight > 0 and counts[0] < min_weight) else counts[0]

    def caps_of(pos: int) -> range:
        start = int(index.cap_start[pos])
        return range(start, start + int(index.cap_count[pos]))

    def queries_of(pos: int):
        return row_entries(by_artifact, pos)[0].tolist()

    def artifacts_of(q: int):
        return row_entries(weights, q)[0].tolist()

    def neighbours(node: tuple[str, int]):
        kind, i = node
        if kind == "a":
            yield from (("c", row) for row in caps_of(i))
            yield from (("q", q) for q in queries_of(i) if matched(q, i) is not None)
        elif kind == "c":
            pos = int(index.cap_owner[i])
            yield "a", pos
            yield from (("q", q) for q in queries_of(pos) if cap_matches(q, i) is not None)
        else:
            for pos in artifacts_of(i):
                if matched(i, pos) is not None:
                    yield "a", pos
                yield from (("c", row) for row in caps_of(pos) if cap_matches(i, row) is not None)

    start = (("a", index.position[ego[2:]]) if ego.startswith("a:") else
             ("q", mg.query_pos[ego[2:]]) if ego.startswith("q:") else ("c", _capability_row(mg, ego)))
    seen, frontier = {start}, [start]
    for _ in range(radius):
        frontier = [n for node in frontier for n in neighbours(node) if n not in seen and not seen.add(n)]

    n_rows = len(index.cap_owner)
    place = {"a": lambda pos: pos + int(index.cap_start[pos]),  # the full graph's node order
             "c": lambda row: int(index.cap_owner[row]) + row + 1,
             "q": lambda q: len(index.ids) + n_rows + q}
    out = nx.DiGraph()
    for kind, i in sorted(seen, key=lambda node: place[node[0]](node[1])):
        if kind == "a":
            out.add_node(anode(index.ids[i]), type="artifact", label=index.names[i],
                         kind=index.artifacts[i].kind, task=index.tasks[i] or "",
                         times_matched=mg.times_matched.get(index.ids[i], 0))
        elif kind == "c":
            pos = int(index.cap_owner[i])
            cap = index.artifacts[pos].capabilities[i - int(index.cap_start[pos])]
            out.add_node(cnode(index.ids[pos], cap.id), type="capability", label=cap.title)
        else:
            query = mg.queries[i]
            out.add_node(qnode(query), type="query", label=mg.labels.get(query, query))
    for kind, i in sorted(seen, key=lambda node: place[node[0]](node[1])):
        if kind == "c" and ("a", int(index.cap_owner[i])) in seen:
            pos = int(index.cap_owner[i])
            out.add_edge(cnode(index.ids[pos], index.cap_ids[pos][i - int(index.cap_start[pos])]),
                         anode(index.ids[pos]), relation="capability_of", matches=0, selects=0, weight=1.0)
        elif kind == "q":
            query = mg.queries[i]
            for pos in artifacts_of(i):
                counts = matched(i, pos) if ("a", pos) in seen else None
                if counts is not None:
                    out.add_edge(qnode(query), anode(index.ids[pos]), relation="matched", matches=counts[0],
                                 selects=counts[1], weight=float(edge_weight(*counts, mg.select_weight)))
            for pos in artifacts_of(i):
                for row in caps_of(pos):
                    n = cap_matches(i, row) if ("c", row) in seen else None
                    if n is not None:
                        cap_id = index.cap_ids[pos][row - int(index.cap_start[pos])]
                        out.add_edge(qnode(query), cnode(index.ids[pos], cap_id), relation="matched_capability",
                                     matches=n, selects=0, weight=float(n))
    return out


# Characters XML 1.0 cannot hold (a recorded query may carry them); lxml refuses them outright.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(value: Any) -> Any:
    """`value` with each character XML cannot hold written as its escape (\\x01), so that distinct
    texts stay distinct; other values as they are."""
    if isinstance(value, str) and _NOT_XML.search(value):
        return _NOT_XML.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), value)
    return value


def _clean(graph: nx.DiGraph, xml: bool = False) -> nx.DiGraph:
    """GraphML and GEXF take only scalar attributes: drop None values; for them (`xml`), texts
    are made XML-safe too."""
    fix = _xml_text if xml else (lambda v: v)
    out = nx.DiGraph()
    out.add_nodes_from((fix(n), {k: fix(v) for k, v in d.items() if v is not None})
                       for n, d in graph.nodes(data=True))
    out.add_edges_from((fix(u), fix(v), {k: fix(x) for k, x in d.items() if x is not None})
                       for u, v, d in graph.edges(data=True))
    return out


def _bad_output(path: Path, why: str) -> ValidationFailed:
    exc = ValidationFailed("export", [f"output: {path}: {why}"])
    exc.parameter = "output"
    return exc


def check_output(path: str | Path, fmt: str, protected: list[Path]) -> Path:
    """The export target `path`, resolved (symlinks followed), once it is safe to write: its
    folder exists, it is a file or absent (every format writes one file; csv a zip of nodes.csv
    and edges.csv), and it is neither one of `protected` nor inside one (outputs.protected_paths:
    the home, the store and its side files). Raises ValidationFailed naming `output`."""
    given = Path(path).expanduser()
    target = given.resolve()
    if not target.parent.is_dir():
        raise _bad_output(given, f"folder {target.parent} does not exist")
    place = protected_hit([target], protected)
    if place is not None:
        raise _bad_output(given, f"would write over {place} (the home folder or the store); "
                                 "choose a path outside it")
    if target.is_dir():
        raise _bad_output(given, "is a folder; give a file name" + (" (csv writes a zip of nodes.csv "
                                                                     "and edges.csv)" if fmt == "csv" else ""))
    return target


def _write_csv_zip(graph: nx.DiGraph, path: Path) -> None:
    """The csv export: one zip holding nodes.csv and edges.csv (the same on every face)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, fields, rows in (("nodes.csv", NODE_FIELDS, _node_rows(graph)),
                                   ("edges.csv", EDGE_FIELDS, _edge_rows(graph))):
            with zf.open(name, "w") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(rows)


def write_graph(graph: nx.DiGraph, fmt: str, path: str | Path) -> Path:
    """Write `graph` to the file `path` (csv: a zip of nodes.csv and edges.csv), to a temporary
    name beside it first and renamed into place: a failed export leaves any previous file whole."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got '{fmt}'")
    path = Path(path)
    graph = _clean(graph, xml=fmt in ("graphml", "gexf"))
    partial = path.with_name(f".{path.name}.partial")
    try:
        if fmt == "graphml":
            nx.write_graphml(graph, partial)
        elif fmt == "gexf":
            nx.write_gexf(graph, partial)
        elif fmt == "json":
            partial.write_text(json.dumps(nx.node_link_data(graph, edges="edges"), ensure_ascii=False))
        else:
            _write_csv_zip(graph, partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


MEDIA_TYPES = {"graphml": "application/graphml+xml", "gexf": "application/gexf+xml",
               "json": "application/json", "csv": "application/zip"}


def graph_bytes(graph: nx.DiGraph, fmt: str) -> tuple[bytes, str, str]:
    """(content, media type, file name) for a download: the file write_graph writes."""
    import tempfile

    name = "matchgraph-csv.zip" if fmt == "csv" else f"matchgraph.{fmt}"
    with tempfile.TemporaryDirectory() as tmp:
        target = write_graph(graph, fmt, Path(tmp) / name)
        return target.read_bytes(), MEDIA_TYPES[fmt], target.name


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
    with zipfile.ZipFile(path) as zf:
        with zf.open("nodes.csv") as raw:
            for row in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline="")):
                graph.add_node(row.pop("id"), **{k: v for k, v in row.items() if v != ""})
        with zf.open("edges.csv") as raw:
            for row in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline="")):
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
