"""matchgraph: a graph-backed search and match engine for AI models and tools."""

from .engine import Engine
from .errors import Ambiguous, MatchgraphError, NotFound, ValidationFailed

__all__ = ["Engine", "MatchgraphError", "NotFound", "Ambiguous", "ValidationFailed"]
__version__ = "0.1.0"
