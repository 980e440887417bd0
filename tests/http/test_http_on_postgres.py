"""The public, management and operations HTTP tests again, with the runtime on PostgreSQL.

Every test function of those modules is collected here a second time; this module's `server`
fixture replaces the LMDB one, so each runs against a real server whose state lives in a fresh
PostgreSQL database (CHINWAG_DATABASE_URL) instead of a data directory.
"""

from __future__ import annotations

import pytest
from support.server import ServerHandle
from test_http_management import *  # noqa: F403
from test_http_ops import (  # noqa: F401
    test_healthz,
    test_metrics_count_requests_and_runtime,
)
from test_http_public import *  # noqa: F403


@pytest.fixture
def server(pg_server: ServerHandle) -> ServerHandle:
    """The runtime under test keeps its state in PostgreSQL (see tests/conftest.py)."""
    assert pg_server.service.engine.name == "postgresql"
    return pg_server


async def test_state_is_in_postgresql_not_the_data_dir(server: ServerHandle, data_dir) -> None:
    """Nothing is written to the data directory: a second runtime on the same database sees
    what the first stored."""
    client_id = await server.create_client()
    opened = await server.open_session(client_id, tag="pg-visitor")
    reply = await server.anonymous.post(
        server.public_path(opened["accessKey"], "prompt"), json={"prompt": "kept in pg"}
    )
    assert reply.status_code == 200, reply.text
    assert not data_dir.exists()
    rows = await server.service.engine.ascan("sessions")
    assert len(rows) == 1
