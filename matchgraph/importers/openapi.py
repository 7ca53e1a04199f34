"""OpenAPI 3.0/3.1 and Swagger 2.0 documents (YAML or JSON) -> API artifacts.

The API is the artifact (`kind: api`); each operation is a capability: id = operationId (or
`method-path`), title = summary (or the operationId in words, or `METHOD /path`), description =
description or summary plus its tags, inputs = the names of its parameters and of the top-level
fields of its request body. `$ref`s are resolved by `jsonref`: references inside the document,
and to regular files under the document's folder, read within the same limits as the document;
a reference to a URL (nothing is fetched at import time), to a path outside that folder
(absolute, `..` or a symlink out), to a device or a FIFO is refused.
Webhooks (3.1) are requests the API sends, not operations a caller makes: they are reported as
skipped.

Each operation also says how to call it: `tool` = {protocol `openapi`, method, path template, the
API's base URL as `server`, and `call_schema`, a JSON Schema of its parameters and body}.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jsonref

from ..core.catalog import split_identifier
from .common import Imported, ImportFailed, first_paragraph, json_path, read_document, slug

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _local_files(folder: Path, limits: dict | None):
    """jsonref loader: regular files under `folder` only (symlinks followed, then checked), read
    and parsed within the import's limits like the document itself; nothing is downloaded."""
    cache: dict[str, Any] = {}

    def load(uri: str) -> Any:
        parts = urlsplit(uri)
        if parts.scheme != "file":
            raise ImportFailed([f"$ref to {uri}: only references inside the document or to local files "
                                "are resolved (nothing is downloaded)"])
        if uri not in cache:
            cache[uri] = read_document(Path(unquote(parts.path)), limits, within=folder)
        return cache[uri]

    return load


def resolve(document: dict, path: Path, limits: dict | None = None) -> dict:
    """`document` with every $ref replaced by what it points to: parts of itself, or files under
    its folder (never an absolute path elsewhere, a device, a FIFO or a symlink out)."""
    real = path.resolve()
    try:
        return jsonref.replace_refs(document, base_uri=real.as_uri(), loader=_local_files(real.parent, limits),
                                    proxies=False, lazy_load=False)
    except RecursionError:
        raise ImportFailed([f"{path}: $ref: references nest too deeply to resolve"]) from None
    except jsonref.JsonRefError as exc:
        where = json_path([int(p) if isinstance(p, str) and p.isdigit() else p for p in exc.path or []])
        reference = exc.reference.get("$ref", "") if isinstance(exc.reference, dict) else ""
        if isinstance(exc.cause, ImportFailed):  # refused by the loader: a URL, a file not allowed
            raise ImportFailed([f"{path}: {where}: $ref {reference!r}: {p}" for p in exc.cause.problems]) from None
        raise ImportFailed([f"{path}: {where}: cannot resolve $ref {reference!r}: {exc.message}"]) from None


def _body_fields(schema: Any, depth: int = 0) -> list[str]:
    """Top-level property names of a request body schema (allOf/oneOf/anyOf merged)."""
    if not isinstance(schema, dict) or depth > 5:
        return []
    names = list(schema.get("properties", {}) or {}) if isinstance(schema.get("properties"), dict) else []
    for key in ("allOf", "oneOf", "anyOf"):
        for part in schema.get(key, []) or []:
            names += _body_fields(part, depth + 1)
    if not names and schema.get("type") == "array":
        names = _body_fields(schema.get("items"), depth + 1)
    return list(dict.fromkeys(names))


def _inputs(operation: dict, shared: list) -> list[str]:
    names: list[str] = []
    by_key = {}
    for param in list(shared) + list(operation.get("parameters") or []):
        if isinstance(param, dict) and param.get("name"):
            by_key[(param.get("in"), param["name"])] = param  # an operation's own overrides the path's
    for (where, name), param in by_key.items():
        if where == "body":  # Swagger 2.0: the body is one parameter with a schema
            names += _body_fields(param.get("schema")) or [name]
        else:
            names.append(name)
    body = operation.get("requestBody")
    if isinstance(body, dict):
        for media in (body.get("content") or {}).values():
            if isinstance(media, dict):
                names += _body_fields(media.get("schema"))
    return list(dict.fromkeys(names))


SCHEMA_DEPTH = 8  # a schema nested deeper (or recursive through $ref) is cut there: {}
_SCHEMA_KEYS = ("type", "format", "enum", "items", "properties", "required", "description", "default",
                "allOf", "oneOf", "anyOf", "additionalProperties", "minimum", "maximum", "pattern", "nullable")


