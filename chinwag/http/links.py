"""`POST …/links`: a "Continue on Telegram / WhatsApp" link for the session of an access key.

The link carries a single-use code that lives 10 minutes (`chinwag.linkcodes`). When the chat
sends it (Telegram `/start <code>`, a WhatsApp message holding it) the integrations attach that
chat to this session. Creating a new link for the same channel retires the previous one.
"""

from __future__ import annotations

from typing import Literal

from quart import Blueprint, Response

from chinwag.errors import NotFound
from chinwag.http import deps
from chinwag.http.auth import request_client, session_for_access_key
from chinwag.http.envelope import ok
from chinwag.http.openapi import doc
from chinwag.http.schemas import Body, read_body
from chinwag.records import ChatClient, Session

blueprint = Blueprint("links", __name__, url_prefix="/api/v1/public/chat-clients/<access_key>")


class LinkBody(Body):
    channel: Literal["telegram", "whatsapp"]


def link_target(client: ChatClient, channel: str) -> str | None:
    """The t.me / wa.me address a code is appended to; None when the client cannot offer it."""
    if channel == "telegram":
        telegram = client.integrations.telegram
        if telegram is not None and telegram.bot_username:
            return f"https://t.me/{telegram.bot_username}?start="
        return None
    zapi = client.integrations.zapi
    if zapi is not None and zapi.whatsapp_number:
        return f"https://wa.me/{zapi.whatsapp_number}?text="
    return None


CONTINUE_LABELS = {
    "en": {"telegram": "Continue on Telegram", "whatsapp": "Continue on WhatsApp"},
    "pt-BR": {"telegram": "Continuar no Telegram", "whatsapp": "Continuar no WhatsApp"},
    "es": {"telegram": "Continuar en Telegram", "whatsapp": "Continuar en WhatsApp"},
}


def talk_page_config(client: ChatClient, session: Session, language: str) -> dict[str, object]:
    """What the talk page needs for "Continue on…": the offered channels with their labels,
    and whether a chat may already write into this session (the page then follows it)."""
    labels = CONTINUE_LABELS.get(language, CONTINUE_LABELS["en"])
    offered = [
        {"channel": channel, "label": labels[channel]}
        for channel in ("telegram", "whatsapp")
        if link_target(client, channel) is not None
    ]
    linked = session.channel != "web" or bool(deps.service().linked_chats(session.id))
    return {"continueOn": offered, "chatLinked": linked}


@blueprint.post("/links")
@doc(
    "A link that continues this conversation on Telegram or WhatsApp",
    body=LinkBody,
    auth="accessKey",
    description='Body: {"channel": "telegram"|"whatsapp"}. Returns data: {url, code, expiresAt}: '
    "a single-use code valid for 10 minutes, inside a t.me ?start= or wa.me ?text= link. "
    "404 when the chat client has no such integration (Telegram: the bot username is known; "
    "WhatsApp: whatsappNumber is set).",
)
async def create_link(access_key: str) -> Response:
    session = await session_for_access_key(access_key)
    body = await read_body(LinkBody)
    service = deps.service()
    client = request_client() or await service.aget_client(session.client_id)
    target = link_target(client, body.channel)
    if target is None:
        raise NotFound(f"this chat client has no {body.channel.capitalize()} integration")
    channel = "telegram" if body.channel == "telegram" else "zapi"
    code, expires_at = await service.create_channel_link(session.id, channel)
    return ok({"url": target + code, "code": code, "expiresAt": expires_at})
