"""The `matchgraph` command line: a thin Typer layer over matchgraph.Engine.

`--json` prints exactly one JSON document on stdout; progress and logs go to stderr.
"""

from __future__ import annotations

import json
import sys
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal, Optional

import typer
from rich.markup import escape

from .core.catalog import Kind, Pricing
from .core.config import flatten, settings_markdown
from .core.errors import MatchgraphError, Problem, ValidationFailed
from .core.progress import stderr_console
from .engine.engine import Engine
from .graph.export import FORMATS

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Search, compare and graph AI models and tools by what they can do.")
db_app = typer.Typer(help="Store schema management.")
app.add_typer(db_app, name="db")
events_app = typer.Typer(help="Audit and purge stored events.", no_args_is_help=True)
app.add_typer(events_app, name="events")

ExportFormat = Literal[FORMATS]  # type: ignore[valid-type]  # the choices --format offers
HomeOption = typer.Option(None, "--home", envvar="MATCHGRAPH_HOME",
                          help="Home folder (index, SQLite store, matchgraph.toml). Default ./.matchgraph")
# The running command's context, kept by --json's callback: _fail reads whether --json was given
# and the command's option names from it.
_COMMAND: ContextVar[typer.Context | None] = ContextVar("matchgraph_command", default=None)


def _keep_context(ctx: typer.Context, value: bool) -> bool:
    _COMMAND.set(ctx)
    return value


@app.callback()
def _each_command() -> None:
    """Search, compare and graph AI models and tools by what they can do."""
    _COMMAND.set(None)  # a command without --json never reads the last command's context (tests run many)


JsonOption = typer.Option(False, "--json", callback=_keep_context,
                          help="Print one JSON document on stdout (an error too: {\"error\": {code, message, where}}).")


# Exit codes (README "Command line"): 0 done, 1 a runtime failure (store, network, a bug),
# 2 a usage error (the command line or an input it names is wrong), 3 not ready or busy (no index
# in that home yet, a store to upgrade, a store locked by another writer).
EXIT_RUNTIME, EXIT_USAGE, EXIT_NOT_READY = 1, 2, 3
NOT_READY = {"no_index", "schema_outdated", "busy"}


def _engine(home: Optional[Path], overrides: dict | None = None, fit: bool = True,
            needs_index: bool = False) -> Engine:
    """The engine for a command; `fit=False` for commands that only read or ingest: they reuse the
    newest stored adapter fit of the index version instead of refitting (seconds to minutes).
    `needs_index`: a command that reads the index says so when there is none and creates nothing
    (opening an Engine creates the home folder and its store)."""
    if needs_index:
        from .core.config import home_dir
        from .core.errors import NoIndex
        from .store.versions import IndexVersions

        folder = home_dir(home)
        if IndexVersions(folder).current() is None:
            where = "no folder" if not folder.exists() else "no index"
            _fail(NoIndex(f"{where} at {folder}: nothing to read (created nothing); build one with "
                          f"`matchgraph index --catalog PATH --home {folder}`"))
    try:
        return Engine(home, overrides, fit=fit)
    except MatchgraphError as exc:
        _fail(exc)


def _where(exc: Exception) -> str | None:
    """The place an error concerns, as the command line names it: the option or argument of the
    running command (`--kind`, `QUERY`), else the file:line of the first problem."""
    parameter = getattr(exc, "parameter", None)
    ctx = _COMMAND.get()
    if parameter and ctx is not None:
        for param in ctx.command.params:
            if param.name == parameter or parameter in param.opts:
                return _param_name(param)
    if parameter:
        return parameter
    problem = next(iter(getattr(exc, "problems", ()) or ()), None)
    return getattr(problem, "place", None) or None


def _param_name(param) -> str:
    """How the command line spells a parameter: '--kind' for an option, 'QUERY' for an argument."""
    return param.opts[0] if param.param_type_name == "option" else (param.metavar or param.name.upper())


def _error_code(exc: Exception) -> str:
    if isinstance(exc, MatchgraphError):
        return exc.code
    if "database is locked" in str(exc):  # SQLite held by another writer past its busy timeout
        return "busy"
    return "runtime"


