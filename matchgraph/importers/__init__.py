"""`matchgraph import`: catalogs users already have -> our catalog schema, decomposed into
capabilities deterministically from the structure of each format (no LLM).

One module per format (hf, mcp_registry, mcp, openapi); `common` writes and validates the
result exactly as `index` would read it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .common import Imported, ImportFailed, write_catalog

FORMATS = ("hf", "mcp-registry", "mcp", "openapi")


def read_sources(fmt: str, sources: list[str], cards: Path | None = None,
                 timeout: float | None = None, limits: dict | None = None,
                 headers: list[str] | None = None) -> Imported:
    """Artifacts from `sources` in format `fmt` (one of FORMATS), not yet written; files are read
    within config `limits` (common.read_bytes, common.parse_document)."""
    if fmt not in FORMATS:
        raise ImportFailed([f"format: '{fmt}' is not one of {', '.join(FORMATS)}"])
    if not sources:
        raise ImportFailed(["SOURCE: give at least one file, command or URL"])
    if headers and fmt != "mcp":
        raise ImportFailed(["--header: headers go with the mcp format (streamable HTTP URLs) only"])
    if cards is not None and fmt != "hf":
        raise ImportFailed(["--cards: model cards go with the hf format only"])
    if fmt == "hf":
        from .hf import import_hf
        return import_hf([Path(s) for s in sources], cards, limits)
    if fmt == "mcp-registry":
        from .mcp_registry import import_mcp_registry
        return import_mcp_registry([Path(s) for s in sources], limits)
    if fmt == "openapi":
        from .openapi import import_openapi
        return import_openapi([Path(s) for s in sources], limits)
    from .mcp import DEFAULT_TIMEOUT, import_mcp
    return import_mcp(sources, timeout or DEFAULT_TIMEOUT, headers=headers)


def import_catalog(fmt: str, sources: list[str], output: str | Path, cards: Path | None = None,
                   timeout: float | None = None, home: str | Path | None = None,
                   headers: list[str] | None = None) -> dict[str, Any]:
    """Read `sources`, validate, write `output` (JSONL); returns {artifacts, capabilities,
    skipped, failed, output}: `failed` names each live MCP server that could not be listed (the
    others are written). Raises ImportFailed (nothing written) naming each bad place. The limits
    are the home's config `limits` (as `index` applies them); `output` must not be in the home nor
    be its store or one of the store's files (outputs.protected_paths)."""
    from ..core.config import home_dir, load_config, store_url
    from ..core.outputs import protected_paths

    config = load_config(home)
    protected = protected_paths(home_dir(home), store_url(config, home))
    limits = config["limits"]
    imported = read_sources(fmt, sources, cards, timeout, limits, headers)
    summary = write_catalog(imported, Path(output), limits, protected)
    return {"failed": [], **summary, "output": str(output)}


__all__ = ["FORMATS", "ImportFailed", "import_catalog", "read_sources"]
