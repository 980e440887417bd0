#!/usr/bin/env bash
# Sets up everything the tests need (venv, pinned packages, Debian's Chromium) and runs the suite:
# lint, format check, then every test including the real-browser talk page tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --dev
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/pytest "$@"
