"""Deployment files: docker-compose.yml, Dockerfile and the one-shot indexer job.

No Docker engine runs here: the compose file is parsed and checked against what the app reads,
`docker-compose config -q` validates it when the binary is installed (`.ci/run` installs it),
and the indexer job runs for real against PostgreSQL.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import CATALOG, DEMO_LOG, ROOT, TROCR
from sqlalchemy import select

from matchgraph import Engine
from matchgraph.core.config import DEFAULTS, load_config
from matchgraph.store import create_store
from matchgraph.store.schema import embeddings

COMPOSE = ROOT / "docker-compose.yml"
APP_ENV = {"MATCHGRAPH_DATABASE_URL", "MATCHGRAPH_HOME", "MATCHGRAPH_TOKEN"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def default_of(value: str) -> str:
    """'${VAR:-default}' -> 'default' (what compose substitutes when VAR is unset)."""
    return re.sub(r"\$\{[A-Z0-9_]+:?-([^}]*)\}", r"\1", value)


def mounts(service: dict) -> dict[str, str]:
    """target path -> named volume (or host path)."""
    out = {}
    for item in service.get("volumes", []):
        if isinstance(item, str):
            source, target = item.split(":")[:2]
        else:
            source, target = item["source"], item["target"]
        out[target] = source
    return out


def test_services_and_volumes(compose):
    services = compose["services"]
    assert {"postgres", "indexer", "api"} <= set(services)
    volumes = set(compose["volumes"])
    pg = services["postgres"]
    assert mounts(pg).get("/var/lib/postgresql/data") in volumes  # the database survives restarts
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    for name in ("indexer", "api"):
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_indexer_is_one_shot_and_publishes_to_the_shared_volume(compose):
    indexer, api = compose["services"]["indexer"], compose["services"]["api"]
    assert indexer["command"][:3] == ["python", "-m", "indexer"]
    assert str(indexer.get("restart", "no")) == "no"
    assert indexer["healthcheck"].get("disable") is True  # the image's /readyz check is for the API
    home = env_of(indexer)["MATCHGRAPH_HOME"]
    assert env_of(api)["MATCHGRAPH_HOME"] == home
    assert mounts(indexer)[home] == mounts(api)[home] in set(compose["volumes"])
    assert api["depends_on"]["indexer"]["condition"] == "service_completed_successfully"
    log = indexer["command"][indexer["command"].index("--events") + 1]
    assert (ROOT / default_of(log).replace("/app/", "", 1)).exists()  # shipped in the image


def test_api_is_scalable_with_a_readiness_healthcheck(compose):
    api = compose["services"]["api"]
    assert "container_name" not in api  # a fixed name forbids --scale api=3
    command = " ".join(api["command"])
    assert command.startswith("uvicorn ") and "--factory" in command and "0.0.0.0" in command
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    for port in api.get("ports", []):  # a single fixed host port would collide between replicas
        published = default_of(str(port)).rsplit(":", 1)[0] if ":" in str(port) else ""
        assert not published or "-" in published, port


def test_environment_is_what_the_app_reads(compose):
    for name in ("indexer", "api"):
        env = env_of(compose["services"][name])
        assert APP_ENV <= set(env), name
        assert default_of(env["MATCHGRAPH_DATABASE_URL"]).startswith("postgresql://")
        assert env["MATCHGRAPH_HOME"].startswith("/")
        # every MATCHGRAPH_* variable set in the file is a config key the app knows
        resolved = {k: default_of(v) for k, v in env.items()}
        config = load_config(Path("/nonexistent"), env=resolved)
        assert config["database_url"] == resolved["MATCHGRAPH_DATABASE_URL"]
        assert config["token"] == resolved["MATCHGRAPH_TOKEN"]
        for key in resolved:
            if key.startswith("MATCHGRAPH_") and key != "MATCHGRAPH_HOME":
                path = key[len("MATCHGRAPH_"):].lower().split("__")
                node = DEFAULTS
                for part in path:
                    assert isinstance(node, dict) and part in node, f"{key} is not a config key"
                    node = node[part]
        assert config["catalog"] == ["/app/fixtures/catalog"]
    pg_env = env_of(compose["services"]["postgres"])
    url = default_of(env_of(compose["services"]["api"])["MATCHGRAPH_DATABASE_URL"])
    assert f"@postgres:5432/{pg_env['POSTGRES_DB']}" in url
    assert url.startswith(f"postgresql://{pg_env['POSTGRES_USER']}:")


def test_dockerfile_installs_cpu_torch_before_the_project():
    text = (ROOT / "Dockerfile").read_text()
    torch = re.search(r"pip install --index-url https://download\.pytorch\.org/whl/cpu torch==2\.13\.0", text)
    project = re.search(r"pip install \.", text)
    assert torch and project and torch.start() < project.start()
    for package in ("matchgraph", "indexer", "api", "fixtures"):
        assert re.search(rf"^COPY {package} ", text, re.M), package
    assert "/readyz" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_docker_compose_config_validates():
    env = {k: v for k, v in os.environ.items() if not k.startswith("MATCHGRAPH_")}
    done = subprocess.run(["docker-compose", "-f", str(COMPOSE), "config", "-q"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_matchgraph_never_imports_indexer():
    """indexer depends on matchgraph, never the reverse (`matchgraph serve` may load api lazily)."""
    for path in (ROOT / "matchgraph").rglob("*.py"):
        source = path.read_text()
        assert not re.search(r"^\s*(from|import) indexer\b", source, re.M), path
        assert not re.search(r"^(from|import) api\b", source, re.M), path  # not at import time


def _warm_cache(source_home: Path, url: str) -> None:
    """Copy the demo capability vectors into a new store's cache (the job then embeds nothing new)."""
    source = create_store(f"sqlite:///{source_home / 'matchgraph.db'}")
    target = create_store(url)
    with source.engine.connect() as conn:
        rows = conn.execute(select(embeddings.c.model, embeddings.c.text_hash, embeddings.c.vector)).all()
    by_model: dict[str, dict] = {}
    for model_name, text_hash, blob in rows:
        by_model.setdefault(model_name, {})[text_hash] = np.frombuffer(blob, dtype="<f4")
    for model_name, vectors in by_model.items():
        target.put_vectors(model_name, vectors)
    source.close()
    target.close()


