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
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..core.catalog import Located, check_yaml_events, json_too_deep_line, load_catalog, record_problems
from ..core.errors import ValidationFailed
from ..core.outputs import protected_hit
from ..core.validation import decode_error_line, depth, loads


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


def source_limits(limits: dict | None) -> dict:
    """Config `limits` with the defaults for what is not given (file and line bytes, depth...)."""
    from ..core.config import DEFAULTS

    return {**DEFAULTS["limits"], **(limits or {})}


def read_bytes(path: Path, limits: dict | None = None, within: Path | None = None) -> bytes:
    """The bytes of `path`, which must be a regular file (no device, FIFO or socket: they never
    end or block) of at most limits.file_bytes, checked before reading; with `within` it must
    also resolve (symlinks followed) to a file under that folder. Raises ImportFailed naming it."""
    limit = source_limits(limits)["file_bytes"]
    real = Path(path).resolve()
    if within is not None:
        root = Path(within).resolve()
        if root not in real.parents:
            raise ImportFailed([f"{path}: resolves to {real}, outside {root}: an import reads only files "
                                "under its source's folder"])
    try:  # non-blocking: opening a FIFO must not wait for a writer
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise ImportFailed([f"{path}: no such file"]) from None
    except OSError as exc:
        raise ImportFailed([f"{path}: cannot be read: {exc.strerror or exc}"]) from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a device, FIFO or socket"
            raise ImportFailed([f"{path}: is {kind}, not a regular file; an import reads only regular files"])
        too_big = f"{path}: file is {{}} bytes, over limits.file_bytes ({limit})"
        if info.st_size > limit:
            raise ImportFailed([too_big.format(info.st_size)])
        data = fh.read(limit + 1)
    if len(data) > limit:  # it grew while being read
        raise ImportFailed([too_big.format(f"more than {limit}")])
    return data


def parse_document(path: Path, data: bytes, limits: dict | None = None) -> Any:
    """A JSON or YAML document (by suffix; YAML when unknown), or JSONL as a list of its lines,
    held to limits.source_depth and without YAML aliases (as `index` holds a catalog). Raises
    ImportFailed naming the file and the line where reading failed."""
    deepest = source_limits(limits)["source_depth"]
    too_deep = f"nested deeper than {deepest} levels (config limits.source_depth)"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ImportFailed([f"{path}: line {decode_error_line(data, exc)}: not UTF-8"]) from None
    if path.suffix == ".jsonl":
        items, problems = [], []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    item = loads(line)
                    if depth(item, deepest) > deepest:
                        raise ValueError(too_deep)
                    items.append(item)
                except ValueError as exc:
                    problems.append(f"{path}: line {number}: not valid JSON: {exc}")
        if problems:
            raise ImportFailed(problems)
        return items
    if path.suffix == ".json":
        try:
            document = loads(text)
            too_deep_here = depth(document, deepest) > deepest
        except json.JSONDecodeError as exc:
            raise ImportFailed([f"{path}: line {exc.lineno} column {exc.colno}: not valid JSON: {exc.msg}"]) from None
        except ValueError as exc:  # NaN, or nested past the parser's own limit
            if "nested" not in str(exc):
                raise ImportFailed([f"{path}: not valid JSON: {exc}"]) from None
            too_deep_here = True
        if too_deep_here:
            raise ImportFailed([f"{path}: line {json_too_deep_line(text, deepest)}: not valid JSON: {too_deep}"])
        return document
    try:
        check_yaml_events(text, deepest, "an imported document", "limits.source_depth")
        return yaml.safe_load(text)
    except Located as exc:
        raise ImportFailed([f"{path}: line {exc.line}: not valid YAML: {exc}"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        raise ImportFailed([f"{path}: {where}not valid YAML: {getattr(exc, 'problem', None) or exc}"]) from None


def read_document(path: Path, limits: dict | None = None, within: Path | None = None) -> Any:
    """`parse_document` of `read_bytes`: a source file read within the import's limits."""
    return parse_document(Path(path), read_bytes(path, limits, within), limits)


def write_catalog(imported: Imported, output: Path, limits: dict | None = None,
                  protected: list[Path] | None = None) -> dict[str, Any]:
    """Validate `imported` exactly as `index` does (config `limits`) and write it to `output` as
    JSONL; returns the summary (artifacts, capabilities, skipped). Nothing is written when
    validation fails, nor when `output` resolves to one of `protected` or into one
    (outputs.protected_paths: the home, the store and its side files). A record past a limit is
    refused naming the source it was made from, before it is written."""
    output = Path(output)
    if output.suffix != ".jsonl":
        raise ImportFailed([f"{output}: the catalog is written as JSONL; name it *.jsonl"])
    place = protected_hit([output], protected or [])
    if place is not None:
        raise ImportFailed([f"{output}: would write over {place} (the home folder or the store); "
                            "choose a path outside it"])
    if not imported.records:
        raise ImportFailed(["no artifacts were found in the sources"] + imported.skipped)
    limits = source_limits(limits)
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".{output.stem}.{os.getpid()}.importing.jsonl")
    try:
        with temporary.open("w", encoding="utf-8") as fh:
            problems = []
            for record, origin in zip(imported.records, imported.origins):
                early = record_problems(record, limits)
                line = "" if early else json.dumps(record, ensure_ascii=False, sort_keys=False)
                if not early and len(line.encode()) > limits["line_bytes"]:
                    early = [f"the artifact made from it is {len(line.encode())} bytes as a catalog line, "
                             f"over limits.line_bytes ({limits['line_bytes']})"]
                problems += [f"{origin}: {p}" for p in early]
                if not problems:
                    fh.write(line + "\n")
        if problems:
            raise ImportFailed(problems)
        try:
            load_catalog([temporary], limits)
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
