"""Alembic migrations on both backends: an older store is refused with a message naming
`matchgraph db upgrade`, and that command brings it to head without losing data."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from alembic import command
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from matchgraph import Engine
from matchgraph.cli import app
from matchgraph.core.errors import SchemaOutdated
from matchgraph.store import create_store
from matchgraph.store.sql import _alembic_config, head_revision


@pytest.fixture
def store_home(request, tmp_path, store_url):
    """(home, url, env) where the home's store is `store_url` (SQLite in the home, or PostgreSQL)."""
    home = tmp_path / "mghome"
    home.mkdir()
    if store_url.startswith("sqlite"):
        url = f"sqlite:///{home / 'matchgraph.db'}"
        env = {"MATCHGRAPH_HOME": str(home)}
    else:
        url = store_url
        env = {"MATCHGRAPH_HOME": str(home), "MATCHGRAPH_DATABASE_URL": url}
    return home, url, env


def make_old_store(url: str, revision: str = "0001") -> None:
    """A store as an older matchgraph left it: schema at `revision`, one event stored."""
    store = create_store(url, create=False, check=False)
    with store.engine.begin() as conn:
        command.upgrade(_alembic_config(conn), revision)
        conn.execute(text("INSERT INTO events (event_id, query, query_norm, artifact_id, kind, ts) "
                          "VALUES ('old-1', 'Read letters', 'read letters', 'a/b', 'select', "
                          "'2023-05-01 10:00:00')"))
    store.close()


def index_names(url: str) -> set[str]:
    store = create_store(url, check=False)
    with store.engine.connect() as conn:
        names = {ix["name"] for ix in inspect(conn).get_indexes("events")}
    store.close()
    return names


def test_head_is_latest_revision():
    assert head_revision() == "0004"


def test_old_store_is_refused_then_upgraded_by_cli(store_home):
    home, url, env = store_home
    make_old_store(url)
    assert "ix_events_ts" not in index_names(url)

    with pytest.raises(SchemaOutdated) as refused:
        create_store(url)
    assert "matchgraph db upgrade" in str(refused.value)
    assert "0001" in str(refused.value) and head_revision() in str(refused.value)
    with pytest.raises(SchemaOutdated):
        Engine(home, overrides={"database_url": env.get("MATCHGRAPH_DATABASE_URL", "")})

    runner = CliRunner()
    # any command that opens the store (this home has no index: `events audit` needs none): a clear
    # message, exit 3 (not ready)
    result = runner.invoke(app, ["events", "audit"], env=env)
    assert result.exit_code == 3
    assert "matchgraph db upgrade" in " ".join(result.output.split())  # rich may wrap the line

    result = runner.invoke(app, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    assert f"schema {head_revision()}" in result.output

    store = create_store(url)  # accepted now, the old event kept
    assert store.current_revision() == head_revision()
    assert store.event_count() == 1
    assert store.times_matched() == {"a/b": 1}
    store.close()
    assert "ix_events_ts" in index_names(url)
    assert "ix_events_seq" in index_names(url)  # 0003: the old event got a sequence number
    store = create_store(url)
    assert store.max_seq() == 1 and len(store.aggregates().edges) == 1
    store.close()

    again = runner.invoke(app, ["db", "upgrade"], env=env)  # at head: nothing to do, no error
    assert again.exit_code == 0 and f"schema {head_revision()}" in again.output


def test_tables_without_revision_are_refused(store_url):
    store = create_store(store_url, create=False, check=False)
    with store.engine.begin() as conn:
        conn.execute(text("CREATE TABLE events (event_id VARCHAR(200) PRIMARY KEY)"))
    store.close()
    with pytest.raises(SchemaOutdated, match="matchgraph db upgrade"):
        create_store(store_url)


def test_db_upgrade_creates_an_empty_store(store_home):
    home, url, env = store_home
    result = CliRunner().invoke(app, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    store = create_store(url, create=False)
    assert store.current_revision() == head_revision()
    store.close()


def test_downgrade_and_upgrade_round_trip(store_url):
    """Every revision has a working downgrade, on both backends."""
    store = create_store(store_url)
    with store.engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0001")
    assert store.current_revision() == "0001"
    with store.engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "base")
    assert store.current_revision() is None
    assert store.upgrade() == head_revision()
    store.close()


@pytest.mark.postgres
def test_console_script_upgrades_postgresql(tmp_path, pg_url):
    """The installed `matchgraph db upgrade` (a real process) on an old PostgreSQL schema."""
    make_old_store(pg_url)
    env = {**os.environ, "MATCHGRAPH_HOME": str(tmp_path), "MATCHGRAPH_DATABASE_URL": pg_url}
    exe = os.path.join(os.path.dirname(sys.executable), "matchgraph")
    done = subprocess.run([exe, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert head_revision() in done.stdout
    store = create_store(pg_url)
    assert store.event_count() == 1
    store.close()
