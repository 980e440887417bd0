#!/usr/bin/env bash
# Installs Debian's PostgreSQL 15 server binaries for the storage tests (tests/support/postgres.py
# starts a throwaway cluster from them; no system service is used). Idempotent: does nothing when
# initdb 15 is already there. Needs root or sudo (CI runs as root); without either it says so and
# leaves the PostgreSQL tests to be skipped.
set -euo pipefail

BIN=/usr/lib/postgresql/15/bin
if [ -x "$BIN/initdb" ] && [ -x "$BIN/pg_ctl" ] && [ -x "$BIN/postgres" ]; then
    echo "postgresql-15 already installed: $("$BIN/postgres" --version)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-postgres: not root and no sudo; the PostgreSQL tests will be skipped" >&2
        exit 0
    fi
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
# postgresql-15 alone: the server binaries and the 'postgres' system user (the tests run initdb as
# that user because PostgreSQL refuses to run as root). No cluster is created here.
$SUDO apt-get install -y --no-install-recommends postgresql-15
echo "installed: $("$BIN/postgres" --version)"
