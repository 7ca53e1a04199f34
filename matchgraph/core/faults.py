"""Fault points: where a crash test makes a process die, deterministically.

`MATCHGRAPH_FAULT=<point>` in a process's environment makes it exit at once with status 137
when it reaches `fault_point("<point>")`, through os._exit: no cleanup, no finally blocks, no
flushing, as a kill -9 at that instant would leave things. Unset (always, outside tests), a
fault point costs one dictionary lookup. The points are named where they are placed
(engine/indexing.py: "publish:placed", "publish:stored", "publish:pointed").
"""

from __future__ import annotations

import os

ENV = "MATCHGRAPH_FAULT"


def fault_point(name: str) -> None:
    """Exit now, as killed, when MATCHGRAPH_FAULT names this point."""
    if os.environ.get(ENV) == name:
        os._exit(137)
