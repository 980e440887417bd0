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
    InvalidInput,
    NotFound,
)
from chinwag.facade.base import (
    FacadeBase,
    _check_client_parameters,
    _check_limits,
    _check_name,
    _convert,
    _merge,
)
from chinwag.records import (
    ChatClient,
    ClientParameters,
    Gateway,
    Integrations,
    LimitingParameters,
)


class ClientsFacade(FacadeBase):
    async def create_client(self, body: dict[str, Any]) -> ChatClient:
        unknown = set(body) - {"name", "aiGatewayId", "clientParameters", "limitingParameters"}
        if unknown:
            raise InvalidInput(f"unknown field(s): {', '.join(sorted(unknown))}")
        name = _check_name(body.get("name"))
        gateway_id = body.get("aiGatewayId")
        if not isinstance(gateway_id, str):
            raise InvalidInput("aiGatewayId must be the id of an AI gateway")
        self._gateway_for_field(gateway_id)
        client_params = _convert(
            body.get("clientParameters") or {}, ClientParameters, "clientParameters"
        )
        limiting = _convert(
            body.get("limitingParameters") or {}, LimitingParameters, "limitingParameters"
        )
        _check_limits(limiting)
        _check_client_parameters(client_params)
        now = self.core.clock.now()
        client = ChatClient(
            id=new_id(),
            name=name,
            ai_gateway_id=gateway_id,
            client_parameters=client_params,
            limiting_parameters=limiting,
            created_at=now,
            updated_at=now,
        )
        await self.repo.commit(self.repo.put_client(client))
        return client

    def _gateway_for_field(self, gateway_id: str) -> Gateway:
        try:
            return self.get_gateway(gateway_id)
        except NotFound:
            raise NotFound(f"aiGatewayId: AI gateway {gateway_id} was not found") from None

    def list_clients(self) -> list[ChatClient]:
        return self.repo.clients()

    async def update_client(self, client_id: str, patch: dict[str, Any]) -> ChatClient:
        client = self.get_client(client_id)
        unknown = set(patch) - {"name", "aiGatewayId", "clientParameters", "limitingParameters"}
        if unknown:
            raise InvalidInput(f"unknown field(s): {', '.join(sorted(unknown))}")
        name = _check_name(patch["name"]) if "name" in patch else client.name
        gateway_id = patch.get("aiGatewayId", client.ai_gateway_id)
        if not isinstance(gateway_id, str):
            raise InvalidInput("aiGatewayId must be the id of an AI gateway")
        self._gateway_for_field(gateway_id)
        params = _merge(
            client.client_parameters,
            patch.get("clientParameters"),
            ClientParameters,
            "clientParameters",
        )
        limiting = _merge(
            client.limiting_parameters,
            patch.get("limitingParameters"),
            LimitingParameters,
            "limitingParameters",
        )
        _check_limits(limiting)
        _check_client_parameters(params)
        updated = msgspec.structs.replace(
            client,
            name=name,
            ai_gateway_id=gateway_id,
            client_parameters=params,
            limiting_parameters=limiting,
            updated_at=self.core.clock.now(),
        )
        await self.repo.commit(self.repo.put_client(updated))
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
