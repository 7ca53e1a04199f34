"""Naming an artifact: exact id, then a unique case-insensitive id, name or id suffix, then an
unambiguous fuzzy match; an ambiguous name is an error listing the candidates."""

from __future__ import annotations

from rapidfuzz import fuzz, process

from ..core.catalog import Artifact
from ..core.errors import Ambiguous, NotFound
from ..retrieval.index import LoadedIndex
from .inputs import check_length

MAX_NAME = 300  # config limits.name_length's default

FUZZY_MIN = 85  # rapidfuzz WRatio below which a name is not a match
FUZZY_MARGIN = 5  # the best fuzzy match must beat the runner-up by this much to be unambiguous


def resolve_artifact(index: LoadedIndex, name: str, parameter: str | None = None,
                     max_length: int = MAX_NAME) -> Artifact:
    """The artifact `name` names; NotFound / Ambiguous carry `parameter`, the input it came in. A
    name longer than `max_length` is refused before any matching (rapidfuzz over a catalog's
    names is quadratic in the name's length)."""
    check_length("artifact", parameter or "name", name, max_length)
    name = (name or "").strip()
    if not name:
        raise NotFound("no artifact named ''", parameter=parameter)
    if name in index.position:
        return index.artifact(name)
    lowered = name.lower()
    # From the index's columns (ids, names): no artifact record is read until one is chosen.
    by_id = [i for i, aid in enumerate(index.ids) if aid.lower() == lowered]
    # Then the name, then the id's last part ("stable-diffusion" for "stabilityai/stable-diffusion").
    for exact in (by_id, [i for i, n in enumerate(index.names) if n.lower() == lowered],
                  [i for i, aid in enumerate(index.ids) if aid.rsplit("/", 1)[-1].lower() == lowered]):
        if len(exact) == 1:
            return index.artifacts[exact[0]]
        if len(exact) > 1:
            raise Ambiguous(name, sorted(index.ids[i] for i in exact), parameter=parameter)
    n = len(index.ids)
    hits = process.extract(name, index.names + index.ids, scorer=fuzz.WRatio, limit=10)
    best_by_artifact: dict[int, float] = {}
    for _, score, key in hits:
        pos = key % n
        best_by_artifact[pos] = max(best_by_artifact.get(pos, 0), score)
    ranked = sorted(best_by_artifact.items(), key=lambda kv: -kv[1])
    if not ranked or ranked[0][1] < FUZZY_MIN:
        raise NotFound(f"no artifact named '{name}'", parameter=parameter)
    close = [pos for pos, score in ranked if score >= ranked[0][1] - FUZZY_MARGIN and score >= FUZZY_MIN]
    if len(close) > 1:
        raise Ambiguous(name, [index.ids[pos] for pos in close], parameter=parameter)
    return index.artifacts[ranked[0][0]]
