"""What the pages share: the Jinja2 environment (autoescaped templates, a few filters) and the
rule that picks a page's JSON twin."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request

from matchgraph.core.results import Reason

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


def schema_type(schema: dict) -> str:
    """A JSON Schema's type in a few words: 'string', 'integer | null', 'array of string', 'one of a, b'."""
    if not isinstance(schema, dict):
        return "any"
    if "enum" in schema:
        return "one of " + ", ".join(str(v) for v in schema["enum"][:8]) + (" …" if len(schema["enum"]) > 8 else "")
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(str(k) for k in kind)
    if kind == "array":
        return f"array of {schema_type(schema.get('items') or {})}"
    if kind:
        return str(kind) + (f" ({schema['format']})" if schema.get("format") else "")
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            return " | ".join(schema_type(s) for s in schema[key])
    return "object" if "properties" in schema else "any"


def schema_rows(schema: dict, prefix: str = "", depth: int = 0) -> list[dict]:
    """A JSON Schema's properties as rows {name, type, required, description, default}, nested
    objects flattened to dotted names (an OpenAPI operation's `query.limit`)."""
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return []
    required = set(schema.get("required") or [])
    rows = []
    for name, prop in schema["properties"].items():
        prop = prop if isinstance(prop, dict) else {}
        rows.append({"name": prefix + name, "type": schema_type(prop), "required": name in required,
                     "description": prop.get("description") or prop.get("title") or "",
                     "default": prop.get("default")})
        if depth < 3:
            rows += schema_rows(prop, f"{prefix}{name}.", depth + 1)
    return rows


SIGNAL_NAMES = {"dense": "meaning", "bm25": "words", "name": "name", "graph": "match graph", "prior": "rank"}


def templates_env() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(["html", "xml"]), trim_blocks=True, lstrip_blocks=True)
    env.filters.update(idpath=idpath, qs=qs, node_id=node_id, number=number, pct=pct, why=why,
                       schema_rows=schema_rows)
    env.globals["signal_names"] = SIGNAL_NAMES
    # Only web links become links (an index built before urls were checked may hold javascript:).
    env.tests["match_web"] = lambda value: str(value).startswith(("http://", "https://"))
    return env
