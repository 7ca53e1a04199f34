"""Export round-trips in all four formats with the same counts and attributes."""

import zipfile

import networkx as nx
import pytest
from conftest import TROCR

from matchgraph.core.errors import ValidationFailed
from matchgraph.graph.export import FORMATS, ego_graph, filter_graph, has_node, read_graph
from matchgraph.graph.match_graph import anode


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_round_trips(demo_engine, tmp_path, fmt):
    path = tmp_path / f"graph.{fmt}"
    summary = demo_engine.export(fmt, path)
    back = read_graph(fmt, path)
    original = demo_engine.state.graph.network
    assert (summary["nodes"], summary["edges"]) == (original.number_of_nodes(), original.number_of_edges())
    assert (back.number_of_nodes(), back.number_of_edges()) == (summary["nodes"], summary["edges"])
    node = anode(TROCR)
    assert back.nodes[node]["type"] == "artifact"
    assert str(back.nodes[node]["times_matched"]) == str(original.nodes[node]["times_matched"])
    u, v, data = next((u, v, d) for u, v, d in original.edges(data=True) if d["relation"] == "matched")
    edge = back.edges[u, v]
    assert set(edge) - {"id"} == set(data)  # GEXF adds an edge id
    assert float(edge["weight"]) == data["weight"] and int(edge["matches"]) == data["matches"]
    assert edge["relation"] == "matched"
    if fmt == "csv":  # one format on every face: a zip of the two files (the API sends the same)
        assert sorted(zipfile.ZipFile(path).namelist()) == ["edges.csv", "nodes.csv"]


def test_ego_and_min_weight_filters(demo_engine, tmp_path):
    full = demo_engine.subgraph()
    ego = demo_engine.subgraph(ego=TROCR, radius=1)
    assert anode(TROCR) in ego and ego.number_of_nodes() < full.number_of_nodes()
    heavy = demo_engine.subgraph(min_weight=3)
    assert all(d["weight"] >= 3 for _, _, d in heavy.edges(data=True) if d["relation"] != "capability_of")
    with pytest.raises(ValidationFailed, match="format"):
        demo_engine.export("pdf", tmp_path / "x.pdf")


def test_ego_whose_edges_are_all_lighter_than_min_weight(demo_engine):
    """Found by the API fuzzer: the ego was dropped with its light edges and the ego net failed."""
    full = demo_engine.subgraph()
    light = next(n for n, d in full.nodes(data=True) if d.get("type") == "query"
                 and all(full.edges[n, m]["weight"] < 1000 for m in full.successors(n)))
    alone = demo_engine.subgraph(ego=full.nodes[light]["label"], min_weight=1000)
    assert list(alone.nodes) == [light]


def test_graphml_is_readable_as_plain_networkx(demo_engine, tmp_path):
    demo_engine.export("graphml", tmp_path / "g.graphml")
    assert isinstance(nx.read_graphml(tmp_path / "g.graphml"), nx.DiGraph)


def _as_sets(graph: nx.DiGraph) -> tuple[dict, dict]:
    return dict(graph.nodes(data=True)), {(u, v): d for u, v, d in graph.edges(data=True)}


def test_ego_graph_equals_the_full_graph_filter(demo_engine):
    """The ego export, built from the sparse weights, is the full NetworkX graph's ego net."""
    mg = demo_engine.state.graph
    full = mg.network
    queries = [n for n, d in full.nodes(data=True) if d["type"] == "query"]
    weights = sorted({d["weight"] for _, _, d in full.edges(data=True) if d["relation"] != "capability_of"})
    assert queries and len(weights) > 2
    artifacts = [anode(a) for a in list(mg.times_matched)[:10]] + [anode(demo_engine.state.index.ids[-1])]
    capabilities = [v for v in full.predecessors(anode(TROCR)) if full.nodes[v]["type"] == "capability"]
    checked = 0
    for ego in artifacts + queries[:15] + capabilities:
        assert has_node(mg, ego)
        for radius in (0, 1, 2):
            for min_weight in (0.0, weights[len(weights) // 2]):
                expected = filter_graph(full, min_weight, ego, radius)
                built = ego_graph(mg, ego, radius, min_weight)
                assert _as_sets(built) == _as_sets(expected), (ego, radius, min_weight)
                checked += expected.number_of_edges()
    assert checked > 0
    assert not has_node(mg, "a:no/such-artifact") and not has_node(mg, "c:" + TROCR + "#nope")
    assert not has_node(mg, TROCR)  # an artifact id alone is not a node id


@pytest.mark.parametrize("fmt", ["graphml", "gexf"])
def test_xml_exports_hold_queries_with_control_characters(tmp_path, fmt):
    """A recorded query may carry characters XML cannot hold (the API fuzzer sends them); the XML
    formats write each as its escape, keeping distinct queries distinct, instead of failing."""
    from matchgraph.graph.export import write_graph

    graph = nx.DiGraph()
    graph.add_node("q:tab\x01le", type="query", text="tab\x01le \x1f")
    graph.add_node("q:table", type="query", text="table")
    graph.add_edge("q:tab\x01le", "q:table", relation="matched", weight=1.0)
    back = read_graph(fmt, write_graph(graph, fmt, tmp_path / f"g.{fmt}"))
    assert set(back.nodes) == {"q:tab\\x01le", "q:table"}
    assert back.nodes["q:tab\\x01le"]["text"] == "tab\\x01le \\x1f"
    assert back.number_of_edges() == 1
