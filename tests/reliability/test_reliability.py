"""Reliability: inputs that used to hurt (catalogs, logs, export paths), forged evidence, crashes
mid-write and a bounded soak of the real server on both stores.

Kept to a few minutes on 2 cores: the crash runs are a handful each, the soak runs seconds.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from conftest import CATALOG, SD, TROCR, clean_env, free_ports, running_servers, serve_command
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api import create_app
from matchgraph import Engine
from matchgraph.cli import app as cli
from matchgraph.core.catalog import load_catalog
from matchgraph.core.errors import NoIndex, ValidationFailed
from matchgraph.core.events import client_key
from matchgraph.retrieval.index import MANIFEST
from matchgraph.store import create_store
from matchgraph.store.versions import IndexVersions

TOKEN = "reliability-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NO_FIT = {"search": {"adapter_steps": 0}}  # checks below need a working engine, not a new fit
NO_FIT_ENV = {"MATCHGRAPH_SEARCH__ADAPTER_STEPS": "0"}
MATCHGRAPH = str(Path(sys.executable).parent / "matchgraph")
ARTIFACT = {"id": "org/model", "name": "model", "capabilities": [{"id": "c", "title": "Reads text"}]}


def problems(paths, **limits) -> list[str]:
    with pytest.raises(ValidationFailed) as err:
        load_catalog(paths, limits or None)
    return err.value.problems


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


# -- catalogs and logs that passed validation and hurt ------------------------------------------
def test_yaml_alias_bomb_is_refused_at_its_line(tmp_path):
    bomb = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8))
    path = write(tmp_path / "bomb.yaml", bomb)
    assert problems([path]) == [f"{path}:2: not valid YAML: YAML aliases (*a) are not allowed in a catalog"]


@pytest.mark.parametrize("bad_id, why", [("org/a\x00b", "'\\x00'"), ("x" * 5000, "at most 300 characters"),
                                          ("org/a b", "spaces"), ("tab\there", "'\\t'")])
def test_ids_that_would_break_urls_columns_or_logs_are_refused(tmp_path, bad_id, why):
    path = write(tmp_path / "c.jsonl", json.dumps({**ARTIFACT, "id": bad_id}) + "\n")
    found = problems([path])
    assert len(found) == 1 and found[0].startswith(f"{path}:1: id:") and why in found[0]


def test_capability_ids_and_limits_from_config(tmp_path):
    record = {**ARTIFACT, "description": "x" * 50,
              "capabilities": [{"id": f"cap\x01{i}", "title": "t"} for i in range(3)]}
    path = write(tmp_path / "c.jsonl", json.dumps(record) + "\n")
    found = problems([path], capabilities=2, text_length=10)
    assert found == [f"{path}:1: capabilities: at most 2 per artifact (config limits.capabilities), got 3"]
    found = problems([path], text_length=10)
    assert any("description: at most 10 characters" in p for p in found)
    found = problems([path])
    assert f"{path}:1: capabilities.0.id: must not contain '\\x01'" in found[0]
    assert "file is" in problems([path], file_bytes=10)[0]
    assert "longer than 20 bytes" in problems([path], line_bytes=20)[0]


def test_a_hundred_thousand_capabilities_are_refused_before_validation(tmp_path):
    record = {**ARTIFACT, "capabilities": [{"id": str(i), "title": "t"} for i in range(100_000)]}
    path = write(tmp_path / "c.jsonl", json.dumps(record) + "\n")
    assert problems([path]) == [f"{path}:1: capabilities: at most 1000 per artifact (config "
                                "limits.capabilities), got 100000"]


def test_duplicate_capabilities_are_found_in_one_pass(tmp_path):
    record = {**ARTIFACT, "capabilities": [{"id": str(i % 500), "title": "t"} for i in range(1000)]}
    path = write(tmp_path / "c.jsonl", json.dumps(record) + "\n")
    found = problems([path])
    assert len(found) == 500 and found[0] == f"{path}:1: capabilities: duplicate capability id '0'"


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,<script>", "ftp://x.org/f",
                                 "//evil.example", "http://"])
def test_urls_must_be_http_or_https(tmp_path, url):
    path = write(tmp_path / "c.jsonl", json.dumps({**ARTIFACT, "url": url}) + "\n")
    assert problems([path])[0].startswith(f"{path}:1: url:")
    write(path, json.dumps({**ARTIFACT, "url": "https://huggingface.co/org/model"}) + "\n")
    assert load_catalog([path])[0].url == "https://huggingface.co/org/model"


def test_decode_and_nesting_errors_are_located(tmp_path):
    good = json.dumps(ARTIFACT)
    lines = write(tmp_path / "a.jsonl", good.encode() + b"\n\n" + b'{"id": "caf\xe9"}\n')
    doc = write(tmp_path / "b.json", b'[\n' + good.encode() + b',\n{"name": "\xff"}]')
    yml = write(tmp_path / "c.yaml", b"- id: a\n  name: ok\n  description: \xfe\n")
    deep_json = write(tmp_path / "d.json", "[\n" + "[" * 3000 + "]" * 3000 + "\n]")
    deep_yaml = write(tmp_path / "e.yaml", "- id: a\n  signals:\n    x: " + "[" * 40 + "]" * 40 + "\n")
    deep_line = write(tmp_path / "f.jsonl", good + "\n" + "[" * 5000 + "]" * 5000 + "\n")
    found = problems([tmp_path])
    assert f"{lines}:3: not valid JSONL: not UTF-8 (byte 12 of the line)" in found
    assert f"{doc}:3: not valid JSON: not UTF-8" in found
    assert f"{yml}:3: not valid YAML: not UTF-8" in found
    assert f"{deep_json}:2: not valid JSON: nested too deeply to parse" in found
    assert f"{deep_yaml}:3: not valid YAML: nested deeper than 20 levels (config limits.depth)" in found
    assert f"{deep_line}:2: not valid JSONL: nested too deeply to parse" in found


def test_event_logs_name_bad_bytes_deep_lines_and_times(fresh_home, tmp_path, model):
    engine = Engine(fresh_home)
    ok = {"query": "read letters", "artifact_id": TROCR, "kind": "select"}
    log = write(tmp_path / "log.jsonl", b"\n".join([
        json.dumps(ok).encode(), b'{"query": "\xff", "artifact_id": "x"}', ("[" * 3000 + "]" * 3000).encode(),
        json.dumps({**ok, "ts": "0001-01-01T00:00:00Z"}).encode(),
        json.dumps({**ok, "ts": "9999-12-31T00:00:00Z"}).encode()]) + b"\n")
    with pytest.raises(ValidationFailed) as err:
        engine.ingest(log)
    found = err.value.problems
    assert found[0] == f"{log}:2: not valid JSON: not UTF-8 (byte 12 of the line)"
    assert found[1] == f"{log}:3: not valid JSON: nested too deeply to parse"
    assert found[2].startswith(f"{log}:4: ts: Value error, must be between 2000-01-01")
    assert found[3].startswith(f"{log}:5: ts: Value error, must be between 2000-01-01")
    assert engine.store.event_count() == 0
    engine.close()


def test_one_event_id_with_two_contents_is_an_error_naming_both(fresh_home, tmp_path, model):
    engine = Engine(fresh_home)
    first = {"query": "read letters", "artifact_id": TROCR, "kind": "select", "event_id": "e-1",
             "ts": "2026-01-02T03:04:05Z"}
    log = write(tmp_path / "log.jsonl", "\n".join(json.dumps(e) for e in [
        first, {**first, "event_id": "e-2"}, {**first, "artifact_id": SD}]) + "\n")
    with pytest.raises(ValidationFailed) as err:
        engine.ingest(log)
    message = err.value.problems[0]
    assert message.startswith(f"{log}:3: event_id: 'e-1'") and f"(also at {log}:1)" in message
    assert TROCR in message and SD in message and engine.store.event_count() == 0
    assert engine.add_events([first]) == {"received": 1, "new": 1, "duplicates": 0}
    assert engine.add_events([first]) == {"received": 1, "new": 0, "duplicates": 1}
    with pytest.raises(ValidationFailed, match=r"events\[1\]: event_id: 'e-1'.*different kind"):
        engine.add_events([{**first, "event_id": "e-3"}, {**first, "kind": "match"}])
    assert engine.store.event_count() == 1
    engine.close()


# -- a version that cannot serve is never published ---------------------------------------------
def test_empty_catalog_is_refused_and_the_served_index_stays(fresh_home, tmp_path, model):
    engine = Engine(fresh_home, overrides=NO_FIT)
    before = engine.versions.current()[0]
    empty = write(tmp_path / "empty.jsonl", "\n")
    with pytest.raises(ValidationFailed, match="fewer than limits.min_artifacts"):
        engine.index([empty])
    small = write(tmp_path / "one.jsonl", json.dumps(ARTIFACT) + "\n")
    strict = Engine(fresh_home, overrides={"limits": {"min_artifacts": 2}, **NO_FIT})
    with pytest.raises(ValidationFailed, match=r"1 artifact\(s\), fewer than limits.min_artifacts \(2\)"):
        strict.index([small])
    assert engine.versions.current()[0] == before
    assert engine.search("read handwritten letters", record=False).results
    engine.close()
    strict.close()


def test_an_index_without_artifacts_is_not_ready_and_searches_say_why(fresh_home, model):
    # A version published before empty catalogs were refused: answer 503, never 500.
    folder = IndexVersions(fresh_home).current()[1]
    manifest = json.loads((folder / MANIFEST).read_text())
    (folder / MANIFEST).write_text(json.dumps({**manifest, "artifacts": 0}))
    with pytest.raises(NoIndex, match="has no artifacts"):
        Engine(fresh_home).state
    with TestClient(create_app(fresh_home, refresh_seconds=0, background=False, mcp=False)) as c:
        assert c.get("/readyz").status_code == 503
        for path in ("/api/search?q=ocr", "/?q=ocr", "/"):
            r = c.get(path)
            assert r.status_code == 503, (path, r.status_code)
            assert str(fresh_home) not in r.text


# -- export never writes over the home ------------------------------------------------------------
def test_export_refuses_the_store_the_home_and_bad_paths(demo_home, tmp_path, model):
    runner = CliRunner()
    store = demo_home / "matchgraph.db"
    size = store.stat().st_size
    for fmt, target, why in [("json", store, "would write over"),
                             ("graphml", demo_home / "index" / "graph.graphml", "would write over"),
                             ("csv", demo_home, "would write over"),
                             ("gexf", tmp_path / "no" / "such" / "g.gexf", "does not exist"),
                             ("graphml", tmp_path, "is a folder")]:
        result = runner.invoke(cli, ["export", "--format", fmt, "-o", str(target), "--home", str(demo_home)],
                               env=NO_FIT_ENV)
        assert result.exit_code == 2, result.output
        assert "output:" in result.output and why in result.output, result.output
        assert "Traceback" not in result.output
    link = tmp_path / "innocent.json"
    link.symlink_to(store)
    result = runner.invoke(cli, ["export", "--format", "json", "-o", str(link), "--home", str(demo_home)],
                           env=NO_FIT_ENV)
    assert result.exit_code == 2 and "would write over" in result.output
    assert store.stat().st_size == size and Engine(demo_home, overrides=NO_FIT).store.event_count() > 0
    out = tmp_path / "graph.json"
    result = runner.invoke(cli, ["export", "--format", "json", "-o", str(out), "--home", str(demo_home)],
                           env=NO_FIT_ENV)
    assert result.exit_code == 0 and json.loads(out.read_text())["nodes"]


# -- evidence integrity --------------------------------------------------------------------------
def times_matched(client: TestClient, artifact_id: str) -> int:
    return client.get(f"/api/artifacts/{artifact_id}").json()["scores"]["times_matched"]


@pytest.mark.slow
def test_the_500_search_replay_raises_times_matched_by_at_most_one_per_window(demo_home, model):
    """The attack of the issue: 500 identical recorded searches from one client. Even with the
    per-minute budget out of the way, the window dedup counts the burst once per window."""
    overrides = {"server": {"record_per_minute": 100_000}, **NO_FIT}
    app = create_app(demo_home, overrides=overrides, refresh_seconds=0, background=False, mcp=False)
    query = "make a picture from a sentence"
    with TestClient(app) as c:
        shown = [r["artifact_id"] for r in c.get("/api/search", params={"q": query, "record": "false"})
                 .json()["results"][:5]]
        before = {a: times_matched(c, a) for a in shown}
        events_before = app.state.engine.store.event_count()
        start = time.time()
        recorded = sum(c.get("/api/search", params={"q": query}).json()["recorded"] for _ in range(500))
        windows = int(time.time() // 3600) - int(start // 3600) + 1  # record_window_seconds = 3600
        after = {a: times_matched(c, a) for a in shown}
    assert recorded == 500  # each was accepted for recording...
    assert all(after[a] - before[a] <= windows for a in shown), (before, after)  # ...and counted once
    assert all(after[a] - before[a] >= 1 for a in shown)
    assert app.state.engine.store.event_count() - events_before <= 5 * windows


def test_recording_is_budgeted_per_client_and_never_cross_site(demo_home, model):
    app = create_app(demo_home, overrides=NO_FIT, refresh_seconds=0, background=False, mcp=False)  # 10 a minute
    with TestClient(app) as c:
        stored = app.state.engine.store.event_count
        before = stored()
        cross = [{"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                 {"Origin": "https://evil.example"}, {"Referer": "https://evil.example/page.html"},
                 {"Origin": "null"}]
        for headers in cross:
            for path in ("/api/search", "/"):
                r = c.get(path, params={"q": "transcribe a podcast episode"}, headers=headers)
                assert r.status_code == 200 and r.headers["X-Matchgraph-Not-Recorded"] == "cross-site"
        assert stored() == before
        same = c.get("/", params={"q": "transcribe a podcast episode"},
                     headers={"Sec-Fetch-Site": "same-origin", "Referer": "http://testserver/"})
        assert "X-Matchgraph-Not-Recorded" not in same.headers and stored() == before + 5
        verdicts = [c.get("/api/search", params={"q": f"translate a document {i}", "k": 1}).json()["recorded"]
                    for i in range(12)]
        assert verdicts == [True] * 9 + [False] * 3  # the page search above spent one of ten
        limited = c.get("/api/search", params={"q": "something new"})
        assert limited.headers["X-Matchgraph-Not-Recorded"] == "rate-limit"
        other = c.get("/api/search", params={"q": "something new"},
                      headers={"X-Forwarded-For": "198.51.100.4"})  # not trusted: header not configured
        assert other.headers["X-Matchgraph-Not-Recorded"] == "rate-limit"
    proxied = create_app(demo_home, overrides={"server": {"client_ip_header": "x-forwarded-for"}, **NO_FIT},
                         refresh_seconds=0, background=False, mcp=False)
    with TestClient(proxied) as c:
        for i in range(11):
            c.get("/api/search", params={"q": f"q {i}", "k": 1}, headers={"X-Forwarded-For": "198.51.100.4"})
        r = c.get("/api/search", params={"q": "q x", "k": 1}, headers={"X-Forwarded-For": "1.2.3.4, 198.51.100.5"})
        assert r.json()["recorded"] is True  # another client (the proxy's last entry) has its own budget


def test_wrong_tokens_are_rate_limited_security_headers_and_no_paths(demo_home, model):
    app = create_app(demo_home, overrides={"token": TOKEN, **NO_FIT}, refresh_seconds=0, background=False, mcp=False)
    event = {"events": [{"query": "read letters", "artifact_id": TROCR, "kind": "select"}]}
    with TestClient(app) as c:
        codes = [c.post("/api/events", json=event, headers={"Authorization": f"Bearer guess-{i}"}).status_code
                 for i in range(7)]
        assert codes == [403] * 5 + [429] * 2
        blocked = c.post("/api/events", json=event, headers=AUTH)
        assert blocked.status_code == 429 and blocked.headers["Retry-After"] == "60"
        page = c.get("/")
        csp = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        for name, value in [("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
                            ("Referrer-Policy", "same-origin")]:
            assert page.headers[name] == value and c.get("/api/stats").headers[name] == value
        stats = c.get("/api/stats")
        assert stats.json()["store"] == "sqlite" and str(demo_home) not in stats.text
        assert str(demo_home) not in c.get("/readyz").text


def test_audit_lists_a_burst_and_purge_makes_the_graph_forget_it(demo_home, model):
    """A burst recorded without the window (record_window_seconds = 0) shows in `events audit`;
    purging its client brings Times Matched back at a running engine's next refresh."""
    runner = CliRunner()
    server = Engine(demo_home, refresh_seconds=0.01, overrides=NO_FIT)
    base = server.state.scores[SD]["times_matched"]
    burst = Engine(demo_home, overrides={"server": {"record_window_seconds": 0}, **NO_FIT})
    attacker = client_key("203.0.113.7")
    for _ in range(12):
        burst.search("make a picture from a sentence", client=attacker)
    time.sleep(0.05)
    assert server.state.scores[SD]["times_matched"] == base + 12
    audit = runner.invoke(cli, ["events", "audit", "--json", "--min-events", "12", "--home", str(demo_home)],
                          env=NO_FIT_ENV)
    assert audit.exit_code == 0, audit.output
    bursts = json.loads(audit.stdout)["bursts"]
    assert bursts[0]["client"] == attacker and bursts[0]["events"] == 12 * 5  # record_top results each
    assert bursts[0]["query"] == "make a picture from a sentence"
    dry = runner.invoke(cli, ["events", "purge", "--client", "203.0.113.7", "--dry-run", "--json",
                              "--home", str(demo_home)])
    assert json.loads(dry.stdout)["matched"] == bursts[0]["events"] and json.loads(dry.stdout)["purged"] == 0
    # events arriving after the purge must not hide it from an incremental refresh
    done = runner.invoke(cli, ["events", "purge", "--client", attacker, "--home", str(demo_home)])
    assert done.exit_code == 0 and f"purged {bursts[0]['events']} events" in done.output
    burst.search("make a picture from a sentence", record=False)
    burst.add_events([{"query": f"filler {i}", "artifact_id": TROCR, "kind": "match"} for i in range(80)])
    time.sleep(0.05)
    assert server.state.scores[SD]["times_matched"] == base
    none = runner.invoke(cli, ["events", "purge", "--home", str(demo_home)])
    assert none.exit_code == 2 and "give at least one of" in none.output
    server.close()
    burst.close()