@pytest.mark.postgres
def test_indexer_job_on_postgresql(tmp_path, pg_url, indexed_home, model, monkeypatch):
    """The compose job for real: migrate, index, ingest, publish; running it again is harmless."""
    from indexer import run

    _warm_cache(indexed_home, pg_url)
    home = tmp_path / "shared-home"
    monkeypatch.setenv("MATCHGRAPH_DATABASE_URL", pg_url)
    monkeypatch.setenv("MATCHGRAPH_CATALOG", json.dumps([str(CATALOG)]))
    first = run(home, events=DEMO_LOG, wait_seconds=5)
    assert first["schema"] == "0004" and first["index"]["version"] == 1
    assert first["index"]["embedded"] == 0  # the cache lives in the store, shared by every process
    assert first["ingest"]["new"] == 360
    second = run(home, events=DEMO_LOG, wait_seconds=5)
    assert second["index"]["version"] == 2 and second["ingest"]["new"] == 0

    api_side = Engine(home)  # what an API process on the shared volume sees
    try:
        assert api_side.store.dialect == "postgresql"
        assert api_side.stats()["events"] == 360
        assert api_side.state.index.version == 2
        assert api_side.state.graph.times_matched.get(TROCR, 0) > 0
    finally:
        api_side.close()


@pytest.mark.postgres
def test_indexer_exits_2_when_the_database_is_unreachable(tmp_path):
    env = {**os.environ, "MATCHGRAPH_HOME": str(tmp_path),
           "MATCHGRAPH_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    done = subprocess.run([sys.executable, "-m", "indexer", "--wait-seconds", "1"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "not reachable" in done.stderr