def _plain(schema: Any, depth: int = 0, seen: tuple = ()) -> Any:
    """A resolved (jsonref) schema as plain JSON: only the keys that say what to send, cut at
    SCHEMA_DEPTH and where a $ref loops back on itself."""
    if isinstance(schema, list):
        return [_plain(item, depth + 1, seen) for item in schema]
    if not isinstance(schema, dict):
        return schema if isinstance(schema, (str, int, float, bool)) or schema is None else str(schema)
    if depth > SCHEMA_DEPTH or id(schema) in seen:
        return {}
    seen = seen + (id(schema),)
    out = {}
    for key in _SCHEMA_KEYS:
        if key not in schema:
            continue
        value = schema[key]
        if key == "properties" and isinstance(value, dict):
            out[key] = {str(name): _plain(prop, depth + 1, seen) for name, prop in value.items()}
        elif key == "description" and isinstance(value, str):
            out[key] = first_paragraph(value, 300)
        else:
            out[key] = _plain(value, depth + 1, seen)
    return out


def _parameter_schema(param: dict) -> dict:
    """One parameter's JSON Schema (OpenAPI 3: its `schema`; Swagger 2.0: type, format, items on
    the parameter itself), with the parameter's description."""
    schema = _plain(param["schema"]) if isinstance(param.get("schema"), dict) else \
        _plain({k: param[k] for k in ("type", "format", "enum", "items", "default") if k in param})
    if isinstance(param.get("description"), str) and param["description"].strip():
        schema["description"] = first_paragraph(param["description"], 300)
    return schema


def call_schema(operation: dict, shared: list) -> dict:
    """The JSON Schema of what a call of `operation` sends: an object with `path`, `query`,
    `header` and `cookie` objects (one property per parameter) and `body` (the request body's
    schema, JSON media type first); each listed in `required` when something in it is."""
    groups: dict[str, dict] = {}
    body_schema, body_required = None, False
    by_key = {}
    for param in list(shared) + list(operation.get("parameters") or []):
        if isinstance(param, dict) and param.get("name"):
            by_key[(param.get("in"), param["name"])] = param
    form: dict[str, Any] = {}
    for (where, name), param in by_key.items():
        if where == "body":  # Swagger 2.0
            body_schema, body_required = _plain(param.get("schema") or {}), bool(param.get("required"))
        elif where == "formData":
            form[name] = _parameter_schema(param)
        elif where in ("path", "query", "header", "cookie"):
            group = groups.setdefault(where, {"type": "object", "properties": {}, "required": []})
            group["properties"][name] = _parameter_schema(param)
            if param.get("required") or where == "path":
                group["required"].append(name)
    if form:
        body_schema = {"type": "object", "properties": form}
    body = operation.get("requestBody")
    if isinstance(body, dict) and isinstance(body.get("content"), dict):
        media = body["content"]
        chosen = next((media[m] for m in media if "json" in m), next(iter(media.values()), None))
        if isinstance(chosen, dict) and isinstance(chosen.get("schema"), dict):
            body_schema, body_required = _plain(chosen["schema"]), bool(body.get("required"))
    properties: dict[str, Any] = {}
    required: list[str] = []
    for where, group in groups.items():
        if not group["required"]:
            del group["required"]
        else:
            required.append(where)
        properties[where] = group
    if body_schema is not None:
        properties["body"] = body_schema
        if body_required:
            required.append("body")
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        out["required"] = required
    return out


def _version(doc: dict) -> str | None:
    if isinstance(doc.get("swagger"), str) and doc["swagger"].startswith("2."):
        return "swagger-2.0"
    if isinstance(doc.get("openapi"), str) and doc["openapi"][:3] in ("3.0", "3.1"):
        return "openapi-" + doc["openapi"][:3]
    return None


