"""Child process for the durability test: writes forever, printing each key once acknowledged.

The parent SIGKILLs it mid-stream and checks that every printed key survived.
"""

from __future__ import annotations

import sys

import trio

from chinwag.storage.engine import LmdbEngine, Put, StorageEngine
from chinwag.storage.postgres import PostgresEngine


async def main(where: str) -> None:
    """`where` is an LMDB directory or a postgresql:// URL."""
    engine: StorageEngine
    if where.startswith("postgresql://"):
        engine = PostgresEngine.open(where, ["messages"])
    else:
        engine = LmdbEngine.open(where, ["messages"])
    print("READY", flush=True)

    async def writer(n: int) -> None:
        i = 0
        while True:
            key = f"{n:02d}:{i:08d}".encode()
            await engine.write(Put("messages", key, key * 20))
            sys.stdout.write(f"{key.decode()}\n")
            sys.stdout.flush()
            i += 1

    async with trio.open_nursery() as nursery:
        for n in range(16):
            nursery.start_soon(writer, n)


if __name__ == "__main__":
    trio.run(main, sys.argv[1])
