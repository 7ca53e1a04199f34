"""Who may add evidence, and how much: the server's guard around recorded searches and tokens.

Times Matched and the match graph are read as "others chose this", so a recorded search must be
a person's (or a program's) own request, counted in proportion:

- **Not cross-site.** A recorded search is a GET (search URLs stay shareable), so a page on
  another site could make a visitor's browser send one (a link, an <img>, a fetch). Browsers
  say where a request comes from in `Sec-Fetch-Site`, a header pages cannot set: only
  `same-origin` (our own pages) and `none` (typed, bookmarked) record. Older browsers without it
  fall back to `Origin` / `Referer`, which must name this host when present. Programs send none
  of these and are held by the two limits below.
- **A budget per client:** server.record_per_minute recorded searches in any 60 s, on every
  face (the HTTP API, the pages, MCP over HTTP and stdio): counted in this process and, since
  each recorded search stores its client key, in the store too, so processes sharing a store
  share the budget. Past it a search is answered but not recorded.
- **Once per window:** the engine stores a client's identical searches (same normalized query)
  once per server.record_window_seconds (events.window_id), across all processes.
- **Wrong tokens:** server.token_failures_per_minute wrong tokens from one client in 60 s, and
  every token it sends is refused with 429 until the minute has passed.

A client is its address, stored as a pseudonymous key (events.client_key): the connecting
address, unless server.client_ip_header names the header your reverse proxies set; then the
entry server.client_ip_hops from its end (each trusted proxy appends the address it saw, so what
a client wrote itself lies further left and is never read). Uvicorn's own proxy-header handling
is off (api/serving.py): no header is trusted unless configured here. MCP over stdio is one
client, "mcp".
"""

from __future__ import annotations

import threading
import time
from collections import deque
from datetime import datetime, timedelta, timezone
from typing import Callable
from urllib.parse import urlsplit

from fastapi import Request

from matchgraph.core.events import client_key

WINDOW = 60.0  # seconds of the per-minute budgets
RECORDED_SITES = {"same-origin", "none"}


class SlidingCounter:
    """Events per key within the last WINDOW seconds (one deque of times per key)."""

    def __init__(self) -> None:
        self._times: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._swept = time.monotonic()

    def count(self, key: str, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._times.get(key)
            if not times:
                return 0
            while times and now - times[0] >= WINDOW:
                times.popleft()
            return len(times)

    def add(self, key: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._times.setdefault(key, deque()).append(now)
            if now - self._swept >= WINDOW:  # forget clients idle for a minute: memory stays bounded
                self._swept = now
                self._times = {k: t for k, t in self._times.items() if t and now - t[-1] < WINDOW}

    def take(self, key: str, budget: int) -> bool:
        """Count one for `key` if it has less than `budget` in the window; False when spent."""
        now = time.monotonic()
        if self.count(key, now) >= budget:
            return False
        self.add(key, now)
        return True


class ClientGuard:
    """The limits above for one server process; `server` is config `server`. `stored(key, since)`
    (the store's `recorded_searches`) counts a client's recorded searches since a time across all
    processes sharing the store; without it the budget is this process's alone."""

    def __init__(self, server: dict, stored: Callable[[str, datetime], int] | None = None):
        self.record_per_minute = int(server["record_per_minute"])
        self.token_failures_per_minute = int(server["token_failures_per_minute"])
        self.ip_header = str(server.get("client_ip_header") or "").lower()
        self.ip_hops = int(server.get("client_ip_hops") or 1)
        self.stored = stored
        self.recorded = SlidingCounter()
        self.token_failures = SlidingCounter()

    def address(self, request: Request) -> str:
        connecting = request.client.host if request.client else "unknown"
        if self.ip_header:
            entries = [e.strip() for e in request.headers.get(self.ip_header, "").split(",")]
            if len(entries) >= self.ip_hops and entries[-self.ip_hops]:
                return entries[-self.ip_hops]
        return connecting  # no header, or fewer entries than trusted proxies: the proxy itself

    def key(self, request: Request) -> str:
        return client_key(self.address(request))

    def recording(self, request: Request) -> tuple[str | None, str | None]:
        """(client key, None) when this request may record a search, else (None, reason):
        "cross-site" or "rate-limit". Spends one of the client's budget when it may."""
        if cross_site(request):
            return None, "cross-site"
        key = self.key(request)
        if not self.budget(key):
            return None, "rate-limit"
        return key, None

    def budget(self, key: str) -> bool:
        """Spend one recorded search of client `key`; False when its minute's budget is spent,
        in this process or (with `stored`) in the store, i.e. by all processes together."""
        if not self.recorded.take(key, self.record_per_minute):
            return False
        if self.stored is None:
            return True
        since = datetime.now(timezone.utc) - timedelta(seconds=WINDOW)
        return self.stored(key, since) < self.record_per_minute

    def token_blocked(self, request: Request) -> bool:
        return self.token_failures.count(self.key(request)) >= self.token_failures_per_minute

    def token_failed(self, request: Request) -> None:
        self.token_failures.add(self.key(request))


def cross_site(request: Request) -> bool:
    """Whether a browser sent this request on behalf of a page of another site (see above)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site.strip().lower() not in RECORDED_SITES
    host = (request.headers.get("host") or "").lower()
    for header in ("origin", "referer"):
        value = request.headers.get(header)
        if value and value != "null":
            return urlsplit(value).netloc.lower() != host
        if value == "null":  # sandboxed or privacy-stripped origin: not one of our pages
            return True
    return False
