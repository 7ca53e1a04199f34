"""Official MCP registry `server.json` documents -> tool artifacts (one per server, latest version).

Accepted shapes, all read the same way:
- one server.json, or a list of them (the published schema: `name`, `title`, `description`,
  `version`, `repository`, `websiteUrl`, `packages[]` with `registryType`/`identifier`/
  `transport`, `remotes[]` with `type`/`url`);
- the registry's seed files (`data/seed*.json`: `version_detail`, `packages[]` with
  `registry_name`/`name`, `remotes[]` with `transport_type`/`url`);
- a registry API response `{"servers": [...]}` whose items are server.json documents or
  `{"server": {...}, "_meta": {...}}` wrappers.

Per server: id = `name` (the reverse-DNS registry name), `kind: tool`, packages and remotes as
`signals.integrations`, repository (or website) as `url`; its one capability `server` carries how
to start it (`tool`, protocol `mcp-server`: `npx -y PKG`, `uvx PKG`, `docker run -i --rm IMAGE`
or the remote URL, and the names of the environment variables it needs; see how_to_start). When a name appears in several
versions only the latest is kept (marked latest, else the highest version, else the newest
release date); the others are reported as skipped, as are entries without a name and entries
the registry marks `deleted`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..core.catalog import split_identifier
from .common import Imported, ImportFailed, first_paragraph, json_path, read_document

OFFICIAL = "io.modelcontextprotocol.registry/official"


def _entries(data: Any, source: Path) -> list[tuple[list[str | int], dict, dict]]:
    """(JSON path, server document, registry metadata) for every server in a document."""
    if isinstance(data, dict) and isinstance(data.get("servers"), list):
        base, items = ["servers"], data["servers"]
    elif isinstance(data, list):
        base, items = [], data
    elif isinstance(data, dict):
        return [([], data, _official(data))]
    else:
        raise ImportFailed([f"{source}: expected a server.json object, a list of them or "
                            f"{{\"servers\": [...]}}, got {type(data).__name__}"])
    out = []
    for index, item in enumerate(items):
        if isinstance(item, dict) and isinstance(item.get("server"), dict):
            out.append(([*base, index, "server"], item["server"], {**_official(item["server"]), **_official(item)}))
        else:
            out.append(([*base, index], item, _official(item) if isinstance(item, dict) else {}))
    return out


def _official(doc: dict) -> dict:
    meta = doc.get("_meta")
    found = meta.get(OFFICIAL) if isinstance(meta, dict) else None
    return found if isinstance(found, dict) else {}


def _version_key(version: str) -> tuple:
    """'1.10.0' > '1.9.2' > '1.9.2-seed': numbers compared as numbers."""
    parts = re.split(r"[.\-+]", version or "")
    return tuple((0, int(p), "") if p.isdigit() else (-1, 0, p) for p in parts)


def _check(value: Any, kind: type, where: str, problems: list[str]) -> bool:
    if value is None:
        return False
    if not isinstance(value, kind):
        problems.append(f"{where}: expected {'a list' if kind is list else 'an object' if kind is dict else kind.__name__}, "
                        f"got {type(value).__name__}")
        return False
    return True


def _objects(doc: dict, key: str, at, problems: list[str]):
    """(place, item) for each object in the list `doc[key]`; a value that is not a list, or an
    item that is not an object, is a problem at its place (and skipped)."""
    items = doc.get(key)
    if _check(items, list, at(key), problems):
        for i, item in enumerate(items):
            where = at(key, i)
            if _check(item, dict, where, problems):
                yield where, item


_LAUNCHERS = {"npm": "npx -y {}", "pypi": "uvx {}", "docker": "docker run -i --rm{env} {}",
              "oci": "docker run -i --rm{env} {}"}


def _env_names(item: dict) -> list[str]:
    """Names of the environment variables (and headers) a package or remote declares; their
    values are never read: they are the user's secrets."""
    names = []
    for key in ("environment_variables", "environmentVariables", "headers"):
        for var in item.get(key) or [] if isinstance(item.get(key), list) else []:
            if isinstance(var, dict) and isinstance(var.get("name"), str) and var["name"].strip():
                names.append(var["name"].strip())
    return names


def how_to_start(doc: dict, name: str) -> dict[str, Any] | None:
    """A registry server's ToolRef (protocol `mcp-server`): the first way to start it from its
    packages (`npx -y PKG`, `uvx PKG`, `docker run -i --rm IMAGE`) or its remote URL as `server`,
    the others in `start`, and the env vars they need; None when it names no way to run it."""
    ways: list[tuple[str, str]] = []  # (command line or URL, transport)
    env: list[str] = []
    for package in doc.get("packages") or [] if isinstance(doc.get("packages"), list) else []:
        if not isinstance(package, dict):
            continue
        named = [str(package.get(key) or "").lower()  # seed entries put the package name in some of these
                 for key in ("registryType", "registry_type", "registry_name", "registry")]
        registry = next((r for r in named if r in _LAUNCHERS), "")
        identifier = package.get("identifier") or package.get("name")
        names = _env_names(package)
        launcher = _LAUNCHERS.get(registry)
        if launcher is None or not isinstance(identifier, str) or not identifier.strip():
            continue
        env += names
        flags = "".join(f" -e {n}" for n in names)
        transport = package.get("transport")
        kind = transport.get("type") if isinstance(transport, dict) and transport.get("type") else "stdio"
        ways.append((launcher.format(identifier.strip(), env=flags), str(kind)))
    for remote in doc.get("remotes") or [] if isinstance(doc.get("remotes"), list) else []:
        if isinstance(remote, dict) and isinstance(remote.get("url"), str) and remote["url"].strip():
            env += _env_names(remote)
            ways.append((remote["url"].strip(), str(remote.get("type") or remote.get("transport_type") or "remote")))
    if not ways:
        return None
    return {"server": ways[0][0], "name": name, "protocol": "mcp-server", "transport": ways[0][1],
            "start": [w for w, _ in ways[1:]], "env": list(dict.fromkeys(env))}


