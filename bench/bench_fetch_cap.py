"""Memory of reading a gzip bomb with a 256 KiB cap: ours (raw bytes, bounded inflate) against
the previous way (httpx `aiter_bytes`, capped after each decoded chunk), same run, same server.

The body is 141 MiB of zeros gzipped (about 140 KiB on the wire), served from 127.0.0.1 by the
test suite's fake server. Printed: peak traced Python memory (tracemalloc) and bytes kept, the
lowest of the rounds; rounds interleave the two readers.

    .venv/bin/python bench/bench_fetch_cap.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import sys
import tracemalloc
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import httpx  # noqa: E402
import trio  # noqa: E402
from gateways.fake_openai import Page, start_fake_openai  # noqa: E402

from chinwag.gateways.fetch import UrlGuard, fetch_page  # noqa: E402

CAP = 256 * 1024


def _bomb(mebibytes: int = 141) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    return b"".join(packer.compress(block) for _ in range(mebibytes)) + packer.flush()


async def _baseline(http: httpx.AsyncClient, url: str) -> int:
    body = bytearray()
    async with http.stream("GET", url) as response:
        async for data in response.aiter_bytes():
            body += data
            if len(body) >= CAP:
                del body[CAP:]
                break
    return len(body)


async def _ours(http: httpx.AsyncClient, url: str) -> int:
    page = await fetch_page(http, url, guard=UrlGuard(allow_private=True), max_bytes=CAP)
    return len(page.text)


async def main(rounds: int) -> None:
    bomb = _bomb()
    peaks: dict[str, tuple[int, int]] = {}
    async with trio.open_nursery() as nursery, httpx.AsyncClient() as http:
        fake = await start_fake_openai(nursery)
        fake.pages["/bomb"] = Page(bomb, headers={"Content-Encoding": "gzip"})
        url = fake.url("/bomb")
        for _ in range(rounds):
            for name, reader in (("baseline", _baseline), ("ours", _ours)):
                tracemalloc.start()
                kept = await reader(http, url)
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                if name not in peaks or peak < peaks[name][0]:
                    peaks[name] = (peak, kept)
        nursery.cancel_scope.cancel()
    print(f"gzip body on the wire: {len(bomb) / 1024:.0f} KiB (141 MiB decompressed), cap 256 KiB")
    for name, (peak, kept) in peaks.items():
        print(f"{name:>9}: peak {peak / 2**20:8.1f} MiB, kept {kept / 1024:.0f} KiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    trio.run(main, parser.parse_args().rounds)
