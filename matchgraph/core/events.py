"""Search and feedback events: validation (a batch is accepted or rejected whole), ids, query normalization."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .config import BY_KEY
from .errors import Problem, ValidationFailed, invalid
from .validation import problems_of, read_jsonl

_PUNCT = re.compile(r"[^\w\s]+", re.UNICODE)
_SPACE = re.compile(r"\s+")


def normalize_query(text: str) -> str:
    """Case, accents-compatible forms, punctuation and spacing folded: 'Stable  Diffusion!' -> 'stable diffusion'."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def request_part(query: str, markers: list[str]) -> str:
    """The request without the sample input pasted after it: the text before the first of
    `markers` (case-insensitive), e.g. "Summarize this review. ###Input: <the review>". The sample
    is what the model will be given, not what it should do; matched as words or meaning it pulls
    towards models about the sample's topic. The whole query when no marker is found or nothing
    precedes it."""
    lowered = query.lower()
    cut = min((i for i in (lowered.find(m.lower()) for m in markers if m) if i > 0), default=0)
    request = query[:cut].strip()
    return request if request else query


MAX_QUERY = int(BY_KEY["limits.query_length"].at_most)  # a stored query's longest; the setting may lower it
MAX_ID = 300  # the store's artifact_id / capability_id columns are VARCHAR(300)
MAX_RANK = 2**31 - 1  # the store's rank column is a 32-bit INTEGER on PostgreSQL
# A search log older than this predates the models it could be about; a time further ahead
# than clock skew explains is a wrong clock or a forged event meant to stay "latest".
EARLIEST_TS = datetime(2000, 1, 1, tzinfo=timezone.utc)
MAX_FUTURE = timedelta(days=1)


