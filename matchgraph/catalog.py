"""Catalog schema and loading: JSONL, JSON or YAML files (or a folder of them) -> validated artifacts.

Every bad record is reported with file, line and field; nothing is returned when any record is bad.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Iterable, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ValidationFailed
from .validation import loads, problems_of, read_jsonl

CATALOG_SUFFIXES = {".jsonl", ".json", ".yaml", ".yml"}


_ID_SEPARATORS = re.compile(r"[_\-/.]+")
_ID_BOUNDARIES = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")


def split_identifier(text: str) -> str:
    """Model ids glue words together: split on - _ / . and on case and letter/digit changes."""
    return _ID_BOUNDARIES.sub(" ", _ID_SEPARATORS.sub(" ", text))


class ToolRef(BaseModel):
    """How an agent calls a capability that is an MCP tool: the server, the tool's name and the
    JSON Schema of its arguments (set by `matchgraph import mcp`)."""

    model_config = ConfigDict(extra="forbid")
    server: str = Field(min_length=1, description="stdio command line or streamable HTTP URL of the MCP server")
    name: str = Field(min_length=1, description="the tool's name, as tools/call takes it")
    input_schema: dict[str, Any] = Field(default_factory=dict, description="the tool's inputSchema (JSON Schema)")


class Capability(BaseModel):
    """One decomposed thing an artifact can do; the unit that is embedded and searched."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    title: str = Field(min_length=1)
    description: str = ""
    unique: str | None = None
    vs_alternatives: str | None = None
    inputs: list[str] = []
    outputs: list[str] = []
    best_for: str | None = None
    tool: ToolRef | None = None

    def text(self) -> str:
        """The text that is embedded for this capability."""
        return f"{self.title}. {self.description}".strip()


class Artifact(BaseModel):
    """A model, tool, API, dataset or app with its decomposed capabilities."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    kind: Literal["model", "tool", "api", "dataset", "app"] = "model"
    pricing: Literal["free", "freemium", "paid", "unknown"] = "unknown"
    provider: str | None = None
    url: str | None = None
    license: str | None = None
    task: str | None = None
    tags: list[str] = []
    description: str = ""
    signals: dict[str, Any] = {}
    capabilities: list[Capability] = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _id_has_no_spaces(cls, value: str) -> str:
        if value != value.strip() or " " in value:
            raise ValueError("id must not contain spaces")
        return value

    def lexical_text(self) -> str:
        """Name, id, task, tags, description and capability texts: what BM25 indexes.

        The id is added once more split into its parts ("ConvTasNet_Libri2Mix_sepclean_16k" ->
        "Conv Tas Net Libri 2 Mix sepclean 16 k") so that a request's words reach them. A
        capability that repeats the artifact's description adds only its title: counted twice,
        a long description's words would outweigh everything else (train MRR@10 +0.004).
        """
        caps = [c.text() if c.description != self.description else c.title for c in self.capabilities]
        parts = [self.name, self.id.replace("/", " "), split_identifier(self.id), self.task or "",
                 " ".join(self.tags), self.description] + caps
        return " ".join(p for p in parts if p)

    def content_hash(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


def capability_texts(artifacts: list[Artifact]) -> list[str]:
    """The embedded text of every capability, in index row order (artifacts in order, each
    artifact's capabilities contiguous)."""
    return [c.text() for a in artifacts for c in a.capabilities]


def _records(path: Path) -> Iterable[tuple[str, Any]]:
    """Yield (place, raw record) for one file; place is 'file:line' (or 'file[item]')."""
    if path.suffix == ".jsonl":
        yield from read_jsonl(path)
        return
    text = path.read_text(encoding="utf-8")
    try:
        data = loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        yield str(path), exc
        return
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        yield str(path), ValueError("expected a list of artifacts")
        return
    for number, item in enumerate(data, start=1):
        yield f"{path}[{number}]", item


def catalog_files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in CATALOG_SUFFIXES))
        elif path.exists():
            files.append(path)
        else:
            raise ValidationFailed("catalog", [f"{path}: no such file or folder"])
    if not files:
        raise ValidationFailed("catalog", [f"{', '.join(map(str, paths))}: no catalog files found"])
    return files


def load_catalog(paths: Iterable[str | Path]) -> list[Artifact]:
    """Load and validate every artifact under `paths`; raise ValidationFailed listing all problems."""
    artifacts: list[Artifact] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for path in catalog_files(paths):
        for place, raw in _records(path):
            if isinstance(raw, Exception):
                problems.append(f"{place}: not valid {path.suffix.lstrip('.').upper()}: {raw}")
                continue
            if not isinstance(raw, dict):
                problems.append(f"{place}: expected an object, got {type(raw).__name__}")
                continue
            try:
                artifact = Artifact.model_validate(raw)
            except ValidationError as exc:
                problems.extend(problems_of(place, exc))
                continue
            if artifact.id in seen:
                problems.append(f"{place}: id: duplicate artifact id '{artifact.id}' (first at {seen[artifact.id]})")
            seen.setdefault(artifact.id, place)
            cap_ids = [c.id for c in artifact.capabilities]
            for dup in sorted({c for c in cap_ids if cap_ids.count(c) > 1}):
                problems.append(f"{place}: capabilities: duplicate capability id '{dup}'")
            artifacts.append(artifact)
    if problems:
        raise ValidationFailed("catalog is invalid, nothing was indexed", problems)
    return artifacts
