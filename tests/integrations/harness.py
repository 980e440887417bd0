"""A chinwag server wired to the fake Telegram and Z-API servers, plus webhook helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import trio
from support.server import ServerHandle, running_server

from .fakes import FakeTelegram, FakeZapi, running_fakes
from .payloads import telegram_update

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@dataclass
class Rig:
    server: ServerHandle
    telegram: FakeTelegram
    zapi: FakeZapi

    async def telegram_client(
        self,
        *,
        client_parameters: dict[str, Any] | None = None,
        limiting_parameters: dict[str, Any] | None = None,
        bot_token: str = "123456:TEST-token",
        groups: str | None = None,
        client_id: str | None = None,
        **gateway: Any,
    ) -> tuple[str, str]:
        """A chat client with a Telegram integration: (client id, webhook secret token)."""
        settings: dict[str, Any] = {"botToken": bot_token}
        if groups is not None:
            settings["groups"] = groups
        client_id = client_id or await self.server.create_client(
            client_parameters=client_parameters,
            limiting_parameters=limiting_parameters,
            **gateway,
        )
        response = await self.server.client.put(
            f"/api/v1/web-chat-client/{client_id}/integrations",
            json={
                "integrationType": "Telegram",
                "integrations": {"telegramIntegration": settings},
            },
        )
        assert response.status_code == 200, response.text
        [call] = [c for c in self.telegram.of("setWebhook") if c.body["url"].endswith(client_id)]
        return client_id, call.body["secret_token"]

    async def zapi_client(
        self,
        *,
        client_parameters: dict[str, Any] | None = None,
        zapi: dict[str, Any] | None = None,
        client_id: str | None = None,
        **gateway: Any,
    ) -> tuple[str, str]:
        """A chat client with a Z-API integration: (client id, webhook path)."""
        client_id = client_id or await self.server.create_client(
            client_parameters=client_parameters, **gateway
        )
        response = await self.server.client.put(
            f"/api/v1/web-chat-client/{client_id}/integrations",
            json={
                "integrationType": "Zapi",
                "integrations": {
                    "zapiIntegration": {
                        "instanceId": "INST1",
                        "instanceToken": "INSTTOKEN",
                        "clientToken": "client-token-1",
                        "sessionDuration": "01:00:00",
                        **(zapi or {}),
                    }
                },
            },
        )
        assert response.status_code == 200, response.text
        url = response.json()["data"]["webhookUrl"]
        return client_id, url.removeprefix(self.server.settings.effective_public_url())

    async def telegram_message(
        self, client_id: str, secret: str, update_id: int, chat_id: int, text: str
    ) -> httpx.Response:
        return await self.server.anonymous.post(
            f"/api/v1/webhooks/telegram/{client_id}",
            json=telegram_update(update_id, chat_id, text),
            headers={SECRET_HEADER: secret},
        )

    async def post_update(self, client_id: str, secret: str, body: Any) -> httpx.Response:
        """POST a Telegram webhook body (e.g. one built with tg.update)."""
        return await self.server.anonymous.post(
            f"/api/v1/webhooks/telegram/{client_id}", json=body, headers={SECRET_HEADER: secret}
        )

    def replies(self, chat_id: int | str | None = None) -> list[str]:
        return [
            call.body["text"]
            for call in self.telegram.of("sendMessage")
            if chat_id is None or str(call.body["chat_id"]) == str(chat_id)
        ]

    async def settled(self) -> None:
        """Wait until every stored update is answered (finishing follows the last send)."""
        from chinwag.integrations.manager import manager_for

        inbox = manager_for(self.server.service).inbox
        while inbox.pending():  # noqa: ASYNC110 - storage state has no event to wait on
            await trio.sleep(0.01)

    def inbox_count(self) -> int:
        return self.server.service.engine.count("inbox")


@asynccontextmanager
async def rig(data_dir: Path, **settings: Any) -> AsyncIterator[Rig]:
    async with (
        running_fakes() as (telegram, zapi),
        running_server(
            data_dir,
            telegram_api_url=telegram.base_url,
            zapi_api_url=zapi.base_url,
            **settings,
        ) as server,
    ):
        yield Rig(server, telegram, zapi)
