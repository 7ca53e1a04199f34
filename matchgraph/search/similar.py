"""Nearest capabilities across the catalog, and an artifact's most similar artifacts.

Similar artifacts are the ones that do the same kind of thing. Capabilities alone mislead: a
handwriting model and an image generator both list "fine-tuning", "quantization" and "batching",
and those generic capabilities made them look 35 % alike. So each of the artifact's capabilities
counts by how *characteristic* it is: the share of its nearest capabilities elsewhere in the
catalog that belong to artifacts of the same task (a generic capability's neighbours come from
every task, a characteristic one's from its own). Score of another artifact j:

    CAPABILITY_WEIGHT * coverage_j + TASK_WEIGHT * [same task] + QUERY_WEIGHT * jaccard_j

coverage_j = the characteristic-weighted mean over this artifact's capabilities of j's closest
capability cosine; jaccard_j = overlap of the past queries that matched each. Candidates come
from the ANN (each own capability's NEIGHBOURS nearest capabilities), never the whole catalog.
"""

from __future__ import annotations

import numpy as np

from ..core.catalog import Artifact
from ..core.results import SimilarArtifact, SimilarCapability
from ..graph.match_graph import MatchGraph
from ..retrieval.ann import float_rows
from ..retrieval.index import LoadedIndex

CAPABILITY_WEIGHT = 0.6  # characteristic-weighted capability coverage
TASK_WEIGHT = 0.2  # the same task (catalog field `task`): doing the same kind of thing
QUERY_WEIGHT = 0.2  # shared-query overlap (Jaccard of the queries that matched each)
NEIGHBOURS = 64  # nearest capabilities looked up per own capability (the candidates)
CHARACTERISTIC_FLOOR = 0.1  # weight of a capability none of whose neighbours share the task


def nearest_capabilities(index: LoadedIndex, vector: np.ndarray, k: int,
                         exclude: str | None = None) -> list[SimilarCapability]:
    """The k capabilities closest to `vector` (dim,), skipping those of artifact `exclude`."""
    sims, rows = index.ann.search(vector, k + (len(index.cap_rows.get(exclude, [])) if exclude else 0))
    out = []
    for sim, row in zip(sims[0], rows[0]):
        if row < 0:
            continue
        artifact_id, cap_id = index.rows[row]
        if artifact_id == exclude:
            continue
        artifact = index.artifact(artifact_id)
        title = next(c.title for c in artifact.capabilities if c.id == cap_id)
        out.append(SimilarCapability(artifact_id=artifact_id, name=artifact.name, capability_id=cap_id,
                                     title=title, similarity=round(float(sim), 4)))
    return out[:k]


def _best_cosines(index: LoadedIndex, own: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """(len(own), len(candidates)): each own capability's best cosine among each candidate's."""
    counts = index.cap_count[candidates]
    has = counts > 0
    out = np.full((len(own), len(candidates)), -1.0, dtype=np.float32)
    if not has.any():
        return out
    starts, counts = index.cap_start[candidates[has]], counts[has]
    rows = np.concatenate([np.arange(s, s + c) for s, c in zip(starts, counts)])
    sims = own @ float_rows(index.vectors, rows).T
    out[:, has] = np.maximum.reduceat(sims, np.cumsum(counts) - counts, axis=1)
    return out


def similar_artifacts(index: LoadedIndex, mg: MatchGraph, artifact: Artifact, k: int
                      ) -> list[SimilarArtifact]:
    """Other artifacts that do the same kind of thing, best first (see the module docstring).
    Cost: one ANN search per own capability and exact cosines over the candidates only."""
    pos = index.position[artifact.id]
    own_rows = np.asarray(index.cap_rows.get(artifact.id, []), dtype=np.int64)
    if not len(own_rows):
        return []
    own = float_rows(index.vectors, own_rows)
    _, found = index.ann.search(own, max(NEIGHBOURS, 2 * k) + len(own_rows))
    owners = np.where(found >= 0, index.cap_owner[np.maximum(found, 0)], -1)
    owners[owners == pos] = -1
    candidates = np.unique(owners[owners >= 0])
    if not len(candidates):
        return []
    own_task = index.task_of[pos]  # task numbers (index.task_codes): -1 without a task
    same_task = (index.task_of[candidates] == own_task) & (own_task >= 0)
    # How characteristic each own capability is: the share of its neighbours in this task.
    if own_task >= 0:
        in_task = np.zeros_like(owners, dtype=bool)
        valid = owners >= 0
        in_task[valid] = np.isin(owners[valid], candidates[same_task])
        share = in_task.sum(axis=1) / np.maximum(valid.sum(axis=1), 1)
        weights = np.maximum(share, CHARACTERISTIC_FLOOR)
    else:
        weights = np.ones(len(own_rows))
    coverage = weights @ _best_cosines(index, own, candidates) / weights.sum()

    shared = np.zeros(len(candidates))
    jaccard = np.zeros(len(candidates))
    column = mg.weights[:, pos].toarray().ravel() > 0 if not mg.empty else np.zeros(0, bool)
    if column.any():
        present = (mg.weights[column][:, candidates] > 0)
        shared = np.asarray(present.sum(axis=0)).ravel().astype(float)
        degree = np.asarray((mg.weights[:, candidates] > 0).sum(axis=0)).ravel()
        union = degree + column.sum() - shared
        jaccard = np.divide(shared, union, out=np.zeros(len(candidates)), where=union > 0)
    score = CAPABILITY_WEIGHT * coverage + TASK_WEIGHT * same_task + QUERY_WEIGHT * jaccard
    order = np.argsort(-score, kind="stable")[:k]
    return [SimilarArtifact(artifact_id=index.artifacts[candidates[i]].id,
                            name=index.artifacts[candidates[i]].name, score=round(float(score[i]), 4),
                            capability_similarity=round(float(coverage[i]), 4),
                            shared_queries=int(shared[i])) for i in order]
