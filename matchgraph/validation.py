"""Reading JSONL and turning pydantic errors into 'place: field: why' lines, for every input file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from pydantic import ValidationError


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


def problems_of(place: str, error: ValidationError, default_field: str = "(record)") -> list[str]:
    """One 'place: field: message' line for each error pydantic found."""
    return [f"{place}: {'.'.join(str(p) for p in err['loc']) or default_field}: {err['msg']}"
            for err in error.errors()]