def server_record(doc: dict, meta: dict, source: Path, path: list[str | int],
                  problems: list[str]) -> dict[str, Any]:
    """One server.json (at JSON `path` in `source`) -> an artifact record; shape problems are
    appended to `problems` as 'source: servers[12].packages[0]: why'."""

    def at(*parts: str | int) -> str:
        return f"{source}: {json_path([*path, *parts])}"

    name = doc["name"].strip()
    version_detail = doc.get("version_detail") if isinstance(doc.get("version_detail"), dict) else {}
    integrations, tags = [], ["mcp-server"]
    for where, package in _objects(doc, "packages", at, problems):
        registry = (package.get("registryType") or package.get("registry_type")
                    or package.get("registry") or package.get("registry_name") or "unknown")
        identifier = package.get("identifier") or package.get("name")
        if not isinstance(identifier, str) or not identifier.strip():
            problems.append(f"{where}: needs `identifier` (or `name` in older documents)")
            continue
        integrations.append(f"{registry}:{identifier}")
        tags.append(str(registry))
        transport = package.get("transport")
        if isinstance(transport, dict) and transport.get("type"):
            tags.append(str(transport["type"]))
    for where, remote in _objects(doc, "remotes", at, problems):
        url = remote.get("url")
        if not isinstance(url, str) or not url.strip():
            problems.append(f"{where}: needs `url`")
            continue
        transport = remote.get("type") or remote.get("transport_type") or "remote"
        integrations.append(f"{transport}:{url}")
        tags.append(str(transport))
    repository = doc.get("repository")
    _check(repository, dict, at("repository"), problems)
    repo_url = repository.get("url") if isinstance(repository, dict) else None
    url = repo_url or doc.get("websiteUrl") or doc.get("website_url") or None
    short = name.rsplit("/", 1)[-1]
    display = doc.get("title") or short
    namespace = name.split("/", 1)[0]
    provider = namespace.split(".")[-1] if "/" in name else None
    description = first_paragraph(doc.get("description") if isinstance(doc.get("description"), str) else "")
    words = split_identifier(short).replace("mcp", "").replace("server", "").split()
    signals: dict[str, Any] = {"integrations": list(dict.fromkeys(integrations))} if integrations else {}
    released = version_detail.get("release_date") or meta.get("publishedAt") or meta.get("published_at")
    updated = meta.get("updatedAt") or meta.get("updated_at")
    if released:
        signals["released_at"] = released
    if updated:
        signals["updated_at"] = updated
    version = doc.get("version") or version_detail.get("version")
    if version:
        signals["version"] = str(version)
    capability = {"id": "server", "title": f"{display} MCP server",
                  "description": description or f"MCP server for {' '.join(words) or short} ({name}).",
                  "inputs": [], "outputs": [], "kind": "server"}
    started = how_to_start(doc, name)
    if started is not None:
        capability["tool"] = started
    return {"id": name, "name": display, "kind": "tool", "pricing": "unknown", "provider": provider,
            "url": url, "license": None, "task": "mcp-server", "tags": list(dict.fromkeys(tags)),
            "description": description or capability["description"], "signals": signals,
            "capabilities": [capability]}


def import_mcp_registry(sources: list[Path], limits: dict | None = None) -> Imported:
    """Every server in `sources` -> one artifact per name (latest version); config `limits`."""
    imported, problems = Imported(), []
    chosen: dict[str, tuple[tuple, str, dict, dict, Path, list]] = {}  # name -> (rank, place, doc, meta, source, path)
    skipped: list[str] = []
    for source in sources:
        data = read_document(Path(source), limits)
        for path, doc, meta in _entries(data, Path(source)):
            place = f"{source}: {json_path(path)}"
            if not isinstance(doc, dict):
                problems.append(f"{place}: expected a server object, got {type(doc).__name__}")
                continue
            name = doc.get("name")
            if not isinstance(name, str) or not name.strip():
                skipped.append(f"{place}: no `name` (an empty entry)")
                continue
            if str(meta.get("status") or doc.get("status") or "").lower() == "deleted":
                skipped.append(f"{place}: {name}: deleted from the registry")
                continue
            latest = meta.get("isLatest", meta.get("is_latest"))
            detail = doc.get("version_detail") if isinstance(doc.get("version_detail"), dict) else {}
            latest = detail.get("is_latest", latest)
            version = str(doc.get("version") or detail.get("version") or "")
            released = str(detail.get("release_date") or meta.get("publishedAt") or "")
            rank = (latest is not False, _version_key(version), released)
            previous = chosen.get(name)
            if previous is None or rank > previous[0]:
                if previous is not None:
                    skipped.append(f"{previous[1]}: {name} {previous[2].get('version', '')}: an older version")
                chosen[name] = (rank, place, doc, meta, Path(source), path)
            else:
                skipped.append(f"{place}: {name} {version}: an older version")
    for _rank, place, doc, meta, source, path in chosen.values():
        imported.add(server_record(doc, meta, source, path, problems), place)
    if problems:
        raise ImportFailed(problems)
    imported.skipped = skipped
    return imported