def _fail(exc: Exception, code: str | None = None) -> None:
    """Report `exc` and exit: the text on stderr, and with --json also one JSON object on stdout
    ({"error": {"code", "message", "where"}}); the exit code says usage (2), not ready (3) or a
    runtime failure (1)."""
    code = code or _error_code(exc)
    stderr_console().print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
    ctx = _COMMAND.get()
    if ctx is not None and ctx.params.get("as_json"):
        message = exc.summary if isinstance(exc, MatchgraphError) else str(exc)
        _print_json({"error": {"code": code, "message": message, "where": _where(exc)}})
    if code in NOT_READY:
        raise typer.Exit(code=EXIT_NOT_READY)
    raise typer.Exit(code=EXIT_USAGE if isinstance(exc, MatchgraphError) or code == "usage" else EXIT_RUNTIME)


def _print_json(data: Any) -> None:
    if hasattr(data, "model_dump"):
        data = data.model_dump(mode="json")
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _run(fn):
    """Call fn(); turn errors into a one-line report and an exit code (see EXIT_*)."""
    try:
        return fn()
    except MatchgraphError as exc:
        _fail(exc)
    except (typer.Exit, typer.Abort, typer.TyperException, KeyboardInterrupt):
        raise
    except Exception as exc:  # a runtime failure: still one report (and one JSON object with --json)
        _fail(RuntimeFailure(f"{type(exc).__name__}: {exc}"), _error_code(exc))


class RuntimeFailure(Exception):
    """An unexpected failure, reported as `code: runtime` and exit 1."""


@app.command()
def index(catalog: Optional[list[Path]] = typer.Option(None, "--catalog", help="Catalog file or folder (repeatable)."),
          model: Optional[str] = typer.Option(None, "--model", help="sentence-transformers model name or path."),
          home: Optional[Path] = HomeOption, as_json: bool = JsonOption) -> None:
    """Validate the catalog, embed new capabilities and publish a new index version."""
    engine = _engine(home)
    summary = _run(lambda: engine.index(catalog, model, progress=True))
    if as_json:
        _print_json(summary)
        return
    typer.echo(f"indexed {summary['artifacts']} artifacts, {summary['capabilities']} capabilities "
               f"as version {summary['version']}: embedded {summary['embedded']} texts, "
               f"{summary['cached']} from cache")


@app.command()
def search(query: str = typer.Argument(..., help="What you need, in your own words."),
           k: Optional[int] = typer.Option(None, "-k", help="Number of results (default: config search.k)."),
           kind: Optional[Kind] = typer.Option(None, "--kind",
                                              help="Only artifacts of this kind."),
           pricing: Optional[Pricing] = typer.Option(None, "--pricing",
                                                 help="Only artifacts with this pricing."),
           task: Optional[str] = typer.Option(None, "--task", help="Only artifacts of this task, as the "
                                              "catalog names it (e.g. image-to-text; the search page's Task filter lists them)."),
           no_record: bool = typer.Option(False, "--no-record", help="Do not store match events."),
           home: Optional[Path] = HomeOption, as_json: bool = JsonOption) -> None:
    """Find the artifacts whose capabilities fit QUERY."""
    engine = _engine(home, fit=False, needs_index=True)
    response = _run(lambda: engine.search(query, k, kind, pricing, task, record=not no_record))
    if as_json:
        _print_json(response)
        return
    if not response.results:
        typer.echo("no results")
    for r in response.results:
        typer.echo(f"{r.position:>2}. {r.name}  [{r.artifact_id}]  rank {r.rank}/100  {r.pricing}  "
                   f"score {r.score:.3f}")
        typer.echo(f"    matched: {r.matched_capability_title}")
        typer.echo(f"    {r.explanation}")


