"""Progress bars go to stderr so that `--json` output on stdout stays one JSON document."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.progress import Progress

_CONSOLE: Console | None = None


def stderr_console() -> Console:
    global _CONSOLE
    if _CONSOLE is None:
        _CONSOLE = Console(stderr=True)
    return _CONSOLE


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator:
    """Yield advance(n); draws a rich bar on stderr."""
    with Progress(console=stderr_console(), transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)
