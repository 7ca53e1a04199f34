# Sourced by demo.sh and test.sh: creates .venv and installs the project (CPU torch first).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ]; then
    "${PYTHON:-python3}" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip >&2
# The CPU build first: a bare torch requirement would pull a multi-GB CUDA build.
python -m pip install -q torch==2.13.0 >&2
python -m pip install -q -e ".[test]" >&2
