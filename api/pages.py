"""Server-rendered pages; each has a JSON twin (?format=json or Accept: application/json)."""

from __future__ import annotations

import json
from typing import Any, Optional

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from matchgraph.core.catalog import KINDS, PRICINGS
from matchgraph.core.errors import NotFound, invalid
from matchgraph.engine.inputs import search_filters

from .models import jsonable
from .routes import MAX_QUERY, NOT_RECORDED, engine, graph_view, recording_client, renamed, timed_search
from .web import idpath, qs, wants_json

router = APIRouter(include_in_schema=False)

EXAMPLES = ["read handwritten letters", "make a picture from a sentence", "transcribe a podcast episode",
            "translate a word document keeping formatting", "answer questions about a pdf"]
SCORE_KEYS = [("rank", "Rank"), ("adoption", "Adoption"), ("quality", "Quality"),
              ("ecosystem", "Ecosystem"), ("match_graph", "Match Graph"), ("freshness", "Freshness")]


def render(request: Request, template: str, data: Any, **context) -> Response:
    if wants_json(request):
        return JSONResponse(jsonable(data))
    seen = engine(request).overview(load=False)
    context.setdefault("version", seen.index_version if seen else None)
    context["json_url"] = str(request.url.include_query_params(format="json"))
    context["score_keys"] = SCORE_KEYS
    return request.app.state.templates.TemplateResponse(request, template, context)


@router.get("/")
def search_page(request: Request, q: Optional[str] = Query(None, max_length=MAX_QUERY),
                k: Optional[int] = Query(None, ge=1, le=100),
                kind: Optional[str] = None, pricing: Optional[str] = None, task: Optional[str] = None):
    eng = engine(request)
    seen = eng.overview()
    filters = search_filters(kind, pricing, task)
    response = None
    headers: dict[str, str] = {}
    if q and q.strip():
        record, client = recording_client(request, True, headers)
        with renamed(query="q"):
            response = timed_search(request, "page", True, headers.get(NOT_RECORDED), lambda: eng.search(
                q, k, kind, pricing, task, record=record, client=client))
    data = response or {"query": "", "results": [], "recorded": False}
    page = render(request, "search.html", data, nav="search", title="Search the match graph",
                  q=(q or "").strip(), k=k, kind=filters.kind, pricing=filters.pricing,
                  task=filters.task, response=response, kinds=KINDS, pricings=PRICINGS,
                  tasks=seen.tasks, examples=EXAMPLES, popular=seen.most_matched, stats=seen)
    page.headers.update(headers)
    return page


@router.get("/tools")
def tools_page(request: Request, need: Optional[str] = Query(None, max_length=MAX_QUERY),
               k: Optional[int] = Query(None, ge=1, le=100)):
    """find_tools for people: the tools an agent would be given for a need, with how to call each."""
    response = None
    headers: dict[str, str] = {}
    if need and need.strip():
        record, client = recording_client(request, True, headers)
        response = engine(request).find_tools(need, k, record=record, client=client)
    data = response or {"need": "", "results": [], "recorded": False}
    page = render(request, "tools.html", data, nav="tools", title="Find the tool to call",
                  need=(need or "").strip(), k=k, response=response)
    page.headers.update(headers)
    return page


@router.get("/a/{id:path}")
def artifact_page(request: Request, id: str):
    detail = engine(request).artifact(id)
    canonical = detail.artifact["id"]
    if canonical != id and not wants_json(request):
        query = request.url.query
        return RedirectResponse(f"/a/{idpath(canonical)}" + (f"?{query}" if query else ""), status_code=307)
    caps = detail.artifact.get("capabilities", [])
    # one server behind every tool (an MCP server's tools): how to start or reach it, said once
    servers = {(c.get("tool") or {}).get("server") for c in caps}
    server = servers.pop() if len(servers) == 1 else None
    return render(request, "artifact.html", detail, nav="artifact", title=detail.artifact["name"],
                  d=detail, a=detail.artifact, shown=caps[:4], folded=caps[4:], server=server)


