"""Nearest capabilities across the catalog, and an artifact's most similar artifacts."""

from __future__ import annotations

import numpy as np

from .catalog import Artifact
from .graph import MatchGraph
from .index import LoadedIndex
from .models import SimilarArtifact, SimilarCapability

CAPABILITY_WEIGHT = 0.7  # share of capability similarity in an artifact-to-artifact score
QUERY_WEIGHT = 0.3  # share of shared-query overlap (Jaccard of the queries that matched each)


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


def similar_artifacts(index: LoadedIndex, mg: MatchGraph, artifact: Artifact, k: int
                      ) -> list[SimilarArtifact]:
    """Rank other artifacts by how well their capabilities cover this one's, and by shared queries."""
    own = index.vectors[index.cap_rows[artifact.id]]
    sims = own @ index.vectors.T  # (own capabilities, all capabilities)
    n = len(index.artifacts)
    best = np.full((len(own), n), -1.0, dtype=np.float32)
    owners = index.cap_owner  # capability row -> artifact position
    # best[i, j]: how close artifact j's nearest capability comes to own capability i
    np.maximum.at(best.T, owners, sims.T)
    coverage = best.mean(axis=0)
    pos = index.position[artifact.id]
    column = mg.weights[:, pos].toarray().ravel() > 0 if not mg.empty else np.zeros(0, bool)
    shared = np.zeros(n)
    jaccard = np.zeros(n)
    if column.any():
        present = (mg.weights > 0).astype(np.float32)
        shared = np.asarray(present.T @ column.astype(np.float32)).ravel()
        degree = np.asarray(present.sum(axis=0)).ravel()
        union = degree + column.sum() - shared
        jaccard = np.divide(shared, union, out=np.zeros(n), where=union > 0)
    score = CAPABILITY_WEIGHT * coverage + QUERY_WEIGHT * jaccard
    score[pos] = -np.inf
    order = np.argsort(-score)[:k]
    return [SimilarArtifact(artifact_id=index.artifacts[i].id, name=index.artifacts[i].name,
                            score=round(float(score[i]), 4), capability_similarity=round(float(coverage[i]), 4),
                            shared_queries=int(shared[i])) for i in order if np.isfinite(score[i])]
