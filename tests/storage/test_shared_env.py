"""One LMDB env written by two processes of a worker group (storage/dirlock.py `join_group`):
the group shares the directory's lock, the map grows under both (MDB_MAP_RESIZED adopted) and
every acknowledged write of either process is there; an outsider is still refused."""

from __future__ import annotations

import subprocess

import pytest
import trio

from chinwag.storage.dirlock import join_group, leave_group, lock_directory
from chinwag.storage.engine import LmdbEngine, Put
from chinwag.storage.errors import DataDirLocked

from .conftest import PYTHON, child_env
from .test_dir_lock import open_in_child

VALUE = b"v" * 16_000
COUNT = 60

WRITER = """
import sys, trio
from chinwag.storage.dirlock import join_group
from chinwag.storage.engine import LmdbEngine, Put
join_group(int(sys.argv[2]))
engine = LmdbEngine.open(sys.argv[1], ["t"], map_size=1 << 16)
async def main():
    for i in range(int(sys.argv[3])):
        await engine.write(Put("t", b"child-%04d" % i, b"v" * 16_000))
trio.run(main)
engine.close()
print("WROTE")
"""


def test_two_processes_of_a_group_grow_the_map_and_keep_every_write(data_dir) -> None:
    lock = lock_directory(data_dir)
    try:
        join_group(lock.fd)
        engine = LmdbEngine.open(data_dir, ["t"], map_size=1 << 16)
        assert engine.durable  # metasync is replaced by a flush after the write lock
        child = subprocess.Popen(
            [PYTHON, "-c", WRITER, str(data_dir), str(lock.fd), str(COUNT)],
            pass_fds=[lock.fd],
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

        async def write_ours() -> None:
            for i in range(COUNT):
                await engine.write(Put("t", b"parent-%04d" % i, VALUE))

        trio.run(write_ours)
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        assert out.strip() == "WROTE"
        # An outsider is refused while the group holds the lock, also within this process
        # once its group use is taken.
        assert open_in_child(data_dir).returncode == 3
        with pytest.raises(DataDirLocked):
            LmdbEngine.open(data_dir, ["t"])
        # Every write of both processes is readable here (the child grew the map past ours).
        for prefix in (b"parent", b"child"):
            rows = engine.scan("t", prefix=prefix)
            assert len(rows) == COUNT
            assert all(value == VALUE for _key, value in rows)
        assert engine.map_size >= 2 * COUNT * len(VALUE)
        engine.close()
    finally:
        leave_group()
        lock.release()
    assert open_in_child(data_dir).returncode == 0
