"""Catalog schema and loading: JSONL, JSON or YAML files (or a folder of them) -> validated artifacts.

Every bad record is reported with file, line and field; nothing is returned when any record is bad.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_serializer

from .errors import ValidationFailed
from .validation import decode_error_line, depth, loads, problems_of, read_jsonl

CATALOG_SUFFIXES = {".jsonl", ".json", ".yaml", ".yml"}
# Used when load_catalog is called without limits (tests, importers); config `limits` overrides.
DEFAULT_LIMITS = {"file_bytes": 1_073_741_824, "line_bytes": 10_000_000, "capabilities": 1000,
                  "id_length": 300, "text_length": 20_000, "depth": 20}


_ID_SEPARATORS = re.compile(r"[_\-/.]+")
_ID_BOUNDARIES = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")


def split_identifier(text: str) -> str:
    """Model ids glue words together: split on - _ / . and on case and letter/digit changes."""
    return _ID_BOUNDARIES.sub(" ", _ID_SEPARATORS.sub(" ", text))


class ToolRef(BaseModel):
    """How an agent calls a capability: an MCP tool (the server, the tool's name and the JSON Schema
    of its arguments; `matchgraph import mcp`), an OpenAPI operation (method, path template, base URL
    and a JSON Schema of its parameters and body; `import openapi`) or a registry server (how to
    start it, or its remote URL, and the environment variables it needs; `import mcp-registry`).
    Secrets are never values here, only `${NAME}` references and the names in `env`."""

    model_config = ConfigDict(extra="forbid")
    server: str = Field(min_length=1, description="stdio command line or URL of the MCP server; for an "
                                                  "OpenAPI operation the API's base URL")
    name: str = Field(min_length=1, description="the tool's name, as tools/call takes it (an operation's "
                                                "id; a registry server's registry name)")
    input_schema: dict[str, Any] = Field(default_factory=dict, description="JSON Schema of the arguments "
                                         "(an operation's: properties `path`, `query`, `header`, `body`)")
    protocol: Literal["mcp", "openapi", "mcp-server"] = Field(
        "mcp", description="mcp: call `name` on `server` with tools/call; openapi: send `method` `path` "
                           "to `server`; mcp-server: a server to start (`server`, or one of `start`) "
                           "whose tools are listed once it runs")
    transport: str | None = Field(None, description="stdio, streamable-http or sse (MCP)")
    method: str | None = Field(None, description="HTTP method of an OpenAPI operation")
    path: str | None = Field(None, description="path template of an OpenAPI operation, e.g. /pets/{petId}")
    start: list[str] = Field([], description="other ways to start a registry server (npx, uvx, docker)")
    env: list[str] = Field([], description="names of the environment variables the server needs")

    @model_serializer(mode="wrap")
    def _compact(self, handler):
        """Unset call fields are left out: results stay short for agents, and an MCP tool's record
        reads as it did before the other protocols existed (older readers load it)."""
        data = handler(self)
        return {k: v for k, v in data.items()
                if not (v is None or v == [] or (k == "protocol" and v == "mcp"))}


CapabilityKind = Literal["tool", "operation", "server", "prompt", "resource"]
CAPABILITY_KINDS: tuple[str, ...] = get_args(CapabilityKind)
CALLABLE_KINDS: tuple[str, ...] = ("tool", "operation")  # what find_tools returns unless asked


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
    kind: CapabilityKind | None = Field(None, description="tool (MCP), operation (OpenAPI), server (a "
                                        "registry server), prompt or resource; see capability_kind")

    @model_serializer(mode="wrap")
    def _without_unset_kind(self, handler):
        """No `kind` when it is not set: records (and their content hashes) stay as they were."""
        data = handler(self)
        if data.get("kind", 0) is None:
            del data["kind"]
        return data

    def text(self) -> str:
        """The text that is embedded for this capability."""
        return f"{self.title}. {self.description}".strip()


Kind = Literal["model", "tool", "api", "dataset", "app"]
Pricing = Literal["free", "freemium", "paid", "unknown"]
KINDS: tuple[str, ...] = get_args(Kind)  # every face's filter choices come from these two
PRICINGS: tuple[str, ...] = get_args(Pricing)


class Artifact(BaseModel):
    """A model, tool, API, dataset or app with its decomposed capabilities."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    kind: Kind = "model"
    pricing: Pricing = "unknown"
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

    @field_validator("url")
    @classmethod
    def _web_url(cls, value: str | None) -> str | None:
        # Pages render it as a link: javascript:, data: and the like would run in the reader's browser.
        if value is not None and not re.match(r"https?://[^\s/]", value, re.IGNORECASE):
            raise ValueError("url must start with http:// or https:// and name a host")
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


_TOOL_KIND = {"mcp": "tool", "openapi": "operation", "mcp-server": "server"}


