"""The store: artifacts, events, embedding cache and index versions behind one interface.

`create_store(url)` picks the backend from the URL: `sqlite:///path` (embedded default,
sqlite.SQLiteStore) or `postgresql://...` (several API processes or machines on one database,
postgresql.PostgreSQLStore); both share sql.SQLStore, where the dialect-neutral SQL lives.
"""

from .base import Store
from .postgresql import PostgreSQLStore
from .sql import SQLStore, create_store
from .sqlite import SQLiteStore

__all__ = ["Store", "SQLStore", "SQLiteStore", "PostgreSQLStore", "create_store"]
