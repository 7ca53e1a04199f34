"""A token budget for search results sent to agents (MCP `search` and `find_tools`,
`/api/search?max_tokens=`, `/api/tools?max_tokens=`).

Tokens are estimated, not counted with a model's tokenizer (agents use different ones):
estimate = ceil(characters of the compact JSON / 4), the usual rule of thumb for English text
and JSON under BPE tokenizers. Results are kept best first while the whole response fits; a
result's tool schema is compacted before a result is left out (`TRIMS`, from the last result
kept to the first): first its properties' descriptions go, then its optional properties, then
the tool's description text. The best result is always returned, trimmed as far as it goes,
even when it alone is over the budget; `trimmed` and `omitted` say what was cut.
"""

from __future__ import annotations

import json
import math
from typing import Any

CHARS_PER_TOKEN = 4


def estimate_tokens(data: Any) -> int:
    """Estimated tokens of `data` sent as compact JSON: ceil(len(json) / 4)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _without_descriptions(schema: Any) -> Any:
    """A JSON Schema with every `description` (and `title`, `examples`) of its properties removed."""
    if isinstance(schema, list):
        return [_without_descriptions(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {key: (_without_descriptions(value) if key != "properties" else
                  {name: _without_descriptions(prop) for name, prop in value.items()} if isinstance(value, dict)
                  else value)
            for key, value in schema.items() if key not in ("description", "title", "examples")}


def _required_only(schema: Any) -> Any:
    """A JSON Schema keeping only its required top-level properties (nested ones likewise)."""
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return schema
    required = set(schema.get("required") or [])
    return {**schema, "properties": {name: _required_only(prop) for name, prop in schema["properties"].items()
                                     if name in required}}


def _edit_schema(result: dict, change) -> dict | None:
    """`result` with its tool's input_schema changed by `change` (None when it has none or it is
    unchanged)."""
    tool = result.get("tool")
    if not isinstance(tool, dict) or not isinstance(tool.get("input_schema"), dict):
        return None
    schema = change(tool["input_schema"])
    if schema == tool["input_schema"]:
        return None
    return {**result, "tool": {**tool, "input_schema": schema}}


def _short_text(result: dict) -> dict | None:
    """`result` without its description and with a one-sentence explanation (None: nothing to cut)."""
    explanation = result.get("explanation")
    short = explanation.split(". ", 1)[0].rstrip(".") + "." if isinstance(explanation, str) else explanation
    if not result.get("description") and short == explanation:
        return None
    out = {**result, "explanation": short}
    if "description" in out:
        out["description"] = ""
    return out


# (what the answer calls it, the cut): applied in this order to a result before results are left out
TRIMS = (("property descriptions", lambda r: _edit_schema(r, _without_descriptions)),
         ("optional properties", lambda r: _edit_schema(r, _required_only)),
         ("description", _short_text))


def _label(result: dict, position: int) -> str:
    return str(result.get("capability_id") or result.get("matched_capability") or result.get("artifact_id")
               or position)


def _chars(data: Any) -> int:
    return len(json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str))


def fit_results(response: dict[str, Any], max_tokens: int) -> dict[str, Any]:
    """`response` ({"results": [...], ...}) fitted to `max_tokens` estimated tokens: the most
    results that fit once trimmed (TRIMS, the last kept result first), best first; the first
    result always, as trimmed as it goes. Sets `omitted`, `trimmed` and `tokens`."""
    results = list(response.get("results") or [])
    budget = max_tokens * CHARS_PER_TOKEN
    for n in range(len(results), 0, -1):
        kept, trimmed = list(results[:n]), []
        sizes = [_chars(r) for r in kept]
        skeleton = {**response, "results": [], "omitted": len(results) - n, "trimmed": trimmed,
                    "tokens": max_tokens}

        def fits() -> bool:  # the list's JSON is its items' JSON joined by commas
            return _chars(skeleton) + sum(sizes) + n - 1 <= budget

        ok = fits()
        for what, cut in TRIMS:
            for j in reversed(range(n)):
                if ok:
                    break
                changed = cut(kept[j])
                if changed is not None:
                    kept[j], sizes[j] = changed, _chars(changed)
                    trimmed.append(f"{j + 1} {_label(changed, j + 1)}: {what}")
                    ok = fits()
        if ok or n == 1:
            out = {**skeleton, "results": kept}
            out["tokens"] = estimate_tokens(out)
            return out
    out = {**response, "results": [], "omitted": 0, "trimmed": [], "tokens": 0}
    out["tokens"] = estimate_tokens(out)
    return out


def fit_tools(response: dict[str, Any], max_tokens: int) -> dict[str, Any]:
    """A find_tools answer fitted to `max_tokens` (fit_results)."""
    return fit_results(response, max_tokens)