class EventIn(BaseModel):
    """One event as sent in a log line or in POST /api/events.

    Held to what every store backend can keep (no NUL characters, ids within the column sizes,
    a 32-bit rank, a finite score), so a bad event is a validation error naming its field, never
    a database error halfway through a batch.
    """

    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=MAX_QUERY)
    artifact_id: str = Field(min_length=1, max_length=MAX_ID)
    kind: Literal["match", "select"] = "select"
    ts: datetime | None = None
    event_id: str | None = Field(default=None, min_length=1, max_length=200)
    capability_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID)
    score: float | None = Field(default=None, allow_inf_nan=False)
    rank: int | None = Field(default=None, ge=1, le=MAX_RANK)

    @field_validator("query")
    @classmethod
    def _query_has_words(cls, value: str) -> str:
        if not normalize_query(value):
            raise ValueError("query has no words")
        return value

    @field_validator("query", "artifact_id", "event_id", "capability_id")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value

    @field_validator("ts")
    @classmethod
    def _sane_time(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return value
        aware = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        latest = datetime.now(timezone.utc) + MAX_FUTURE
        if not EARLIEST_TS <= aware <= latest:
            raise ValueError(f"must be between {EARLIEST_TS.date()} and one day from now "
                             f"({latest.isoformat(timespec='seconds')}), got {value.isoformat()}")
        return value


def check_query(text: str | None, field: str = "query", limit: int = MAX_QUERY) -> str:
    """A query the engine can search and record as events: words, no NUL, at most `limit`
    characters (config limits.query_length). Raises ValidationFailed naming `field`; returns the
    text stripped."""
    if text is not None and len(text) > limit:
        raise invalid("search", field, f"at most {limit} characters, got {len(text)}")
    text = (text or "").strip()
    why = ("query must not be empty" if not text else
           "must not contain NUL characters" if "\x00" in text else
           "needs at least one letter or digit" if not normalize_query(text) else None)
    if why:
        raise invalid("search", field, why)
    return text


class Event(BaseModel):
    """A stored event: ids and time filled in, query normalized."""

    event_id: str
    query: str
    query_norm: str
    artifact_id: str
    capability_id: str | None = None
    kind: Literal["match", "select"]
    ts: datetime
    score: float | None = None
    rank: int | None = None
    client: str | None = None  # who recorded it (a search's client key, api/guard.py); None: a log
    # False when the sender gave no time (it is then "now"): a resend of that event is not a
    # different event for having a later time. Not a store column.
    ts_given: bool = Field(default=True, exclude=True)


# Fields that make two events with one event_id "the same event" (store.add_events compares them
# when an event_id given by the sender is already stored). score and rank are how it was shown.
IDENTITY_FIELDS = ("query_norm", "artifact_id", "kind", "ts", "capability_id")
# Ids made by matchgraph itself (content hashes, windowed match ids): a resend under one of these
# is a duplicate by construction, never a conflict.
DERIVED_ID_PREFIXES = ("h-", "m-")


class EventConflict(ValidationFailed):
    """An event_id already stored (or sent earlier in the same batch) with different content.
    `event` is the one refused, `stored` the identity fields held under that id."""

    def __init__(self, event: Event, stored: dict, fields: list[str]):
        self.event, self.stored, self.fields = event, stored, fields

        def describe(get) -> str:
            return ", ".join(f"{name} '{get(name)}'" for name in fields)

        self.detail = (f"event_id: '{event.event_id}' is already used by another event with a different "
                       f"{', '.join(fields)} (that one: {describe(stored.get)}; this one: "
                       f"{describe(lambda name: getattr(event, name))})")
        super().__init__("events rejected, nothing was stored", [self.detail])


def content_id(query: str, artifact_id: str, kind: str, ts: datetime | None) -> str:
    """Deterministic id for an event sent without one: the same content gives the same id."""
    payload = json.dumps([normalize_query(query), artifact_id, kind, ts.isoformat() if ts else None])
    return "h-" + hashlib.sha256(payload.encode()).hexdigest()[:32]


def finish(raw: EventIn, now: datetime | None = None) -> Event:
    ts = raw.ts
    if ts is not None and ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    event_id = raw.event_id or content_id(raw.query, raw.artifact_id, raw.kind, ts)
    return Event(event_id=event_id, query=raw.query, query_norm=normalize_query(raw.query),
                 artifact_id=raw.artifact_id, capability_id=raw.capability_id, kind=raw.kind,
                 ts=ts or now or datetime.now(timezone.utc), score=raw.score, rank=raw.rank,
                 ts_given=ts is not None)


def _validated(items: Iterable[tuple[str, Any]], known_artifacts: set[str] | None,
               problems: list[str], request: bool = False) -> Iterator[Event]:
    """Yield the valid events of (place, raw) pairs; append a Problem per bad one. A place is a
    file line ('log.jsonl:3'), or with `request` an item of the request ('events[3]'), which is
    then the parameter the problem belongs to ('events[3]: query: ...')."""
    now = datetime.now(timezone.utc)

    def problem(field: str | None, why: str, place: str) -> Problem:
        if request:
            return Problem(place, f"{field}: {why}" if field else why)
        return Problem(field, why, place)

    for place, raw in items:
        if isinstance(raw, Exception):
            problems.append(problem(None, f"not valid JSON: {raw}", place))
            continue
        try:
            event = finish(EventIn.model_validate(raw), now)
        except ValidationError as exc:
            problems.extend(problem(p.field, p.message, place)
                            for p in problems_of(exc, default_field="(event)"))
            continue
        if known_artifacts is not None and event.artifact_id not in known_artifacts:
            problems.append(problem("artifact_id", f"unknown artifact '{event.artifact_id}'", place))
            continue
        yield event


def validate_batch(items: Iterable[tuple[str, Any]], known_artifacts: set[str] | None,
                   request: bool = False) -> list[Event]:
    """Validate (place, raw) pairs; raise ValidationFailed naming every bad place, or return all events.

    `known_artifacts`, when given, rejects events for artifact ids that are not in the catalog;
    `request`: the places are fields of a request body (see _validated).
    """
    problems: list[str] = []
    events = list(_validated(items, known_artifacts, problems, request))
    if problems:
        raise ValidationFailed("events rejected, nothing was stored", problems)
    return events


def check_events(items: Iterable[tuple[str, Any]], known_artifacts: set[str] | None) -> int:
    """Like validate_batch without keeping the events: returns how many there are."""
    problems: list[str] = []
    count = sum(1 for _ in _validated(items, known_artifacts, problems))
    if problems:
        raise ValidationFailed("events rejected, nothing was stored", problems)
    return count


def iter_events(items: Iterable[tuple[str, Any]]) -> Iterator[Event]:
    """Events of already checked items, one at a time."""
    problems: list[str] = []
    yield from _validated(items, None, problems)
    if problems:  # the input changed since it was checked: abort the transaction
        raise ValidationFailed("events changed while being stored, nothing was stored", problems)


CLIENT_KEY = re.compile(r"(ip|mcp|cli)-[0-9a-f]{16}|mcp|cli")


def client_key(address: str) -> str:
    """The key a client's recorded searches are stored under: 'ip-' and 16 hex digits of a hash
    of its address (a pseudonym: an address can be hashed again to find its events, for audit and
    privacy requests, but the store does not list addresses). A key is returned as it is."""
    address = address.strip()
    if CLIENT_KEY.fullmatch(address):
        return address
    return "ip-" + hashlib.sha256(f"matchgraph-client\0{address}".encode()).hexdigest()[:16]


def window_id(client: str, query: str, artifact_id: str, ts: datetime, window_seconds: int) -> str:
    """Id of a recorded search's match event: one per client, normalized query, artifact and
    window of `window_seconds`, so a burst of identical searches is stored once per window
    (the store skips an event_id it already holds)."""
    window = int(ts.timestamp() // window_seconds) if window_seconds else ts.isoformat()
    payload = json.dumps([client, normalize_query(query), artifact_id, window])
    return "m-" + hashlib.sha256(payload.encode()).hexdigest()[:32]


def read_log(path: str | Path, line_bytes: int | None = None) -> Iterable[tuple[str, Any]]:
    """Yield (file:line, parsed object or the parse error) for a JSONL log file; lines longer
    than `line_bytes` (config limits.line_bytes) are errors in their place."""
    path = Path(path)
    if not path.is_file():
        raise ValidationFailed("events", [f"{path}: no such file"])
    return read_jsonl(path, line_bytes)