# -- crashes mid-write ---------------------------------------------------------------------------
def kill_during(command: list[str], env: dict, delay: float) -> int | None:
    """Start `command`, SIGKILL it after `delay` s; its exit code when it finished first."""
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return None


def timed_run(command: list[str], env: dict) -> float:
    start = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return time.monotonic() - start


@pytest.mark.slow
def test_kill_9_during_index_leaves_a_served_version_and_reindexing_recovers(fresh_home, model):
    env = clean_env(OMP_NUM_THREADS="1")
    command = [MATCHGRAPH, "index", "--catalog", str(CATALOG), "--home", str(fresh_home)]
    duration = timed_run(command, env)
    killed = 0
    for fraction in (0.35, 0.6, 0.8, 0.9, 0.97):
        if kill_during(command, env, duration * fraction) is None:
            killed += 1
        engine = Engine(fresh_home, overrides=NO_FIT)  # recovered: a complete version serves
        version, folder = engine.versions.current()
        assert (folder / MANIFEST).exists()
        assert [r.artifact_id for r in engine.search("read handwritten letters", k=3, record=False).results][0] == TROCR
        engine.close()
    assert killed >= 3, "the kills should land while index runs"
    timed_run(command, env)  # and the next index publishes normally, clearing what the kills left
    assert not list((fresh_home / "index").glob(".v*-*"))
    assert len(create_store(f"sqlite:///{fresh_home / 'matchgraph.db'}").versions()) >= 2


