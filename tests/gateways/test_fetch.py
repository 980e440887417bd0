"""The private-address guard, page fetching and the per-turn context fetch, over real HTTP."""

from __future__ import annotations

import gzip
import ipaddress
import socket
import tracemalloc
import zlib

import httpx
import pytest

from chinwag.gateways.context import fetch_context
from chinwag.gateways.fetch import FetchError, UrlGuard, fetch_page, is_public_address
from chinwag.gateways.html_text import html_to_text

from .fake_openai import Page, redirect, start_fake_openai

LOOPBACK_ONLY = UrlGuard(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),))


@pytest.fixture
async def http():
    async with httpx.AsyncClient() as client:
        yield client


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:93.184.216.34", True),  # IPv4-mapped: judged by the IPv4 address
        # IPv6 forms that embed or translate to IPv4 are refused whatever they carry.
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
        ("64:ff9b::5db8:d822", False),  # NAT64 of a public address
        ("64:ff9b:1::7f00:1", False),  # NAT64 local-use prefix
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::1", False),  # 6to4 of 169.254.169.254
        ("::127.0.0.1", False),  # IPv4-compatible
        ("::a9fe:a9fe", False),
        ("::ffff:0:7f00:1", False),  # SIIT
        ("::ffff:0:a9fe:a9fe", False),
        ("fec0::1", False),  # site-local
        ("feff::1", False),
    ],
)
def test_public_address_classification(address, public):
    assert is_public_address(ipaddress.ip_address(address)) is public


async def test_loopback_refused_unless_allowed(nursery, http):
    fake = await start_fake_openai(nursery)
    fake.pages["/doc"] = Page("hello")
    with pytest.raises(FetchError, match="the address is not allowed") as refused:
        await fetch_page(http, fake.url("/doc"), guard=UrlGuard())
    assert str(refused.value) == "refusing to fetch '127.0.0.1': the address is not allowed"
    assert fake.page_requests == []  # refused before connecting
    page = await fetch_page(http, fake.url("/doc"), guard=UrlGuard(allow_private=True))
    assert (page.status, page.text) == (200, "hello")


@pytest.mark.parametrize(
    "target", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://[::1]:9/"]
)
async def test_redirect_to_private_address_refused(nursery, http, target):
    fake = await start_fake_openai(nursery)
    fake.pages["/hop"] = redirect(target)
    with pytest.raises(FetchError, match="the address is not allowed"):
        await fetch_page(http, fake.url("/hop"), guard=LOOPBACK_ONLY)
    assert [r.path for r in fake.page_requests] == ["/hop"]


async def test_redirects_followed_and_rechecked(nursery, http):
    fake = await start_fake_openai(nursery)
    fake.pages["/a"] = redirect("/b", 301)
    fake.pages["/b"] = redirect(fake.url("/c"), 307)
    fake.pages["/c"] = Page("arrived")
    page = await fetch_page(http, fake.url("/a"), guard=LOOPBACK_ONLY)
    assert page.text == "arrived"
    assert page.url == fake.url("/c")


async def test_redirect_loop_stops(nursery, http):
    fake = await start_fake_openai(nursery)
    fake.pages["/loop"] = redirect("/loop")
    with pytest.raises(FetchError, match="redirects"):
        await fetch_page(http, fake.url("/loop"), guard=LOOPBACK_ONLY)


async def test_every_resolved_address_is_checked():
    async def resolve(host, port):
        return ["93.184.216.34", "10.0.0.5"]

    with pytest.raises(FetchError) as refused:
        await UrlGuard(resolve=resolve).check("https://mixed.example/")
    # Refused, and the message does not tell what the name resolves to.
    assert str(refused.value) == "refusing to fetch 'mixed.example': the address is not allowed"


@pytest.mark.parametrize(
    "address",
    ["64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::", "::a9fe:a9fe", "::ffff:0:a9fe:a9fe", "fec0::5"],
)
async def test_names_resolving_to_embedded_ipv4_forms_are_refused(address):
    async def resolve(host, port):
        return [address]

    with pytest.raises(FetchError, match="the address is not allowed") as refused:
        await UrlGuard(resolve=resolve).check("http://rebind.example/")
    assert address not in str(refused.value)
    with pytest.raises(FetchError, match="the address is not allowed"):
        await UrlGuard().check(f"http://[{address}]/latest/meta-data/")


async def test_connection_goes_to_the_checked_address(nursery, http):
    """The hostname is resolved once, by the guard; the request is pinned to that address and
    keeps the original Host header (no second DNS answer can point elsewhere)."""
    fake = await start_fake_openai(nursery)
    fake.pages["/doc"] = Page("pinned")
    port = httpx.URL(fake.origin).port

    async def resolve(host, port):
        assert host == "public.test"
        return ["127.0.0.1"]

    guard = UrlGuard(allowed_networks=LOOPBACK_ONLY.allowed_networks, resolve=resolve)
    page = await fetch_page(http, f"http://public.test:{port}/doc", guard=guard)
    assert page.text == "pinned"
    assert fake.page_requests[0].headers["host"] == f"public.test:{port}"


