"""What a command may write over: never the store, its SQLite side files, or anything in the home.

`export` and `import` both write where they are told; a path that resolves (symlinks followed)
to the store's database, its `-wal`, `-shm` or `-journal` file (writing over a live WAL loses
committed events), or into the home folder (index versions, fits, matchgraph.toml) is refused,
wherever the store lives.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def store_files(store_url: str) -> list[Path]:
    """For a SQLite store, its database file and side files (resolved); nothing for a server."""
    url = make_url(store_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        database = Path(url.database).resolve()
        return [database.with_name(database.name + suffix) for suffix in SQLITE_SIDE_FILES]
    return []


def protected_paths(home: Path, store_url: str) -> list[Path]:
    """The home folder, and for a SQLite store its database file and side files (resolved)."""
    return [Path(home).resolve(), *store_files(store_url)]


def protected_hit(files: list[Path], protected: list[Path]) -> Path | None:
    """The protected path one of `files` (resolved) is, or lies inside; None when none."""
    for place in protected:
        for file in files:
            file = file.resolve()
            if file == place or place in file.parents:
                return place
    return None
