"""What the pages share: the Jinja2 environment (autoescaped templates, a few filters) and the
rule that picks a page's JSON twin."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request

from matchgraph.models import Reason

HERE = Path(__file__).resolve().parent


def wants_json(request: Request) -> bool:
    """A page's JSON twin: ?format=json, or an Accept header asking for JSON rather than HTML."""
    if request.query_params.get("format") == "json":
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def idpath(value: str) -> str:
    """An artifact id as a URL path: '/' stays (routes take ids as paths), the rest is quoted."""
    return quote(str(value), safe="/")


def qs(params: dict) -> str:
    """A query string from the params that are set."""
    return urlencode({k: v for k, v in params.items() if v not in (None, "", False)})


def node_id(node: str) -> str:
    """'a:microsoft/trocr' -> 'microsoft/trocr'; 'q:read letters' -> 'read letters'."""
    return node.split(":", 1)[1] if ":" in node[:2] else node


def number(value) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


def pct(value, lo: float = 0.0) -> float:
    """A 0-100 score as a bar width, never below `lo` so a zero still shows a sliver."""
    try:
        return max(lo, min(100.0, float(value)))
    except (TypeError, ValueError):
        return lo


def why(reason: Reason | dict) -> str:
    """A search result's one-line reason (its typed `reason`, or that reason as JSON)."""
    return (reason if isinstance(reason, Reason) else Reason.model_validate(reason)).sentence()


SIGNAL_NAMES = {"dense": "meaning", "bm25": "words", "name": "name", "graph": "match graph", "prior": "rank"}


def templates_env() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(["html", "xml"]), trim_blocks=True, lstrip_blocks=True)
    env.filters.update(idpath=idpath, qs=qs, node_id=node_id, number=number, pct=pct, why=why)
    env.globals["signal_names"] = SIGNAL_NAMES
    # Only web links become links (an index built before urls were checked may hold javascript:).
    env.tests["match_web"] = lambda value: str(value).startswith(("http://", "https://"))
    return env
