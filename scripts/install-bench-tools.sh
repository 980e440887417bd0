#!/usr/bin/env bash
# Installs the load generator the benchmarks drive the server with: Debian's `wrk` (a C event
# loop: it leaves the cores to the server, unlike a Python client). Used by bench/bench_workers.py,
# not by the test suite. Idempotent; needs root or sudo.
set -euo pipefail

if command -v wrk >/dev/null 2>&1; then
    echo "wrk already installed"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-bench-tools: not root and no sudo; install wrk yourself" >&2
        exit 1
    fi
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends wrk
echo "installed: $(command -v wrk)"
