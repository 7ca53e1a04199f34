"""`create_store(url)`: the backend for a SQLAlchemy URL. It lives beside the base (sql.py), so the
base never imports its dialects (sqlite.py, postgresql.py subclass it)."""

from __future__ import annotations

from sqlalchemy.engine import make_url

from ..core.errors import invalid
from .postgresql import PostgreSQLStore
from .sql import SQLStore, normalize_url
from .sqlite import SQLiteStore

BACKENDS: dict[str, type[SQLStore]] = {"sqlite": SQLiteStore, "postgresql": PostgreSQLStore}


def create_store(url: str, create: bool = True, check: bool = True) -> SQLStore:
    """Open the store at a SQLAlchemy URL, creating the schema in a new, empty database.

    An existing store at an older schema raises SchemaOutdated unless `check` is False
    (what `matchgraph db upgrade` does before migrating it).
    """
    backend = make_url(normalize_url(url)).get_backend_name()
    if backend not in BACKENDS:
        raise invalid("store", "database_url", f"unsupported database '{backend}': "
                      "use sqlite:///PATH or postgresql://...")
    return BACKENDS[backend](url, create=create, check=check)
