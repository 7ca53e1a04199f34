"""Naming an artifact: exact id, then a unique case-insensitive id, name or id suffix, then an
unambiguous fuzzy match; an ambiguous name is an error listing the candidates."""

from __future__ import annotations

from rapidfuzz import fuzz, process

from .catalog import Artifact
from .errors import Ambiguous, NotFound
from .index import LoadedIndex

FUZZY_MIN = 85  # rapidfuzz WRatio below which a name is not a match
FUZZY_MARGIN = 5  # the best fuzzy match must beat the runner-up by this much to be unambiguous


def resolve_artifact(index: LoadedIndex, name: str, parameter: str | None = None) -> Artifact:
    """The artifact `name` names; NotFound / Ambiguous carry `parameter`, the input it came in."""
    name = (name or "").strip()
    if not name:
        raise NotFound("no artifact named ''", parameter=parameter)
    if name in index.position:
        return index.artifact(name)
    lowered = name.lower()
    by_id = [a for a in index.artifacts if a.id.lower() == lowered]
    # Then the name, then the id's last part ("stable-diffusion" for "stabilityai/stable-diffusion").
    for exact in (by_id, [a for a in index.artifacts if a.name.lower() == lowered],
                  [a for a in index.artifacts if a.id.rsplit("/", 1)[-1].lower() == lowered]):
        if len(exact) == 1:
            return exact[0]
        if len(exact) > 1:
            raise Ambiguous(name, sorted(a.id for a in exact), parameter=parameter)
    choices = {i: f"{a.name}" for i, a in enumerate(index.artifacts)}
    choices.update({len(index.artifacts) + i: a.id for i, a in enumerate(index.artifacts)})
    hits = process.extract(name, choices, scorer=fuzz.WRatio, limit=10)
    best_by_artifact: dict[int, float] = {}
    for _, score, key in hits:
        pos = key % len(index.artifacts)
        best_by_artifact[pos] = max(best_by_artifact.get(pos, 0), score)
    ranked = sorted(best_by_artifact.items(), key=lambda kv: -kv[1])
    if not ranked or ranked[0][1] < FUZZY_MIN:
        raise NotFound(f"no artifact named '{name}'", parameter=parameter)
    close = [pos for pos, score in ranked if score >= ranked[0][1] - FUZZY_MARGIN and score >= FUZZY_MIN]
    if len(close) > 1:
        raise Ambiguous(name, [index.artifacts[pos].id for pos in close], parameter=parameter)
    return index.artifacts[ranked[0][0]]
