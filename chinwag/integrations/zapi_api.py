"""A small Z-API client: send a WhatsApp text, with the account's Client-Token header.

Z-API's `delayTyping` shows "typing…" for a few seconds before the text is delivered, which is
the WhatsApp counterpart of Telegram's chat action. Server errors, 429 and broken connections
are retried with backoff; other refusals are final. No error message carries the instance token.
"""

from __future__ import annotations

from typing import Any

import httpx

from chinwag.integrations.backoff import PATIENT, Retry, RetryPolicy, post_with_retries
from chinwag.integrations.errors import IntegrationRejected


class ZapiApi:
    """Calls for one Z-API instance."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        instance_id: str,
        instance_token: str,
        client_token: str,
        *,
        policy: RetryPolicy = PATIENT,
    ) -> None:
        self._http = http
        self.http = http
        self._base = f"{base_url.rstrip('/')}/instances/{instance_id}/token/{instance_token}"
        self._headers = {"Client-Token": client_token}
        self.policy = policy

    async def send_text(
        self,
        phone: str,
        message: str,
        *,
        delay_typing: int | None = None,
        reply_to: str | None = None,
    ) -> dict[str, Any]:
        """Send `message` to `phone`; `delay_typing` (1-15 s) shows typing first; `reply_to`
        (a messageId) quotes the message that asked."""
        payload: dict[str, Any] = {"phone": phone, "message": message}
        if delay_typing:
            payload["delayTyping"] = max(1, min(15, int(delay_typing)))
        if reply_to:
            payload["messageId"] = reply_to
        result = await self.call("send-text", payload)
        return result if isinstance(result, dict) else {}

    async def call(
        self, path: str, payload: dict[str, Any], *, policy: RetryPolicy | None = None
    ) -> Any:
        """POST to `path`; returns the JSON answer. Raises IntegrationRejected/Unavailable."""

        def interpret(response: httpx.Response) -> Any:
            if 200 <= response.status_code < 300:
                try:
                    return response.json()
                except ValueError:
                    return None
            problem = f"HTTP {response.status_code}"
            if response.status_code == 429:
                return Retry(problem, _retry_after(response))
            if response.status_code < 500:
                raise IntegrationRejected(
                    f"Z-API refused {path}: HTTP {response.status_code} {_error_text(response)}"
                )
            return Retry(problem)

        return await post_with_retries(
            self._http,
            f"{self._base}/{path}",
            payload,
            name=f"Z-API {path}",
            policy=policy or self.policy,
            interpret=interpret,
            headers=self._headers,
        )


def _retry_after(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds; None (the policy's backoff) when absent or odd."""
    try:
        return max(0.0, float(response.headers["retry-after"]))
    except (KeyError, ValueError):
        return None


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or "")[:200]
    return ""