@app.command("find-tools")
def find_tools(need: str = typer.Argument(..., help="What the agent needs done, in its own words."),
               k: Optional[int] = typer.Option(None, "-k", help="Number of tools (default: config tools.k)."),
               max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Fit the answer to this many "
                                                        "tokens: schemas are compacted before tools are left out."),
               kind: Optional[list[str]] = typer.Option(None, "--kind", help="tool, operation, server, prompt or "
                                                        "resource (repeatable; default: config tools.kinds)."),
               no_record: bool = typer.Option(False, "--no-record", help="Do not store match events."),
               home: Optional[Path] = HomeOption, as_json: bool = JsonOption) -> None:
    """Find the callable tools (MCP tools, OpenAPI operations) that fit NEED, each with how to call it."""
    engine = _engine(home, fit=False)
    response = _run(lambda: engine.find_tools(need, k, max_tokens, record=not no_record, kinds=kind))
    if as_json:
        _print_json(response)
        return
    if not response.results:
        typer.echo("no tools")
    for r in response.results:
        typer.echo(f"{r.position:>2}. {r.tool.name if r.tool else r.capability_id}  ({r.kind} of "
                   f"{r.server_name} [{r.artifact_id}])  score {r.score:.3f}")
        if r.tool is not None:
            where = f"{r.tool.method} {r.tool.path} on {r.tool.server}" if r.tool.protocol == "openapi" \
                else r.tool.server
            typer.echo(f"    call: {where}" + (f"  (env: {', '.join(r.tool.env)})" if r.tool.env else ""))
        typer.echo(f"    {r.explanation}")
    if response.omitted or response.trimmed:
        typer.echo(f"omitted {response.omitted}; trimmed: {'; '.join(response.trimmed) or 'nothing'}")


@app.command()
def compare(a: str = typer.Argument(..., help="First artifact: id, name or a fuzzy name."),
            b: str = typer.Argument(..., help="Second artifact."),
            home: Optional[Path] = HomeOption, as_json: bool = JsonOption) -> None:
    """Compare two artifacts: scores table, capabilities, alignment, match-graph evidence, verdict."""
    engine = _engine(home, fit=False, needs_index=True)
    result = _run(lambda: engine.compare(a, b))
    if as_json:
        _print_json(result)
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"{result.a.name} vs {result.b.name}")
    for column in ("Feature", result.a.name, result.b.name):
        table.add_column(column)
    for row in result.table:
        table.add_row(row.feature, row.a, row.b)
    console.print(table)
    for side, caps in ((result.a, result.a.capabilities), (result.b, result.b.capabilities)):
        console.print(f"\n[bold]{side.name} capabilities[/]")
        for cap in caps:
            console.print(f"  - {cap.title}: {cap.description}", highlight=False)
            for label, text in (("Unique", cap.unique), ("vs alternatives", cap.vs_alternatives)):
                if text:
                    console.print(f"      {label}: {text}", highlight=False, markup=False)
    if result.shared:
        console.print("\n[bold]Shared ground[/]")
        for pair in result.shared:
            console.print(f"  {pair.a_title}  ~  {pair.b_title}  (cosine {pair.similarity})", highlight=False)
    ev = result.evidence
    console.print(f"\n[bold]Match graph evidence[/]: {len(ev.both)} queries matched both, "
                  f"{len(ev.only_a)} only {result.a.name}, {len(ev.only_b)} only {result.b.name}")
    for q in ev.both[:5]:
        console.print(f"  both: '{q.query}'", highlight=False)
    console.print(f"\n[bold]Verdict[/]: {result.verdict}", highlight=False)


@app.command()
def similar(text: Optional[str] = typer.Argument(None, help="A capability text to look up."),
            artifact: Optional[str] = typer.Option(None, "--artifact", help="An artifact id or name."),
            capability: Optional[str] = typer.Option(None, "--capability", help="One capability of --artifact."),
            k: int = typer.Option(10, "-k", min=1, help="Number of capabilities (and artifacts) to list."),
            home: Optional[Path] = HomeOption, as_json: bool = JsonOption) -> None:
    """Nearest capabilities to a text or an artifact's capability, and an artifact's nearest artifacts."""
    engine = _engine(home, fit=False, needs_index=True)
    result = _run(lambda: engine.similar(text, artifact, capability, k))
    if as_json:
        _print_json(result)
        return
    typer.echo(f"capabilities closest to {result.query!r}:")
    for c in result.capabilities:
        typer.echo(f"  {c.similarity:.3f}  {c.name} [{c.artifact_id}]  {c.title}")
    if result.artifacts:
        typer.echo("most similar artifacts:")
        for a in result.artifacts:
            typer.echo(f"  {a.score:.3f}  {a.name} [{a.artifact_id}]  capabilities {a.capability_similarity:.3f}, "
                       f"{a.shared_queries} shared queries")


