#!/usr/bin/env bash
# The main job: install, index the demo catalog, ingest the demo log, answer one search, serve.
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
export MATCHGRAPH_HOME="${MATCHGRAPH_HOME:-.matchgraph}"
matchgraph index --catalog fixtures/catalog
matchgraph ingest --events fixtures/demo-search-log.jsonl
matchgraph search "read the handwriting in old scanned letters" -k 5 --no-record
exec matchgraph serve --host 127.0.0.1 --port "${PORT:-8000}"
