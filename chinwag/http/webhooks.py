"""Chat-app routes: configure integrations (API key) and receive Telegram / Z-API webhooks.

A webhook is answered 2xx only after its update is durably in the inbox (or deliberately
ignored), so a crash can never lose an acknowledged message; a repeated delivery is answered
2xx and not processed again. Secrets are compared in constant time, and a request with a wrong
secret stores nothing.
"""

from __future__ import annotations

import hmac
from typing import Literal

import msgspec
from quart import Blueprint, Response, request

from chinwag.errors import InvalidInput, NotFound, Unauthorized
from chinwag.http import deps
from chinwag.http.auth import api_key_required
from chinwag.http.envelope import ok
from chinwag.http.forward import relay_chat_update
from chinwag.http.identifiers import screen_identifiers
from chinwag.http.openapi import doc
from chinwag.http.openapi_shapes import TELEGRAM_UPDATE_SCHEMA, ZAPI_CALLBACK_SCHEMA
from chinwag.http.schemas import Body, read_body
from chinwag.integrations.duration import DEFAULT
from chinwag.integrations.manager import IntegrationManager
from chinwag.integrations.parse import (
    GroupMode,
    Ignored,
    TelegramBot,
    parse_telegram_update,
    parse_zapi_callback,
)
from chinwag.rules.fields import BotToken, ZapiCredential

blueprint = Blueprint("webhooks", __name__, url_prefix="/api/v1")

TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_json = msgspec.json.Decoder()


class TelegramSettings(Body):
    bot_token: BotToken
    session_duration: str = DEFAULT
    groups: GroupMode = "mention"


class ZapiSettings(Body):
    instance_id: ZapiCredential
    instance_token: ZapiCredential
    client_token: ZapiCredential
    session_duration: str = DEFAULT
    allow_groups: bool = False
    groups: GroupMode | None = None
    whatsapp_number: str | None = None


class IntegrationSettings(Body):
    telegram_integration: TelegramSettings | None = None
    zapi_integration: ZapiSettings | None = None


class IntegrationPut(Body):
    integration_type: Literal["Telegram", "Zapi"]
    integrations: IntegrationSettings


def _manager() -> IntegrationManager:
    return deps.integrations()


@blueprint.put("/web-chat-client/<client_id>/integrations")
@doc(
    "Configure the Telegram or Z-API integration of a chat client",
    auth="apiKey",
    body=IntegrationPut,
    description='Body: {"integrationType": "Telegram"|"Zapi", "integrations": '
    '{"telegramIntegration": {botToken, sessionDuration, groups}} or {"zapiIntegration": '
    "{instanceId, instanceToken, clientToken, sessionDuration, allowGroups, groups, "
    "whatsappNumber}}}. groups: off | mention | all. Telegram: the server calls getMe and "
    "setWebhook itself. Returns data.webhookUrl (paste it into Z-API).",
)
@api_key_required
async def put_integration(client_id: str) -> Response:
    body = await read_body(IntegrationPut)
    manager = _manager()
    if body.integration_type == "Telegram":
        telegram = body.integrations.telegram_integration
        if telegram is None:
            raise InvalidInput(
                'integrations.telegramIntegration is required when integrationType is "Telegram"'
            )
        url = await manager.configure_telegram(
            client_id, telegram.bot_token, telegram.session_duration, telegram.groups
        )
    else:
        zapi = body.integrations.zapi_integration
        if zapi is None:
            raise InvalidInput(
                'integrations.zapiIntegration is required when integrationType is "Zapi"'
            )
        url = await manager.configure_zapi(
            client_id,
            zapi.instance_id,
            zapi.instance_token,
            zapi.client_token,
            zapi.session_duration,
            zapi.allow_groups,
            zapi.groups,
            zapi.whatsapp_number,
        )
    return ok({"webhookUrl": url}, message=f"{body.integration_type} integration saved.")


