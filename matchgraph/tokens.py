"""A token budget for search results sent to agents (MCP `search`, `/api/search?max_tokens=`).

Tokens are estimated, not counted with a model's tokenizer (agents use different ones):
estimate = ceil(characters of the compact JSON / 4), the usual rule of thumb for English text
and JSON under BPE tokenizers. Results are kept best first while the whole response fits.
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


def fit_results(response: dict[str, Any], max_tokens: int) -> dict[str, Any]:
    """`response` ({"results": [...], ...}) with its results cut, best first, so that the whole
    document (with `omitted` and `tokens` set) is estimated at most `max_tokens` tokens."""
    results = list(response.get("results") or [])
    out = {**response, "results": [], "omitted": len(results), "tokens": max_tokens}
    for result in results:
        trial = {**out, "results": out["results"] + [result], "omitted": out["omitted"] - 1}
        if estimate_tokens(trial) > max_tokens:
            break
        out = trial
    out["tokens"] = estimate_tokens(out)
    return out