@pytest.mark.slow
def test_kill_9_during_ingest_stores_all_or_nothing_and_ingesting_again_recovers(fresh_home, tmp_path, model):
    ids = [a.id for a in load_catalog([CATALOG])]
    rng = random.Random(5)
    total = 40_000
    log = tmp_path / "big.jsonl"
    with log.open("w") as fh:
        for i in range(total):
            fh.write(json.dumps({"query": f"need number {i % 3000}", "artifact_id": rng.choice(ids),
                                 "kind": "select" if i % 4 == 0 else "match", "event_id": f"k-{i}",
                                 "ts": f"2026-02-{1 + i % 28:02d}T10:00:00Z"}) + "\n")
    env = clean_env(OMP_NUM_THREADS="1")
    command = [MATCHGRAPH, "ingest", "--events", str(log), "--home", str(fresh_home)]
    store = create_store(f"sqlite:///{fresh_home / 'matchgraph.db'}")
    probe = tmp_path / "probe.jsonl"
    probe.write_text(json.dumps({"query": "probe", "artifact_id": TROCR, "kind": "select"}) + "\n")
    duration = timed_run([MATCHGRAPH, "ingest", "--events", str(probe), "--home", str(fresh_home)], env)
    base = store.event_count()
    assert base == 1
    counts = []
    for delay in (duration * 0.9, duration * 1.3, duration * 1.8, duration * 2.5):
        kill_during(command, env, delay)
        counts.append(store.event_count())
        assert counts[-1] in (base, base + total), counts  # one transaction: all or nothing
        if counts[-1] == base + total:
            break
    timed_run(command, env)
    assert store.event_count() == base + total  # no event lost, none twice
    store.close()


