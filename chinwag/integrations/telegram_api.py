"""A small Telegram Bot API client: the four methods chinwag needs, with Telegram's retry rules.

Telegram answers `{"ok": false, "error_code": 429, "parameters": {"retry_after": N}}` when a bot
sends too fast; the call then waits N seconds and tries again. Server errors and broken
connections are retried with backoff; any other refusal (bad token, chat not found, bot blocked)
is final. The bot token is part of every URL, so no error message here ever contains a URL.
"""

from __future__ import annotations

from typing import Any

import httpx

from chinwag.integrations.backoff import PATIENT, Retry, RetryPolicy, post_with_retries
from chinwag.integrations.errors import IntegrationRejected


def _chat_ref(chat_id: str) -> int | str:
    """Telegram wants numeric chat ids as numbers; keep `@channel` names as strings."""
    try:
        return int(chat_id)
    except ValueError:
        return chat_id


class TelegramApi:
    """Bot API calls for one bot token against a base URL (api.telegram.org or self-hosted)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        bot_token: str,
        *,
        policy: RetryPolicy = PATIENT,
    ) -> None:
        self._http = http
        self.http = http
        self._base = f"{base_url.rstrip('/')}/bot{bot_token}"
        self._files = f"{base_url.rstrip('/')}/file/bot{bot_token}"
        self.policy = policy

    async def set_webhook(self, url: str, secret_token: str) -> None:
        await self.call(
            "setWebhook",
            {
                "url": url,
                "secret_token": secret_token,
                "allowed_updates": ["message"],
            },
        )

    async def delete_webhook(self) -> None:
        await self.call("deleteWebhook", {"drop_pending_updates": False})

    async def send_message(
        self,
        chat_id: str,
        text: str,
        *,
        thread_id: int | None = None,
        reply_to: str | None = None,
    ) -> dict[str, Any]:
        """Send plain text (no parse_mode, so no character needs escaping).

        `thread_id` keeps a forum topic's reply in that topic; `reply_to` quotes the message
        that asked (groups), and the reply still goes out if that message was deleted.
        """
        payload: dict[str, Any] = {
            "chat_id": _chat_ref(chat_id),
            "text": text,
            "link_preview_options": {"is_disabled": True},
        }
        if thread_id is not None:
            payload["message_thread_id"] = thread_id
        if reply_to is not None and reply_to.isdigit():
            payload["reply_parameters"] = {
                "message_id": int(reply_to),
                "allow_sending_without_reply": True,
            }
        return await self.call("sendMessage", payload)

    async def send_chat_action(
        self, chat_id: str, action: str = "typing", *, thread_id: int | None = None
    ) -> None:
        payload: dict[str, Any] = {"chat_id": _chat_ref(chat_id), "action": action}
        if thread_id is not None:
            payload["message_thread_id"] = thread_id
        await self.call("sendChatAction", payload)

    async def get_file_path(self, file_id: str) -> tuple[str, int | None]:
        """getFile: the path to download a file from, and its size when Telegram knows it."""
        result = await self.call("getFile", {"file_id": file_id})
        result = result if isinstance(result, dict) else {}
        path = result.get("file_path")
        if not isinstance(path, str) or not path:
            raise IntegrationRejected("Telegram refused getFile: no file_path (file too big?)")
        size = result.get("file_size")
        return path, size if isinstance(size, int) else None

    def file_url(self, file_path: str) -> str:
        """The download URL of a getFile path (it holds the token: never log or show it)."""
        return f"{self._files}/{file_path.lstrip('/')}"

    async def call(
        self, method: str, payload: dict[str, Any], *, policy: RetryPolicy | None = None
    ) -> Any:
        """Call `method`; returns its `result`. Raises IntegrationRejected/Unavailable."""

        def interpret(response: httpx.Response) -> Any:
            body = _json_or_none(response)
            if response.status_code == 200 and body and body.get("ok"):
                return body.get("result")
            description = (body or {}).get("description") or f"HTTP {response.status_code}"
            if response.status_code == 429:
                return Retry(description, _retry_after(body, response))
            if response.status_code < 500:
                raise IntegrationRejected(f"Telegram refused {method}: {description}")
            return Retry(description)

        return await post_with_retries(
            self._http,
            f"{self._base}/{method}",
            payload,
            name=f"Telegram {method}",
            policy=policy or self.policy,
            interpret=interpret,
        )


def _json_or_none(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _retry_after(body: dict[str, Any] | None, response: httpx.Response) -> float:
    """Seconds Telegram asks us to wait: `parameters.retry_after`, else Retry-After, else 1."""
    parameters = (body or {}).get("parameters") or {}
    value = parameters.get("retry_after") if isinstance(parameters, dict) else None
    if value is None:
        value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return 1.0
