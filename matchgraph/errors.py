"""Errors the engine raises; the CLI, API and MCP layers turn them into messages and statuses."""


class MatchgraphError(Exception):
    """Base class: a problem the user can fix, with a message that says where."""


class ValidationFailed(MatchgraphError):
    """Input (catalog, events, parameters) is invalid; `problems` lists every place, e.g. file:line: field: why."""

    def __init__(self, what: str, problems: list[str]):
        self.problems = problems
        shown = "\n  ".join(problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{what}: {len(problems)} problem(s)\n  {shown}{more}")


class NotFound(MatchgraphError):
    """No artifact (or capability) answers to that name."""


class Ambiguous(MatchgraphError):
    """A name matches several artifacts; `candidates` lists their ids."""

    def __init__(self, name: str, candidates: list[str]):
        self.candidates = candidates
        super().__init__(f"'{name}' is ambiguous; candidates: {', '.join(candidates)}")


class NoIndex(MatchgraphError):
    """No index has been published in this home folder yet."""


class SchemaOutdated(MatchgraphError):
    """The store was created by an older version; `matchgraph db upgrade` migrates it."""


class Unauthorized(MatchgraphError):
    """A write without the right token. `reason`: "disabled" (no token configured: writes are
    off), "missing" (none sent) or "wrong"."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)
