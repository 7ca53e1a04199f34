"""Learned from use, the encoder: a copy of the embedding model fine-tuned on the search log.

Each past query is paired with the text of the capability it led to (its heaviest artifact in the
match graph, that artifact's capability closest to the query) and the model is trained to put the
pair closer than the other pairs of its batch (in-batch negatives, softmax at
`adapter_temperature`). Both sides are trained, so the catalog is re-embedded with the copy: it
learns how requests are worded for each kind of capability and how capability texts answer them.
It helps requests for artifacts nobody asked for yet as well as for known ones (train k-fold:
BENCHMARKS.md "Learned from the log: the encoder").

Deterministic for the same log and settings (fixed seeds, CPU). Cost: one forward and backward
pass per pair and epoch, plus re-embedding the catalog (bench/adapter_fit.py).
"""

from __future__ import annotations

import copy

import numpy as np
from scipy import sparse

from .arrays import row_entries
from .index import LoadedIndex


def training_pairs(index: LoadedIndex, texts: list[str], query_vectors: np.ndarray,
                   weights: sparse.csr_matrix) -> tuple[list[str], list[int]]:
    """(query texts, capability rows): one pair per past query with weight, its heaviest artifact's
    capability closest to the query (by the base vectors)."""
    queries, rows = [], []
    for q in range(weights.shape[0]):
        cols, data = row_entries(weights, q)
        if not len(cols):
            continue
        a = int(cols[np.argmax(data)])
        first, count = int(index.cap_start[a]), int(index.cap_count[a])
        if not count:
            continue
        queries.append(texts[q])
        rows.append(first + int(np.argmax(index.vectors[first:first + count] @ query_vectors[q])))
    return queries, rows


def fine_tune(model, queries: list[str], capability_texts: list[str], rows: list[int], conf: dict):
    """A fine-tuned copy of the SentenceTransformer `model` (the original is left untouched), or
    None when there is nothing to learn from or `adapter_encoder_epochs` is 0.

    `queries[i]` led to capability row `rows[i]`, whose text is `capability_texts[rows[i]]`;
    `conf` is config `search` (adapter_encoder_*, adapter_temperature).
    """
    import torch  # comes with sentence-transformers; only needed when fitting

    epochs = int(conf["adapter_encoder_epochs"])
    if epochs <= 0 or len(queries) < 2:
        return None
    targets = np.asarray(rows)
    torch.manual_seed(0)
    tuned = copy.deepcopy(model)
    tuned.train()
    optimizer = torch.optim.AdamW(tuned.parameters(), lr=conf["adapter_encoder_lr"])
    order_rng = np.random.default_rng(0)
    batch = int(conf["adapter_encoder_batch"])
    for _ in range(epochs):
        order = order_rng.permutation(len(queries))
        for start in range(0, len(order), batch):
            part = order[start:start + batch]
            if len(part) < 2:  # one pair has no negative to learn from
                continue
            q = _embed(tuned, [queries[i] for i in part])
            d = _embed(tuned, [capability_texts[targets[i]] for i in part])
            logits = q @ d.T / conf["adapter_temperature"]
            # Two requests for the same capability in one batch are not each other's negatives.
            target = torch.from_numpy(targets[part])
            same = (target[:, None] == target[None, :]) & ~torch.eye(len(part), dtype=torch.bool)
            loss = torch.nn.functional.cross_entropy(logits.masked_fill(same, -1e4),
                                                     torch.arange(len(part)))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    tuned.eval()
    return tuned


def _embed(model, texts: list[str]):
    import torch

    return torch.nn.functional.normalize(model(model.preprocess(texts))["sentence_embedding"], dim=-1)
