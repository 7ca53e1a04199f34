"""Compact views of the MCP tools' results: with `detail=false` (the default) a tool returns the
JSON API's shape with the bulky fields left out (ids, titles, scores, one-line reasons); with
`detail=true` the whole API document. The output schemas are derived from the pydantic models of
`matchgraph.core.results`, so the two shapes never drift apart."""

import json
import types as pytypes
from typing import Annotated, Any, Optional, Union, get_args, get_origin

from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, Field, create_model

from matchgraph.core.results import (
    ArtifactDetail,
    CapabilityOut,
    Comparison,
    MatchEvidence,
    Reason,
    ScoreCard,
    SearchResponse,
    SearchResult,
    Side,
    SimilarResponse,
    ToolResult,
    ToolSearchResponse,
)
from matchgraph.search.budget import fit_results

# -- compact views ------------------------------------------------------------------------------
# For each model, the fields a compact result keeps; models not listed keep every field. Lists
# named in LIST_LIMITS are cut to that many items in compact results.
Keep = dict[type[BaseModel], set[str]]

SEARCH_KEEP: Keep = {
    SearchResult: {"artifact_id", "name", "kind", "pricing", "task", "rank", "score", "position",
                   "matched_capability", "matched_capability_title", "explanation", "tool"},
}
TOOLS_KEEP: Keep = {
    ToolResult: {"tool", "artifact_id", "server_name", "capability_id", "kind", "title", "description", "score",
                 "position", "explanation"},
}
COMPARE_KEEP: Keep = {
    Side: {"id", "name", "kind", "pricing", "task", "url", "scores", "capabilities"},
    ScoreCard: {"adoption", "quality", "ecosystem", "match_graph", "freshness", "rank", "times_matched"},
    # what sets each capability apart is what a comparison is read for (the seed page shows both)
    CapabilityOut: {"id", "title", "unique", "vs_alternatives"},
}
ARTIFACT_KEEP: Keep = {
    # ScoreCard keeps its one-line explanations: they are the artifact's "why".
    CapabilityOut: {"id", "title"},
}
SIMILAR_KEEP: Keep = {}
# Keys of the catalog record (ArtifactDetail.artifact, a free-form dict) kept in compact results.
RECORD_KEEP = ("id", "name", "kind", "pricing", "provider", "task", "license", "url", "tags")
LIST_LIMITS = {(MatchEvidence, "both"): 5, (MatchEvidence, "only_a"): 5, (MatchEvidence, "only_b"): 5,
               (ArtifactDetail, "queries"): 5}


def one_line(text: str | None) -> str | None:
    """The first sentence of an explanation: the one-line reason of a compact result."""
    if not text:
        return text
    head, sep, _ = text.partition(". ")
    return head + "." if sep else text


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel inside X, list[X], X | None, dict[str, X] (None when there is none)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _nested_model(arg)
        if found is not None:
            return found
    return None


def _swap(annotation: Any, old: type[BaseModel], new: type[BaseModel]) -> Any:
    """`annotation` with the model `old` replaced by `new` (inside list[...] and unions too)."""
    if annotation is old:
        return new
    origin, args = get_origin(annotation), get_args(annotation)
    if not args:
        return annotation
    swapped = tuple(_swap(a, old, new) for a in args)
    if origin in (Union, pytypes.UnionType):
        return Union[swapped]  # noqa: UP007
    return origin[swapped] if origin is not None else annotation


def output_model(model: type[BaseModel], keep: Keep, detail_note: str,
                 _cache: dict | None = None) -> type[BaseModel]:
    """The MCP output model of a tool, derived from the API model `model`: the same fields, types
    and descriptions, except that the fields a compact result leaves out become optional."""
    cache = {} if _cache is None else _cache
    if model in cache:
        return cache[model]
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        annotation = info.annotation
        inner = _nested_model(annotation)
        if inner is not None:
            annotation = _swap(annotation, inner, output_model(inner, keep, detail_note, cache))
        description = info.description
        if model in keep and name not in keep[model]:
            annotation = Optional[annotation]
            description = f"{description + ' ' if description else ''}({detail_note})"
            fields[name] = (annotation, Field(None, description=description, title=info.title))
        else:
            default = info.default if not info.is_required() else ...
            fields[name] = (annotation, Field(default, description=description, title=info.title))
    derived = create_model(model.__name__, __doc__=model.__doc__, **fields)
    cache[model] = derived
    return derived


def project(model: type[BaseModel], data: Any, keep: Keep) -> Any:
    """The compact view of `data` (a JSON dump of `model`): drop the fields `keep` leaves out,
    cut long lists, shorten explanations to one line."""
    if isinstance(data, list):
        return [project(model, item, keep) for item in data]
    if not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}
    for name, value in data.items():
        if model in keep and name not in keep[model]:
            continue
        info = model.model_fields.get(name)
        inner = _nested_model(info.annotation) if info is not None else None
        if inner is not None and value is not None:
            value = project(inner, value, keep)
        limit = LIST_LIMITS.get((model, name))
        if limit is not None and isinstance(value, list):
            value = value[:limit]
        if name == "explanation" and isinstance(value, str):
            reason = data.get("reason")  # a search result words its typed reason
            value = Reason.model_validate(reason).sentence() if reason and model is SearchResult \
                else one_line(value)
        out[name] = value
    return out


COMPACT_NOTE = "only with detail=true"
Detail = Annotated[bool, Field(description="false (default): compact result (ids, titles, scores, "
                                           "one-line reasons); true: the full document")]
SearchOut = output_model(SearchResponse, SEARCH_KEEP, COMPACT_NOTE)
ComparisonOut = output_model(Comparison, COMPARE_KEEP, COMPACT_NOTE)
ArtifactOut = output_model(ArtifactDetail, ARTIFACT_KEEP, COMPACT_NOTE)
SimilarOut = output_model(SimilarResponse, SIMILAR_KEEP, COMPACT_NOTE)
ToolSearchOut = output_model(ToolSearchResponse, TOOLS_KEEP, COMPACT_NOTE)


def tool_result(model: type[BaseModel], full: BaseModel, detail: bool, keep: Keep,
            max_tokens: int | None = None) -> CallToolResult:
    """A tool result: structured content plus the same JSON as text (for clients that read text);
    with `max_tokens`, results cut best first to what fits (see matchgraph.search.budget)."""
    data = full.model_dump(mode="json")
    if not detail:
        data = project(model, data, keep)
        if model is SearchResponse:  # a compact result leaves out a tool's absence, not its presence
            for item in data.get("results", []):
                if item.get("tool") is None:
                    item.pop("tool", None)
        if model is ArtifactDetail:
            record = full.artifact
            data["artifact"] = {k: record[k] for k in RECORD_KEEP if record.get(k) not in (None, [], "")}
            data["artifact"]["capabilities"] = [{"id": c["id"], "title": c["title"]}
                                                for c in record.get("capabilities", [])]
    if max_tokens is not None:
        data = fit_results(data, max_tokens)
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)
