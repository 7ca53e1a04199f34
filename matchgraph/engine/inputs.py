"""The rules an engine call's arguments follow, whichever face (CLI, HTTP API, MCP) they came
from: each is written once here and raised with the engine's own argument names, which a face
renames when its own differ (`MatchgraphError.renamed`). The query's own rule is
`events.check_query`: a recorded query must be storable as events."""

from __future__ import annotations

from ..core.catalog import KINDS, PRICINGS
from ..core.errors import invalid
from ..graph.export import FORMATS
from ..search.artifacts import Filters

MAX_K = 100  # results per call: search, similar


def check_length(what: str, field: str, value: str | None, limit: int) -> str | None:
    """`value` when it is at most `limit` characters (config limits.name_length or
    limits.query_length); checked before any work, so a huge argument costs nothing."""
    if value is not None and len(value) > limit:
        raise invalid(what, field, f"at most {limit} characters, got {len(value)}")
    return value


def check_k(what: str, k: int) -> int:
    """`k` results, 1 to MAX_K."""
    if not 1 <= k <= MAX_K:
        raise invalid(what, "k", f"must be between 1 and {MAX_K}, got {k}")
    return k


def search_filters(kind: str | None, pricing: str | None, task: str | None) -> Filters:
    """A search's filters: blank is none; a kind or pricing must be one of the catalog's."""
    def choice(name: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
        value = (value or "").strip() or None
        if value is not None and value not in allowed:
            raise invalid("search", name, f"must be one of {', '.join(allowed)}, got '{value}'")
        return value

    return Filters(choice("kind", kind, KINDS), choice("pricing", pricing, PRICINGS),
                   (task or "").strip() or None)


def similar_input(text: str | None, artifact: str | None, capability: str | None
                  ) -> tuple[str | None, str | None]:
    """`similar` takes a text, or an artifact (optionally with one of its capabilities), never
    both: a call naming both is refused rather than one of the two silently ignored. Returns
    (text, artifact) with blanks as None."""
    text = text if text and text.strip() else None
    if artifact is not None and not artifact.strip():
        raise invalid("similar", "artifact", "must not be blank")
    if capability and not artifact:
        raise invalid("similar", "artifact",
                      "`capability` needs `artifact` (a capability id is only unique within its artifact)")
    if text and artifact:
        raise invalid("similar", "text", "give either `text` or `artifact`, not both")
    if not text and not artifact:
        raise invalid("similar", "text", "give a text or an artifact")
    return text, artifact


def check_cut(fmt: str | None, radius: int, min_weight: float) -> None:
    """A cut of the match graph: `fmt` an export format (when given), radius 0-5, min_weight >= 0."""
    if fmt is not None and fmt not in FORMATS:
        raise invalid("export", "format", f"must be one of {', '.join(FORMATS)}, got '{fmt}'")
    if radius < 0 or radius > 5:
        raise invalid("export", "radius", f"must be between 0 and 5, got {radius}")
    if min_weight < 0:
        raise invalid("export", "min_weight", f"must be >= 0, got {min_weight}")
