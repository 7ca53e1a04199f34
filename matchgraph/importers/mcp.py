"""A live MCP server -> one tool artifact, each of its tools a capability.

A SOURCE is a streamable HTTP URL (`http://…/mcp`) or a stdio command line (`mcp-server-time`,
`"matchgraph mcp --home DIR"`). Through the official SDK client it runs `initialize`,
`tools/list` and, where the server offers them, `prompts/list` and `resources/list` (all pages).
Each tool becomes a capability: id = the tool's name, title = its title (or its name in words),
description = its description, inputs = the names of its input schema's properties, and `tool`
= {server: SOURCE, name, input_schema} so that an agent can call it from a search result. A
prompt becomes a capability `prompt-NAME` (inputs: its arguments), a resource `resource-NAME`.
The artifact id is the server's own name (`serverInfo.name`), so re-importing keeps it.

A server that cannot be started, does not answer, or answers with an error within the timeout
is an error naming its command or URL.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import tempfile
from typing import Any

from ..catalog import split_identifier
from .common import ImportFailed, Imported, first_paragraph, slug

DEFAULT_TIMEOUT = 30.0  # seconds for starting a server and listing what it offers


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


async def _pages(call, attribute: str) -> list[Any]:
    """Every item of a paginated list call (tools/list, prompts/list, resources/list)."""
    items, cursor = [], None
    for _ in range(1000):  # a server that keeps returning cursors must not hang the import
        result = await (call(cursor=cursor) if cursor else call())
        items += list(getattr(result, attribute) or [])
        cursor = getattr(result, "next_cursor", None)
        if not cursor:
            break
    return items


async def _listing(read, write) -> dict[str, Any]:
    from mcp import ClientSession

    async with ClientSession(read, write) as session:
        init = await session.initialize()
        offered = init.capabilities
        return {"info": init.server_info, "instructions": getattr(init, "instructions", None),
                "tools": await _pages(session.list_tools, "tools") if offered.tools else [],
                "prompts": await _pages(session.list_prompts, "prompts") if offered.prompts else [],
                "resources": await _pages(session.list_resources, "resources") if offered.resources else []}


async def _fetch(source: str, env: dict[str, str] | None, errlog) -> dict[str, Any]:
    if is_url(source):
        from mcp.client.streamable_http import streamable_http_client

        async with streamable_http_client(source) as (read, write):
            return await _listing(read, write)
    from mcp import StdioServerParameters, stdio_client

    argv = shlex.split(source)
    if not argv:
        raise ImportFailed(["(empty command): give a command line or a URL"])
    if shutil.which(argv[0]) is None and not os.path.isfile(argv[0]):
        raise ImportFailed([f"{source}: command '{argv[0]}' not found"])
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=env)
    async with stdio_client(params, errlog=errlog) as (read, write):
        return await _listing(read, write)


def fetch(source: str, timeout: float = DEFAULT_TIMEOUT, env: dict[str, str] | None = None) -> dict[str, Any]:
    """What the server at `source` offers: {info, instructions, tools, prompts, resources}."""
    with tempfile.TemporaryFile("w+", encoding="utf-8") as errlog:
        def failed(why: str) -> ImportFailed:
            errlog.seek(0)
            tail = errlog.read()[-600:].strip()
            return ImportFailed([f"{source}: {why}" + (f"; its stderr ends: {tail}" if tail else "")])

        try:
            return asyncio.run(asyncio.wait_for(_fetch(source, env, errlog), timeout))
        except ImportFailed:
            raise
        except (asyncio.TimeoutError, TimeoutError):
            raise failed(f"no answer within {timeout:g} s") from None
        except BaseException as exc:  # the SDK raises exception groups, OSError, MCPError, httpx errors
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            leaf = exc
            while isinstance(leaf, BaseExceptionGroup) and leaf.exceptions:
                leaf = leaf.exceptions[0]
            raise failed(f"the server failed to start or answer: {type(leaf).__name__}: {leaf}") from None


def _words(name: str) -> str:
    return " ".join(split_identifier(name).split()).capitalize()


def server_record(source: str, listing: dict[str, Any], taken: set[str]) -> dict[str, Any]:
    """An MCP server's listing -> an artifact record."""
    info = listing["info"]
    server_name = getattr(info, "name", None) or source
    artifact_id = slug(server_name)
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
                             "tool": {"server": source, "name": tool.name, "input_schema": schema}})
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
    signals: dict[str, Any] = {"integrations": [f"{'streamable-http' if is_url(source) else 'stdio'}:{source}"]}
    if getattr(info, "version", None):
        signals["version"] = str(info.version)
    return {"id": artifact_id, "name": display, "kind": "tool", "pricing": "unknown", "provider": None,
            "url": getattr(info, "website_url", None) or (source if is_url(source) else None), "license": None,
            "task": "mcp-server", "tags": ["mcp-server", "streamable-http" if is_url(source) else "stdio"],
            "description": description, "signals": signals, "capabilities": capabilities}


def import_mcp(sources: list[str], timeout: float = DEFAULT_TIMEOUT,
               env: dict[str, str] | None = None) -> Imported:
    """Each live server in `sources` -> one artifact; every failure is reported, nothing half-done."""
    imported, problems, taken = Imported(), [], set()
    for source in sources:
        try:
            imported.add(server_record(source, fetch(source, timeout, env), taken), source)
        except ImportFailed as exc:
            problems.extend(exc.problems)
    if problems:
        raise ImportFailed(problems)
    return imported