@app.command()
def export(fmt: ExportFormat = typer.Option(..., "--format", help="File format."),
           output: Path = typer.Option(..., "-o", "--output", help="File to write (csv: a zip of nodes.csv and edges.csv, e.g. graph.zip)."),
           min_weight: float = typer.Option(0.0, "--min-weight", min=0,
                                            help="Leave out query edges lighter than this (matches + weighted selects)."),
           ego: Optional[str] = typer.Option(None, "--ego", help="Artifact or past query at the centre."),
           radius: int = typer.Option(1, "--radius", min=0, max=5, help="With --ego: hops around the centre."),
           home: Optional[Path] = HomeOption,
           as_json: bool = JsonOption) -> None:
    """Export the match graph for networkx, Gephi or a spreadsheet (never into the home folder)."""
    engine = _engine(home, fit=False, needs_index=True)
    summary = _run(lambda: engine.export(fmt, output, min_weight, ego, radius))
    if as_json:
        _print_json(summary)
    else:
        typer.echo(f"wrote {summary['nodes']} nodes and {summary['edges']} edges to {summary['path']}")


@app.command()
def ingest(events: Path = typer.Option(..., "--events", help="JSONL log of search/feedback events."),
           home: Optional[Path] = HomeOption, as_json: bool = JsonOption) -> None:
    """Store a search/feedback log (validated whole; events already stored are skipped)."""
    engine = _engine(home, fit=False)
    summary = _run(lambda: engine.ingest(events, progress=True))
    if as_json:
        _print_json(summary)
    else:
        typer.echo(f"{summary['received']} events read: {summary['new']} new, "
                   f"{summary['duplicates']} already stored")


@app.command("eval")
def evaluate(queries: Path = typer.Option(..., "--queries", help="Labeled JSONL: query + artifact_id(s)."),
             k: int = typer.Option(10, "-k", min=1, help="Results per query (the metrics read the top 10)."),
             home: Optional[Path] = HomeOption,
             as_json: bool = JsonOption) -> None:
    """Recall@1/5/10, MRR@10, nDCG@10, coverage@10 (requests with several answers) and latency on
    labeled queries (records no events)."""
    engine = _engine(home, needs_index=True)
    report = _run(lambda: engine.evaluate(queries, k))
    if as_json:
        _print_json(report)
        return
    rows = [("overall", report["overall"])] + list(report.get("groups", {}).items())
    coverage = lambda m: "-" if m["coverage@10"] is None else f"{m['coverage@10']:.3f}"
    typer.echo(f"{'group':<8} {'n':>4} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'MRR@10':>7} {'nDCG@10':>8} {'cov@10':>7} {'multi':>5} {'p50 ms':>7} {'p95 ms':>7}")
    for name, m in rows:
        typer.echo(f"{name:<8} {m['queries']:>4} {m['recall@1']:>6.3f} {m['recall@5']:>6.3f} {m['recall@10']:>6.3f} "
                   f"{m['mrr@10']:>7.3f} {m['ndcg@10']:>8.3f} {coverage(m):>7} {m['multi']:>5} {m['latency_ms']['p50']:>7.1f} {m['latency_ms']['p95']:>7.1f}")


@app.command("import")
def import_(fmt: str = typer.Argument(..., metavar="FORMAT", help="hf | mcp-registry | mcp | openapi"),
            sources: list[str] = typer.Argument(..., metavar="SOURCE...",
                                                help="Files (hf, mcp-registry, openapi), or MCP server "
                                                     "command lines / streamable HTTP URLs (mcp)."),
            output: Path = typer.Option(..., "-o", "--output", help="Catalog file to write (*.jsonl)."),
            cards: Optional[Path] = typer.Option(None, "--cards", help="hf: folder of model cards <id>/README.md."),
            timeout: Optional[float] = typer.Option(None, "--timeout", min=1,
                                                    help="mcp: seconds to start a server and list it (30)."),
            header: Optional[list[str]] = typer.Option(None, "--header", metavar="'NAME: VALUE'",
                                                       help="mcp: an HTTP header for the URL sources (repeatable); "
                                                            "stored as ${NAME}, never its value."),
            home: Optional[Path] = HomeOption, as_json: bool = JsonOption) -> None:
    """Turn Hugging Face listings, MCP registry/servers or OpenAPI documents into a catalog (within
    the home's `limits`; never written into the home or over its store).

    mcp: a server that fails is named with its stderr and left out, the others are written, and
    the exit code is 1. Secrets (env NAME=VALUE before a command, --header values) are stored
    as ${NAME} references. Exit codes: 0 written, 2 nothing written (the sources are wrong),
    1 written without the servers that failed."""
    from .importers import import_catalog

    summary = _run(lambda: import_catalog(fmt, sources, output, cards, timeout, home, header))
    failed = summary.get("failed") or []
    for line in failed:  # stderr, so that --json still prints exactly one document on stdout
        stderr_console().print(f"[bold red]failed:[/] {escape(line)}", highlight=False, markup=True, soft_wrap=True)
    if as_json:
        _print_json(summary)
    else:
        typer.echo(f"wrote {summary['artifacts']} artifacts, {summary['capabilities']} capabilities "
                   f"to {summary['output']}; skipped {len(summary['skipped'])}"
                   + (f"; {len(failed)} servers failed" if failed else ""))
        for line in summary["skipped"]:
            typer.echo(f"  skipped {line}")
    if failed:
        raise typer.Exit(code=EXIT_RUNTIME)  # some servers failed; the rest were written


