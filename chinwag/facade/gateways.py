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
    FacadeBase,
)
from chinwag.records import (
    Gateway,
)
from chinwag.rules import checked


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
        self.get_gateway(gateway_id)
        users = [c.name for c in self.repo.clients() if c.ai_gateway_id == gateway_id]
        if users:
            raise Conflict(
                f"AI gateway {gateway_id} is used by chat client(s) {', '.join(users[:5])}; "
                "delete them or move them to another gateway first"
            )
        await self.repo.commit(self.repo.delete_gateway(gateway_id))
