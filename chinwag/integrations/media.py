"""Images sent in a chat, fetched for the model: bounded download, checked type, data URL.

A chat image becomes an `image_url` part holding a `data:` URL, exactly like an image attached
on the talk page, so the stored history does not depend on the platform's file links (Telegram
file paths and Z-API media URLs stop working after a while). The download is streamed and cut
at the size bound; nothing beyond it is read. Error messages never carry the URL (a Telegram
file URL contains the bot token).
"""

from __future__ import annotations

import base64

import httpx

from chinwag.gateways.images import MAX_IMAGE_BYTES

DOWNLOAD_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


class ImageTooLarge(Exception):
    """The image is larger than the bound: the user is asked for a smaller one."""


class ImageUnreadable(Exception):
    """The image could not be downloaded or is not a PNG, JPEG, GIF or WebP image."""


def image_type(data: bytes) -> str | None:
    """The MIME type from the first bytes (what the model servers accept), else None."""
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


async def download(
    http: httpx.AsyncClient,
    url: str,
    *,
    max_bytes: int = MAX_IMAGE_BYTES,
    headers: dict[str, str] | None = None,
) -> bytes:
    """GET `url`, reading at most `max_bytes` (ImageTooLarge beyond it)."""
    try:
        async with http.stream("GET", url, headers=headers, timeout=DOWNLOAD_TIMEOUT) as response:
            if response.status_code != 200:
                raise ImageUnreadable(f"the image download answered HTTP {response.status_code}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise ImageTooLarge(f"the image is larger than {max_bytes} bytes")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise ImageTooLarge(f"the image is larger than {max_bytes} bytes")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise ImageUnreadable(f"the image download failed ({type(exc).__name__})") from None
    return b"".join(chunks)


def data_url(data: bytes) -> str:
    """`data:image/…;base64,…` for the model; ImageUnreadable when it is no known image."""
    mime = image_type(data)
    if mime is None:
        raise ImageUnreadable("the file is not a PNG, JPEG, GIF or WebP image")
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"