@router.get("/compare")
def compare_form(request: Request, a: str = Query(..., min_length=1), b: str = Query(..., min_length=1)):
    """The compare form posts a and b here; it redirects to /compare/{a}/vs/{b}."""
    suffix = "?format=json" if wants_json(request) else ""
    return RedirectResponse(f"/compare/{idpath(a.strip())}/vs/{idpath(b.strip())}{suffix}", status_code=303)


def split_pair(eng, path: str) -> tuple[str, str]:
    """'a/b/vs/c/d' -> ('a/b', 'c/d'); when '/vs/' occurs more than once, the split where both
    sides are artifact ids wins."""
    parts = path.split("/vs/")
    if len(parts) < 2 or not parts[0] or not parts[-1]:
        raise invalid("request", "path", "expected /compare/{a}/vs/{b}, e.g. "
                      "/compare/microsoft/trocr-base-handwritten/vs/stabilityai/stable-diffusion")
    if len(parts) == 2:
        return parts[0], parts[1]
    for cut in range(1, len(parts)):
        a, b = "/vs/".join(parts[:cut]), "/vs/".join(parts[cut:])
        if eng.has_artifact(a) and eng.has_artifact(b):
            return a, b
    return parts[0], "/vs/".join(parts[1:])


@router.get("/compare/{pair:path}")
def compare_page(request: Request, pair: str):
    eng = engine(request)
    a, b = split_pair(eng, pair)
    comparison = eng.compare(a, b)
    if (comparison.a.id, comparison.b.id) != (a, b) and not wants_json(request):
        return RedirectResponse(f"/compare/{idpath(comparison.a.id)}/vs/{idpath(comparison.b.id)}",
                                status_code=307)
    sa, sb = comparison.a.scores, comparison.b.scores
    chart = [(label, getattr(sa, key), getattr(sb, key)) for key, label in SCORE_KEYS]
    return render(request, "compare.html", comparison, nav="compare",
                  title=f"{comparison.a.name} vs {comparison.b.name}", c=comparison, chart=chart,
                  caps_a={c.id: c for c in comparison.a.capabilities},
                  caps_b={c.id: c for c in comparison.b.capabilities})


@router.get("/graph")
def graph_page(request: Request, ego: Optional[str] = Query(None), artifact: Optional[str] = None,
               q: Optional[str] = None, radius: int = Query(1, ge=0, le=5),
               min_weight: float = Query(0.0, ge=0, allow_inf_nan=False),
               limit: int = Query(150, ge=1, le=2000),
               all: bool = Query(False, description="the whole graph instead of one neighbourhood")):
    eng = engine(request)
    center = next((v.strip() for v in (ego, artifact, q) if v and v.strip()), None)
    default = False
    if center is None and not all:
        # nothing asked for: start around the most matched artifact rather than a wall of dots
        most = eng.overview().most_matched
        if most and most[0][1]["times_matched"] > 0:
            center, default = most[0][0].id, True
    try:
        view = graph_view(request, center, radius, min_weight, limit)
    except NotFound:
        if wants_json(request) or not center:
            raise
        # an unknown query: show where a search for it lands instead of an error
        view, center = None, center
    data = view or {"ego": None, "radius": radius, "min_weight": min_weight, "nodes": [], "edges": []}
    payload = json.dumps(jsonable(data), ensure_ascii=False).replace("<", "\\u003c")
    export_params = {"ego": center, "radius": radius if center else None,
                     "min_weight": min_weight or None}
    label = None
    if view and view.ego:
        node = next((n for n in view.nodes if n.id == view.ego), None)
        label = node.label if node else view.ego
    base_params = {"ego": None if default else center, "radius": radius if center and not default else None,
                   "min_weight": min_weight or None, "all": 1 if all else None}
    return render(request, "graph.html", data, nav="graph", title="Match graph explorer", view=view,
                  center=center, center_label=label, radius=radius, default=default, whole=all, min_weight=min_weight, limit=limit,
                  payload=payload, export_qs=qs(export_params), formats=["graphml", "gexf", "json", "csv"],
                  limits=sorted({150, 300, 600, 1000, 2000, limit}), base_params=base_params)
