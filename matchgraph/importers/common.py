"""What every importer shares: reading a source file with errors that name the place, slugs,
the import report, and writing the catalog through the same validator `index` uses.

An importer turns sources into artifact records (plain dicts in the catalog schema), each with
the place in the source it came from, plus the entries it skipped and why. `write_catalog`
writes them as JSONL to a temporary file beside the output, validates that file with
`load_catalog` (exactly what `index` runs), and only then renames it over the output: a source
that cannot be read, or a record that does not validate, leaves the output untouched.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..catalog import load_catalog
from ..errors import ValidationFailed
from ..validation import loads


class ImportFailed(ValidationFailed):
    """A source could not be read or does not have the shape its format needs; `problems` names
    each place as 'file: line N' or 'file: JSON path' with why."""

    def __init__(self, problems: list[str]):
        super().__init__("import failed, nothing was written", problems)


@dataclass
class Imported:
    """One import's result: artifact records in catalog order, where each came from, and the
    source entries left out with why ('place: why')."""

    records: list[dict[str, Any]] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def add(self, record: dict[str, Any], origin: str) -> None:
        self.records.append(record)
        self.origins.append(origin)

    def summary(self) -> dict[str, Any]:
        return {"artifacts": len(self.records),
                "capabilities": sum(len(r["capabilities"]) for r in self.records),
                "skipped": list(self.skipped)}


_NON_SLUG = re.compile(r"[^a-z0-9._/-]+")


def slug(text: str) -> str:
    """A lower-case id made of letters, digits and - . _ / ('Swagger Petstore' -> 'swagger-petstore')."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return _NON_SLUG.sub("-", text).strip("-./_") or "unnamed"


def first_paragraph(text: str | None, limit: int = 600) -> str:
    """The first paragraph of `text`, whitespace folded, cut at a sentence end before `limit` chars."""
    if not text:
        return ""
    para = re.split(r"\n\s*\n", text.strip(), maxsplit=1)[0]
    para = " ".join(para.split())
    if len(para) <= limit:
        return para
    cut = para[:limit]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return cut[: end + 1] if end > limit // 3 else cut.rstrip() + "…"


def json_path(parts: list[str | int]) -> str:
    """['servers', 12, 'packages', 0] -> 'servers[12].packages[0]'."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def read_document(path: Path) -> Any:
    """A JSON or YAML document (by suffix; YAML when unknown), or JSONL as a list of its lines.

    Raises ImportFailed naming the file and the line (and column) where parsing failed."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ImportFailed([f"{path}: no such file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFailed([f"{path}: cannot be read: {exc}"]) from None
    if path.suffix == ".jsonl":
        items, problems = [], []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    items.append(loads(line))
                except ValueError as exc:
                    problems.append(f"{path}: line {number}: not valid JSON: {exc}")
        if problems:
            raise ImportFailed(problems)
        return items
    if path.suffix == ".json":
        try:
            return loads(text)
        except json.JSONDecodeError as exc:
            raise ImportFailed([f"{path}: line {exc.lineno} column {exc.colno}: not valid JSON: {exc.msg}"]) from None
        except ValueError as exc:
            raise ImportFailed([f"{path}: not valid JSON: {exc}"]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        raise ImportFailed([f"{path}: {where}not valid YAML: {getattr(exc, 'problem', None) or exc}"]) from None


def write_catalog(imported: Imported, output: Path) -> dict[str, Any]:
    """Validate `imported` exactly as `index` does and write it to `output` as JSONL; returns the
    summary (artifacts, capabilities, skipped). Nothing is written when validation fails."""
    output = Path(output)
    if output.suffix != ".jsonl":
        raise ImportFailed([f"{output}: the catalog is written as JSONL; name it *.jsonl"])
    if not imported.records:
        raise ImportFailed(["no artifacts were found in the sources"] + imported.skipped)
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".{output.stem}.{os.getpid()}.importing.jsonl")
    try:
        with temporary.open("w", encoding="utf-8") as fh:
            for record in imported.records:
                fh.write(json.dumps(record, ensure_ascii=False, sort_keys=False) + "\n")
        try:
            load_catalog([temporary])
        except ValidationFailed as exc:
            raise ImportFailed([_source_place(p, temporary, imported.origins) for p in exc.problems]) from None
        os.replace(temporary, output)
    finally:
        temporary.unlink(missing_ok=True)
    return imported.summary()


def _source_place(problem: str, temporary: Path, origins: list[str]) -> str:
    """'tmp.jsonl:3: field: why' -> 'SOURCE PLACE (artifact 3): field: why'."""
    prefix = f"{temporary}:"
    if not problem.startswith(prefix):
        return problem
    line, _, rest = problem[len(prefix):].partition(":")
    if line.isdigit() and 0 < int(line) <= len(origins):
        return f"{origins[int(line) - 1]}:{rest}"
    return problem