@app.command()
def stats(home: Optional[Path] = HomeOption, as_json: bool = JsonOption) -> None:
    """Index version, catalog size, events and graph size."""
    data = _run(lambda: _engine(home, fit=False, needs_index=True).stats())
    if as_json:
        _print_json(data)
    else:
        for key, value in data.items():
            typer.echo(f"{key:>15}: {value}")


@app.command("config")
def show_config(home: Optional[Path] = HomeOption, as_json: bool = JsonOption,
                markdown: bool = typer.Option(False, "--markdown", help="Print the table of every setting "
                                              "(key, default, meaning) that README.md's Configuration holds.")
                ) -> None:
    """Print the effective configuration (defaults < matchgraph.toml < MATCHGRAPH_* < flags)."""
    if markdown:
        typer.echo(settings_markdown())
        return
    config = _engine(home).config_public()
    if as_json:
        _print_json(config)
    else:
        for key, value in flatten(config).items():
            typer.echo(f"{key} = {json.dumps(value)}")


@app.command()
def serve(host: Optional[str] = typer.Option(None, "--host", help="Address to listen on (config server.host, default 127.0.0.1)."),
          port: Optional[int] = typer.Option(None, "--port", help="Port (config server.port, default 8000)."),
          home: Optional[Path] = HomeOption) -> None:
    """Serve the JSON API, the pages and /metrics (uvicorn); picks up new index versions and events."""
    from api.serving import serve as serve_api  # lazily: the core never imports api at import time

    # refresh_seconds=None: graph.refresh_seconds and search.adapter_refit_seconds apply, and the
    # server's refresh thread rebuilds off the request path (api.app.Service).
    engine = _run(lambda: Engine(home, refresh_seconds=None))
    _run(lambda: serve_api(engine, host, port))


@app.command("mcp")
def mcp_stdio(home: Optional[Path] = HomeOption) -> None:
    """Serve the MCP tools (search, compare, similar, artifact, record_selection) over stdio for
    desktop agents. record_selection needs MATCHGRAPH_TOKEN. stdout carries only MCP messages."""
    from api.serving import serve_mcp_stdio  # lazily, as in serve

    serve_mcp_stdio(_engine(home))


@app.command("gateway")
def gateway(servers: Path = typer.Option(..., "--servers", help="The mcpServers JSON (Claude Desktop's "
                                         "claude_desktop_config.json, Claude Code's .mcp.json, Cursor's mcp.json, "
                                         "VS Code's mcp.json)."),
            http: Optional[int] = typer.Option(None, "--http", min=1, max=65535, metavar="PORT",
                                               help="Serve streamable HTTP at http://HOST:PORT/mcp instead of stdio."),
            host: Optional[str] = typer.Option(None, "--host", help="With --http: address (config server.host)."),
            home: Optional[Path] = HomeOption) -> None:
    """One MCP server in front of the servers of an mcpServers config: find_tools over their
    tools, call_tool forwarded to them; each successful call of a found tool teaches the match
    graph. stdout carries only MCP messages (stdio); logs go to stderr."""
    from api.gateway import run_gateway  # lazily, as in serve

    engine = _run(lambda: Engine(home, refresh_seconds=None))
    _run(lambda: run_gateway(engine, servers, http, host))


