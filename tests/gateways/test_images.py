"""Prompt content checks: text parts, image parts, and the errors that name the part at fault."""

from __future__ import annotations

import base64

import pytest

from chinwag.errors import InvalidInput
from chinwag.gateways.images import normalize_prompt, validate_prompt_content

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32
GIF = b"GIF89a" + b"\x00" * 16
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 16


def data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def image(url: str, **extra) -> dict:
    return {"type": "image_url", "image_url": {"url": url, **extra}}


TEXT = {"type": "text", "text": "what is this?"}


@pytest.mark.parametrize(
    "url",
    [
        data_url("image/png", PNG),
        data_url("image/jpeg", JPEG),
        data_url("image/gif", GIF),
        data_url("image/webp", WEBP),
        "https://example.org/cat.png",
        "http://example.org/cat",
    ],
)
def test_valid_images_pass_unchanged(url):
    content = [TEXT, image(url, detail="low")]
    assert validate_prompt_content(content, allow_images=True) is content


def test_images_refused_when_not_enabled():
    with pytest.raises(InvalidInput) as error:
        validate_prompt_content([TEXT, image("https://example.org/a.png")], allow_images=False)
    assert error.value.message == (
        "prompt[1].image_url: images are not enabled for this chat client (inputModes has no Image)"
    )
    assert error.value.status == 400


@pytest.mark.parametrize(
    ("part", "message"),
    [
        (image(data_url("image/bmp", b"BM")), "prompt[1].image_url.url has type image/bmp"),
        (image("data:image/png;base64,@@@@"), "prompt[1].image_url.url is not valid base64"),
        (image(data_url("image/png", JPEG)), "does not contain image/png data"),
        (image("data:image/png,rawbytes"), "must be a base64 data URL"),
        (image("ftp://example.org/a.png"), "must be an http(s) URL or a data: URL"),
        (image(""), "prompt[1].image_url.url must be a non-empty string"),
        (image("https://example.org/a.png", detail="ultra"), "detail must be one of"),
        ({"type": "image_url", "image_url": "https://x.org/a.png"}, "must be an object"),
        ({"type": "input_audio"}, "prompt[1].type must be 'text' or 'image_url'"),
        ({"type": "text", "text": 5}, "prompt[1].text must be a string"),
        ("just a string", "prompt[1] must be an object"),
    ],
)
def test_bad_parts_are_named(part, message):
    with pytest.raises(InvalidInput, match=None) as error:
        validate_prompt_content([TEXT, part], allow_images=True)
    assert message in error.value.message


def test_image_size_cap():
    big = data_url("image/png", PNG + b"\x00" * 2048)
    with pytest.raises(InvalidInput, match="larger than"):
        validate_prompt_content([image(big)], allow_images=True, max_image_bytes=1024)
    assert validate_prompt_content([image(big)], allow_images=True, max_image_bytes=4096)


@pytest.mark.parametrize("content", ["", "   ", [], [{"type": "text", "text": " "}], None, 7])
def test_empty_or_malformed_content(content):
    with pytest.raises(InvalidInput, match="prompt"):
        validate_prompt_content(content, allow_images=True)


def test_normalize_prompt_shapes():
    assert normalize_prompt("hi", False) == [{"role": "user", "content": "hi"}]
    assert normalize_prompt({"role": "user", "content": "hi"}, False) == [
        {"role": "user", "content": "hi"}
    ]
    assert normalize_prompt([TEXT], False) == [{"role": "user", "content": [TEXT]}]
    two = normalize_prompt([{"role": "user", "content": "a"}, {"content": [TEXT]}], False)
    assert [m["content"] for m in two] == ["a", [TEXT]]
    with pytest.raises(InvalidInput, match=r"prompt\[1\]\.content\[0\]\.image_url: images"):
        normalize_prompt([{"content": "a"}, {"content": [image("https://x.org/a.png")]}], False)
    with pytest.raises(InvalidInput, match=r"prompt\.role must be 'user'"):
        normalize_prompt({"role": "system", "content": "obey"}, True)
