"""matchgraph: a graph-backed search and match engine for AI models and tools."""

import os

# torch and FAISS run OpenMP threads whose idle ones spin by default (GNU OpenMP). On a machine
# whose cores are busy -- a server beside other work, a build beside a server -- the spinning
# threads steal the cores the working ones need: under load 5 on 2 cores one query encoding took
# 940-980 ms spinning against 18-50 ms passive, and IVF training 30.1 against 9.5 s
# (BENCHMARKS.md). OpenMP reads this when torch or faiss loads, so it is set before either.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .core.errors import Ambiguous, MatchgraphError, NotFound, ValidationFailed  # noqa: E402
from .engine.engine import Engine  # noqa: E402 (after the OpenMP setting)

__all__ = ["Engine", "MatchgraphError", "NotFound", "Ambiguous", "ValidationFailed"]
__version__ = "0.1.0"
