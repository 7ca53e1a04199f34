"""Tool-level search: rank callable units (MCP tools, OpenAPI operations) on their own.

An agent needs one tool, not a server: `search` ranks artifacts and shows each one's best
capability, so a server's second tool can never appear. Here every candidate is a capability row
of a wanted kind (retrieval/tool_index.py), scored with the same fusion as artifacts (fusion.fuse):

    cold    = w_dense * (cosine(need, tool) - tools.w_generic * generic(tool))
              + tools.w_bm25 * BM25 / the need's ceiling
    learned = w_adapter * closeness * adapted cosine (the projection learned from the log,
              learn/adapter.py; its fit targets the tool each selection names; closeness: of the past
              query nearest this need, as for the history below)
    score   = cold + learned + relevance * tools.w_graph * tool history + w_asked * asked
              - tools.server_penalty (registry servers)

`generic` is the tool's cosine with the centroid of every unit's vector (retrieval/tool_index.py): a broad
text is near every need, and without this it comes first for needs it does not serve.
`relevance` is fusion.relevance with window tools.graph_window: a server's tools sit close to each
other, so the lift from history must stay within a narrower band than an artifact's. `tool
history` is, per tool, the most any one of the past queries nearest this need (the walk's seeds,
search/artifacts.py) gives it through the query -> capability edges: the seed's closeness to the need
(0 at cosine tools.history_min_sim, 1 from tools.history_full_sim) times the tool's share of the
seed's edges (normalized to sum 1; a select weighs graph.select_weight, a match that was only
shown nothing), kept only for the tools it lifts at least tools.history_gate times as much as
its best-supported tool (history_gate: 1, that tool alone). A recorded selection of a tool lifts
that tool, not its server's other tools, and only for needs worded nearly like the one it was
recorded for: a past request
that merely shares the server's topic ("check out the branch experiment" for "make me a new
branch") must not lift its tool over the sibling this need wants. `asked` is the same
for the request asked before (its own past query only), outside the relevance window as in search.
Weights chosen on bench/tools.py's train split (BENCHMARKS.md "Tool routing"). The capability
offsets (search.w_offsets) are not used for tools: at 1-2 they cost the tools nobody selected yet
more than they gained (BENCHMARKS.md), so they are not computed here.

The need is encoded and matched as need_words makes it (tools.value_words): literal URLs and file
names replaced by the words "URL" and "file", the kinds of argument tool descriptions name.

Candidates: the ANN's nearest capability rows of a wanted kind (when they hold fewer than k, every
wanted row, scored exactly: a home of many models and few tools), the tools' BM25 top, and the rows
the seeds' edges reach.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..core.arrays import sorted_unique
from ..core.catalog import CAPABILITY_KINDS
from ..core.events import normalize_query
from ..core.results import Reason, Signals, ToolResult
from ..graph.match_graph import MatchGraph
from ..learn.adapter import Adapter
from ..retrieval.ann import row_dots
from ..retrieval.fusion import Weights, fuse
from ..retrieval.index import LoadedIndex
from .artifacts import graph_walk

# Literal arguments in a need, replaced by the word for their kind before it is encoded and
# matched: a URL or a file name is what a tool is called with, not what it is for, and its
# characters ("docs.python.org/3/whatsnew", "package.json") pull the need towards unrelated texts;
# the word for its kind is what tool descriptions say ("Fetches a URL", "Read a file").
_URL = re.compile(r"\b(?:https?|ftp)://\S+", re.IGNORECASE)
_FILE = re.compile(r"(?:[\w.-]*/)*[\w-]{2,}\.[A-Za-z][A-Za-z0-9]{0,4}\b")


def need_words(request: str) -> str:
    """`request` with its URLs replaced by "URL" and its file names (a dot and a short extension
    that starts with a letter, with any folders before) by "file"; unchanged when nothing is left."""
    text = _FILE.sub(" file ", _URL.sub(" URL ", request))
    text = " ".join(text.split())
    return text or request


@dataclass
class ToolCandidates:
    rows: np.ndarray  # capability rows, ascending
    cosine: np.ndarray
    bm25: np.ndarray  # BM25 / the need's ceiling, 0..1
    history: np.ndarray  # the most any seed lifts each row (_history), 0..1
    asked: np.ndarray  # the same request's selects, share
    seeds: list
    closeness: float  # history_closeness of the nearest past query (0 with none)


def tool_edges(mg: MatchGraph, index: LoadedIndex, select_weight: float
               ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """past query row -> (capability rows, weights summing to 1) of its query -> capability
    edges: selects only (a match that was only shown lifted no tool on bench/tools.py's train).
    Cached on the graph (one per graph build)."""
    key = select_weight
    cache = mg.__dict__.setdefault("_tool_edges", {})
    if key in cache:
        return cache[key]
    by_query: dict[int, tuple[list[int], list[float]]] = {}
    qpos = mg.query_pos
    for (query, artifact_id, capability_id), (matches, n_select) in mg.capability_edges.items():
        weight = select_weight * n_select
        pos = index.position.get(artifact_id)
        if weight <= 0 or pos is None or query not in qpos:
            continue
        try:
            row = int(index.cap_start[pos]) + index.cap_ids[pos].index(capability_id)
        except ValueError:
            continue
        rows, weights = by_query.setdefault(qpos[query], ([], []))
        rows.append(row)
        weights.append(weight)
    out = {}
    for q, (rows, weights) in by_query.items():
        w = np.array(weights, dtype=np.float64)
        out[q] = (np.array(rows, dtype=np.int64), w / w.sum())
    cache[key] = out
    return out


def gather_tools(index: LoadedIndex, mg: MatchGraph | None, query_vector: np.ndarray, query: str,
                 kinds: tuple[str, ...], k: int, search_conf: dict, conf: dict, select_weight: float,
                 words: str | None = None) -> ToolCandidates:
    """The candidates and their signals; `words` (default `query`) is what the tools' BM25 matches
    (need_words), `query` what the past requests are looked up by."""
    tools = index.tools
    wanted = tools.codes(kinds)
    _, found = index.ann.search(query_vector, max(conf["candidates"], k))
    dense = found[0][found[0] >= 0]
    dense = dense[np.isin(tools.kind_of[dense], wanted)]
    if len(dense) < k:  # few tools among many other capabilities: rank every wanted row exactly
        dense = tools.rows[np.isin(tools.kind_of[tools.rows], wanted)]
    lex_rows, lex_scores = tools.lexical(query if words is None else words, conf["bm25_candidates"])
    keep = np.isin(tools.kind_of[lex_rows], wanted)
    lex_rows, lex_scores = lex_rows[keep], lex_scores[keep]
    walk = graph_walk(mg, index, query, query_vector, search_conf)
    seed_rows, seed_mass, asked_rows, asked_share = _history(mg, index, query, walk.seeds, conf, select_weight)
    keep = np.isin(tools.kind_of[seed_rows], wanted)
    seed_rows, seed_mass = seed_rows[keep], seed_mass[keep]
    rows = sorted_unique(np.concatenate([dense, lex_rows, seed_rows, asked_rows]).astype(np.int64))
    rows = rows[np.isin(tools.kind_of[rows], wanted)]

    def spread(where, values) -> np.ndarray:
        out = np.zeros(len(rows))
        where = np.asarray(where, dtype=np.int64)
        inside = np.isin(where, rows)
        out[np.searchsorted(rows, where[inside])] = np.asarray(values)[inside]
        return out

    return ToolCandidates(rows, row_dots(index.vectors, rows, query_vector), spread(lex_rows, lex_scores),
                          spread(seed_rows, seed_mass), spread(asked_rows, asked_share),
                          walk.seeds, _nearest(walk.seeds, conf))


def _nearest(seeds, conf: dict) -> float:
    """history_closeness of the past query nearest the need (0 with none): how far the adapter,
    fitted to the past requests, may reshape this need's ranking."""
    if not seeds:
        return 0.0
    return float(history_closeness(np.array([s for _, s in seeds]), conf["history_min_sim"],
                                   conf["history_full_sim"]).max())


def _history(mg: MatchGraph | None, index: LoadedIndex, query: str, seeds, conf: dict, select_weight: float):
    """(rows, lift) the seeds' tool edges reach, each row's lift the most any one seed gives it:
    that seed's closeness to the need (history_closeness) times the row's share of its edges; and
    (rows, share) of the same request's own past query."""
    empty = np.zeros(0, np.int64), np.zeros(0)
    if mg is None or mg.empty or not seeds:
        return *empty, *empty
    edges = tool_edges(mg, index, select_weight)
    closeness = history_closeness(np.array([s for _, s in seeds]), conf["history_min_sim"],
                                  conf["history_full_sim"])
    parts = [(edges[q][0], edges[q][1] * c) for (q, _), c in zip(seeds, closeness) if q in edges and c > 0]
    if parts:
        rows = np.concatenate([r for r, _ in parts])
        lift = np.concatenate([m for _, m in parts])
        rows, inverse = np.unique(rows, return_inverse=True)
        best = np.zeros(len(rows))
        np.maximum.at(best, inverse, lift)
    else:
        rows, best = empty
    alias = mg.aliases.get(normalize_query(query))
    asked = edges.get(mg.query_pos[alias]) if alias is not None else None
    return (rows, best, *(asked if asked is not None else empty))


def history_closeness(similarities: np.ndarray, min_sim: float, full_sim: float) -> np.ndarray:
    """How far a past query at these cosines with the need may lift the tools selected for it: 0
    up to min_sim, 1 from full_sim, linear in between. A past request worded almost like this need
    asked for the same thing; one that only shares its topic (the same server) did not, and must
    not lift a sibling of the tool this need wants."""
    span = max(full_sim - min_sim, 1e-6)
    return np.clip((np.asarray(similarities, dtype=np.float64) - min_sim) / span, 0.0, 1.0)


def history_gate(history: np.ndarray, gate: float) -> np.ndarray:
    """The tool history kept for the tools it supports at least `gate` times as much as the one it
    supports most (1: that one tool alone; 0: every tool). Past requests near this need often
    chose a sibling of the tool it wants ("check out the branch" for "start a new branch"): a
    lift spread over every tool they chose moves the siblings up together, and a need whose tool
    nobody chose yet loses its first place to one of them. One lift per need moves one tool."""
    history = np.asarray(history, dtype=np.float64)
    if not gate or not history.size or history.max() <= 0:
        return history
    return np.where(history >= gate * history.max(), history, 0.0)


def rank_tools(index: LoadedIndex, mg: MatchGraph | None, adapter: Adapter | None, query_vector: np.ndarray,
               query: str, k: int, kinds: tuple[str, ...], config: dict, words: str | None = None
               ) -> list[ToolResult]:
    """The k best callable units of `kinds` for the need `query` (its vector `query_vector`, the
    words its BM25 matches `words`, default `query`: need_words)."""
    search_conf, conf = config["search"], config["tools"]
    found = gather_tools(index, mg, query_vector, query, kinds, k, search_conf, conf,
                         config["graph"]["select_weight"], words)
    if not len(found.rows):
        return []
    w = Weights.from_config(search_conf, w_bm25=conf["w_bm25"], w_graph=conf["w_graph"],
                            graph_window=conf["graph_window"], w_offsets=0.0)
    centered = found.cosine - conf["w_generic"] * index.tools.generic[found.rows]
    cold = {"dense": w.w_dense * centered, "bm25": w.w_bm25 * found.bm25, "name": np.zeros(len(found.rows))}
    general = 0.0
    if adapter is not None and found.seeds:
        # The projection is fitted to the past requests: it reshapes the ranking only as far as
        # this need is worded like one of them (a far need keeps its cold order).
        general = found.closeness * adapter.row_cosines(index, query_vector, found.rows)
    parts = fuse(w, cold, np.ones(len(found.rows), bool), general=general, personal=general,
                 history=history_gate(found.history, conf["history_gate"]), asked=found.asked)
    if conf["server_penalty"]:  # a tool callable now wins a near tie with a server still to install
        parts["prior"] = parts["prior"] - conf["server_penalty"] * (
            index.tools.kind_of[found.rows] == CAPABILITY_KINDS.index("server"))
    total = sum(parts.values())
    order = np.argsort(-total, kind="stable")[:k]
    return [_result(index, found, parts, int(i), float(total[i]), position)
            for position, i in enumerate(order, start=1)]


def _result(index: LoadedIndex, found: ToolCandidates, parts: dict, i: int, score: float, position: int
            ) -> ToolResult:
    row = int(found.rows[i])
    pos = int(index.cap_owner[row])
    artifact_id, cap_id = index.rows[row]
    shown = index.artifacts.shown(pos, cap_id)
    signals = Signals(**{name: round(float(np.asarray(values)[i]) if np.ndim(values) else float(values), 4)
                         for name, values in parts.items()})
    reason = Reason(signal=max(("dense", "bm25", "name", "graph"), key=lambda n: getattr(signals, n)),
                    capability_title=shown.title, similarity=round(float(found.cosine[i]), 4),
                    task=index.tasks[pos], selected_before=0)
    if reason.signal == "graph":
        sentence = "Matched because people with similar needs selected this tool."
    else:
        sentence = reason.sentence()
    explanation = sentence + " " + ", ".join(f"{n} {getattr(signals, n):+.2f}" for n in ("dense", "bm25", "graph"))
    return ToolResult(tool=shown.tool, artifact_id=artifact_id, server_name=index.names[pos],
                      capability_id=cap_id, kind=CAPABILITY_KINDS[int(index.tools.kind_of[row])],
                      title=shown.title, description=shown.description, score=round(score, 4),
                      position=position, similarity=round(float(found.cosine[i]), 4),
                      explanation=explanation, reason=reason, signals=signals)
