"""Fetching web pages for the assistant without letting it reach the server's own network.

`fetch_url` (a research tool) and `contextLocation` take URLs from outside: a prompt or an API
caller. Left unchecked they could read cloud metadata (169.254.169.254), admin consoles on
localhost or anything in the private network (SSRF). So every hop is checked: the hostname is
resolved and *every* address must be public, the connection goes to the checked address (no
second DNS lookup an attacker could answer differently), and redirects are followed by hand so
each new location is checked the same way. `allow_private` (CHINWAG_FETCH_ALLOW_PRIVATE) lifts
the address check for self-hosted setups and tests.

IPv6 addresses that carry an IPv4 address are a classic way around such checks (Python calls
`64:ff9b::a9fe:a9fe` global although a NAT64 gateway turns it into 169.254.169.254), so the
translation forms are refused outright: NAT64 (64:ff9b::/96, 64:ff9b:1::/48), 6to4 (2002::/16),
IPv4-compatible (::a.b.c.d) and SIIT (::ffff:0:a.b.c.d), plus the deprecated site-local
fec0::/10. An IPv4-mapped address (::ffff:a.b.c.d) is judged by the IPv4 address it maps.

A refusal never says what a name resolved to (that would map the server's network for whoever
asks): only that the address is not allowed. Bodies are read raw and decompressed here, in
bounded steps, so the byte cap applies to the *decompressed* size (a gzip bomb stops at the cap).
"""

from __future__ import annotations

import codecs
import ipaddress
import logging
import zlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
import trio

from chinwag.gateways.html_text import html_to_text

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/xhtml+xml")
# Encodings decoded here (bounded); others are refused rather than decoded without a bound.
ACCEPT_ENCODING = "gzip, deflate"
# IPv6 ranges that embed or translate to IPv4, or are deprecated local ranges: never fetched.
_REFUSED_V6 = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "64:ff9b::/96",  # NAT64 well-known prefix
        "64:ff9b:1::/48",  # NAT64 local-use prefix
        "2002::/16",  # 6to4
        "::/96",  # IPv4-compatible (deprecated), also :: and ::1
        "::ffff:0:0:0/96",  # SIIT (IPv4-translated)
        "fec0::/10",  # site-local (deprecated)
    )
)


class FetchError(Exception):
    """A fetch that was refused or failed; the message says why, for the model or the log."""


