"""Python's cyclic garbage collector paused while a build allocates millions of long-lived objects.

Loading a catalog, tokenizing it for BM25 or reading a version's columns creates objects that all
survive; every full collection meanwhile traverses all of them again. At 100,000 artifacts the
catalog load took 16 s with the collector on and 7 s with it paused (bench/scale.py catalog).
The builds make no reference cycles worth collecting early; reference counting still frees
everything else at once.

When the last pause ends, one collection of generations 0 and 1 moves what the builds made into
the oldest generation. Left young, those objects were traversed again by every generation-1
collection after the pause until one promoted them: at 100,000 artifacts (~234,000 containers)
each took ~20 ms, three of them in a server's first 100 searches when nothing else (the model's
import) had promoted them first; at the end of the load it is paid once.
"""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from typing import Iterator

_lock = threading.Lock()
_depth = 0  # builds inside a pause (threads or nested calls): the last one out resumes
_resume = False  # whether the collector was on when the first one came in


@contextmanager
def collection_paused() -> Iterator[None]:
    """Pause the cyclic collector for the block, or for every call of a function decorated with
    `@collection_paused()` (nestable, thread-safe); it runs again after the last pause ends if it
    was enabled before the first began, and what the pauses made is then moved to the oldest
    generation."""
    global _depth, _resume
    with _lock:
        if _depth == 0:
            _resume = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            last = _depth == 0 and _resume
            if last:
                gc.enable()
        if last:  # outside the lock: a pause starting in another thread need not wait for it
            gc.collect(1)  # generations 0 and 1: their survivors, the build's objects, go to 2