def capability_kind(capability: Capability, artifact_task: str | None = None) -> str | None:
    """What an agent can do with a capability: its `kind`, else (catalogs written before kinds
    were stored) read off its tool and, for an MCP server's artifact, its id (`prompt-…`,
    `resource-…`, the registry's `server`); None: not a callable unit (a model's capability)."""
    if capability.kind is not None:
        return capability.kind
    if capability.tool is not None:
        return _TOOL_KIND[capability.tool.protocol]
    if artifact_task == "mcp-server":
        for prefix, kind in (("prompt-", "prompt"), ("resource-", "resource")):
            if capability.id.startswith(prefix):
                return kind
        return "server" if capability.id == "server" else None
    return None


def capability_texts(artifacts: list[Artifact]) -> list[str]:
    """The embedded text of every capability, in index row order (artifacts in order, each
    artifact's capabilities contiguous)."""
    return [c.text() for a in artifacts for c in a.capabilities]


class Located(ValueError):
    """A parse error with the file:line it happened at."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def json_too_deep_line(text: str, limit: int) -> int:
    """1-based line where brackets outside strings first nest deeper than `limit` (1 if never)."""
    import numpy as np

    bare = _JSON_STRING.sub(lambda m: "_" * len(m.group()), text)  # same length: offsets hold
    codes = np.frombuffer(bare.encode("utf-32-le"), dtype=np.uint32)
    opens = np.isin(codes, [ord("["), ord("{")]).astype(np.int64)
    steps = opens - np.isin(codes, [ord("]"), ord("}")])
    over = np.flatnonzero(np.cumsum(steps) > limit)
    return text.count("\n", 0, int(over[0])) + 1 if over.size else 1


def check_yaml_events(text: str, limit: int, what: str = "a catalog", setting: str = "limits.depth") -> None:
    """Walk the YAML event stream (an iterative parser: no recursion, nothing expanded) and refuse
    aliases — a few lines of `*alias` can expand to gigabytes ("billion laughs") and a catalog has
    no need for them — and nesting past `limit`, each at its line (raises Located; `what` is
    the kind of document and `setting` the limit's config key, for the message)."""
    level = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise Located(event.start_mark.line + 1,
                          f"YAML aliases (*{event.anchor}) are not allowed in {what}")
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            level += 1
            if level > limit + 1:  # the file's top-level list is one level more than a record
                raise Located(event.start_mark.line + 1,
                              f"nested deeper than {limit} levels (config {setting})")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            level -= 1


def _parse_document(path: Path, data: bytes, limit: int) -> Any:
    """A whole JSON or YAML file; raises Located for decode, syntax and nesting errors."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Located(decode_error_line(data, exc), "not UTF-8") from None
    if path.suffix == ".json":
        try:
            return loads(text)
        except json.JSONDecodeError as exc:
            raise Located(exc.lineno, exc.msg) from None
        except ValueError as exc:  # NaN / Infinity, or nested past the parser's recursion limit
            line = json_too_deep_line(text, limit + 1) if "nested" in str(exc) else 1
            raise Located(line, str(exc)) from None
    try:
        check_yaml_events(text, limit)
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise Located(mark.line + 1 if mark else 1, exc.problem or str(exc)) from None
    except yaml.YAMLError as exc:
        raise Located(1, str(exc)) from None


def _records(path: Path, limits: dict) -> Iterable[tuple[str, Any]]:
    """Yield (place, raw record) for one file; place is 'file:line' (or 'file[item]')."""
    size = path.stat().st_size
    if size > limits["file_bytes"]:
        yield f"{path}:1", ValueError(f"file is {size} bytes, over limits.file_bytes ({limits['file_bytes']})")
        return
    if path.suffix == ".jsonl":
        yield from read_jsonl(path, limits["line_bytes"], parse=lambda line: _parsed_line(line, limits))
        return
    try:
        data = _parse_document(path, path.read_bytes(), limits["depth"])
    except Located as exc:
        yield f"{path}:{exc.line}", exc
        return
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        yield str(path), ValueError("expected a list of artifacts")
        return
    for number, item in enumerate(data, start=1):
        yield f"{path}[{number}]", item


def _parsed_line(line: str, limits: dict) -> Artifact | Any:
    """A JSONL line's validated artifact when the fast path takes it (_valid_line), else its
    parsed JSON for the checked path."""
    artifact = _valid_line(line, limits)
    return loads(line) if artifact is None else artifact


def _valid_line(line: str, limits: dict) -> Artifact | None:
    """The artifact of a JSONL line that cannot break a pre-validation limit, parsed and validated
    in one step by pydantic (about a third of the time of json.loads and validation, and no limit
    walks); None sends the line through the checked path, which reports every problem.

    No string in it can be longer than the line, nor can it nest deeper than its count of opening
    brackets; too many capabilities, NaN and Infinity (which pydantic's parser would accept) and
    an escaped NUL go the checked path too.
    """
    if (len(line) > limits["text_length"] or line.count("{") + line.count("[") > limits["depth"]
            or "NaN" in line or "Infinity" in line or "\\u0000" in line):
        return None
    try:
        artifact = Artifact.model_validate_json(line)
    except ValidationError:
        return None
    return artifact if len(artifact.capabilities) <= limits["capabilities"] else None


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


def id_problem(value: str, limit: int) -> str | None:
    """Why `value` cannot be an artifact or capability id, or None: ids end up in URLs, file
    names, store columns and event logs, so no control, format or separator characters."""
    if len(value) > limit:
        return f"at most {limit} characters (config limits.id_length), got {len(value)}"
    if value.isascii() and value.isprintable() and " " not in value and "\\" not in value:
        return None  # printable ASCII other than space and backslash: nothing below can match
    bad = next((ch for ch in value if ch == "\\" or unicodedata.category(ch)[0] in "CZ"), None)
    if bad is not None:
        return f"must not contain {bad!r} (control, space or backslash characters)"
    return None


NUL_PROBLEM = "must not contain '\\x00' (NUL: no store can hold it in text)"


def _text_problems(value: Any, limit: int, where: str = "") -> Iterable[str]:
    """'field: why' for each string in a record longer than `limit` characters or holding a NUL
    (PostgreSQL refuses it in text: found here, it is a located error, not a failed publish)."""
    stack = [(where, value)]
    while stack:
        name, item = stack.pop()
        if isinstance(item, str) and len(item) > limit:
            yield f"{name or '(record)'}: at most {limit} characters (config limits.text_length), got {len(item)}"
        elif isinstance(item, str) and "\x00" in item:
            yield f"{name or '(record)'}: {NUL_PROBLEM}"
        elif isinstance(item, dict):
            yield from (f"{name}.{k!r}: {NUL_PROBLEM}" if name else f"{k!r}: {NUL_PROBLEM}"
                        for k in item if isinstance(k, str) and "\x00" in k)
            stack.extend((f"{name}.{k}" if name else str(k), v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((f"{name}.{i}", v) for i, v in enumerate(item))


def record_problems(raw: dict, limits: dict) -> list[str]:
    """Limits checked before validation, so an oversized record costs nothing to refuse."""
    if depth(raw, limits["depth"]) > limits["depth"]:
        return [f"(record): nested deeper than {limits['depth']} levels (config limits.depth)"]
    caps = raw.get("capabilities")
    if isinstance(caps, list) and len(caps) > limits["capabilities"]:
        return [f"capabilities: at most {limits['capabilities']} per artifact (config "
                f"limits.capabilities), got {len(caps)}"]
    return list(_text_problems(raw, limits["text_length"]))


def _artifact_problems(artifact: Artifact, limits: dict) -> list[str]:
    problems = []
    why = id_problem(artifact.id, limits["id_length"])
    if why:
        problems.append(f"id: {why}")
    cap_ids = [c.id for c in artifact.capabilities]
    counts = Counter(cap_ids) if len(set(cap_ids)) < len(cap_ids) else {}
    for number, cap in enumerate(artifact.capabilities):
        why = id_problem(cap.id, limits["id_length"])
        if why:
            problems.append(f"capabilities.{number}.id: {why}")
    problems.extend(f"capabilities: duplicate capability id '{dup}'"
                    for dup in sorted(c for c, n in counts.items() if n > 1))
    return problems


def load_catalog(paths: Iterable[str | Path], limits: dict | None = None) -> list[Artifact]:
    """Load and validate every artifact under `paths`; raise ValidationFailed listing all problems.

    `limits` is config `limits` (file and line bytes, capabilities per artifact, id length, text
    length, nesting depth); missing keys take DEFAULT_LIMITS.
    """
    problems: list[str] = []
    artifacts = list(iter_catalog(paths, limits, problems))
    if problems:
        raise ValidationFailed("catalog is invalid, nothing was indexed", problems)
    return artifacts


def iter_catalog(paths: Iterable[str | Path], limits: dict | None, problems: list[str]) -> Iterator[Artifact]:
    """Every artifact under `paths` in catalog order, validated as `load_catalog` does, one at a
    time (an index build streams a catalog of millions rather than holding it); each problem found
    is appended to `problems` as it is met, and the caller raises once the stream ends. Artifacts
    with a problem of their own (a bad id, a duplicate) are yielded too, like load_catalog's list."""
    limits = {**DEFAULT_LIMITS, **(limits or {})}
    seen: dict[str, str] = {}
    for path in catalog_files(paths):
        for place, raw in _records(path, limits):
            if isinstance(raw, Exception):
                problems.append(f"{place}: not valid {path.suffix.lstrip('.').upper()}: {raw}")
                continue
            if isinstance(raw, Artifact):  # a JSONL line validated on the fast path (_valid_line)
                artifact = raw
            elif not isinstance(raw, dict):
                problems.append(f"{place}: expected an object, got {type(raw).__name__}")
                continue
            else:
                early = record_problems(raw, limits)
                if early:
                    problems.extend(f"{place}: {p}" for p in early)
                    continue
                try:
                    artifact = Artifact.model_validate(raw)
                except ValidationError as exc:
                    problems.extend(problems_of(exc, place))
                    continue
            if artifact.id in seen:
                problems.append(f"{place}: id: duplicate artifact id '{artifact.id}' (first at {seen[artifact.id]})")
            seen.setdefault(artifact.id, place)
            problems.extend(f"{place}: {p}" for p in _artifact_problems(artifact, limits))
            yield artifact
