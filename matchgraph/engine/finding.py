"""The engine's tool-level search (`find_tools`), mixed into Engine: for agents, which need one
callable tool out of many servers' (search/tools.py ranks them, search/budget.py fits them to a budget)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable, Iterable

from ..core.catalog import CAPABILITY_KINDS
from ..core.errors import invalid
from ..core.events import EventIn, check_query, content_id, finish, request_part, window_id
from ..core.results import ToolSearchResponse
from ..retrieval.embeddings import Embedder
from ..search.budget import fit_tools
from ..search.tools import need_words, rank_tools
from ..store import SQLStore
from .inputs import check_k
from .state import State


def tool_kinds(kinds: str | Iterable[str] | None, default: Iterable[str], parameter: str = "kinds"
               ) -> tuple[str, ...]:
    """The kinds a find_tools call returns: `kinds` (names, or one comma-separated string), blank
    for `default` (config tools.kinds); each must be one of CAPABILITY_KINDS."""
    if isinstance(kinds, str):
        kinds = [k for k in kinds.split(",")]
    chosen = [k.strip() for k in (kinds or []) if k and k.strip()] or list(default)
    bad = [k for k in chosen if k not in CAPABILITY_KINDS]
    if bad:
        raise invalid("find_tools", parameter, f"must be among {', '.join(CAPABILITY_KINDS)}, got "
                                               f"{', '.join(repr(b) for b in bad)}")
    return tuple(dict.fromkeys(chosen))


class ToolFinding:
    """find_tools over the served state (mixed into Engine, which provides the attributes below)."""

    config: dict
    store: SQLStore
    state: State
    embedder: Callable[..., Embedder]

    def find_tools(self, need: str, k: int | None = None, max_tokens: int | None = None, record: bool = True,
                   kinds: str | Iterable[str] | None = None, client: str | None = None) -> ToolSearchResponse:
        """The k callable units (MCP tools, OpenAPI operations; `kinds` for others) that best serve
        `need`, each with how to call it. With `max_tokens` the answer is fitted to that budget:
        schemas are compacted before results are left out, and the best result always stays.
        A recorded search stores its top tools as match events naming the tool (capability)."""
        need = check_query(need, "need")
        k = check_k("find_tools", self.config["tools"]["k"] if k is None else k)
        if max_tokens is not None and max_tokens < 1:
            raise invalid("find_tools", "max_tokens", f"must be at least 1, got {max_tokens}")
        wanted = tool_kinds(kinds, self.config["tools"]["kinds"])
        state = self.state
        request = request_part(need, self.config["search"]["input_markers"])
        # Literal URLs and file names become the words for their kind (search/tools.need_words);
        # the past requests are still looked up by the request as asked.
        words = need_words(request) if self.config["tools"]["value_words"] else request
        vector = self.embedder(state.index.manifest["model"]).encode_query(words)
        results = rank_tools(state.index, state.graph, state.adapter, vector, request, k, wanted, self.config, words)
        if record and results:
            self._record_tools(need, results, client)
        response = ToolSearchResponse(need=need, results=results, recorded=bool(record and results))
        if max_tokens is None:
            return response
        return ToolSearchResponse.model_validate(fit_tools(response.model_dump(mode="json"), max_tokens))

    def _record_tools(self, need: str, results, client: str | None) -> None:
        """Match events for the top search.record_top tools, each naming its capability; with a
        client, one per client, need, tool and window (as search)."""
        now = datetime.now(timezone.utc)
        # Several tools of one server may be shown: each event's id names its tool.
        events = [finish(EventIn(query=need, artifact_id=r.artifact_id, kind="match", ts=now,
                                 capability_id=r.capability_id, score=r.score, rank=r.position,
                                 event_id=content_id(need, f"{r.artifact_id}#{r.capability_id}", "match", now)))
                  for r in results[: self.config["search"]["record_top"]]]
        if client is not None:
            window = self.config["server"]["record_window_seconds"]
            events = [e.model_copy(update={"client": client, "event_id": window_id(
                client, need, f"{e.artifact_id}#{e.capability_id}", now, window)}) for e in events]
        self.store.add_events(events)
