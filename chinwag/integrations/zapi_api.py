"""A small Z-API client: send a WhatsApp text, with the account's Client-Token header.

Z-API's `delayTyping` shows "typing…" for a few seconds before the text is delivered, which is
the WhatsApp counterpart of Telegram's chat action. Server errors, 429 and broken connections
are retried with backoff; other refusals are final. No error message carries the instance token.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import trio

from chinwag.integrations.backoff import PATIENT, RetryPolicy
from chinwag.integrations.errors import IntegrationRejected, IntegrationUnavailable

log = logging.getLogger(__name__)


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
        self._base = f"{base_url.rstrip('/')}/instances/{instance_id}/token/{instance_token}"
        self._headers = {"Client-Token": client_token}
        self.policy = policy

    async def send_text(
        self, phone: str, message: str, *, delay_typing: int | None = None
    ) -> dict[str, Any]:
        """Send `message` to `phone`; `delay_typing` (1-15 s) shows typing first."""
        payload: dict[str, Any] = {"phone": phone, "message": message}
        if delay_typing:
            payload["delayTyping"] = max(1, min(15, int(delay_typing)))
        result = await self.call("send-text", payload)
        return result if isinstance(result, dict) else {}

    async def call(
        self, path: str, payload: dict[str, Any], *, policy: RetryPolicy | None = None
    ) -> Any:
        policy = policy or self.policy
        last_problem = "no attempt made"
        for attempt in range(1, policy.attempts + 1):
            pause = policy.delay(attempt)
            try:
                response = await self._http.post(
                    f"{self._base}/{path}", json=payload, headers=self._headers
                )
            except httpx.TransportError as exc:
                last_problem = f"connection failed ({type(exc).__name__})"
            else:
                if 200 <= response.status_code < 300:
                    try:
                        return response.json()
                    except ValueError:
                        return None
                last_problem = f"HTTP {response.status_code}"
                if response.status_code == 429:
                    pause = _retry_after(response, pause)
                elif response.status_code < 500:
                    raise IntegrationRejected(
                        f"Z-API refused {path}: HTTP {response.status_code} {_error_text(response)}"
                    )
            if attempt < policy.attempts:
                log.warning("Z-API %s failed (%s); retrying in %.1fs", path, last_problem, pause)
                await trio.sleep(pause)
        raise IntegrationUnavailable(f"Z-API {path} failed: {last_problem}")


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        return max(0.0, float(response.headers.get("retry-after", default)))
    except ValueError:
        return default


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or "")[:200]
    return ""
