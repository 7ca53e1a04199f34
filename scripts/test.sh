#!/usr/bin/env bash
# The whole test suite, installing what it needs: the venv, Debian's chromium (browser tests),
# Debian's docker-compose (validates docker-compose.yml), real MCP servers and a running PostgreSQL.
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
# the real MCP servers that tests import and call (PyPI and npm), on PATH
source scripts/mcp-servers.sh
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v docker-compose >/dev/null || missing+=(docker-compose)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
    for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432 || { echo "PostgreSQL at 127.0.0.1:5432 is not reachable" >&2; exit 1; }
exec python -m pytest -q -p no:cacheprovider "$@"
