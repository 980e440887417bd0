"""Photos and image documents from Telegram and WhatsApp, read by the model (or not).

The fake Bot API serves getFile and the file download; the fake Z-API serves media URLs. The
stored user message shows what reached the model: an image part with the exact bytes as a data
URL, and the caption as its text.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio

from chinwag.gateways.images import MAX_IMAGE_BYTES

from . import tg
from .harness import Rig, rig
from .payloads import zapi_callback

WAIT = 20
JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(range(256)) * 4
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 300


@pytest.fixture
async def r(tmp_path: Path) -> AsyncIterator[Rig]:
    async with rig(tmp_path / "data") as handle:
        yield handle


def photo(message_id: int, file_id: str, caption: str | None = None, size: int = 1000) -> Any:
    sizes = (
        tg.PhotoSize(f"{file_id}-thumb", "t", 90, 90, file_size=100),
        tg.PhotoSize(file_id, "f", 1280, 960, file_size=size),
    )
    return tg.message(message_id, tg.private(), None, photo=sizes, caption=caption)


def user_contents(r: Rig, client_id: str) -> list[Any]:
    service = r.server.service
    [session] = service.list_sessions(client_id)[0]
    return [m.content for m in service.messages(session.id) if m.role == "user"]


def data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


async def test_photo_and_caption_are_the_prompt(r: Rig) -> None:
    client_id, secret = await r.telegram_client(client_parameters={"inputModes": ["Image"]})
    r.telegram.files["big"] = JPEG
    response = await r.post_update(client_id, secret, tg.update(1, photo(7, "big", "What is it?")))
    assert response.status_code == 200
    with trio.fail_after(WAIT):
        [reply] = await r.telegram.wait_for("sendMessage", 1)
    assert reply.body["text"] == "You said: What is it?"
    [get_file] = r.telegram.of("getFile")
    assert get_file.body == {"file_id": "big"}  # the largest size, not the thumbnail
    assert r.telegram.downloads == ["big"]
    assert user_contents(r, client_id) == [
        [
            {"type": "text", "text": "What is it?"},
            {"type": "image_url", "image_url": {"url": data_url("image/jpeg", JPEG)}},
        ]
    ]


async def test_image_document_without_caption(r: Rig) -> None:
    client_id, secret = await r.telegram_client(client_parameters={"inputModes": ["Image"]})
    r.telegram.files["doc1"] = PNG
    document = tg.Document("doc1", "udoc1", file_name="chart.png", mime_type="image/png")
    msg = tg.message(8, tg.private(), None, document=document)
    assert (await r.post_update(client_id, secret, tg.update(1, msg))).status_code == 200
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 1)
    [[part]] = user_contents(r, client_id)
    assert part == {"type": "image_url", "image_url": {"url": data_url("image/png", PNG)}}


async def test_too_large_photo_is_refused_before_download(r: Rig) -> None:
    client_id, secret = await r.telegram_client(client_parameters={"inputModes": ["Image"]})
    r.telegram.files["huge"] = b"\xff\xd8\xff" + b"\x00" * (MAX_IMAGE_BYTES + 10)
    msg = photo(9, "huge", "look", size=MAX_IMAGE_BYTES + 13)
    await r.post_update(client_id, secret, tg.update(1, msg))
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 1)
    assert r.replies() == ["That image is too large for me. Please send a smaller one."]
    assert r.telegram.downloads == []  # getFile said how big it is: nothing downloaded


async def test_not_an_image_is_not_sent_to_the_model(r: Rig) -> None:
    client_id, secret = await r.telegram_client(client_parameters={"inputModes": ["Image"]})
    r.telegram.files["fake"] = b"<html>not a picture</html>"
    await r.post_update(client_id, secret, tg.update(1, photo(10, "fake", "hm")))
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 1)
    assert r.replies() == ["Sorry, I could not open that image. Please send it again."]
    assert r.server.service.list_sessions(client_id)[0] == [] or user_contents(r, client_id) == []


async def test_without_image_mode_the_caption_is_answered_with_a_note(r: Rig) -> None:
    client_id, secret = await r.telegram_client(client_parameters={"languageCode": "es"})
    r.telegram.files["p"] = JPEG
    await r.post_update(client_id, secret, tg.update(1, photo(11, "p", "¿qué es?")))
    await r.post_update(client_id, secret, tg.update(2, photo(12, "p")))
    with trio.fail_after(WAIT):
        await r.telegram.wait_for("sendMessage", 2)
    answered, refused = r.replies()
    assert answered == (
        "You said: ¿qué es?\n\n(Solo puedo leer texto, así que respondí al texto de tu mensaje.)"
    )
    assert refused == "Lo siento, solo puedo leer mensajes de texto."
    assert not r.telegram.of("getFile") and r.telegram.downloads == []
    assert user_contents(r, client_id) == ["¿qué es?"]


async def test_whatsapp_image_is_read(r: Rig) -> None:
    client_id, path = await r.zapi_client(client_parameters={"inputModes": ["Image"]})
    r.zapi.media["photo1.jpeg"] = JPEG
    callback = zapi_callback(
        "IMG1",
        "5511988887777",
        "",
        image={
            "imageUrl": f"{r.zapi.base_url}/media/photo1.jpeg",
            "caption": "o que é isso?",
            "mimeType": "image/jpeg",
            "thumbnailUrl": f"{r.zapi.base_url}/media/thumb.jpeg",
        },
    )
    del callback["text"]  # Z-API sends media without a text field
    assert (await r.server.anonymous.post(path, json=callback)).status_code == 200
    with trio.fail_after(WAIT):
        [sent] = await r.zapi.wait_for("send-text", 1)
    assert sent.body["message"] == "You said: o que é isso?"
    assert user_contents(r, client_id) == [
        [
            {"type": "text", "text": "o que é isso?"},
            {"type": "image_url", "image_url": {"url": data_url("image/jpeg", JPEG)}},
        ]
    ]


async def test_whatsapp_image_without_image_mode(r: Rig) -> None:
    _client_id, path = await r.zapi_client()
    callback = zapi_callback(
        "IMG2",
        "5511988887776",
        "",
        image={"imageUrl": f"{r.zapi.base_url}/media/x.jpeg", "mimeType": "image/jpeg"},
    )
    del callback["text"]
    await r.server.anonymous.post(path, json=callback)
    with trio.fail_after(WAIT):
        [sent] = await r.zapi.wait_for("send-text", 1)
    assert sent.body["message"] == "Sorry, I can only read text messages."
