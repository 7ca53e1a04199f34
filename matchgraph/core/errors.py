"""Errors the engine raises, and the one shape every face (CLI, HTTP API, MCP) reports them in.

Each error names its kind (`code`) and, when it concerns one input field, that field
(`parameter`) as data: a face maps the engine's field names to its own (`renamed`), never
parses a message to find them.
"""

from __future__ import annotations


class Problem(str):
    """One problem line, '[place: ]field: why' (a str, so it prints and compares as that line).

    `place` is where in a file (`catalog.jsonl:4`) or None for a request; `field` the input
    field (`k`, `events[2].query`), None when the problem is the whole record.
    """

    field: str | None
    message: str
    place: str | None

    def __new__(cls, field: str | None, message: str, place: str | None = None) -> "Problem":
        text = ": ".join(part for part in (place, field, message) if part)
        self = super().__new__(cls, text)
        self.field, self.message, self.place = field, message, place
        return self

    def __reduce__(self):  # keep the parts through pickling (str's own would drop them)
        return Problem, (self.field, self.message, self.place)


class MatchgraphError(Exception):
    """Base class: a problem the user can fix, with a message that says where.

    `parameter`: the input field the error belongs to (None: not one field).
    """

    code = "error"

    def __init__(self, message: str = "", *, parameter: str | None = None):
        super().__init__(message)
        self.parameter = parameter

    @property
    def summary(self) -> str:
        """The message on one line (what an HTTP body or a tool error shows)."""
        return str(self)

    def renamed(self, names: dict[str, str]) -> "MatchgraphError":
        """This error with the engine's field names replaced by a face's (`{"query": "q"}`);
        its parameter is renamed in place (a ValidationFailed also renames its problem lines)."""
        if self.parameter in names:
            self.parameter = names[self.parameter]
        return self


class ValidationFailed(MatchgraphError):
    """Input (catalog, events, parameters) is invalid; `problems` lists every place, e.g. file:line: field: why.

    `parameter` is the given one, else the field of the first problem that belongs to a request.
    """

    code = "invalid"

    def __init__(self, what: str, problems: list[str], parameter: str | None = None):
        self.what = what
        self.problems = list(problems)
        shown = "\n  ".join(self.problems[:50])
        more = f"\n  ... and {len(self.problems) - 50} more" if len(self.problems) > 50 else ""
        first = next((p.field for p in self.problems
                      if isinstance(p, Problem) and p.place is None and p.field), None)
        super().__init__(f"{what}: {len(self.problems)} problem(s)\n  {shown}{more}",
                         parameter=parameter or first)

    @property
    def summary(self) -> str:
        return "; ".join(self.problems) if self.problems else str(self)

    def renamed(self, names: dict[str, str]) -> "ValidationFailed":
        if not any(isinstance(p, Problem) and p.place is None and p.field in names for p in self.problems) \
                and self.parameter not in names:
            return self
        problems = [Problem(names[p.field], p.message) if isinstance(p, Problem) and p.place is None
                    and p.field in names else p for p in self.problems]
        return ValidationFailed(self.what, problems, names.get(self.parameter, self.parameter))


def invalid(what: str, field: str, why: str) -> ValidationFailed:
    """A request input `field` is invalid: the one-problem ValidationFailed every check raises."""
    return ValidationFailed(what, [Problem(field, why)])


class NotFound(MatchgraphError):
    """No artifact (or capability) answers to that name."""

    code = "not_found"


class Ambiguous(MatchgraphError):
    """A name matches several artifacts; `candidates` lists their ids."""

    code = "ambiguous"

    def __init__(self, name: str, candidates: list[str], parameter: str | None = None):
        self.candidates = candidates
        super().__init__(f"'{name}' is ambiguous; candidates: {', '.join(candidates)}", parameter=parameter)


class NoIndex(MatchgraphError):
    """No index has been published in this home folder yet."""

    code = "no_index"


class SchemaOutdated(MatchgraphError):
    """The store was created by an older version; `matchgraph db upgrade` migrates it."""

    code = "schema_outdated"


class Unauthorized(MatchgraphError):
    """A write without the right token. `reason`: "disabled" (no token configured: writes are
    off), "missing" (none sent) or "wrong"."""

    code = "unauthorized"

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)