async def resolve_host(host: str, port: int) -> list[str]:
    """All addresses `host` resolves to (trio runs getaddrinfo in a thread)."""
    infos = await trio.socket.getaddrinfo(host, port, type=trio.socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public_address(address: IPAddress) -> bool:
    """False for loopback, private, link-local, shared, reserved, multicast and unspecified,
    and for the IPv6 forms that embed IPv4 (see the module doc)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif any(address in network for network in _REFUSED_V6):
            return False
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
            except (OSError, ValueError) as error:
                log.info("cannot resolve %r: %s", host, error)
                raise FetchError(f"cannot resolve {host!r}") from None
        if not addresses:
            raise FetchError(f"cannot resolve {host!r}")
        refused = [str(a) for a in addresses if not self.address_allowed(a)]
        if refused:
            # Which address it was stays in the server log: the caller learns nothing about
            # the network behind the server.
            log.info("refused to fetch %r: it resolves to %s", host, ", ".join(refused))
            raise FetchError(f"refusing to fetch {host!r}: the address is not allowed")
        pinned = parsed.copy_with(host=str(addresses[0]))
        return pinned, host


@dataclass(frozen=True)
class FetchedPage:
    url: str
    status: int
    content_type: str
    text: str
    truncated: bool


@dataclass(frozen=True)
class FetchedBody:
    """A fetched body, decompressed and cut at the cap (`truncated` when there was more)."""

    url: str
    status: int
    content_type: str
    body: bytes
    truncated: bool
    charset: str | None


def _is_text(content_type: str, accept: Iterable[str]) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    return any(kind.startswith(prefix) for prefix in accept)


def _host_header(url: httpx.URL, host: str) -> str:
    default = 443 if url.scheme == "https" else 80
    shown = f"[{host}]" if ":" in host else host
    return shown if url.port in (None, default) else f"{shown}:{url.port}"


class _BoundedDecoder:
    """Content-Encoding decoding that never produces more than it is asked for.

    httpx decodes each network chunk whole: one 64 KiB gzip chunk can inflate to 64 MiB before
    any cap is looked at. zlib's `max_length` keeps the output (and memory) to the room left.
    """

    def __init__(self, content_encoding: str) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        self._raw_deflate_tried = False
        if not codings:
            self._inflater = None
        elif codings in (["gzip"], ["x-gzip"]):
            self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif codings == ["deflate"]:
            self._inflater = zlib.decompressobj()
        else:
            raise FetchError(f"the response uses an unsupported encoding ({content_encoding})")
        self._pending = b""

    def decode(self, data: bytes, room: int) -> bytes:
        """At most `room` decoded bytes of `data` plus what earlier calls left unread."""
        if self._inflater is None:
            return data[:room]
        source = self._pending + data
        try:
            out = self._inflater.decompress(source, room)
        except zlib.error:
            if self._raw_deflate_tried or self._inflater.eof:
                raise FetchError("the response body is not validly compressed") from None
            # Some servers send raw deflate (no zlib header) as "deflate".
            self._raw_deflate_tried = True
            self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            return self.decode(data, room)
        self._raw_deflate_tried = True
        self._pending = self._inflater.unconsumed_tail
        return out

    @property
    def has_more(self) -> bool:
        return bool(self._pending)


async def _read_capped(response: httpx.Response, max_bytes: int) -> tuple[bytes, bool]:
    """The decoded body up to `max_bytes`, and whether there was more."""
    decoder = _BoundedDecoder(response.headers.get("content-encoding", ""))
    body = bytearray()
    async for data in response.aiter_raw():
        body += decoder.decode(data, max_bytes + 1 - len(body))
        while decoder.has_more and len(body) <= max_bytes:
            body += decoder.decode(b"", max_bytes + 1 - len(body))
        if len(body) > max_bytes:
            del body[max_bytes:]
            return bytes(body), True
    return bytes(body), False


async def fetch_body(
    http: httpx.AsyncClient,
    url: str,
    *,
    guard: UrlGuard,
    max_bytes: int,
    accept: Iterable[str],
    timeout: float = 10.0,  # noqa: ASYNC109 - each hop gets its own deadline
    headers: dict[str, str] | None = None,
) -> FetchedBody:
    """GET `url` through `guard`, reading at most `max_bytes` of decoded body.

    Follows up to MAX_REDIRECTS redirects, checking each location with `guard`. Raises
    FetchError on a refused address, a type outside `accept` (for a 2xx), a network error or a
    timeout; an HTTP error status is returned (the caller decides what it means). Messages
    name the URL without credentials and never an address or a library's error text.
    """
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        pinned, host = await guard.check(current)
        shown = display_url(current)
        request_headers = {
            "Host": _host_header(pinned, host),
            "Accept-Encoding": ACCEPT_ENCODING,
            **(headers or {}),
        }
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
                            f"{shown} is {content_type or 'of unknown type'}, not an accepted type"
                        )
                    body, truncated = await _read_capped(response, max_bytes)
                finally:
                    await response.aclose()
        except trio.TooSlowError:
            raise FetchError(f"fetching {shown} took longer than {timeout:g} seconds") from None
        except httpx.HTTPError as error:
            log.info("fetching %s failed: %r", shown, error)
            raise FetchError(f"fetching {shown} failed ({type(error).__name__})") from None
        return FetchedBody(
            current, response.status_code, content_type, body, truncated, response.charset_encoding
        )
    raise FetchError(f"fetching {display_url(url)} stopped after {MAX_REDIRECTS} redirects")


def _codec(charset: str | None) -> str:
    """A usable codec for a declared charset (unknown names read as UTF-8)."""
    try:
        return codecs.lookup(charset or "utf-8").name
    except LookupError:
        return "utf-8"


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
    """GET `url` as text (HTML reduced to its visible text), reading at most `max_bytes`
    decoded bytes (see `fetch_body`)."""
    fetched = await fetch_body(
        http, url, guard=guard, max_bytes=max_bytes, accept=accept, timeout=timeout, headers=headers
    )
    text = fetched.body.decode(_codec(fetched.charset), errors="replace")
    if "html" in fetched.content_type.lower():
        text = html_to_text(text)
    return FetchedPage(fetched.url, fetched.status, fetched.content_type, text, fetched.truncated)


def display_url(url: str) -> str:
    """`url` without credentials, for messages and logs."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
