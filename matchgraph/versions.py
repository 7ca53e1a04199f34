"""Versioned index folders under <home>/index, published atomically.

A build writes into a hidden staging folder, renames it to vNNNNN and then replaces the file
CURRENT (write + os.replace), so a reader sees either the old version or the new one, never a
half-written folder. A failed build leaves CURRENT untouched.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

_VERSION = re.compile(r"^v(\d{5,})$")


class IndexVersions:
    def __init__(self, home: Path):
        self.root = home / "index"

    @contextmanager
    def publishing(self) -> Iterator[None]:
        """Hold the home's publish lock: two builds (e.g. reindex on two replicas sharing a
        volume) take version numbers one after the other instead of racing for the same one."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _existing(self) -> list[int]:
        if not self.root.exists():
            return []
        return sorted(int(m.group(1)) for p in self.root.iterdir() if (m := _VERSION.match(p.name)))

    def current(self) -> tuple[int, Path] | None:
        """(version, folder) of the published index, or None when nothing was published yet."""
        try:
            version = int((self.root / "CURRENT").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        path = self.path(version)
        return (version, path) if path.exists() else None

    def path(self, version: int) -> Path:
        return self.root / f"v{version:05d}"

    def staging(self) -> tuple[int, Path]:
        """A fresh staging folder and the version it will be published as."""
        self.root.mkdir(parents=True, exist_ok=True)
        existing = self._existing()
        current = self.current()
        version = max(existing + [current[0] if current else 0]) + 1
        return version, Path(tempfile.mkdtemp(prefix=f".v{version:05d}-", dir=self.root))

    def publish(self, version: int, staging: Path, keep: int = 3) -> Path:
        final = self.path(version)
        os.rename(staging, final)
        pointer = self.root / f".CURRENT-{os.getpid()}"
        pointer.write_text(f"{version}\n")
        os.replace(pointer, self.root / "CURRENT")
        self.prune(keep)
        return final

    def prune(self, keep: int) -> None:
        for version in self._existing()[:-keep] if keep > 0 else []:
            shutil.rmtree(self.path(version), ignore_errors=True)
        for leftover in self.root.glob(".v*-*"):  # staging folders of builds that died
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
