"""MCP servers as users configure them, with their secrets kept out of everything we write.

Two ways in, one `ServerSpec` out:

- the `mcpServers` JSON that Claude Desktop, Claude Code, Cursor and VS Code read (`read_servers`):
  `{"mcpServers": {"NAME": {"command", "args", "env", "cwd"} | {"url", "type", "headers"}}}`, or
  VS Code's `{"servers": {...}}`; entries with `"disabled": true` are left out;
- a `matchgraph import mcp` SOURCE (`source_spec`): a streamable HTTP URL, or a command line that
  may start with `env NAME=VALUE …` or `NAME=VALUE …`, plus `--header 'Name: value'` options.

Values may reference the environment as `${NAME}` or `${NAME:-default}` (Claude Code's `.mcp.json`
syntax) or `${env:NAME}` (VS Code's); they are expanded only when a server is started
(`ServerSpec.resolved`). Secrets are the
values of `env` and `headers`, and in a URL its password and the values of query parameters named
like a credential (`?api_key=…`, `&token=…`): what matchgraph writes (catalogs, the store, results, pages, logs)
shows them as `${NAME}` references (`ServerSpec.public`, `Resolved.redact`), never as values.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Mapping
from urllib.parse import parse_qsl, urlsplit

from ..core.errors import Problem, ValidationFailed

REFERENCE = re.compile(r"\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")  # ${NAME}, VS Code's ${env:NAME}
PROMPTED = re.compile(r"\$\{input:[^}]*\}")  # VS Code asks the user for these; only VS Code can
ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.S)
REMOTE_TYPES = {"http": "http", "streamable-http": "http", "streamablehttp": "http", "sse": "sse"}
# Values shorter than this are not redacted from text: replacing "1" or "on" everywhere would
# mangle every message while hiding nothing a secret could be.
MIN_SECRET = 4
CREDENTIAL = re.compile(r"key|token|secret|passw|auth|sig|credential|session", re.I)  # query parameters that hold one
Transport = Literal["stdio", "http", "sse"]


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def reference_name(header: str) -> str:
    """The environment variable a header's value is referenced by: 'X-API-Key' -> 'X_API_KEY'."""
    return re.sub(r"[^A-Za-z0-9_]", "_", header).upper()


