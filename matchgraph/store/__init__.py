"""The store: artifacts, events, embedding cache and index versions behind one interface.

`create_store(url)` (factory.py) picks the backend from the URL: `sqlite:///path` (embedded
default, sqlite.SQLiteStore) or `postgresql://...` (several API processes or machines on one
database, postgresql.PostgreSQLStore); both subclass sql.SQLStore, where the dialect-neutral SQL
lives and which is the interface the engine uses.
"""

from .factory import create_store
from .postgresql import PostgreSQLStore
from .sql import SQLStore
from .sqlite import SQLiteStore

__all__ = ["SQLStore", "SQLiteStore", "PostgreSQLStore", "create_store"]