@blueprint.delete("/web-chat-client/<client_id>/integrations/<integration_type>")
@doc(
    "Delete an integration (Telegram: also deleteWebhook)",
    auth="apiKey",
    path={"integration_type": Literal["Telegram", "Zapi"]},
)
@api_key_required
async def delete_integration(client_id: str, integration_type: str) -> Response:
    kinds = {"telegram": "Telegram", "zapi": "Zapi"}
    kind = kinds.get(integration_type.lower())
    if kind is None:
        raise InvalidInput("integration type in the path must be Telegram or Zapi")
    await _manager().remove(client_id, kind)  # type: ignore[arg-type]
    return ok(None, message=f"{kind} integration deleted.")


def _token_bot_id(bot_token: str) -> int | None:
    """A bot token starts with the bot's numeric id ("123456:ABC…")."""
    head = bot_token.split(":", 1)[0]
    return int(head) if head.isdigit() and len(head) < 20 else None


async def _json_body() -> object:
    # Cached: in cluster mode the same body may then be relayed to the chat's owner
    # (http/forward.py reads it again); uncached, the owner got an empty body (400).
    raw = await request.get_data(cache=True, as_text=False)
    try:
        return _json.decode(raw)
    except msgspec.DecodeError:
        raise InvalidInput("the webhook body must be JSON") from None


@blueprint.post("/webhooks/telegram/<client_id>")
@doc(
    "Telegram webhook (called by Telegram)",
    body_schema=TELEGRAM_UPDATE_SCHEMA,
    headers={TELEGRAM_SECRET_HEADER: (str, "The secret_token given to setWebhook.")},
    description="Checks X-Telegram-Bot-Api-Secret-Token; 200 once the update is durably stored.",
)
async def telegram_webhook(client_id: str) -> Response:
    client = await deps.service().aget_client(client_id)
    telegram = client.integrations.telegram
    if telegram is None or not telegram.secret_token:
        raise NotFound(f"chat client {client_id} has no Telegram integration")
    presented = request.headers.get(TELEGRAM_SECRET_HEADER, "")
    if not hmac.compare_digest(presented.encode(), telegram.secret_token.encode()):
        raise Unauthorized(f"{TELEGRAM_SECRET_HEADER} is missing or wrong")
    bot = TelegramBot(telegram.bot_id or _token_bot_id(telegram.bot_token), telegram.bot_username)
    parsed = screen_identifiers(
        parse_telegram_update(await _json_body(), bot=bot, groups=telegram.groups)
    )
    if isinstance(parsed, Ignored):
        _manager().note_ignored()
        return ok(None, message=f"ignored: {parsed.reason}")
    # update_id counts per bot: a new bot on the same client must not match old markers.
    bot_id = telegram.bot_token.split(":", 1)[0]
    parsed = msgspec.structs.replace(parsed, update_key=f"{bot_id}:{parsed.update_key}")
    relayed = await relay_chat_update(client_id, parsed.channel, parsed.chat_id)  # cluster mode
    if relayed is not None:
        return relayed
    stored = await _manager().accept(client_id, parsed)
    return ok(None, message=None if stored else "duplicate")


@blueprint.post("/webhooks/zapi/<client_id>/<secret>")
@doc(
    "Z-API webhook (called by Z-API on message received)",
    body_schema=ZAPI_CALLBACK_SCHEMA,
    description="The secret path segment is the credential; 200 once the message is stored.",
)
async def zapi_webhook(client_id: str, secret: str) -> Response:
    try:
        client = await deps.service().aget_client(client_id)
    except NotFound:
        client = None
    zapi = client.integrations.zapi if client is not None else None
    expected = zapi.webhook_secret if zapi is not None and zapi.webhook_secret else ""
    # Same answer for unknown client and wrong secret: the URL is the credential.
    if not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
        raise Unauthorized("unknown Z-API webhook URL")
    parsed = screen_identifiers(
        parse_zapi_callback(await _json_body(), allow_groups=zapi.allow_groups, groups=zapi.groups)
    )
    if isinstance(parsed, Ignored):
        _manager().note_ignored()
        return ok(None, message=f"ignored: {parsed.reason}")
    relayed = await relay_chat_update(client_id, parsed.channel, parsed.chat_id)  # cluster mode
    if relayed is not None:
        return relayed
    stored = await _manager().accept(client_id, parsed)
    return ok(None, message=None if stored else "duplicate")
