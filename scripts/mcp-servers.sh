#!/usr/bin/env bash
# Real MCP servers for the tests and bench/tools.py, installed offline-startable (no API key, no
# network at run time) and put on PATH under their own names:
#   PyPI, into the project's .venv: mcp-server-time, mcp-server-git, mcp-server-fetch;
#   PyPI, into .mcp-servers/py (they pin mcp<2, the project needs mcp 2): mcp-server-sqlite,
#     mcp-server-calculator;
#   npm, into .mcp-servers/node_modules: server-filesystem, server-memory, server-everything,
#     server-sequential-thinking, server-pdf, server-redis.
# Their commands are linked into .mcp-servers/bin, which this script puts on PATH when sourced.
# The import commands the benchmark uses are in bench/tools/servers.txt.
# Idempotent: a second run with the same pins only checks a stamp file (well under a second).
# Run it (`bash scripts/mcp-servers.sh`) or source it (`source scripts/mcp-servers.sh`) from
# anywhere; it expects the project's .venv (scripts/setup.sh creates it).
_mcp_servers_main() {
    local root
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    local dir="$root/.mcp-servers"
    local venv_pins="mcp-server-time==2026.10.19 mcp-server-git==2026.10.19 mcp-server-fetch==2026.10.24"
    local own_pins="mcp==1.30.0 mcp-server-sqlite==2025.4.25 mcp-server-calculator==0.2.1"
    local npm_pins="@modelcontextprotocol/server-filesystem@2026.8.31 @modelcontextprotocol/server-memory@2026.8.31
        @modelcontextprotocol/server-everything@2026.8.31 @modelcontextprotocol/server-sequential-thinking@2026.8.31
        @modelcontextprotocol/server-pdf@2.0.4 @modelcontextprotocol/server-redis@2025.4.25"
    local stamp="$dir/installed.txt"
    local want
    want="$(printf '%s\n' $venv_pins $own_pins $npm_pins)"
    local python="$root/.venv/bin/python"
    [ -x "$python" ] || { echo "mcp-servers.sh: $root/.venv is missing: run scripts/setup.sh first" >&2; return 1; }

    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -x "$root/.venv/bin/mcp-server-fetch" ]; then
        mkdir -p "$dir/bin"
        # shellcheck disable=SC2086  # the pin lists are word lists
        "$python" -m pip install -q $venv_pins >&2 || return 1
        [ -x "$dir/py/bin/python" ] || "$python" -m venv --without-pip "$dir/py" 2>/dev/null \
            || "${PYTHON:-python3}" -m venv "$dir/py" || return 1
        # a venv made --without-pip gets pip from the project's venv (pip --python)
        "$python" -m pip --python "$dir/py/bin/python" install -q $own_pins >&2 || return 1
        npm install --prefix "$dir" --no-audit --no-fund --loglevel=error $npm_pins >&2 || return 1
        local name
        for name in mcp-server-sqlite mcp-server-calculator; do
            ln -sf "../py/bin/$name" "$dir/bin/$name"
        done
        for name in mcp-server-filesystem mcp-server-memory mcp-server-everything \
                    mcp-server-sequential-thinking mcp-pdf-server mcp-server-redis; do
            ln -sf "../node_modules/.bin/$name" "$dir/bin/$name"
        done
        printf '%s\n' "$want" > "$stamp"
    fi
    case ":$PATH:" in
        *":$dir/bin:"*) ;;
        *) export PATH="$dir/bin:$root/.venv/bin:$PATH" ;;
    esac
}
_mcp_servers_main || { rc=$?; unset -f _mcp_servers_main; return $rc 2>/dev/null || exit $rc; }
unset -f _mcp_servers_main
