"""The gateway's state: its downstream servers, the catalog it writes of their tools and indexes
into its home, and what each client session found, so that a call can be recorded for its need.

Catalog: `HOME/gateway/servers.jsonl`, one tool artifact per configured server, id = the
server's name in the config (slugged), each tool a capability whose `tool.server` is that name —
what `call_tool` takes. It holds no command line, URL, environment or header: nothing a secret
could be in. It is indexed with the catalogs of the `catalog` setting (e.g. a registry as
distractors) at the start, and again when a server sends tools/list_changed or first starts
after failing. A server that cannot start keeps the tools it had in the previous catalog, so
`find_tools` still finds them and `call_tool` tries to start it again.

Learning from calls: each `find_tools` answer (unless record=false) is remembered per client
session as need -> the tools it returned. A successful `call_tool` (no exception, no `isError`)
of one of them stores a `select` event of that tool (artifact + capability) for the need of the
last find_tools that returned it, once per find. A call of a tool no find_tools of this session
returned is forwarded but not recorded: a select is evidence for a need, and the gateway does not
know which need that call served (inventing one, such as the tool's name, would teach the graph
the tool's own words rather than the agent's).
"""

from __future__ import annotations

import json
import logging
import os
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import anyio

from matchgraph.core.errors import MatchgraphError
from matchgraph.engine.engine import Engine
from matchgraph.importers.common import slug
from matchgraph.importers.mcp import server_record
from matchgraph.servers.specs import ServerSpec

from .downstream import Downstream, DownstreamError, Downstreams

log = logging.getLogger("matchgraph.gateway")
CATALOG = Path("gateway") / "servers.jsonl"
RECORD_DELAY = 0.05  # seconds between a call's answer and the store write of its select
FOUND_PER_SESSION = 2000  # (server, tool) needs remembered per client session, oldest dropped


@dataclass(frozen=True)
class Found:
    """A tool a find_tools answer returned, and for which need."""

    need: str
    artifact_id: str
    capability_id: str


class Needs:
    """Per client session: (server, tool) -> the Found of the last find_tools that returned it."""

    def __init__(self) -> None:
        self._sessions: weakref.WeakKeyDictionary[Any, OrderedDict] = weakref.WeakKeyDictionary()

    def remember(self, session: Any, server: str, tool: str, found: Found) -> None:
        if session is None:  # no connection to tie it to: nothing a later call could match
            return
        table = self._sessions.setdefault(session, OrderedDict())
        table[(server, tool)] = found
        table.move_to_end((server, tool))
        while len(table) > FOUND_PER_SESSION:
            table.popitem(last=False)

    def take(self, session: Any, server: str, tool: str) -> Found | None:
        """The need to record a call of (server, tool) for, forgotten once taken (one select per find)."""
        table = self._sessions.get(session) if session is not None else None
        return table.pop((server, tool), None) if table is not None else None


