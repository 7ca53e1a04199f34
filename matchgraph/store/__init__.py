"""The store: artifacts, events, embedding cache and index versions behind one interface.

`create_store(url)` picks the backend from the URL: `sqlite:///path` (embedded default) or
`postgresql://...` (several API processes or machines on one database).
"""

from .base import Store
from .sql import SQLStore, create_store

__all__ = ["Store", "SQLStore", "create_store"]
