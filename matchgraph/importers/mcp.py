"""A live MCP server -> one tool artifact, each of its tools a capability.

A SOURCE is a streamable HTTP URL (`http://…/mcp`) or a stdio command line (`mcp-server-time`,
`"matchgraph mcp --home DIR"`). Through the official SDK client it runs `initialize`,
`tools/list` and, where the server offers them, `prompts/list` and `resources/list` (all pages).
Each tool becomes a capability: id = the tool's name, title = its title (or its name in words),
description = its description, inputs = the names of its input schema's properties, and `tool`
= {server: SOURCE, name, input_schema} so that an agent can call it from a search result. A
prompt becomes a capability `prompt-NAME` (inputs: its arguments), a resource `resource-NAME`.
The artifact id is the server's own name (`serverInfo.name`), so re-importing keeps it.

A SOURCE may give the server secrets: `env GITHUB_TOKEN=… mcp-server-github` (or `NAME=VALUE cmd`)
and, for a URL, `--header 'Authorization: Bearer …'`. The server gets the values; the catalog keeps
only references: the command line as `env GITHUB_TOKEN=${GITHUB_TOKEN} mcp-server-github`, the
headers in `signals.headers` as `${AUTHORIZATION}` (expanded from the environment when the source
is started again). Errors and quoted stderr are redacted the same way.

A server that cannot be started, does not answer within the timeout, or writes anything but
JSON-RPC on stdout is named with why and the end of its stderr, and left out (`failed`); the
others are imported. Only when every server failed is nothing written.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any

from ..core.catalog import split_identifier
from ..core.errors import ValidationFailed
from ..servers.client import NotJsonRpc, connect, listing
from ..servers.specs import Resolved, is_url, source_spec
from .common import Imported, ImportFailed, first_paragraph, slug

DEFAULT_TIMEOUT = 30.0  # seconds for starting a server and listing what it offers
STDERR_TAIL = 600  # characters of a failed server's stderr quoted in its error


@dataclass
class ImportedServers(Imported):
    """An import of live servers: the records written plus, per server that failed, 'SOURCE: why'
    (the import goes on without it; the CLI then exits 3)."""

    failed: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {**super().summary(), "failed": list(self.failed)}


async def _fetch(server: Resolved, errlog) -> dict[str, Any]:
    async with connect(server, errlog) as session:
        return await listing(session)


def fetch(source: str, timeout: float = DEFAULT_TIMEOUT, env: dict[str, str] | None = None,
          headers: list[str] | None = None) -> dict[str, Any]:
    """What the server at `source` offers: {info, instructions, tools, prompts, resources}. Errors
    name the source as stored (secrets as ${NAME}) and quote the end of its stderr, redacted."""
    spec = source_spec(source, headers)
    shown = spec.name
    try:
        server = spec.resolved(where="SOURCE")
    except ValidationFailed as exc:
        raise ImportFailed([f"{shown}: {problem}" for problem in exc.problems]) from None
    if env:
        server = Resolved(**{**server.__dict__, "env": {**env, **server.env}})
    if server.transport == "stdio" and shutil.which(str(server.command)) is None \
            and not os.path.isfile(str(server.command)):
        raise ImportFailed([f"{shown}: command '{spec.command}' not found"])
    with tempfile.TemporaryFile("w+", encoding="utf-8") as errlog:
        def failed(why: str) -> ImportFailed:
            errlog.seek(0)
            tail = server.redact(errlog.read()[-STDERR_TAIL:].strip())
            return ImportFailed([f"{shown}: {server.redact(why)}" + (f"; its stderr ends: {tail}" if tail else "")])

        try:
            return asyncio.run(asyncio.wait_for(_fetch(server, errlog), timeout))
        except (asyncio.TimeoutError, TimeoutError):
            raise failed(f"no answer within {timeout:g} s") from None
        except BaseException as exc:  # the SDK raises exception groups, OSError, MCPError, httpx errors
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            leaf = exc
            while isinstance(leaf, BaseExceptionGroup) and leaf.exceptions:
                leaf = leaf.exceptions[0]
            if isinstance(leaf, NotJsonRpc):
                raise failed(str(leaf)) from None
            raise failed(f"the server failed to start or answer: {type(leaf).__name__}: {leaf}") from None


def _words(name: str) -> str:
    return " ".join(split_identifier(name).split()).capitalize()


def server_record(source: str, listing: dict[str, Any], taken: set[str], *, artifact_id: str | None = None,
                  transport: str | None = None, headers: dict[str, str] | None = None,
                  env: list[str] | None = None) -> dict[str, Any]:
    """An MCP server's listing -> an artifact record. `source` is what each tool's `server` names
    (a command line or URL with secrets as ${NAME}; the gateway's server name); the id is
    `artifact_id` or the server's own name; `headers` (values as ${NAME}) are kept in signals and
    `env` (the names of the variables its secrets come from) in each tool."""
    info = listing["info"]
    server_name = getattr(info, "name", None) or source
    transport = transport or ("streamable-http" if is_url(source) else "stdio")
    artifact_id = artifact_id or slug(server_name)
    while artifact_id in taken:
        artifact_id += "-2"
    taken.add(artifact_id)
    display = getattr(info, "title", None) or server_name
    capabilities = []
    for tool in listing["tools"]:
        annotations = getattr(tool, "annotations", None)
        title = getattr(tool, "title", None) or getattr(annotations, "title", None) or _words(tool.name)
        schema = tool.input_schema if isinstance(tool.input_schema, dict) else {}
        properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        capabilities.append({"id": tool.name, "title": title,
                             "description": first_paragraph(tool.description) or title,
                             "inputs": list(properties), "outputs": [],
                             "tool": {"server": source, "name": tool.name, "input_schema": schema,
                                      "transport": transport, **({"env": list(env)} if env else {})}})
    for prompt in listing["prompts"]:
        title = getattr(prompt, "title", None) or _words(prompt.name)
        capabilities.append({"id": f"prompt-{prompt.name}", "title": title,
                             "description": first_paragraph(prompt.description) or title,
                             "inputs": [a.name for a in (prompt.arguments or [])], "outputs": ["text"]})
    for resource in listing["resources"]:
        title = getattr(resource, "title", None) or _words(resource.name)
        capabilities.append({"id": f"resource-{slug(resource.name)}", "title": f"Read {title}",
                             "description": first_paragraph(resource.description) or f"Resource {resource.uri}",
                             "inputs": [], "outputs": [resource.mime_type or "data"]})
    if not capabilities:
        raise ImportFailed([f"{source}: the server offers no tools, prompts or resources"])
    names = ", ".join(c["id"] for c in capabilities[:8])
    description = first_paragraph(listing.get("instructions")) or \
        f"MCP server {display}: {len(capabilities)} capabilities ({names}{', …' if len(capabilities) > 8 else ''})."
    signals: dict[str, Any] = {"integrations": [f"{transport}:{source}"]}
    if headers:
        signals["headers"] = dict(headers)
    if getattr(info, "version", None):
        signals["version"] = str(info.version)
    return {"id": artifact_id, "name": display, "kind": "tool", "pricing": "unknown", "provider": None,
            "url": getattr(info, "website_url", None) or (source if is_url(source) else None), "license": None,
            "task": "mcp-server", "tags": ["mcp-server", transport],
            "description": description, "signals": signals, "capabilities": capabilities}


def import_mcp(sources: list[str], timeout: float = DEFAULT_TIMEOUT, env: dict[str, str] | None = None,
               headers: list[str] | None = None) -> ImportedServers:
    """Each live server in `sources` -> one artifact. A server that fails is named (with the end
    of its stderr) in `failed` and left out; the others are kept. Raises ImportFailed only when a
    SOURCE cannot be understood or when every server failed."""
    imported, taken = ImportedServers(), set()
    for source in sources:
        try:
            spec = source_spec(source, headers if is_url(source) else None)
        except ValidationFailed as exc:
            raise ImportFailed(list(exc.problems)) from None
        try:
            record = server_record(spec.name, fetch(source, timeout, env, headers if is_url(source) else None),
                                   taken, headers=spec.public_headers(), env=spec.secret_names())
        except ImportFailed as exc:
            imported.failed.extend(exc.problems)
            continue
        imported.add(record, spec.name)
    if not imported.records:
        raise ImportFailed(imported.failed)
    return imported