class Gateway:
    """The engine over the gateway's home plus its downstream servers."""

    def __init__(self, engine: Engine, specs: list[ServerSpec]):
        self.engine = engine
        conf = engine.config["gateway"]
        self.downstreams = Downstreams(specs, conf["start_timeout"], conf["call_timeout"], self._tools_changed)
        self.catalog = engine.home / CATALOG
        self.needs = Needs()
        self.ids = _artifact_ids([s.name for s in specs])  # server name -> artifact id
        self.indexed = anyio.Event()  # set once an index is there to search
        self._index_lock = anyio.Lock()
        self._index_again = False
        self._indexed_tools: dict[str, tuple[str, ...]] = {}

    async def start(self) -> None:
        """Start every server, then index their tools (the servers that failed are named in the log)."""
        if self.engine.versions.current() is not None:
            self.indexed.set()  # an earlier run's index serves find_tools until the new one is published
        await self.downstreams.start_all()
        await self.reindex()

    async def _tools_changed(self, server: Downstream) -> None:
        log.info("server '%s' changed its tools; indexing them again", server.name)
        await self.reindex()

    async def reindex(self) -> None:
        """Write the catalog of every server's tools and index it (one at a time; a change that
        comes during an index is indexed right after it)."""
        if self._index_lock.locked():
            self._index_again = True
            return
        async with self._index_lock:
            while True:
                self._index_again = False
                records = self._records()
                if records:
                    try:
                        await anyio.to_thread.run_sync(self._write_and_index, records)
                        self.indexed.set()
                    except MatchgraphError as exc:
                        log.error("indexing the servers' tools failed: %s", exc)
                else:
                    log.error("no server offered tools: nothing to index")
                if not self._index_again:
                    return

    def _records(self) -> list[dict[str, Any]]:
        previous = _read_catalog(self.catalog)
        records, taken = [], set()
        for name, server in self.downstreams.servers.items():
            artifact_id = self.ids[name]
            if server.listing is not None and server.tools:
                record = server_record(name, server.listing, taken, artifact_id=artifact_id,
                                       transport="stdio" if server.spec.transport == "stdio" else "streamable-http")
                record["url"] = None  # the gateway's catalog names servers, never their URLs (secrets)
                record["signals"] = {k: v for k, v in record["signals"].items() if k == "version"}
                record["signals"]["integrations"] = [f"matchgraph-gateway:{name}"]
                self._indexed_tools[name] = tuple(server.tools)
            elif artifact_id in previous:
                record = previous[artifact_id]
                taken.add(artifact_id)
            else:
                continue
            records.append(record)
        return records

    def _write_and_index(self, records: list[dict[str, Any]]) -> None:
        self.catalog.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.catalog.with_name(f".{self.catalog.name}.{os.getpid()}.tmp")
        with temporary.open("w", encoding="utf-8") as fh:
            for record in records:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        os.replace(temporary, self.catalog)
        extra = [p for p in self.engine.config.get("catalog", []) if Path(p).resolve() != self.catalog.resolve()]
        summary = self.engine.index([self.catalog, *extra])
        log.info("indexed %d tools of %d servers (version %s)", summary["capabilities"], len(records),
                 summary["version"])

    # -- find and call ---------------------------------------------------------------------------
    def remember(self, session: Any, need: str, structured: dict[str, Any] | None) -> None:
        """Note the tools a find_tools answer returned, for the need that found them."""
        servers = {self.ids[name]: name for name in self.downstreams.servers}
        for result in (structured or {}).get("results", []):
            tool = result.get("tool") or {}
            artifact_id = result.get("artifact_id")
            capability_id = result.get("capability_id") or result.get("matched_capability") or tool.get("name")
            server = tool.get("server")
            if server in self.downstreams.servers and tool.get("name") and artifact_id == self.ids[server]:
                self.needs.remember(session, server, tool["name"], Found(need, artifact_id, capability_id))
            elif artifact_id in servers and tool.get("name"):
                self.needs.remember(session, servers[artifact_id], tool["name"], Found(need, artifact_id, capability_id))

    async def call(self, session: Any, server: str, tool: str, arguments: dict[str, Any]) -> Any:
        """Forward tools/call to `server`; record a select for its need when it succeeded."""
        downstream = self.downstreams.get(server)
        was_listed = self._indexed_tools.get(server)
        result = await downstream.call(tool, arguments)
        if tuple(downstream.tools) != was_listed:  # it (re)started with tools the index lacks
            downstream.group.start_soon(self.reindex)
        if not getattr(result, "is_error", False):
            found = self.needs.take(session, server, tool)
            if found is not None:
                downstream.group.start_soon(self._record_later, found)
        return result

    async def _record_later(self, found: Found) -> None:
        """Store the select once the answer is on its way: the store write (~4 ms, bench/
        gateway_latency.py) runs in a worker thread whose Python parts hold the GIL, and started
        at once it delayed the answer it came with by about that much."""
        with anyio.CancelScope(shield=True):  # a gateway stopping now still stores it
            await anyio.sleep(RECORD_DELAY)
            await anyio.to_thread.run_sync(self._record, found)

    def _record(self, found: Found) -> None:
        event = {"query": found.need, "artifact_id": found.artifact_id, "capability_id": found.capability_id,
                 "kind": "select", "ts": datetime.now(timezone.utc).isoformat()}
        try:
            self.engine.add_events([event])
        except MatchgraphError as exc:  # the call succeeded; only its evidence is lost
            log.warning("recording the call of %s/%s failed: %s", found.artifact_id, found.capability_id, exc)


def _artifact_ids(names: list[str]) -> dict[str, str]:
    ids, taken = {}, set()
    for name in names:
        artifact_id = slug(name)
        while artifact_id in taken:
            artifact_id += "-2"
        taken.add(artifact_id)
        ids[name] = artifact_id
    return ids


def _read_catalog(path: Path) -> dict[str, dict[str, Any]]:
    """The records of the gateway's previous catalog by id ({} when there is none or it is unreadable)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        return {r["id"]: r for r in map(json.loads, filter(None, lines))}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


__all__ = ["Gateway", "Found", "Needs", "DownstreamError"]
