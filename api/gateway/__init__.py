"""`matchgraph gateway`: one MCP server that an agent connects to instead of N.

It reads the `mcpServers` JSON of Claude Desktop, Claude Code, Cursor or VS Code
(matchgraph/servers/specs.py), keeps an official-SDK client session open to each server
(downstream.py), indexes their tools into its home and remembers what each client found
(gateway.py), and offers `find_tools` and `call_tool` over stdio or streamable HTTP (server.py).
Each successful call of a found tool is stored as a `select` of that tool for the need that found
it, so the match graph learns from what agents actually use.
"""

from __future__ import annotations

import logging
from pathlib import Path

from matchgraph.core.errors import ValidationFailed
from matchgraph.engine.engine import Engine
from matchgraph.servers.specs import ServerSpec, read_servers

from .gateway import Gateway


def run_gateway(engine: Engine, servers: str | Path, http_port: int | None = None, host: str | None = None) -> None:
    """Serve the gateway for the servers configured in `servers` until stopped: over stdio, or
    over streamable HTTP at http://HOST:PORT/mcp with `http_port`."""
    from .server import run_http, run_stdio

    specs = [spec for spec in read_servers(servers) if not _is_gateway(spec)]
    if not specs:
        raise ValidationFailed("bad --servers", [f"{servers}: no servers besides matchgraph gateways"])
    gateway = Gateway(engine, specs)
    if http_port is None:
        run_stdio(gateway)
    else:
        run_http(gateway, http_port, host)


def _is_gateway(spec: ServerSpec) -> bool:
    """Whether `spec` starts a matchgraph gateway: the agent's own config, handed to the gateway
    with the gateway's entry still in it, would otherwise make it start itself, endlessly."""
    if spec.transport != "stdio" or "gateway" not in spec.args:
        return False
    if Path(str(spec.command)).name == "matchgraph" or "matchgraph.cli" in spec.args:
        logging.getLogger("matchgraph.gateway").warning("server '%s' left out: it is a matchgraph gateway", spec.name)
        return True
    return False


__all__ = ["Gateway", "run_gateway"]
