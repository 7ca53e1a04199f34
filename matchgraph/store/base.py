"""The store interface every backend implements."""

from __future__ import annotations

from typing import Iterable, Iterator, Protocol

import numpy as np

from ..catalog import Artifact
from ..events import Event


class Store(Protocol):
    url: str

    def upgrade(self) -> str:
        """Apply pending migrations; return the schema revision now in place."""

    def add_events(self, events: Iterable[Event], batch_size: int = 5000) -> int:
        """Store events; an event_id already stored is skipped. Returns how many were new."""

    def event_count(self) -> int: ...

    def events_signature(self) -> tuple[int, str]:
        """(count, latest ts) of stored events: changes whenever an event is added."""

    def times_matched(self) -> dict[str, int]:
        """artifact id -> number of stored events for it (a select counts as a match)."""

    def edge_counts(self) -> Iterator[tuple[str, str, int, int]]:
        """(query_norm, artifact_id, matches, selects), aggregated in the database, streamed."""

    def capability_counts(self) -> Iterator[tuple[str, str, str, int, int]]:
        """(query_norm, artifact_id, capability_id, events, selects) for events that name a capability."""

    def query_texts(self) -> dict[str, str]:
        """query_norm -> one original text for it (the most recent)."""

    def aggregates(self, since: str | None = None):
        """Aggregates (edges, capabilities, texts as above, plus a cursor) of the events stored
        after the cursor `since` (None: all), read from one consistent view; the next call with
        the returned cursor returns exactly the events committed after this one."""

    def max_seq(self) -> int:
        """The highest event sequence number stored (0 without events)."""

    def get_vectors(self, model: str, text_hashes: list[str]) -> dict[str, np.ndarray]: ...

    def put_vectors(self, model: str, vectors: dict[str, np.ndarray]) -> None: ...

    def replace_artifacts(self, artifacts: list[Artifact], records: list[str] | None = None) -> None: ...

    def replace_artifact_rows(self, rows: Iterable[tuple[str, str, str, str, str | None, str]]) -> None: ...

    def record_version(self, version: int, model: str, catalog: list[str], artifacts: int,
                       capabilities: int, embedded: int) -> None: ...

    def versions(self) -> list[dict]: ...

    def close(self) -> None: ...