@events_app.command("audit")
def events_audit(hours: float = typer.Option(24.0, "--hours", help="Look at the events of the last HOURS."),
                 min_events: int = typer.Option(10, "--min-events", help="List groups with at least this many."),
                 limit: int = typer.Option(50, "--limit", min=1, help="List at most this many groups."), home: Optional[Path] = HomeOption,
                 as_json: bool = JsonOption) -> None:
    """List recent bursts: events sharing a client and a query, most first (client '-': logs,
    the command line), then clients that recorded --min-events distinct queries or more. Remove
    one with `matchgraph events purge --client KEY [--query TEXT]`."""
    engine = _run(lambda: _engine(home, fit=False))
    bursts = _run(lambda: engine.event_bursts(hours, min_events, limit))
    clients = _run(lambda: engine.client_bursts(hours, min_events, limit))  # many distinct queries
    if as_json:
        _print_json({"hours": hours, "min_events": min_events, "bursts": bursts, "clients": clients})
        return
    if not bursts:
        typer.echo(f"no client sent one query {min_events} times or more in the last {hours:g} hours")
    for b in bursts:
        typer.echo(f"{b['events']:>7} events  {b['artifacts']:>3} artifacts  client {b['client'] or '-'}  "
                   f"{b['first']:%Y-%m-%d %H:%M} .. {b['last']:%Y-%m-%d %H:%M}  {b['query']!r}")
    for c in clients:
        typer.echo(f"{c['events']:>7} events  {c['artifacts']:>3} artifacts  client {c['client']}  "
                   f"{c['first']:%Y-%m-%d %H:%M} .. {c['last']:%Y-%m-%d %H:%M}  {c['queries']} distinct queries")


@events_app.command("purge")
def events_purge(query: Optional[str] = typer.Option(None, "--query", help="Events of this query (compared normalized)."),
                 artifact: Optional[str] = typer.Option(None, "--artifact", help="Events for this artifact id."),
                 client: Optional[str] = typer.Option(None, "--client", help="A client key from `events audit`, or the address it came from."),
                 before: Optional[str] = typer.Option(None, "--before", help="Events older than this ISO-8601 time, e.g. 2026-01-31 or 2026-01-31T12:00:00Z."),
                 dry_run: bool = typer.Option(False, "--dry-run", help="Count, delete nothing."),
                 home: Optional[Path] = HomeOption, as_json: bool = JsonOption) -> None:
    """Delete the stored events matching every given criterion (abuse, privacy requests). Times
    Matched, the graph and the scores forget them at the next refresh."""
    from datetime import datetime

    when = None
    if before is not None:
        try:
            when = datetime.fromisoformat(before.strip().replace("Z", "+00:00"))
        except ValueError:
            _fail(ValidationFailed("events purge", [Problem("--before", f"'{before}' is not an ISO-8601 date or time")]))
    summary = _run(lambda: _engine(home, fit=False).purge_events(query, artifact, client, when, dry_run))
    if as_json:
        _print_json(summary)
    elif dry_run:
        typer.echo(f"{summary['matched']} events match; nothing deleted (--dry-run)")
    else:
        typer.echo(f"purged {summary['purged']} events")


@db_app.command("upgrade")
def db_upgrade(home: Optional[Path] = HomeOption) -> None:
    """Create or migrate the store schema to the latest revision."""
    from .core.config import home_dir, load_config, store_url
    from .store import create_store

    home_dir(home).mkdir(parents=True, exist_ok=True)
    store = create_store(store_url(load_config(home), home), create=False, check=False)
    typer.echo(f"store {store.safe_url} is at schema {store.upgrade()}")


def main() -> None:
    """The console script: Typer's app, plus a usage error reported as one JSON object on stdout
    when the command line asks for --json (the text still goes to stderr, exit code 2)."""
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # click's usage errors (vendored by Typer)
        exc.show()
        if "--json" in sys.argv[1:]:
            param = getattr(exc, "param", None)
            _print_json({"error": {"code": "usage", "message": exc.format_message(),
                                   "where": _param_name(param) if param is not None else None}})
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.stderr.write("Aborted!\n")
        sys.exit(EXIT_RUNTIME)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
