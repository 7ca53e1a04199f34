"""Reading JSONL and turning pydantic errors into problem lines, for every input: files, requests, tool arguments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Iterator

from pydantic import ValidationError

from .errors import Problem


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def loads(text: str) -> Any:
    """json.loads that refuses NaN and Infinity."""
    return json.loads(text, parse_constant=_no_constant)


def read_jsonl(path: Path) -> Iterator[tuple[str, Any]]:
    """Yield ('file:line', parsed object) per non-blank line, or the parse error in its place.

    NaN and Infinity (which Python's json accepts) are errors: no signal, score or count is one.
    """
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield f"{path}:{number}", loads(line)
            except ValueError as exc:  # JSONDecodeError is a ValueError
                yield f"{path}:{number}", exc


def field_path(loc: Iterable[Any]) -> str:
    """pydantic's error location as one name: ('events', 3, 'query') -> 'events[3].query'."""
    name = ""
    for part in loc:
        part = str(part)
        name += f"[{part}]" if part.isdigit() else (f".{part}" if name else part)
    return name


def problems_of(error: ValidationError | list[dict], place: str | None = None,
                default_field: str = "(record)", with_input: bool = False) -> list[Problem]:
    """One Problem ('[place: ]field: message') for each error pydantic found: the only place
    where the CLI, the API and MCP turn pydantic's errors into words.

    `error` is a ValidationError or its `errors()` list (a face may drop a location prefix of its
    own first, as FastAPI's 'query'); `with_input` adds the value given, when one was.
    """
    errors = error.errors() if isinstance(error, ValidationError) else error
    problems = []
    for err in errors:
        message = err.get("msg", "invalid")
        if with_input and err.get("type") != "missing" and "input" in err:
            message += f" (got {err['input']!r})"
        problems.append(Problem(field_path(err.get("loc", ())) or default_field, message, place))
    return problems
