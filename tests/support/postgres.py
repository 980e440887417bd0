"""A throwaway PostgreSQL cluster for tests: initdb in a temp dir, 127.0.0.1 on a free port.

    with throwaway_cluster() as cluster:  # cluster.url: postgresql://chinwag:…@127.0.0.1:PORT/…
        ...

Uses Debian's postgresql-15 binaries (scripts/install-postgres.sh). PostgreSQL refuses to run as
root, so as root the cluster belongs to the `postgres` system user the package creates and every
server command runs through `runuser`. fsync stays on: the durability tests mean it. Leaving the
block stops the server (fast shutdown) and removes the directory, also when the body failed.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

USER = "chinwag"
DATABASE = "chinwag_test"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL is not installed here (or cannot run as a non-root user): tests skip."""


def find_bindir() -> Path:
    """The newest Debian PostgreSQL bin directory holding initdb, pg_ctl and postgres."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    for initdb in reversed(candidates):
        bindir = Path(initdb).parent
        if all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise PostgresUnavailable(
        "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin; "
        "run scripts/install-postgres.sh (Debian's postgresql-15)"
    )


def _runner() -> tuple[list[str], int | None, int | None]:
    """(command prefix, uid, gid) to run server commands as a non-root user."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable(
            "running as root and there is no 'postgres' user to run PostgreSQL as"
        ) from None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresUnavailable("running as root and runuser is missing")
    return [runuser, "-u", "postgres", "--"], entry.pw_uid, entry.pw_gid


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(cmd: list[str], what: str, log: Path | None = None) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
        raise RuntimeError(f"{what} failed ({done.returncode}): {done.stderr[-3000:]}\n{tail}")


class Cluster:
    """A PostgreSQL server in its own directory; `url` names the test database."""

    def __init__(self, bindir: Path, root: Path, prefix: list[str]) -> None:
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self._pg_ctl = [*prefix, str(bindir / "pg_ctl"), "-D", str(self.data)]
        self.port = _free_port()
        self.options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port}"
            f" -c unix_socket_directories={root / 'sock'}"
            " -c fsync=on -c synchronous_commit=on -c max_connections=200"
        )
        self.running = False
        self.url = ""

    def start(self) -> None:
        _run(
            [*self._pg_ctl, "-l", str(self.log), "-o", self.options, "-w", "-t", "60", "start"],
            "pg_ctl start",
            self.log,
        )
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; mode "immediate" is a crash (no checkpoint, recovery from WAL)."""
        if self.running:
            subprocess.run(
                [*self._pg_ctl, "-m", mode, "-w", "stop"],
                capture_output=True,
                timeout=120,
                check=False,
            )
            self.running = False


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    """Init, start, create the test database; yield the cluster; stop and clean up at the end."""
    bindir = find_bindir()
    prefix, uid, gid = _runner()
    root = Path(tempfile.mkdtemp(prefix="chinwag-pg-"))
    cluster = Cluster(bindir, root, prefix)
    password = secrets.token_hex(16)
    try:
        (root / "sock").mkdir()
        pwfile = root / "pw"
        pwfile.write_text(password + "\n")
        if uid is not None:
            for path in (root, root / "sock", pwfile):
                os.chown(path, uid, gid)  # type: ignore[arg-type]
        _run(
            [
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(cluster.data),
                "-U",
                USER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
            ],
            "initdb",
        )
        cluster.start()
        server = f"postgresql://{USER}:{password}@127.0.0.1:{cluster.port}"
        _create_database(f"{server}/postgres")
        cluster.url = f"{server}/{DATABASE}"
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def _create_database(admin_url: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {DATABASE}")


def fresh_database(url: str) -> str:
    """Create an empty database next to the one `url` names; return its URL (for one test).

    Tests that start runtimes (or whole nodes) on PostgreSQL each get their own database, so
    no state leaks between them; the session cluster drops them all when it stops.
    """
    import psycopg

    server, _, _ = url.rpartition("/")
    name = "chinwag_" + secrets.token_hex(6)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{server}/{name}"
