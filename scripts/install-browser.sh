#!/usr/bin/env bash
# Installs Debian's Chromium for the talk-page browser tests (tests/browser/).
# Playwright drives it through executable_path, so no Playwright browser download is needed.
# Idempotent: does nothing when /usr/bin/chromium already exists. Needs root (CI runs as root).
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo unknown)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium fonts-liberation fonts-noto-color-emoji
echo "installed: $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