def expand(text: str, place: str, environ: Mapping[str, str]) -> str:
    """`text` with each ${NAME} / ${NAME:-default} replaced from `environ`; an unset variable
    without a default is an error naming `place`."""
    prompted = PROMPTED.search(text)
    if prompted:
        raise ValidationFailed("cannot start the MCP server", [Problem(place, f"{prompted.group(0)} is asked by VS Code "
                                                                              "when it starts a server; give the value "
                                                                              "as ${env:NAME} (or ${NAME}) instead")])

    def value(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise ValidationFailed("cannot start the MCP server", [Problem(place, f"environment variable {name} is not set")])
    return REFERENCE.sub(value, text)


@dataclass(frozen=True)
class Resolved:
    """A server ready to start: every ${NAME} expanded. `secrets` maps each secret value to the
    reference that stands for it in anything shown."""

    transport: Transport
    command: str | None
    args: list[str]
    env: dict[str, str]
    cwd: str | None
    url: str | None
    headers: dict[str, str]
    secrets: dict[str, str] = field(default_factory=dict)

    def redact(self, text: str) -> str:
        """`text` (an error, a server's stderr) with every secret value replaced by its reference."""
        for value in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(value, self.secrets[value])
        return text


@dataclass(frozen=True)
class ServerSpec:
    """One MCP server as configured: values as written (${NAME} references unexpanded)."""

    name: str
    transport: Transport
    command: str | None = None
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None
    url: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    def public(self) -> str:
        """How to start it, safe to store and show: the command line with its environment as
        `env NAME=${NAME} …`, or the URL. Secret values never appear (see `secret_free`)."""
        if self.transport != "stdio":
            url = str(self.url)
            for name, value, written in _url_secrets(url):
                url = url.replace(written, written.replace(value, f"${{{name}}}"), 1)
            return url
        prefix = "".join(f"{name}={_reference(name, value)} " for name, value in self.env)
        line = shlex.join([str(self.command), *self.args])
        return self.resolved_public(f"env {prefix}{line}" if prefix else line)

    def public_headers(self) -> dict[str, str]:
        """The headers it needs, each as a ${NAME} reference (as written when it was one)."""
        return {name: _reference(reference_name(name), value.strip()) for name, value in self.headers}

    def secret_names(self) -> list[str]:
        """The environment variables its secrets come from: its env's names and the variables its
        header references name."""
        names: list[str] = []
        written = [_reference(name, value) for name, value in self.env] + list(self.public_headers().values())
        for value in written + [f"${{{name}}}" for name, _, _ in _url_secrets(self.url or "")] + \
                [m.group(0) for m in REFERENCE.finditer(self.url or "")]:
            names += [m.group(1) for m in REFERENCE.finditer(value) if m.group(1) not in names]
        return names

    def resolved_public(self, text: str) -> str:
        """`text` with literal secret values (written into the config, not referenced) redacted;
        expansion is not needed, so an unset variable does not fail here."""
        for name, value in sorted(self._literal_secrets(), key=lambda item: -len(item[1])):
            text = text.replace(value, f"${{{name}}}")
        return text

    def _literal_secrets(self) -> list[tuple[str, str]]:
        pairs = list(self.env) + [(reference_name(n), v) for n, v in self.headers] + \
            [(name, value) for name, value, _ in _url_secrets(self.url or "")]
        return [(name, value) for name, value in pairs if len(value) >= MIN_SECRET and not REFERENCE.search(value)]

    def resolved(self, environ: Mapping[str, str] | None = None, where: str | None = None) -> Resolved:
        """Every ${NAME} expanded from `environ` (default os.environ); errors name `where`."""
        environ = os.environ if environ is None else environ
        where = where or self.name
        env = {name: expand(value, f"{where}.env.{name}", environ) for name, value in self.env}
        headers = {name: expand(value, f"{where}.headers.{name}", environ) for name, value in self.headers}
        secrets = {value: f"${{{name}}}" for name, value in env.items() if len(value) >= MIN_SECRET}
        secrets.update({value: f"${{{reference_name(name)}}}" for name, value in headers.items()
                        if len(value) >= MIN_SECRET})
        url = expand(self.url, f"{where}.url", environ) if self.url else None
        secrets.update({value: f"${{{name}}}" for name, value, _ in _url_secrets(url or "") if len(value) >= MIN_SECRET})
        for name, value in headers.items():  # 'Bearer TOKEN': the token alone is secret too
            scheme, _, credential = value.partition(" ")
            if credential and len(credential) >= MIN_SECRET:
                secrets.setdefault(credential, f"${{{reference_name(name)}}}")
        return Resolved(self.transport,
                        expand(self.command, f"{where}.command", environ) if self.command else None,
                        [expand(a, f"{where}.args[{i}]", environ) for i, a in enumerate(self.args)],
                        env, expand(self.cwd, f"{where}.cwd", environ) if self.cwd else None,
                        url, headers, secrets)


def _url_secrets(url: str) -> list[tuple[str, str, str]]:
    """The secrets written into a URL, as (reference name, value, the text holding it): its
    password, and the values of query parameters named like a credential (`api_key`, `token`, …)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return []
    found = []
    if password and not REFERENCE.search(password):
        found.append(("URL_PASSWORD", password, f":{password}@"))
    for name, value in parse_qsl(parts.query, keep_blank_values=False):
        if CREDENTIAL.search(name) and len(value) >= MIN_SECRET and not REFERENCE.search(value):
            raw = next((p for p in parts.query.split("&") if p.startswith(f"{name}=")), f"{name}={value}")
            found.append((reference_name(name), raw.partition("=")[2], raw))
    return found


def _reference(name: str, value: str) -> str:
    """What stands for a secret `value` of variable `name`: the value as the user wrote it when it
    references variables already (`${TOKEN}`, `Bearer ${TOKEN}`), else ${name}."""
    return value if REFERENCE.search(value) else f"${{{name}}}"


def source_spec(source: str, headers: list[str] | None = None) -> ServerSpec:
    """An import SOURCE -> a spec named by what may be shown of it. `env A=1 B=2 cmd …` and
    `A=1 cmd …` give the server environment A and B (the name: `env A=${A} B=${B} cmd …`);
    `headers` ('Name: value') go with a URL."""
    pairs = []
    for header in headers or []:
        name, colon, value = header.partition(":")
        if not colon or not name.strip():
            raise ValidationFailed("bad --header", [Problem("--header", f"'{header.split(':')[0]}…' is not 'Name: value'")])
        pairs.append((name.strip(), value.strip()))
    if is_url(source):
        spec = ServerSpec(name=source, transport="http", url=source, headers=tuple(pairs))
        return replace(spec, name=spec.public())
    if pairs:
        raise ValidationFailed("bad --header", [Problem("--header", f"{source}: headers go with a URL, not a command")])
    try:
        argv = shlex.split(source)
    except ValueError as exc:
        raise ValidationFailed("bad SOURCE", [Problem("SOURCE", f"{source}: {exc}")]) from None
    if argv and argv[0] == "env":
        argv = argv[1:]
    env = []
    while argv and ASSIGNMENT.match(argv[0]):
        name, value = ASSIGNMENT.match(argv.pop(0)).groups()
        env.append((name, value))
    if not argv:
        raise ValidationFailed("bad SOURCE", [Problem("SOURCE", f"{_shown(source, env)}: give a command line or a URL")])
    spec = ServerSpec(name=source, transport="stdio", command=argv[0], args=tuple(argv[1:]), env=tuple(env))
    return replace(spec, name=spec.public()) if env else spec  # the user's words, unless they hold values


def _shown(source: str, env: list[tuple[str, str]]) -> str:
    for name, value in env:
        if len(value) >= MIN_SECRET:
            source = source.replace(value, f"${{{name}}}")
    return source


# -- the mcpServers JSON ---------------------------------------------------------------------------
def read_servers(path: str | Path) -> list[ServerSpec]:
    """The enabled servers of an `mcpServers` config file, in file order. Raises ValidationFailed
    naming the file and each bad field ('FILE: mcpServers.NAME.args: …')."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationFailed("bad --servers", [Problem(None, "no such file", str(path))]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationFailed("bad --servers", [Problem(None, f"cannot be read: {exc}", str(path))]) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed("bad --servers", [Problem(None, f"not valid JSON: {exc.msg}",
                                                         f"{path}:{exc.lineno}:{exc.colno}")]) from None
    return parse_servers(document, str(path))


