"""Fake Telegram Bot API and Z-API servers: real HTTP on 127.0.0.1, recording what they get.

Each fake answers in the platform's own JSON shape and can be told to fail the next calls of a
method (Telegram 429 with `retry_after`, a 5xx, or a hang that never answers). Recorded calls
carry the Trio time they were answered at, so tests under MockClock can check pacing.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart import Response, request
from quart_trio import QuartTrio


@dataclass
class Call:
    path_token: str  # Telegram bot token, or "instance/token" for Z-API
    method: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float


@dataclass
class Failure:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False


class FakeApi:
    """State shared by a fake: recorded (answered) calls, scripted failures, arrival events."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        # Calls answered with a scripted failure (not delivered).
        self.refused: list[Call] = []
        self.failures: dict[str, list[Failure | None]] = {}
        self._changed = trio.Event()
        self.base_url = ""

    def fail_next(self, method: str, failure: Failure, times: int = 1, *, after: int = 0) -> None:
        """Answer the next `times` calls of `method` with `failure`, after `after` normal ones."""
        self.failures.setdefault(method, []).extend([None] * after + [failure] * times)

    def of(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def texts(self, method: str, field_name: str) -> list[str]:
        return [call.body.get(field_name) for call in self.of(method)]

    async def wait_for(self, method: str, count: int) -> list[Call]:
        """Wait until `count` calls of `method` were answered (tests wrap this in fail_after)."""
        await self.wait_until(lambda: len(self.of(method)) >= count)
        return self.of(method)

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Wait until `condition()` holds; it is re-checked whenever a call arrives."""
        while not condition():
            if self._changed.is_set():
                self._changed = trio.Event()
            await self._changed.wait()

    async def handle(self, token: str, method: str) -> Response | None:
        body = await request.get_json(force=True, silent=True) or {}
        scripted = self.failures.get(method)
        failure = scripted.pop(0) if scripted else None
        if failure is not None:
            self.refused.append(
                Call(
                    token,
                    method,
                    body,
                    {k.lower(): v for k, v in request.headers.items()},
                    trio.current_time(),
                )
            )
            self._changed.set()
            if failure.hang:
                await trio.sleep_forever()
            return Response(
                _dumps(failure.body),
                status=failure.status,
                headers=failure.headers,
                content_type="application/json",
            )
        self.calls.append(
            Call(
                token,
                method,
                body,
                {k.lower(): v for k, v in request.headers.items()},
                trio.current_time(),
            )
        )
        self._changed.set()
        return None


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value)


class FakeTelegram(FakeApi):
    """POST /bot<token>/<method>, answering `{"ok": true, "result": …}`.

    getMe answers with the bot id from the token and `username`; files put in `files` are
    served by getFile and GET /file/bot<token>/<file_path>, like the Bot API does.
    """

    def __init__(self, username: str = "ChinwagTestBot") -> None:
        super().__init__()
        self.username = username
        self.files: dict[str, bytes] = {}
        self.downloads: list[str] = []
        self._message_ids = itertools.count(1000)
        self.app = QuartTrio("fake-telegram")
        self.app.add_url_rule(
            "/bot<token>/<method>", "method", self._route, methods=["POST", "GET"]
        )
        self.app.add_url_rule("/file/bot<token>/<path:file_path>", "file", self._file)

    async def _file(self, token: str, file_path: str) -> Response:
        file_id = file_path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        if file_id not in self.files:
            return Response("not found", status=404)
        self.downloads.append(file_id)
        return Response(self.files[file_id], content_type="application/octet-stream")

    async def _route(self, token: str, method: str) -> Response:
        failed = await self.handle(token, method)
        if failed is not None:
            return failed
        body = self.calls[-1].body
        result: Any = True
        if method == "getMe":
            head = token.split(":", 1)[0]
            result = {
                "id": int(head) if head.isdigit() else 1,
                "is_bot": True,
                "first_name": "Test bot",
                "username": self.username,
            }
        elif method == "getFile":
            file_id = str(body.get("file_id"))
            if file_id not in self.files:
                return Response(
                    _dumps({"ok": False, "error_code": 400, "description": "Bad Request: no file"}),
                    status=400,
                    content_type="application/json",
                )
            result = {
                "file_id": file_id,
                "file_unique_id": f"u{file_id}",
                "file_size": len(self.files[file_id]),
                "file_path": f"photos/{file_id}.jpg",
            }
        elif method == "sendMessage":
            result = {
                "message_id": next(self._message_ids),
                "date": 1700000000,
                "chat": {"id": body.get("chat_id"), "type": "private"},
                "text": body.get("text"),
            }
        return Response(_dumps({"ok": True, "result": result}), content_type="application/json")

    @staticmethod
    def too_many_requests(retry_after: int) -> Failure:
        return Failure(
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {retry_after}",
                "parameters": {"retry_after": retry_after},
            },
        )

    @staticmethod
    def unauthorized() -> Failure:
        return Failure(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})


class FakeZapi(FakeApi):
    """POST /instances/<id>/token/<token>/send-text, answering `{zaapId, messageId, id}`.

    Files put in `media` are served at GET /media/<name>, like Z-API's storage links.
    """

    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1)
        self.media: dict[str, bytes] = {}
        self.app = QuartTrio("fake-zapi")
        self.app.add_url_rule(
            "/instances/<instance>/token/<token>/<method>",
            "method",
            self._route,
            methods=["POST"],
        )
        self.app.add_url_rule("/media/<name>", "media", self._media)

    async def _media(self, name: str) -> Response:
        if name not in self.media:
            return Response("not found", status=404)
        return Response(self.media[name], content_type="image/jpeg")

    async def _route(self, instance: str, token: str, method: str) -> Response:
        failed = await self.handle(f"{instance}/{token}", method)
        if failed is not None:
            return failed
        number = next(self._ids)
        return Response(
            _dumps({"zaapId": f"Z{number}", "messageId": f"M{number}", "id": f"M{number}"}),
            content_type="application/json",
        )


async def serve_on_localhost(
    app: Any, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve `app` on 127.0.0.1 with a free port; `task_status` gets the base URL."""
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.errorlog = logging.getLogger("fake-server")
    config.graceful_timeout = 0.5

    async with trio.open_nursery() as nursery:
        urls = await nursery.start(partial(serve, app, config))
        task_status.started(urls[0])


@asynccontextmanager
async def running_fakes() -> AsyncIterator[tuple[FakeTelegram, FakeZapi]]:
    """Both fakes served for the duration of the block."""
    telegram, zapi = FakeTelegram(), FakeZapi()
    async with trio.open_nursery() as nursery:
        telegram.base_url = await nursery.start(partial(serve_on_localhost, telegram.app))
        zapi.base_url = await nursery.start(partial(serve_on_localhost, zapi.app))
        yield telegram, zapi
        nursery.cancel_scope.cancel()
