"""AI gateways: the model servers chat clients use."""

from __future__ import annotations

from typing import Any

import msgspec

from chinwag.actors.session import (
    new_id,
)
from chinwag.errors import (
    Conflict,
)
from chinwag.facade.base import (
    RACE_ATTEMPTS,
    FacadeBase,
)
from chinwag.records import (
    Gateway,
)
from chinwag.rules import checked
from chinwag.storage.errors import ConditionFailed


class GatewaysFacade(FacadeBase):
    async def create_gateway(self, name: str, parameters: dict[str, Any]) -> Gateway:
        name, params = checked.gateway_create(name, parameters)
        now = self.core.clock.now()
        gateway = Gateway(id=new_id(), name=name, parameters=params, created_at=now, updated_at=now)
        await self.repo.commit(self.repo.put_gateway(gateway))
        return gateway

    def list_gateways(self) -> list[Gateway]:
        return self.repo.gateways()

    async def update_gateway(self, gateway_id: str, patch: dict[str, Any]) -> Gateway:
        body = checked.gateway_update(patch)
        gateway = self.get_gateway(gateway_id)
        name, params = checked.apply_gateway_update(body, gateway.name, gateway.parameters)
        updated = msgspec.structs.replace(
            gateway, name=name, parameters=params, updated_at=self.core.clock.now()
        )
        await self.repo.commit(self.repo.put_gateway(updated))
        return updated

    async def delete_gateway(self, gateway_id: str) -> None:
        """409 while chat clients use the gateway. The batch checks the gateway's reference
        version read before the clients were listed, so a client created meanwhile (on any
        node) fails it, and the next look finds that client."""
        for _ in range(RACE_ATTEMPTS):
            self.get_gateway(gateway_id)
            guard = self.repo.gateway_delete_guard(gateway_id)
            users = [c.name for c in self.repo.clients() if c.ai_gateway_id == gateway_id]
            if users:
                raise Conflict(
                    f"AI gateway {gateway_id} is used by chat client(s) {', '.join(users[:5])}; "
                    "delete them or move them to another gateway first"
                )
            try:
                await self.repo.commit([*guard, *self.repo.delete_gateway(gateway_id)])
                return
            except ConditionFailed:
                continue
        raise Conflict(f"AI gateway {gateway_id} kept changing; try again")