def parse_servers(document: Any, place: str = "mcpServers") -> list[ServerSpec]:
    """`{"mcpServers": {...}}` or `{"servers": {...}}` (VS Code) -> specs; problems name `place`."""
    key = next((k for k in ("mcpServers", "servers") if isinstance(document, dict) and k in document), None)
    if key is None or not isinstance(document[key], dict):
        raise ValidationFailed("bad --servers", [Problem(None, 'expected {"mcpServers": {"NAME": {"command": …} '
                                                               '| {"url": …}}} (or VS Code\'s "servers")', place)])
    specs, problems = [], []
    for name, entry in document[key].items():
        try:
            spec = _entry(name, entry, f"{key}.{name}", place)
        except ValidationFailed as exc:
            problems += exc.problems
            continue
        if spec is not None:
            specs.append(spec)
    if problems:
        raise ValidationFailed("bad --servers", problems)
    if not specs:
        raise ValidationFailed("bad --servers", [Problem(key, "no enabled servers", place)])
    return specs


def _entry(name: str, entry: Any, field: str, place: str) -> ServerSpec | None:
    def bad(where: str, why: str) -> ValidationFailed:
        return ValidationFailed("bad --servers", [Problem(where, why, place)])

    if not name.strip() or any(c in name for c in "\n\r\t"):
        raise bad(field, "a server needs a name without control characters")
    if not isinstance(entry, dict):
        raise bad(field, "expected an object with `command` or `url`")
    if entry.get("disabled") is True:
        return None
    remote = "url" in entry or "serverUrl" in entry
    kind = str(entry.get("type") or entry.get("transport") or ("http" if remote and "command" not in entry else "stdio"))
    kind = kind.lower().replace("_", "-")
    strings = lambda key: _strings(entry.get(key), f"{field}.{key}", place)  # noqa: E731
    table = lambda key: _table(entry.get(key), f"{field}.{key}", place)  # noqa: E731
    if kind == "stdio":
        command = entry.get("command")
        if not isinstance(command, str) or not command.strip():
            raise bad(f"{field}.command", "a stdio server needs `command` (the program to run)")
        cwd = entry.get("cwd")
        if cwd is not None and not isinstance(cwd, str):
            raise bad(f"{field}.cwd", "expected a folder path")
        return ServerSpec(name=name, transport="stdio", command=command, args=tuple(strings("args")),
                          env=tuple(table("env").items()), cwd=cwd)
    if kind not in REMOTE_TYPES:
        raise bad(f"{field}.type", f"'{kind}' is not stdio, http, streamable-http or sse")
    url = entry.get("url") or entry.get("serverUrl")
    if not isinstance(url, str) or not REFERENCE.sub("x", url).startswith(("http://", "https://")):
        raise bad(f"{field}.url", "a remote server needs `url` (http:// or https://)")
    return ServerSpec(name=name, transport=REMOTE_TYPES[kind], url=url, headers=tuple(table("headers").items()))


def _strings(value: Any, field: str, place: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationFailed("bad --servers", [Problem(field, "expected a list of strings", place)])
    return value


def _table(value: Any, field: str, place: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, (str, int, float, bool)) for v in value.values()):
        raise ValidationFailed("bad --servers", [Problem(field, "expected an object of strings", place)])
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}