def api_record(doc: dict, path: Path, taken: set[str], skipped: list[str]) -> dict[str, Any]:
    """One resolved OpenAPI/Swagger document -> an artifact record."""
    info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
    title = info.get("title") if isinstance(info.get("title"), str) and info["title"].strip() else path.stem
    paths = doc.get("paths") or {}
    if not isinstance(paths, dict):
        raise ImportFailed([f"{path}: paths: expected an object, got {type(paths).__name__}"])
    capabilities, tags, problems = [], [], []
    seen_ids: set[str] = set()
    for route, item in paths.items():
        if not isinstance(item, dict):
            problems.append(f"{path}: paths.{route}: expected a path item object")
            continue
        shared = item.get("parameters") or []
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            if not isinstance(operation, dict):
                problems.append(f"{path}: paths.{route}.{method}: expected an operation object")
                continue
            op_id = operation.get("operationId")
            if isinstance(op_id, str) and re.fullmatch(r"[A-Za-z0-9._-]+", op_id):
                cap_id = op_id  # kept as written: an agent calls the operation by it
            else:
                cap_id = slug(op_id if isinstance(op_id, str) and op_id.strip() else f"{method} {route}")
                cap_id = cap_id.replace("/", "-")
            while cap_id in seen_ids:
                cap_id = slug(f"{cap_id} {method} {route}").replace("/", "-")
            seen_ids.add(cap_id)
            endpoint = f"{method.upper()} {route}"
            summary = operation.get("summary") if isinstance(operation.get("summary"), str) else ""
            description = operation.get("description") if isinstance(operation.get("description"), str) else ""
            op_tags = [str(t) for t in operation.get("tags") or [] if isinstance(t, (str, int))]
            tags += op_tags
            cap_title = (summary.strip() or (split_identifier(op_id).strip().capitalize() if isinstance(op_id, str)
                                             and op_id.strip() else "") or endpoint)
            text = first_paragraph(description) or first_paragraph(summary) or f"{endpoint} of {title}."
            if op_tags:
                text += f" Tags: {', '.join(op_tags)}."
            capability = {"id": cap_id, "title": first_paragraph(cap_title, 200), "description": text,
                          "unique": endpoint, "inputs": _inputs(operation, shared), "outputs": [],
                          "kind": "operation",
                          "tool": {"server": "", "name": cap_id, "protocol": "openapi", "method": method.upper(),
                                   "path": route, "input_schema": call_schema(operation, shared)}}
            if operation.get("deprecated") is True:
                capability["vs_alternatives"] = "Deprecated operation."
            capabilities.append(capability)
    if problems:
        raise ImportFailed(problems)
    for name in (doc.get("webhooks") or {}) if isinstance(doc.get("webhooks"), dict) else {}:
        skipped.append(f"{path}: webhooks.{name}: a webhook is sent by the API, not called on it")
    if not capabilities:
        raise ImportFailed([f"{path}: paths: no operations: nothing to import"])
    artifact_id = slug(title)
    if artifact_id in taken:
        artifact_id = f"{artifact_id}-{slug(path.stem)}"  # two documents with one title
    taken.add(artifact_id)
    servers = doc.get("servers") if isinstance(doc.get("servers"), list) else []
    url = next((s["url"] for s in servers if isinstance(s, dict) and isinstance(s.get("url"), str)), None)
    if url is None and isinstance(doc.get("host"), str):
        scheme = (doc.get("schemes") or ["https"])[0]
        url = f"{scheme}://{doc['host']}{doc.get('basePath') or ''}"
    for capability in capabilities:  # relative to the document when it names no server (OpenAPI's "/")
        capability["tool"]["server"] = url or "/"
    license_ = info.get("license") if isinstance(info.get("license"), dict) else {}
    contact = info.get("contact") if isinstance(info.get("contact"), dict) else {}
    description = first_paragraph(info.get("summary") if isinstance(info.get("summary"), str) else "") or \
        first_paragraph(info.get("description") if isinstance(info.get("description"), str) else "") or \
        f"{title}: {len(capabilities)} operations."
    signals: dict[str, Any] = {}
    if info.get("version") is not None:
        signals["version"] = str(info["version"])
    return {"id": artifact_id, "name": title, "kind": "api", "pricing": "unknown",
            "provider": contact.get("name"), "url": url, "license": license_.get("name"), "task": None,
            "tags": list(dict.fromkeys(tags + [_version(doc)])), "description": description,
            "signals": signals, "capabilities": capabilities}


def import_openapi(sources: list[Path], limits: dict | None = None) -> Imported:
    """Each OpenAPI/Swagger document in `sources` -> one API artifact (config `limits`)."""
    imported, problems, taken = Imported(), [], set()
    for source in sources:
        path = Path(source)
        doc = read_document(path, limits)
        if not isinstance(doc, dict) or _version(doc) is None:
            found = doc.get("openapi", doc.get("swagger")) if isinstance(doc, dict) else type(doc).__name__
            problems.append(f"{path}: not an OpenAPI 3.0/3.1 or Swagger 2.0 document "
                            f"(`openapi`/`swagger` is {found!r})")
            continue
        try:
            imported.add(api_record(resolve(doc, path, limits), path, taken, imported.skipped), str(path))
        except ImportFailed as exc:
            problems.extend(exc.problems)
    if problems:
        raise ImportFailed(problems)
    return imported
