"""Chat clients: their parameters, limits and integration settings; deleting one deletes its
sessions through their actors."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

import msgspec
import trio

from chinwag.actors.session import (
    DeleteSession,
    new_id,
)
from chinwag.errors import (
    Conflict,
    NotFound,
)
from chinwag.facade.base import (
    RACE_ATTEMPTS,
    FacadeBase,
)
from chinwag.records import (
    ChatClient,
    Gateway,
    Integrations,
)
from chinwag.rules import checked
from chinwag.storage.errors import ConditionFailed


class ClientsFacade(FacadeBase):
    async def create_client(self, body: dict[str, Any]) -> ChatClient:
        checked_body, client_params, limiting = checked.client_create(body)
        self._gateway_for_field(checked_body.ai_gateway_id)
        now = self.core.clock.now()
        client = ChatClient(
            id=new_id(),
            name=checked_body.name.strip(),
            ai_gateway_id=checked_body.ai_gateway_id,
            client_parameters=client_params,
            limiting_parameters=limiting,
            created_at=now,
            updated_at=now,
        )
        await self._commit_pointing_at_gateway(client)
        return client

    async def _commit_pointing_at_gateway(self, client: ChatClient) -> None:
        """Store `client` only if its gateway still exists when the batch is written (a
        racing delete either sees this client or makes this batch fail: then 404)."""
        for _ in range(RACE_ATTEMPTS):
            reference = self.repo.gateway_reference(client.ai_gateway_id)
            if reference is None:
                raise _missing_gateway(client.ai_gateway_id)
            try:
                await self.repo.commit([*reference, *self.repo.put_client(client)])
                return
            except ConditionFailed:
                continue  # the gateway changed (updated or deleted) meanwhile: look again
        raise Conflict(f"aiGatewayId: AI gateway {client.ai_gateway_id} kept changing; try again")

    def _gateway_for_field(self, gateway_id: str) -> Gateway:
        try:
            return self.get_gateway(gateway_id)
        except NotFound:
            raise _missing_gateway(gateway_id) from None

    def list_clients(self) -> list[ChatClient]:
        return self.repo.clients()

    async def alist_clients(self) -> list[ChatClient]:
        """`list_clients` without blocking the Trio thread (a round trip on PostgreSQL)."""
        return await self.repo.aclients()

    async def update_client(self, client_id: str, patch: dict[str, Any]) -> ChatClient:
        body = checked.client_update(patch)
        client = self.get_client(client_id)
        name = client.name if body.name is msgspec.UNSET else body.name.strip()
        gateway_id = (
            client.ai_gateway_id if body.ai_gateway_id is msgspec.UNSET else body.ai_gateway_id
        )
        self._gateway_for_field(gateway_id)
        params, limiting = checked.apply_client_update(
            body, client.client_parameters, client.limiting_parameters
        )
        updated = msgspec.structs.replace(
            client,
            name=name,
            ai_gateway_id=gateway_id,
            client_parameters=params,
            limiting_parameters=limiting,
            updated_at=self.core.clock.now(),
        )
        await self._commit_pointing_at_gateway(updated)
        return updated

    async def set_integrations(self, client_id: str, integrations: Integrations) -> ChatClient:
        """Replace a client's integration settings (used by the integrations module)."""
        client = self.get_client(client_id)
        updated = msgspec.structs.replace(
            client, integrations=integrations, updated_at=self.core.clock.now()
        )
        await self.repo.commit(self.repo.put_client(updated))
        return updated

    async def delete_client(self, client_id: str) -> None:
        self.get_client(client_id)
        while True:
            batch = self.repo.client_session_ids(client_id, limit=256)
            if not batch:
                break
            async with trio.open_nursery() as nursery:
                for session_id in batch:
                    nursery.start_soon(self._delete_quietly, session_id)
        await self.repo.commit(self.repo.delete_client(client_id))

    async def _delete_quietly(self, session_id: str) -> None:
        with suppress(NotFound):
            await self._ask_session(session_id, DeleteSession())


def _missing_gateway(gateway_id: str) -> NotFound:
    return NotFound(f"aiGatewayId: AI gateway {gateway_id} was not found")