@pytest.mark.parametrize(
    "url", ["ftp://example.org/x", "file:///etc/passwd", "not a url", "http://"]
)
async def test_only_http_urls(url):
    with pytest.raises(FetchError):
        await UrlGuard(allow_private=True).check(url)


async def test_size_cap_and_html_text(nursery, http):
    fake = await start_fake_openai(nursery)
    fake.pages["/big"] = Page("a" * 10_000)
    fake.pages["/html"] = Page(
        "<html><head><title>T</title><style>p{}</style></head><body><script>x=1</script>"
        "<h1>Head</h1><p>One &amp; two</p><div>three</div></body></html>",
        content_type="text/html; charset=utf-8",
    )
    fake.pages["/bin"] = Page(b"\x00\x01", content_type="application/octet-stream")
    allow = UrlGuard(allow_private=True)
    big = await fetch_page(http, fake.url("/big"), guard=allow, max_bytes=1000)
    assert (len(big.text), big.truncated) == (1000, True)
    html = await fetch_page(http, fake.url("/html"), guard=allow)
    assert html.text == "# T\nHead\nOne & two\nthree"
    with pytest.raises(FetchError, match="not an accepted type"):
        await fetch_page(http, fake.url("/bin"), guard=allow)


def _gzip_of_zeros(mebibytes: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    return b"".join(packer.compress(block) for _ in range(mebibytes)) + packer.flush()


async def test_the_cap_is_on_decompressed_bytes(nursery, http):
    """A ~140 KiB gzip body that inflates to 141 MiB: read up to the cap, memory stays small."""
    fake = await start_fake_openai(nursery)
    bomb = _gzip_of_zeros(141)
    assert len(bomb) < 256 * 1024
    fake.pages["/bomb"] = Page(bomb, headers={"Content-Encoding": "gzip"})
    fake.pages["/small"] = Page(gzip.compress(b"hello gzip"), headers={"Content-Encoding": "gzip"})
    fake.pages["/deflate"] = Page(
        zlib.compress(b"hello deflate"), headers={"Content-Encoding": "deflate"}
    )
    fake.pages["/br"] = Page(b"\x00", headers={"Content-Encoding": "br"})
    allow = UrlGuard(allow_private=True)
    tracemalloc.start()
    try:
        page = await fetch_page(http, fake.url("/bomb"), guard=allow, max_bytes=256 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (len(page.text), page.truncated) == (256 * 1024, True)
    assert peak < 16 * 1024 * 1024, peak
    assert (await fetch_page(http, fake.url("/small"), guard=allow)).text == "hello gzip"
    assert (await fetch_page(http, fake.url("/deflate"), guard=allow)).text == "hello deflate"
    with pytest.raises(FetchError, match="unsupported encoding"):
        await fetch_page(http, fake.url("/br"), guard=allow)


def test_html_to_text_skips_scripts_and_keeps_blocks():
    text = html_to_text("<ul><li>a</li><li>b <b>bold</b></li></ul><noscript>no</noscript>")
    assert text == "a\nb bold"


# ------------------------------------------------------------------ contextLocation


async def test_context_is_fetched_fresh_every_time(nursery, http):
    fake = await start_fake_openai(nursery)
    calls = []

    def cart() -> Page:
        calls.append(1)
        return Page(f"cart has {len(calls)} items", headers={"Cache-Control": "max-age=3600"})

    fake.pages["/cart"] = cart
    first = await fetch_context(http, fake.url("/cart"), allow_private=True)
    second = await fetch_context(http, fake.url("/cart"), allow_private=True)
    assert (first, second) == ("cart has 1 items", "cart has 2 items")
    assert all(r.headers["cache-control"] == "no-cache" for r in fake.page_requests)


async def test_context_failures_return_none(nursery, http, caplog):
    fake = await start_fake_openai(nursery)
    fake.pages["/bin"] = Page(b"\x89PNG", content_type="image/png")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    assert await fetch_context(http, fake.url("/missing"), allow_private=True) is None
    assert await fetch_context(http, fake.url("/bin"), allow_private=True) is None
    assert await fetch_context(http, f"http://127.0.0.1:{closed_port}/", allow_private=True) is None
    assert await fetch_context(http, "gopher://example.org/", allow_private=True) is None
    assert "HTTP 404" in caplog.text


async def test_context_refuses_loopback_unless_allowed(nursery, http):
    fake = await start_fake_openai(nursery)
    fake.pages["/ctx"] = Page("internal")
    assert await fetch_context(http, fake.url("/ctx"), allow_private=False) is None
    assert fake.page_requests == []
    assert await fetch_context(http, fake.url("/ctx"), allow_private=True) == "internal"


async def test_context_size_cap(nursery, http):
    fake = await start_fake_openai(nursery)
    fake.pages["/long"] = Page("z" * 100_000)
    text = await fetch_context(http, fake.url("/long"), allow_private=True, max_bytes=64 * 1024)
    assert text is not None and len(text) == 64 * 1024
