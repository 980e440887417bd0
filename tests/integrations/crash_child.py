"""A chinwag server process for the crash tests: killed with SIGKILL, restarted on the same data.

Usage: crash_child.py <data_dir> <listening fd> <telegram api url> <public url>
The parent keeps the listening socket open between children, so the port stays the same and
the webhook URL registered with (fake) Telegram stays valid across the "crash".
"""

from __future__ import annotations

import logging
import sys

import trio

from chinwag.config import Settings
from chinwag.http.server import run_server

API_KEY = "crash-test-api-key"


def main() -> None:
    data_dir, fd, telegram_url, public_url = sys.argv[1:5]
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    settings = Settings(
        data_dir=data_dir,
        bind=f"fd://{fd}",
        public_url=public_url,
        telegram_api_url=telegram_url,
        api_key=API_KEY,
    )
    trio.run(run_server, settings)


if __name__ == "__main__":
    main()
