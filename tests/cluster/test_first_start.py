"""First start on an empty shared store, however many processes start at once: exactly one
admin key, demo gateway, demo client and demo session, and the key printed by one process.

In-process: several runtimes on one PostgreSQL database bootstrap at the same moment; a setup
claimed by a process that died midway is finished by the next start (PostgreSQL and LMDB).
Real processes: three `chinwag serve` nodes launched together on a fresh database.
"""

from __future__ import annotations

import re
from contextlib import AsyncExitStack
from pathlib import Path

import trio
import uuid_utils

from chinwag.bootstrap import DEMO_TAG, BootstrapResult, bootstrap, describe
from chinwag.config import Settings
from chinwag.service import ChinwagService
from chinwag.storage.repository import SetupMarker
from chinwag.wiring import open_runtime

from .processes import running_nodes
from .remote import manage

KEY = re.compile(r"^\s+(cwk_\S+)$", re.MULTILINE)


def _demo_counts(service: ChinwagService) -> tuple[int, int, int, int]:
    """(API keys, gateways, clients, demo sessions) in the store."""
    clients = service.list_clients()
    demos = sum(len(service.list_sessions(c.id, filter=DEMO_TAG)[0]) for c in clients)
    return len(service.list_api_keys()), len(service.list_gateways()), len(clients), demos


async def test_runtimes_bootstrapping_together_set_up_once(
    tmp_path: Path, database_url: str
) -> None:
    results: list[BootstrapResult] = []
    async with AsyncExitStack() as stack:
        runtimes = [
            await stack.enter_async_context(
                open_runtime(
                    # A long lease: on a loaded machine a node whose renewal is late past a short
                    # lease is rightly judged dead and its setup claim taken over, which is the
                    # half-done test below, not this race of claims.
                    Settings(
                        data_dir=str(tmp_path / str(i)),
                        database_url=database_url,
                        node_lease_seconds=120.0,
                        node_renew_seconds=5.0,
                    )
                )
            )
            for i in range(4)
        ]

        async def start(runtime: ChinwagService) -> None:
            results.append(await bootstrap(runtime, runtime.settings))  # type: ignore[attr-defined]

        async with trio.open_nursery() as nursery:
            for runtime in runtimes:
                nursery.start_soon(start, runtime)
        made = [r for r in results if r.talk_url is not None]
        assert len(made) == 1, results
        assert made[0].api_key is not None and made[0].api_key.startswith("cwk_")
        others = [r for r in results if r.talk_url is None]
        assert all(r.api_key is None and not r.no_credentials for r in others)
        for runtime in runtimes:
            assert _demo_counts(runtime) == (1, 1, 1, 1)
        printed = [line for r in results for line in describe(r, runtimes[0].settings)]
        assert sum(made[0].api_key in line for line in printed) == 1
        # A later start on the same store is not a first start.
        again = await bootstrap(runtimes[0], runtimes[0].settings)
        assert again.talk_url is None and again.api_key is None


async def test_a_setup_left_half_done_by_a_dead_node_is_finished_once(
    tmp_path: Path, database_url: str
) -> None:
    settings = Settings(data_dir=str(tmp_path / "a"), database_url=database_url)
    async with open_runtime(settings) as runtime:
        # A node (no liveness row: dead) claimed the setup and made the gateway, then died.
        dead = SetupMarker(holder=str(uuid_utils.uuid7()), at=runtime.now())
        _raw, ops = runtime.repo.claim_setup(None, dead)
        await runtime.repo.commit(ops)
        await runtime.create_gateway("Demo gateway (echo)", {"provider": "echo"})
        assert (await runtime.first_start()).state == "stale"
        result = await bootstrap(runtime, settings)
        assert result.api_key is not None and result.talk_url is not None
        assert _demo_counts(runtime) == (1, 1, 1, 1)  # the dead node's gateway reused
        assert (await runtime.first_start()).state == "done"


async def test_a_single_process_finishes_its_own_crashed_setup(tmp_path: Path) -> None:
    """LMDB, one process: a claim left by an earlier process is stale at once (no wait)."""
    settings = Settings(data_dir=str(tmp_path / "data"))
    async with open_runtime(settings) as runtime:
        earlier = SetupMarker(holder=str(uuid_utils.uuid7()), at=runtime.now())
        _raw, ops = runtime.repo.claim_setup(None, earlier)
        await runtime.repo.commit(ops)
        with trio.fail_after(5):
            result = await bootstrap(runtime, settings)
        assert result.api_key is not None
        assert _demo_counts(runtime) == (1, 1, 1, 1)


async def test_three_nodes_started_at_once_on_an_empty_database(
    tmp_path: Path, database_url: str
) -> None:
    async with running_nodes(database_url, tmp_path, 3, api_key=None) as nodes:
        outputs = [node.output() for node in nodes]
        keys = [key for output in outputs for key in KEY.findall(output)]
        assert len(keys) == 1, outputs  # printed by exactly one node
        assert sum("shown ONCE" in output for output in outputs) == 1
        for node in nodes:  # the key works on every node, and each sees one demo
            async with manage(node, keys[0]) as http:
                gateways = (await http.get("/api/v1/ai-gateways")).json()["data"]
                clients = (await http.get("/api/v1/web-chat-client")).json()["data"]
                assert len(gateways) == 1 and len(clients) == 1, (gateways, clients)
                sessions = await http.get(f"/api/v1/web-chat-client/{clients[0]['id']}/sessions")
                assert sessions.status_code == 200
                assert [s["tag"] for s in sessions.json()["data"]["items"]] == [DEMO_TAG]
