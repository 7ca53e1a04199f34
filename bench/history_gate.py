"""Can the log tell which requests it knows the answer to? k-fold on the TRAIN log.

    python bench/history_gate.py [--folds 3] [--encoder-epochs 1]

For each held-out fold of train (seed 0, the other folds are the log), a request is warm when its
model has a request in the log. Printed per fold, for the base model and for the copy fine-tuned
on the log (matchgraph.finetune, as `search.adapter_encoder_epochs` does):

- gate AUC: how well the request's best past-query cosine separates warm from cold requests (the
  fusion gives the history weight by nearness, so this bounds how safely it can);
- nearest right: share of warm requests whose nearest past query led to their model;
- vote R@5: warm R@5 of the walk's artifact vote alone (search.graph_walk, hops 0);
- MRR@10: dense + BM25 + name over the whole fold, no history (matchgraph.fusion.cold_parts).
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import sparse
from sklearn.metrics import roc_auc_score  # scikit-learn comes with sentence-transformers

from matchgraph.catalog import capability_texts
from matchgraph.config import DEFAULTS
from matchgraph.embeddings import encode_with
from matchgraph.finetune import fine_tune, training_pairs
from matchgraph.fusion import Weights, cold_parts, name_signal
from matchgraph.search import request_part

from common import GORILLA, model as default_model, read_rows
from tune import figures, log_walk, signals, task_numbers


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=3, help="how many of the 5 folds to hold out")
    parser.add_argument("--encoder-epochs", type=int, default=1)
    args = parser.parse_args(argv)
    conf = dict(DEFAULTS["search"], adapter_encoder_epochs=args.encoder_epochs)
    train = read_rows(GORILLA / "queries-train.jsonl")
    texts = [request_part(q["query"], conf["input_markers"]) for q in train]
    _, _, bm25, name, qv, gold, catalog = signals(str(GORILLA / "catalog.jsonl"), train)
    weights, names = Weights.from_config(conf), name_signal(name, conf["name_min"])
    task_of = task_numbers(str(GORILLA / "catalog.jsonl"))
    owner = np.repeat(np.arange(len(catalog.artifacts)), catalog.cap_count)
    model = default_model()
    fold = np.random.default_rng(0).integers(0, 5, len(gold))
    print("fold  encoder  warm/cold  gate AUC  nearest right  vote R@5  MRR@10")
    for f in range(args.folds):
        fit, held = np.nonzero(fold != f)[0], np.nonzero(fold == f)[0]
        known = set(gold[fit].tolist())
        warm = np.array([g in known for g in gold[held]])
        groups = np.where(warm, "warm", "cold")
        log = sparse.csr_matrix((np.ones(len(fit)), (np.arange(len(fit)), gold[fit])),
                                shape=(len(fit), len(catalog.artifacts)))
        pairs, rows = training_pairs(catalog, [texts[i] for i in fit], qv[fit], log)
        tuned = fine_tune(model, pairs, capability_texts(catalog.artifacts), rows, conf)
        for label, encoder in (("base", None), ("tuned", tuned)):
            if encoder is None:
                past_v, held_v, caps = qv[fit], qv[held], catalog.vectors
            else:
                past_v = encode_with(encoder, [texts[i] for i in fit])
                held_v = encode_with(encoder, [texts[i] for i in held])
                caps = encode_with(encoder, capability_texts(catalog.artifacts))
            past = held_v @ past_v.T
            nearest_right = gold[fit][past.argmax(axis=1)] == gold[held]
            history, _ = log_walk(past, gold[fit], len(catalog.artifacts), conf["graph_neighbours"],
                                  conf["graph_min_sim"], conf["graph_power"], task_of)
            dense = np.full((len(held), len(catalog.artifacts)), -1.0)
            np.maximum.at(dense.T, owner, (held_v @ caps.T).T)
            cold_parts_ = cold_parts(weights, dense, 0.0, bm25[held], names[held])  # no top-3 mean: w 0
            cold = figures(sum(cold_parts_.values()), gold[held], groups)["all"]["mrr@10"]
            print(f"{f:>4}  {label:<7}  {warm.sum():>4}/{(~warm).sum():<4}  {roc_auc_score(warm, past.max(axis=1)):8.3f}"
                  f"  {nearest_right[warm].mean():13.3f}  {figures(history, gold[held], groups)['warm']['recall@5']:8.3f}"
                  f"  {cold:6.3f}", flush=True)


if __name__ == "__main__":
    main()
