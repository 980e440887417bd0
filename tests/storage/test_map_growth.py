"""A full LMDB map grows on its own, with readers running on other threads meanwhile."""

from __future__ import annotations

import threading
import time

import trio

from chinwag.storage.engine import LmdbEngine, Put

PAGE = 4096


async def test_map_grows_from_tiny_map_while_readers_run(data_dir) -> None:
    engine = LmdbEngine.open(data_dir, ["blobs", "meta"], map_size=16 * PAGE)
    initial = engine.map_size
    stop = threading.Event()
    reader_errors: list[BaseException] = []
    reads = 0

    def reader() -> None:
        nonlocal reads
        try:
            while not stop.is_set():
                engine.scan("blobs", limit=5, reverse=True)
                engine.get("meta", b"m")
                engine.count("blobs")
                reads += 1
                time.sleep(0.0002)  # busy but not a GIL hog, like real callers
        except BaseException as exc:
            reader_errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        async with trio.open_nursery() as nursery:
            for n in range(20):
                blob = bytes([n]) * 20_000  # 20 batches x 20 x 20 kB = 8 MB >> 64 kB map

                async def write_blobs(n: int = n, blob: bytes = blob) -> None:
                    for i in range(20):
                        await engine.write(Put("blobs", f"{n:02d}:{i:02d}".encode(), blob))

                nursery.start_soon(write_blobs)
        # Readers on this (Trio) thread too, between growths.
        assert engine.get("meta", b"m") is None
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert reader_errors == []
    assert reads > 0
    assert engine.map_size > initial * 16
    assert engine.count("blobs") == 400
    assert engine.get("blobs", b"07:19") == bytes([7]) * 20_000
    engine.close()

    reopened = LmdbEngine.open(data_dir, ["blobs", "meta"], map_size=16 * PAGE)
    try:
        assert reopened.count("blobs") == 400  # the data file is larger than the asked map
        await reopened.write(Put("blobs", b"more", b"x" * 100_000))
        assert reopened.get("blobs", b"more") == b"x" * 100_000
    finally:
        reopened.close()


async def test_one_value_bigger_than_the_map_fits_after_growth(data_dir) -> None:
    engine = LmdbEngine.open(data_dir, ["blobs"], map_size=16 * PAGE)
    try:
        big = b"y" * (3 << 20)
        await engine.write(Put("blobs", b"big", big))
        assert engine.get("blobs", b"big") == big
    finally:
        engine.close()
