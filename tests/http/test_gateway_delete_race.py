"""Creating a chat client and deleting its AI gateway at the same time: never both.

Real server, real LMDB, requests sent in parallel over HTTP. Either the delete wins (the client
create is 404 naming aiGatewayId) or the client wins (the delete is 409); a client never points
at a deleted gateway, and a public prompt never names an internal id.
"""

from __future__ import annotations

import trio
from support.server import ServerHandle

GATEWAYS = "/api/v1/ai-gateways"
CLIENTS = "/api/v1/web-chat-client"
ROUNDS = 25


async def _race(server: ServerHandle, gateway_id: str, *, update: str | None = None):
    results: dict[str, int] = {}

    async def point_client() -> None:
        if update is None:
            body = {"name": "c", "aiGatewayId": gateway_id}
            response = await server.client.post(CLIENTS, json=body)
        else:
            body = {"aiGatewayId": gateway_id}
            response = await server.client.put(f"{CLIENTS}/{update}", json=body)
        results["client"] = response.status_code

    async def delete_gateway() -> None:
        response = await server.client.delete(f"{GATEWAYS}/{gateway_id}")
        results["delete"] = response.status_code

    async with trio.open_nursery() as nursery:
        nursery.start_soon(point_client)
        nursery.start_soon(delete_gateway)
    return results


async def test_client_create_and_gateway_delete_never_both_succeed(server: ServerHandle) -> None:
    outcomes = []
    for _ in range(ROUNDS):
        gateway_id = await server.create_gateway()
        results = await _race(server, gateway_id)
        outcomes.append((results["client"], results["delete"]))
        assert results in ({"client": 201, "delete": 409}, {"client": 404, "delete": 200}), results
    for client in (await server.client.get(CLIENTS)).json()["data"]:
        detail = (await server.client.get(f"{CLIENTS}/{client['id']}")).json()["data"]
        gateway = await server.client.get(f"{GATEWAYS}/{detail['aiGatewayId']}")
        assert gateway.status_code == 200, (detail, outcomes)


async def test_client_update_and_gateway_delete_never_both_succeed(server: ServerHandle) -> None:
    client_id = await server.create_client()
    for _ in range(ROUNDS):
        gateway_id = await server.create_gateway()
        results = await _race(server, gateway_id, update=client_id)
        assert results in ({"client": 200, "delete": 409}, {"client": 404, "delete": 200}), results
    detail = (await server.client.get(f"{CLIENTS}/{client_id}")).json()["data"]
    gateway = await server.client.get(f"{GATEWAYS}/{detail['aiGatewayId']}")
    assert gateway.status_code == 200
    opened = await server.open_session(client_id)
    reply = await server.anonymous.post(
        server.public_path(opened["accessKey"], "prompt"), json={"prompt": "hi"}
    )
    assert reply.status_code == 200, reply.text


async def test_a_prompt_never_names_a_missing_gateway_id(server: ServerHandle) -> None:
    gateway_id = await server.create_gateway()
    client_id = await server.create_client(gateway_id)
    opened = await server.open_session(client_id)
    repo = server.service.repo  # records written before the guard existed may be like this
    await repo.commit(repo.delete_gateway(gateway_id))
    reply = await server.anonymous.post(
        server.public_path(opened["accessKey"], "prompt"), json={"prompt": "hi"}
    )
    assert reply.status_code == 404, reply.text
    assert gateway_id not in reply.text and client_id not in reply.text
