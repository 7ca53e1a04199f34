"""`python -m indexer [--catalog PATH ...] [--events FILE] [--home DIR]`: the one-shot indexer job.

Reads the same configuration as matchgraph (MATCHGRAPH_HOME, MATCHGRAPH_DATABASE_URL,
MATCHGRAPH_CATALOG='["/path"]', matchgraph.toml); INDEXER_EVENTS names a log to ingest when
--events is not given. Exit code 0 when the index is published, 1 on a data error (bad catalog or
log: nothing is published or stored), 2 when the database cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from matchgraph.core.errors import MatchgraphError

from . import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m indexer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", default=None, help="home folder (default MATCHGRAPH_HOME)")
    parser.add_argument("--catalog", action="append", default=None,
                        help="catalog file or folder (repeatable; default MATCHGRAPH_CATALOG, "
                             "else the paths of the last index)")
    parser.add_argument("--events", default=os.environ.get("INDEXER_EVENTS") or None,
                        help="search/feedback log (JSONL) to ingest after indexing")
    parser.add_argument("--model", default=None, help="embedding model (default: config)")
    parser.add_argument("--wait-seconds", type=float, default=120.0,
                        help="how long to wait for the database to answer")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        summary = run(args.home, args.catalog, args.events, args.model, args.wait_seconds)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    except MatchgraphError as exc:
        print(f"indexer: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
