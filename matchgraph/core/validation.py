"""Reading JSONL and turning pydantic errors into problem lines, for every input: files, requests, tool arguments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import Problem

M = TypeVar("M", bound=BaseModel)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def loads(text: str) -> Any:
    """json.loads that refuses NaN and Infinity, and reports nesting too deep for the parser as a
    ValueError (Python's json raises RecursionError past about a thousand levels)."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("nested too deeply to parse") from None


def depth(value: Any, limit: int) -> int:
    """Nesting depth of objects and lists in `value` (a scalar is 0), counted without recursion;
    stops counting once past `limit` (returns limit + 1)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if deepest > limit:
            return limit + 1
        stack.extend((child, level + 1) for child in children)
    return deepest


def decode_error_line(data: bytes, exc: UnicodeDecodeError) -> int:
    """1-based line of the first byte that is not UTF-8."""
    return data.count(b"\n", 0, exc.start) + 1


def read_jsonl(path: Path, line_bytes: int | None = None,
               parse: Callable[[str], Any] | None = None) -> Iterator[tuple[str, Any]]:
    """Yield ('file:line', parsed object) per non-blank line, or the error in its place: a line
    that is not JSON, not UTF-8 or longer than `line_bytes` (read only that far). `parse(text)`
    turns a line into its object (default `loads`; a caller with a faster parser passes its own),
    a ValueError it raises is the line's error.

    NaN and Infinity (which Python's json accepts) are errors: no signal, score or count is one.
    """
    with path.open("rb") as fh:
        number = 0
        while True:
            raw = fh.readline(line_bytes + 1) if line_bytes else fh.readline()
            if not raw:
                break
            number += 1
            place = f"{path}:{number}"
            if line_bytes and len(raw) > line_bytes and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):  # skip the rest of the long line
                    raw = fh.readline(1 << 20)
                yield place, ValueError(f"line longer than {line_bytes} bytes (config limits.line_bytes)")
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield place, ValueError(f"not UTF-8 (byte {exc.start + 1} of the line)")
                continue
            if not line.strip():
                continue
            try:
                yield place, (parse or loads)(line)
            except ValueError as exc:  # JSONDecodeError is a ValueError
                yield place, exc


def read_models(path: Path, model: type[M]) -> tuple[list[M], list[str]]:
    """Each non-blank line of the JSONL file `path` validated as `model`, and a located Problem
    ('file:line: field: why') for every line that is not JSON or not a valid `model`."""
    items: list[M] = []
    problems: list[str] = []
    for place, raw in read_jsonl(path):
        if isinstance(raw, Exception):
            problems.append(f"{place}: not valid JSON: {raw}")
            continue
        try:
            items.append(model.model_validate(raw))
        except ValidationError as exc:
            problems.extend(problems_of(exc, place))
    return items, problems


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
