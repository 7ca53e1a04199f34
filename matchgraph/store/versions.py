"""Versioned index folders under <home>/index, published atomically and in order with the store.

A build writes into a hidden staging folder and renames it to vNNNNN (`place`); the store then
learns the version (artifacts and the version row, one transaction: store.publish_version); only
then is the file CURRENT replaced (write + os.replace, `point`). A reader sees either the old
version or the new one, never a half-written folder, and CURRENT never names a version the store
does not hold. A crash between the steps leaves either a folder the store does not know (CURRENT
still the old one: removed by the next `index`) or a version the store holds that CURRENT does not
name yet (`reconcile`, run by every Engine and every `index`, finishes the flip). A failed build
leaves CURRENT untouched.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import tempfile
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Iterator

log = logging.getLogger("matchgraph.store.versions")
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

    def staging(self, stored: int | None = None) -> tuple[int, Path]:
        """A fresh staging folder and the version it will be published as: after every folder,
        CURRENT and `stored` (the store's newest version)."""
        self.root.mkdir(parents=True, exist_ok=True)
        existing = self._existing()
        current = self.current()
        version = max(existing + [current[0] if current else 0, stored or 0]) + 1
        return version, Path(tempfile.mkdtemp(prefix=f".v{version:05d}-", dir=self.root))

    def place(self, version: int, staging: Path) -> Path:
        """The finished staging folder renamed to its version's folder (CURRENT untouched)."""
        final = self.path(version)
        os.rename(staging, final)
        return final

    def point(self, version: int) -> None:
        """CURRENT names `version` (written beside it, then renamed over it: readers see one or
        the other)."""
        pointer = self.root / f".CURRENT-{os.getpid()}"
        pointer.write_text(f"{version}\n")
        os.replace(pointer, self.root / "CURRENT")

    def named(self) -> int | None:
        """The version CURRENT names, whether or not its folder exists (None: no CURRENT)."""
        try:
            return int((self.root / "CURRENT").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def reconcile(self, stored: int | None, locked: bool = False) -> int | None:
        """Make CURRENT agree with `stored`, the store's newest version (store.latest_version),
        after a crash between publish steps: CURRENT is pointed at it when its folder exists (a
        publish that died before the flip is finished; a CURRENT that ran ahead of the store is
        taken back). `locked`: the caller holds the publish lock (`index`); folders of versions
        newer than the store's, which CURRENT never named, are then removed too. Returns the
        version CURRENT names afterwards."""
        named = self.named()
        if stored is not None and named != stored and self.path(stored).is_dir():
            with nullcontext() if locked else self.publishing():
                if self.named() == named:  # nobody finished it meanwhile
                    log.warning("index version %s is in the store but CURRENT named %s: CURRENT now names %s",
                                stored, named, stored)
                    self.point(stored)
            named = stored
        if locked:
            for version in self._existing():
                if version > (stored or 0) and version != named:
                    shutil.rmtree(self.path(version), ignore_errors=True)
        return named

    def prune(self, keep: int) -> None:
        for version in self._existing()[:-keep] if keep > 0 else []:
            shutil.rmtree(self.path(version), ignore_errors=True)
        for leftover in self.root.glob(".v*-*"):  # staging folders of builds that died
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
