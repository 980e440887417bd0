"""HTTP/1.1 over a plain Trio socket, for what httpx will not do: headers now, the body later
(or never), and watching when the server answers and when it closes the connection."""

from __future__ import annotations

from dataclasses import dataclass, field

import trio


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    answered_at: float  # trio.current_time() when the status line arrived
    closed_at: float | None = None  # when the server closed the connection (None: still open)
    raw: bytes = field(default=b"", repr=False)


class RawConnection:
    """One TCP connection to `base_url` (http://host:port)."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = b""

    @classmethod
    async def open(cls, base_url: str) -> RawConnection:
        host, port = base_url.removeprefix("http://").rsplit(":", 1)
        return cls(await trio.open_tcp_stream(host, int(port)))

    async def send(self, data: bytes) -> bool:
        """False when the server has already closed the connection."""
        try:
            await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        return True

    async def _more(self) -> bool:
        try:
            chunk = await self.stream.receive_some(65536)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        self.buffer += chunk
        return bool(chunk)

    async def response(self) -> RawResponse:
        """Read one response (Content-Length framed, as chinwag's JSON answers are)."""
        while b"\r\n\r\n" not in self.buffer:
            if not await self._more():
                raise ConnectionError(f"closed before a response: {self.buffer[:200]!r}")
        answered_at = trio.current_time()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        self.buffer = rest
        while len(self.buffer) < length:
            if not await self._more():
                break
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return RawResponse(int(status_line.split()[1]), headers, body, answered_at, raw=head)

    async def wait_closed(self, within: float) -> float | None:
        """trio.current_time() at which the server closed the connection, or None."""
        with trio.move_on_after(within):
            while await self._more():
                pass
            return trio.current_time()
        return None

    async def aclose(self) -> None:
        await self.stream.aclose()


def request_head(
    method: str, path: str, *, length: int | None = None, headers: dict[str, str] | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
