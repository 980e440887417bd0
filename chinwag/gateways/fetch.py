"""Fetching web pages for the assistant without letting it reach the server's own network.

`fetch_url` (a research tool) and `contextLocation` take URLs from outside: a prompt or an API
caller. Left unchecked they could read cloud metadata (169.254.169.254), admin consoles on
localhost or anything in the private network (SSRF). So every hop is checked: the hostname is
resolved and *every* address must be public, the connection goes to the checked address (no
second DNS lookup an attacker could answer differently), and redirects are followed by hand so
each new location is checked the same way. `allow_private` (CHINWAG_FETCH_ALLOW_PRIVATE) lifts
the address check for self-hosted setups and tests.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
import trio

from chinwag.gateways.html_text import html_to_text

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

MAX_REDIRECTS = 5
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/xhtml+xml")


class FetchError(Exception):
    """A fetch that was refused or failed; the message says why, for the model or the log."""


async def resolve_host(host: str, port: int) -> list[str]:
    """All addresses `host` resolves to (trio runs getaddrinfo in a thread)."""
    infos = await trio.socket.getaddrinfo(host, port, type=trio.socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public_address(address: IPAddress) -> bool:
    """False for loopback, private, link-local, shared, reserved, multicast and unspecified."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


@dataclass(frozen=True)
class UrlGuard:
    """Decides which addresses a fetch may connect to.

    `allowed_networks` lets specific non-public networks through while keeping the rest closed
    (tests use 127.0.0.1/32 to prove a redirect to another private address is still refused).
    """

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()
    resolve: Resolver = field(default=resolve_host)

    def address_allowed(self, address: IPAddress) -> bool:
        if self.allow_private or is_public_address(address):
            return True
        return any(address in network for network in self.allowed_networks)

    async def check(self, url: str) -> tuple[httpx.URL, str]:
        """The URL to connect to (host replaced by a checked address) and the original host.

        Raises FetchError naming the problem when the URL may not be fetched.
        """
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as error:
            raise FetchError(f"invalid URL {url!r}: {error}") from None
        if parsed.scheme not in ("http", "https"):
            raise FetchError(f"only http and https URLs can be fetched, not {parsed.scheme!r}")
        host = parsed.host
        if not host:
            raise FetchError(f"URL {url!r} has no host")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                addresses = [
                    ipaddress.ip_address(a.split("%")[0]) for a in await self.resolve(host, port)
                ]
            except OSError as error:
                raise FetchError(f"cannot resolve {host!r}: {error}") from None
        if not addresses:
            raise FetchError(f"cannot resolve {host!r}")
        refused = [str(a) for a in addresses if not self.address_allowed(a)]
        if refused:
            raise FetchError(
                f"refusing to fetch {host!r}: it resolves to a private or reserved address "
                f"({', '.join(refused)})"
            )
        pinned = parsed.copy_with(host=str(addresses[0]))
        return pinned, host


@dataclass(frozen=True)
class FetchedPage:
    url: str
    status: int
    content_type: str
    text: str
    truncated: bool


def _is_text(content_type: str, accept: Iterable[str]) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    return any(kind.startswith(prefix) for prefix in accept)


def _host_header(url: httpx.URL, host: str) -> str:
    default = 443 if url.scheme == "https" else 80
    shown = f"[{host}]" if ":" in host else host
    return shown if url.port in (None, default) else f"{shown}:{url.port}"


async def fetch_page(
    http: httpx.AsyncClient,
    url: str,
    *,
    guard: UrlGuard,
    max_bytes: int = 256 * 1024,
    timeout: float = 10.0,  # noqa: ASYNC109 - each hop gets its own deadline
    headers: dict[str, str] | None = None,
    accept: Iterable[str] = TEXT_TYPES,
) -> FetchedPage:
    """GET `url` as text (HTML reduced to its visible text), reading at most `max_bytes`.

    Follows up to MAX_REDIRECTS redirects, checking each location with `guard`. Raises
    FetchError on a refused address, a non-text type, a network error or a timeout; an HTTP
    error status is returned (the caller decides what it means).
    """
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        pinned, host = await guard.check(current)
        request_headers = {"Host": _host_header(pinned, host), **(headers or {})}
        extensions = {"sni_hostname": host} if pinned.scheme == "https" else {}
        try:
            with trio.fail_after(timeout):
                request = http.build_request(
                    "GET", pinned, headers=request_headers, extensions=extensions, timeout=timeout
                )
                response = await http.send(request, stream=True, follow_redirects=False)
                try:
                    if response.is_redirect and "location" in response.headers:
                        current = urljoin(current, response.headers["location"])
                        continue
                    content_type = response.headers.get("content-type", "")
                    if response.is_success and not _is_text(content_type, accept):
                        raise FetchError(
                            f"{current} is {content_type or 'of unknown type'}, not text"
                        )
                    body = bytearray()
                    truncated = False
                    async for data in response.aiter_bytes():
                        body += data
                        if len(body) >= max_bytes:
                            truncated = len(body) > max_bytes
                            del body[max_bytes:]
                            break
                finally:
                    await response.aclose()
        except trio.TooSlowError:
            raise FetchError(f"fetching {current} took longer than {timeout:g} seconds") from None
        except httpx.HTTPError as error:
            raise FetchError(
                f"fetching {current} failed: {error or type(error).__name__}"
            ) from None
        text = bytes(body).decode(response.encoding or "utf-8", errors="replace")
        if "html" in content_type.lower():
            text = html_to_text(text)
        return FetchedPage(current, response.status_code, content_type, text, truncated)
    raise FetchError(f"fetching {url} stopped after {MAX_REDIRECTS} redirects")


def display_url(url: str) -> str:
    """`url` without credentials, for messages and logs."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
