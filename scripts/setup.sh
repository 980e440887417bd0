#!/usr/bin/env bash
# Creates .venv and installs chinwag with pinned versions (constraints.txt).
# Usage: bash scripts/setup.sh [--dev]   (--dev adds the test tools, the browser for the talk page tests
# and PostgreSQL 15 for the storage engine tests)
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
if [ "${1:-}" = "--dev" ]; then
    .venv/bin/python -m pip install --quiet -c constraints.txt -e '.[dev]'
    bash scripts/install-browser.sh
    bash scripts/install-postgres.sh
else
    .venv/bin/python -m pip install --quiet -c constraints.txt -e .
fi