# -- a bounded soak on loopback ------------------------------------------------------------------
SOAK_SECONDS = 8


@pytest.fixture(params=["sqlite", "postgresql"])
def soak_server(request, fresh_home, tmp_path):
    env = clean_env(MATCHGRAPH_TOKEN=TOKEN, MATCHGRAPH_SERVER__RECORD_PER_MINUTE="1000000",
                    MATCHGRAPH_GRAPH__REFRESH_SECONDS="2", MATCHGRAPH_SEARCH__ADAPTER_STEPS="0",
                    OMP_NUM_THREADS="1")
    url = f"sqlite:///{fresh_home / 'matchgraph.db'}"
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
        env["MATCHGRAPH_DATABASE_URL"] = url
    port = free_ports(1)[0]
    with running_servers([serve_command(fresh_home, port)], [f"http://127.0.0.1:{port}"], env, tmp_path):
        yield f"http://127.0.0.1:{port}", url


@pytest.mark.slow
def test_soak_zero_errors_and_every_acknowledged_event_stored_once(soak_server):
    base, store_url = soak_server
    store = create_store(store_url)
    before = store.event_count()
    deadline = time.monotonic() + SOAK_SECONDS
    errors: list[str] = []
    acknowledged = [0]
    lock = threading.Lock()

    def searcher(worker: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            i = 0
            while time.monotonic() < deadline:
                r = http.get("/api/search", params={"q": f"soak need {worker} number {i}", "k": 5})
                i += 1
                if r.status_code != 200:
                    errors.append(f"search {r.status_code}: {r.text[:200]}")
                elif r.json()["recorded"]:
                    with lock:
                        acknowledged[0] += len(r.json()["results"][:5])
                if i % 5 == 0:
                    page = http.get("/", params={"q": f"soak page {worker} {i}"},
                                    headers={"Sec-Fetch-Site": "same-origin"})
                    if page.status_code != 200:
                        errors.append(f"page {page.status_code}")
                    elif "X-Matchgraph-Not-Recorded" not in page.headers:
                        with lock:
                            acknowledged[0] += 5

    def poster(worker: int) -> None:
        with httpx.Client(base_url=base, timeout=30, headers=AUTH) as http:
            i = 0
            while time.monotonic() < deadline:
                batch = [{"query": f"posted {worker} {i} {j}", "artifact_id": TROCR if j % 2 else SD,
                          "kind": "select", "event_id": f"soak-{worker}-{i}-{j}"} for j in range(20)]
                batch.append(batch[0])  # a resend inside the batch counts once
                r = http.post("/api/events", json={"events": batch})
                i += 1
                if r.status_code != 200:
                    errors.append(f"post {r.status_code}: {r.text[:200]}")
                else:
                    with lock:
                        acknowledged[0] += r.json()["new"]
                if http.get("/readyz").status_code != 200:
                    errors.append("readyz")

    with ThreadPoolExecutor(4) as pool:
        for future in [pool.submit(searcher, 0), pool.submit(searcher, 1), pool.submit(poster, 0),
                       pool.submit(poster, 1)]:
            future.result()
    assert errors == []
    assert acknowledged[0] > 100
    assert store.event_count() - before == acknowledged[0]
    store.close()
