"""Checking the content of a user prompt: text parts and images, OpenAI style.

A prompt may carry images only where the chat client's `inputModes` has "Image". Images are
`image_url` parts holding either an http(s) URL (the model server fetches it) or a `data:` URL
with base64 bytes of a PNG, JPEG, GIF or WebP image. Checked here, before anything is stored,
so a bad image is a 400 naming the part at fault instead of a model error later. Valid parts
go to the model as they are.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any
from urllib.parse import urlsplit

from chinwag.errors import InvalidInput
from chinwag.rules.bounds import MAX_IMAGE_BYTES

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
MAX_URL_CHARS = 4096
DETAILS = ("auto", "low", "high")

_DATA_URL = re.compile(r"^data:(?P<type>[\w.+-]+/[\w.+-]+)(?P<params>(;[^;,]*)*?);base64,", re.I)
# The first bytes each allowed type starts with, so a renamed file is caught here.
_MAGIC = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}


def _has_magic(mime: str, data: bytes) -> bool:
    if mime == "image/webp":
        return len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    return data.startswith(_MAGIC[mime])


def _check_image_url(url: Any, where: str, max_bytes: int) -> None:
    if not isinstance(url, str) or not url:
        raise InvalidInput(f"{where}.url must be a non-empty string")
    if url[:5].lower() == "data:":
        match = _DATA_URL.match(url)
        if match is None:
            raise InvalidInput(f"{where}.url must be a base64 data URL (data:image/png;base64,...)")
        mime = match["type"].lower()
        if mime not in IMAGE_TYPES:
            allowed = ", ".join(IMAGE_TYPES)
            raise InvalidInput(f"{where}.url has type {mime}; images must be one of {allowed}")
        encoded = url[match.end() :]
        if len(encoded) * 3 // 4 > max_bytes + 3:
            raise InvalidInput(f"{where}.url is larger than {max_bytes // (1024 * 1024)} MiB")
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(f"{where}.url is not valid base64") from None
        if len(data) > max_bytes:
            raise InvalidInput(f"{where}.url is larger than {max_bytes // (1024 * 1024)} MiB")
        if not _has_magic(mime, data):
            raise InvalidInput(f"{where}.url does not contain {mime} data")
        return
    if len(url) > MAX_URL_CHARS:
        raise InvalidInput(f"{where}.url is longer than {MAX_URL_CHARS} characters")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise InvalidInput(f"{where}.url must be an http(s) URL or a data: URL")


def validate_prompt_content(
    content: Any,
    allow_images: bool,
    *,
    field: str = "prompt",
    max_image_bytes: int = MAX_IMAGE_BYTES,
) -> str | list[dict[str, Any]]:
    """`content` checked: a non-empty string, or a list of text/image_url parts.

    Raises InvalidInput naming the part at fault (e.g. `prompt[1].image_url: images are not
    enabled ...`). Returns the content unchanged, ready to store and send to the model.
    """
    if isinstance(content, str):
        if not content.strip():
            raise InvalidInput(f"{field} must not be empty")
        return content
    if not isinstance(content, list) or not content:
        raise InvalidInput(f"{field} must be a string or a non-empty list of content parts")
    has_text_or_image = False
    for index, part in enumerate(content):
        where = f"{field}[{index}]"
        if not isinstance(part, dict):
            raise InvalidInput(f"{where} must be an object with a type")
        kind = part.get("type")
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise InvalidInput(f"{where}.text must be a string")
            has_text_or_image = has_text_or_image or bool(part["text"].strip())
        elif kind == "image_url":
            if not allow_images:
                raise InvalidInput(
                    f"{where}.image_url: images are not enabled for this chat client "
                    "(inputModes has no Image)"
                )
            image = part.get("image_url")
            if not isinstance(image, dict):
                raise InvalidInput(f"{where}.image_url must be an object with a url")
            _check_image_url(image.get("url"), f"{where}.image_url", max_image_bytes)
            detail = image.get("detail")
            if detail is not None and detail not in DETAILS:
                raise InvalidInput(f"{where}.image_url.detail must be one of {', '.join(DETAILS)}")
            has_text_or_image = True
        else:
            raise InvalidInput(f"{where}.type must be 'text' or 'image_url', not {kind!r}")
    if not has_text_or_image:
        raise InvalidInput(f"{field} must contain some text or an image")
    return content


def normalize_prompt(prompt: Any, allow_images: bool) -> list[dict[str, Any]]:
    """The API's `prompt` (a string, one message, a list of messages, or a list of content
    parts) as a list of checked user messages `{"role": "user", "content": ...}`."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": validate_prompt_content(prompt, allow_images)}]
    if isinstance(prompt, dict):
        return [_message(prompt, allow_images, "prompt")]
    if isinstance(prompt, list) and prompt and all(_is_message(p) for p in prompt):
        return [_message(m, allow_images, f"prompt[{i}]") for i, m in enumerate(prompt)]
    if isinstance(prompt, list) and prompt:
        return [{"role": "user", "content": validate_prompt_content(prompt, allow_images)}]
    raise InvalidInput("prompt must be a string, a message, or a non-empty list of them")


def _is_message(item: Any) -> bool:
    """A message has a role or content; a content part has a type."""
    return isinstance(item, dict) and "type" not in item and ("role" in item or "content" in item)


def _message(message: dict[str, Any], allow_images: bool, where: str) -> dict[str, Any]:
    role = message.get("role", "user")
    if role != "user":
        raise InvalidInput(f"{where}.role must be 'user', not {role!r}")
    if "content" not in message:
        raise InvalidInput(f"{where}.content is required")
    content = validate_prompt_content(message["content"], allow_images, field=f"{where}.content")
    return {"role": "user", "content": content}
