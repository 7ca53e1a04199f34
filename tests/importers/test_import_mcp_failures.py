"""`matchgraph import mcp` against servers that misbehave, through the real console script and a
tiny real server (tests/servers/toolbox.py, the SDK's low-level Server):

- #27 item 7: a server that pages its tools with nextCursor is listed whole (mcp 2.3 takes the
  cursor as `params`, not `cursor=`);
- #27 item 8: a server printing garbage on stdout gives one located error, no traceback flood;
- #26 part 5: a server that fails is named with its stderr and skipped, the others are written,
  the exit code is 3; secrets given on the command line (`env NAME=…`, `--header`, a URL's
  `?api_key=…`) are stored as ${NAME} references and `search --json` never shows them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TOOLBOX, clean_env, free_ports

from matchgraph.core.catalog import load_catalog

SERVER = f"{sys.executable} {TOOLBOX}"
TOOLS = {"add_numbers", "reverse_text", "token_status", "crash", "hang", "grow"}  # three pages of two
CLI = str(Path(sys.executable).parent / "matchgraph")
SECRET = "tok-3f9a7c1e-not-for-catalogs"


def matchgraph(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout, env=env or clean_env())


def test_pagination_lists_every_page(tmp_path):
    out = tmp_path / "toolbox.jsonl"
    done = matchgraph("import", "mcp", SERVER, "-o", str(out), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["capabilities"] == len(TOOLS)
    toolbox = load_catalog([out])[0]
    assert {c.id for c in toolbox.capabilities} == TOOLS
    assert toolbox.capabilities[-1].tool.name == "grow"  # the third page's last tool


def test_garbage_on_stdout_is_one_located_error(tmp_path):
    out = tmp_path / "out.jsonl"
    garbage = f"{SERVER} --garbage 900"
    done = matchgraph("import", "mcp", garbage, "-o", str(out), "--timeout", "60")
    assert done.returncode == 2 and not out.exists()
    assert "Traceback" not in done.stderr and "Failed to parse JSONRPC" not in done.stderr
    assert done.stderr.count("not JSON-RPC") == 1
    assert f"{garbage}: it wrote a line on stdout that is not JSON-RPC: 'garbage line 0: starting up...'" \
        in " ".join(done.stderr.split())
    assert len(done.stderr.splitlines()) < 10, done.stderr


@pytest.mark.slow
def test_a_failing_server_is_named_and_the_others_are_written(tmp_path):
    out = tmp_path / "servers.jsonl"
    crashing = f'{sys.executable} -c "import sys; sys.stderr.write(\'cannot open database\'); sys.exit(3)"'
    done = matchgraph("import", "mcp", SERVER, "no-such-mcp-server", crashing, "mcp-server-time", "-o", str(out),
                      "--json", "--timeout", "60")
    assert done.returncode == 1, done.stderr  # 1: written without the server that failed
    summary = json.loads(done.stdout)
    assert summary["artifacts"] == 2 and len(summary["failed"]) == 2
    assert summary["failed"][0] == "no-such-mcp-server: command 'no-such-mcp-server' not found"
    assert summary["failed"][1].startswith(crashing) and "cannot open database" in summary["failed"][1]
    assert "cannot open database" in done.stderr and "no-such-mcp-server" in done.stderr
    assert {a.id for a in load_catalog([out])} == {"toolbox", "mcp-time"}


@pytest.mark.slow
def test_secrets_on_the_command_line_are_stored_as_references(tmp_path, model):
    port = free_ports(1)[0]
    http = subprocess.Popen([sys.executable, str(TOOLBOX), "--http", str(port)], env=clean_env(TOOLBOX_TOKEN=SECRET),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        out = tmp_path / "catalog" / "servers.jsonl"
        url = f"http://127.0.0.1:{port}/mcp"
        for _ in range(100):  # until the HTTP server listens
            done = matchgraph("import", "mcp", f"env TOOLBOX_TOKEN={SECRET} {SERVER}", f"{url}?api_key={SECRET}", "--header",
                              f"Authorization: Bearer {SECRET}", "-o", str(out), "--json", "--timeout", "60")
            if done.returncode == 0 or "ConnectError" not in done.stderr:
                break
        assert done.returncode == 0, done.stderr
        wrong = matchgraph("import", "mcp", url, "--header", "Authorization: Bearer wrong", "-o",
                           str(tmp_path / "wrong.jsonl"))
        assert wrong.returncode == 2 and url in wrong.stderr  # the header did reach the server above
    finally:
        http.terminate()
        http.wait(timeout=30)
    text = out.read_text(encoding="utf-8")
    assert SECRET not in text and SECRET not in done.stdout + done.stderr
    stdio, remote = load_catalog([out])
    assert stdio.capabilities[0].tool.server == f"env TOOLBOX_TOKEN=${{TOOLBOX_TOKEN}} {SERVER}"
    assert remote.capabilities[0].tool.server == f"{url}?api_key=${{API_KEY}}"
    assert remote.signals["headers"] == {"Authorization": "${AUTHORIZATION}"}
    assert stdio.capabilities[0].tool.env == ["TOOLBOX_TOKEN"] and remote.capabilities[0].tool.env == ["AUTHORIZATION", "API_KEY"]

    home = tmp_path / "home"
    env = clean_env(MATCHGRAPH_HOME=str(home))
    assert matchgraph("index", "--catalog", str(out.parent), env=env).returncode == 0
    found = matchgraph("search", "tell whether the api token was given", "--json", env=env)
    assert found.returncode == 0 and "token_status" in found.stdout
    assert "${TOOLBOX_TOKEN}" in found.stdout and SECRET not in found.stdout
    assert not [p for p in home.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
