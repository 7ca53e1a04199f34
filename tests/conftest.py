"""Shared fixtures: the real embedding model (loaded once per process), demo homes, PostgreSQL schemas."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from sqlalchemy import create_engine, text

from matchgraph import Engine
from matchgraph.retrieval.embeddings import load_model

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
TOOLBOX = ROOT / "tests" / "servers" / "toolbox.py"  # a real MCP server the gateway and import tests start
CATALOG = FIXTURES / "catalog"
DEMO_LOG = FIXTURES / "demo-search-log.jsonl"
PG_ADMIN_URL = os.environ.get("MATCHGRAPH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TROCR = "microsoft/trocr-base-handwritten"
SD = "stabilityai/stable-diffusion"


@pytest.fixture(scope="session", autouse=True)
def _isolated_env():
    """Tests never read the developer's MATCHGRAPH_* settings."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("MATCHGRAPH_")
             and k != "MATCHGRAPH_TEST_PG"}
    yield
    os.environ.update(saved)


@pytest.fixture(scope="session")
def model():
    """The real all-MiniLM-L6-v2, loaded once; every Engine in this process shares it."""
    return load_model("default")


@pytest.fixture(scope="session")
def indexed_home(tmp_path_factory, model) -> Path:
    """A home with the demo catalog indexed and no events (copy it before writing to it)."""
    home = tmp_path_factory.mktemp("indexed")
    engine = Engine(home)
    engine.index([CATALOG])
    engine.close()
    return home


@pytest.fixture(scope="session")
def demo_home_ro(tmp_path_factory, indexed_home) -> Path:
    """The demo catalog indexed and the demo log ingested (copy it before writing to it)."""
    home = tmp_path_factory.mktemp("demo")
    shutil.copytree(indexed_home, home, dirs_exist_ok=True)
    engine = Engine(home)
    engine.ingest(DEMO_LOG)
    engine.close()
    return home


@pytest.fixture
def fresh_home(tmp_path, indexed_home) -> Path:
    """A writable copy of the indexed demo home (no events)."""
    home = tmp_path / "home"
    shutil.copytree(indexed_home, home)
    return home


@pytest.fixture
def demo_home(tmp_path, demo_home_ro) -> Path:
    """A writable copy of the demo home with the demo log ingested."""
    home = tmp_path / "home"
    shutil.copytree(demo_home_ro, home)
    return home


@pytest.fixture(scope="session")
def demo_engine(demo_home_ro) -> Engine:
    """A read-only engine on the demo home: use it for searches with record=False only."""
    engine = Engine(demo_home_ro)
    yield engine
    engine.close()


def _pg_admin():
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # CI must not skip silently: fail loudly with the cause
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is not reachable ({exc}); start it with "
                    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")
    return engine


@pytest.fixture
def pg_url():
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """Both store backends: every test using this runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_url")


def free_ports(n: int) -> list[int]:
    """n distinct free TCP ports on 127.0.0.1 (held open together so they differ)."""
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without MATCHGRAPH_* settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MATCHGRAPH_")}
    env.update(extra)
    return env


@contextmanager
def running_servers(commands: list[list[str]], urls: list[str], env: dict[str, str], log_dir: Path,
                    timeout: float = 240) -> Iterator[list[str]]:
    """Start real server processes, wait until each answers /readyz with 200, yield their URLs,
    and stop them afterwards. A process that dies or never gets ready fails the test with its log."""
    logs = [open(log_dir / f"server-{i}.log", "w+") for i in range(len(commands))]
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
             for cmd, log in zip(commands, logs)]

    def tail(i: int) -> str:
        logs[i].seek(0)
        return logs[i].read()[-3000:]

    try:
        deadline = time.monotonic() + timeout
        pending = set(range(len(procs)))
        while pending:
            for i in sorted(pending):
                if procs[i].poll() is not None:
                    pytest.fail(f"server {urls[i]} exited with {procs[i].returncode}:\n{tail(i)}")
                try:
                    if httpx.get(f"{urls[i]}/readyz", timeout=2).status_code == 200:
                        pending.discard(i)
                except httpx.HTTPError:
                    pass
            if pending and time.monotonic() > deadline:
                pytest.fail(f"servers not ready after {timeout:.0f} s: {[urls[i] for i in pending]}\n"
                            f"{tail(min(pending))}")
            time.sleep(0.3)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()


def serve_command(home: Path, port: int) -> list[str]:
    """`matchgraph serve` through the installed console script."""
    return [str(Path(sys.executable).parent / "matchgraph"), "serve", "--home", str(home),
            "--host", "127.0.0.1", "--port", str(port)]
