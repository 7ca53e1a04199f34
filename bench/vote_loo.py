"""Would a vote of the nearest past requests help in this domain? Asked of the log itself.

    python bench/vote_loo.py [--sets gorilla-hf,seal-tools] [--cache-home DIR] [--dev]

The log-only peer (bench/quality.py, "vote of the 10 nearest past requests") beats matchgraph's
warm group where a log is dense (the issue-17 tool-selection set). Adding the vote to the ranking
helps requests whose answer the log holds and costs the others; how much of each depends on the
domain. This measures both on the train log alone, without labeled requests, by leaving out:

- **the request**: each past request is ranked with its own row out of the graph walk. It is warm
  when another past request selected one of its artifacts, cold otherwise;
- **the artifact**: every past request that selected one of its artifacts is out, so every request
  is one for artifacts nobody asked for yet (a cold estimate even where a dense log has no cold
  requests left).

Ranking: the catalog's own score of the whole request (`fusion.cold_parts` plus the prior, the
cold ranking without the multi-need split) plus lambda x the walk's max-normalized artifact mass
(`search.graph_walk`: the 10 nearest past requests, weighted as the engine weighs them). With
`--dev` the set's dev requests are ranked the same way over the whole log, to check whether the
leave-out figures predict them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from common import CACHE, chosen_by_request, set_files, set_names, working_engine

from matchgraph import Engine
from matchgraph.core.events import normalize_query, request_part
from matchgraph.retrieval.fusion import Weights, cold_parts
from matchgraph.search.artifacts import gather
from matchgraph.search.evaluate import LabeledQuery, read_labeled, report

LAMBDAS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)


def rank_with_vote(engine: Engine, query: str, exclude: frozenset[int]) -> dict[float, list[str]]:
    """{lambda: top-10 artifact ids} for `query`, the walk never seeded from rows in `exclude`."""
    state, conf = engine.state, engine.config["search"]
    text = request_part(query, conf["input_markers"])
    vector = engine.embedder(state.index.manifest["model"]).encode_query(text)
    found = gather(state.index, state.graph, vector, text, conf, exclude=exclude)
    w = Weights.from_config(conf)
    cold = sum(cold_parts(w, found.best, found.mean3, found.bm25, found.name).values()) \
        + w.w_prior * state.rank_column[found.positions] / 100
    cold = np.where(found.best_row >= 0, cold, -np.inf)
    out = {}
    for lam in LAMBDAS:
        order = np.argsort(-(cold + lam * found.history), kind="stable")[:10]
        out[lam] = [state.index.ids[found.positions[i]] for i in order if np.isfinite(cold[i])]
    return out


def leave_out(engine: Engine, train: Path) -> tuple[dict, dict]:
    """(request left out, artifact left out): {lambda: report} over the log's requests."""
    mg = engine.state.graph
    by_artifact = mg.weights_by_artifact
    chosen = chosen_by_request(train)
    askers: dict[str, int] = {}
    for ids in chosen.values():
        for a in ids:
            askers[a] = askers.get(a, 0) + 1
    labeled, by_request, by_artifact_out = [], {lam: [] for lam in LAMBDAS}, {lam: [] for lam in LAMBDAS}
    for query, ids in chosen.items():
        own = mg.aliases.get(normalize_query(query))
        own_rows = frozenset() if own is None else frozenset({mg.query_pos[own]})
        positions = [engine.state.index.position[a] for a in ids if a in engine.state.index.position]
        artifact_rows = frozenset(int(r) for r in by_artifact[:, positions].indices) | own_rows
        labeled.append(LabeledQuery(query=query, artifact_ids=ids,
                                    history="warm" if any(askers[a] > 1 for a in ids) else "cold"))
        for out, rows in ((by_request, own_rows), (by_artifact_out, artifact_rows)):
            for lam, ranked in rank_with_vote(engine, query, rows).items():
                out[lam].append(ranked)
    zeros = [0.0] * len(labeled)
    as_cold = [q.model_copy(update={"history": "cold"}) for q in labeled]
    return ({lam: report(r, zeros, labeled) for lam, r in by_request.items()},
            {lam: report(r, zeros, as_cold) for lam, r in by_artifact_out.items()})


def dev(engine: Engine, queries: Path) -> dict:
    """{lambda: report} of the labeled requests in `queries`, over the whole log."""
    labeled = read_labeled(queries)
    ranked = {lam: [] for lam in LAMBDAS}
    for q in labeled:
        for lam, r in rank_with_vote(engine, q.query, frozenset()).items():
            ranked[lam].append(r)
    return {lam: report(r, [0.0] * len(labeled), labeled) for lam, r in ranked.items()}


def cells(rep: dict, groups=("all", "warm", "cold")) -> list[str]:
    """MRR@10 / coverage@10 (coverage: requests with several answers; - when none) per group."""
    out = []
    for g in groups:
        m = rep["overall"] if g == "all" else rep.get("groups", {}).get(g)
        coverage = "-" if m is None or m["coverage@10"] is None else f"{m['coverage@10']:.3f}"
        out.append("-" if m is None else f"{m['mrr@10']:.3f} / {coverage}")
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=None, help="set folders (names under ../shared/data or paths)")
    parser.add_argument("--cache-home", default=str(CACHE))
    parser.add_argument("--dev", action="store_true", help="also rank the set's queries-dev.jsonl")
    args = parser.parse_args(argv)
    for name in set_names(args.sets):
        label, files = set_files(name, "dev")
        with working_engine(Path(args.cache_home), label, files, True, "mg-vote-loo-") as engine:
            request_out, artifact_out = leave_out(engine, files["train"])
            on_dev = dev(engine, files["queries"]) if args.dev else None
        n_warm = request_out[0.0].get("groups", {}).get("warm", {}).get("queries", 0)
        print(f"\n### {label}: MRR@10 / coverage@10 (train log, {n_warm} warm requests when left out)\n")
        head = "| lambda | request out: all | warm | cold | artifact out |"
        head += " dev: all | warm | cold |" if on_dev else ""
        print(head + "\n|" + "---|" * (head.count("|") - 1))
        for lam in LAMBDAS:
            row = [f"{lam:g}"] + cells(request_out[lam]) + cells(artifact_out[lam], ("all",))
            row += cells(on_dev[lam]) if on_dev else []
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
