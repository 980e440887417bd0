"""contextLocation: at most 64 KiB of text reaches the model per turn, however the page is sent
(plain, gzip bomb, bytes that grow when decoded). Real server, real fake model server."""

from __future__ import annotations

import zlib

from gateways.fake_openai import Page, start_fake_openai
from support.server import running_server

from chinwag.gateways.context import MAX_CONTEXT_BYTES, clip_utf8


def _gzip_of(text: bytes, repeat: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return b"".join(packer.compress(text) for _ in range(repeat)) + packer.flush()


def test_clip_utf8_never_cuts_a_character() -> None:
    assert clip_utf8("héllo", 2) == "h"
    assert clip_utf8("héllo", 3) == "hé"
    assert clip_utf8("abc", 10) == "abc"


async def test_context_text_is_bounded_per_turn(tmp_path, nursery) -> None:
    fake = await start_fake_openai(nursery)
    one_mib = b"context line " * 80_000
    fake.pages["/plain"] = Page(one_mib)
    fake.pages["/bomb"] = Page(
        _gzip_of(b"\x00" * 1024 * 1024, 100), headers={"Content-Encoding": "gzip"}
    )
    # 64 KiB of bytes that are not UTF-8: each becomes U+FFFD (3 bytes) when decoded.
    fake.pages["/invalid"] = Page(b"\xff" * 70_000, content_type="text/plain; charset=utf-8")
    async with running_server(tmp_path / "data", fetch_allow_private=True) as server:
        client_id = await server.create_client(provider="openai", baseUrl=fake.base_url, model="m")
        for path in ("/plain", "/bomb", "/invalid"):
            opened = await server.open_session(client_id, contextLocation=fake.url(path))
            reply = await server.anonymous.post(
                server.public_path(opened["accessKey"], "prompt"), json={"prompt": "hi"}
            )
            assert reply.status_code == 200, reply.text
            system = fake.requests[-1].body["messages"][0]
            assert system["role"] == "system", (path, system)
            size = len(system["content"].encode())
            assert 0 < size <= MAX_CONTEXT_BYTES, (path, size)
