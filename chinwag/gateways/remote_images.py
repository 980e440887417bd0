"""`image_url` parts with an http(s) URL are fetched by chinwag and sent on as data URLs.

Passing the URL on would let a public key holder make the model server fetch anything it can
reach (`http://169.254.169.254/…` on a self-hosted server), and checking the name first would
not help: the model server resolves it again, maybe to another address. So chinwag fetches
the image itself, through the same address guard as `fetch_url` (every hop checked, the
connection pinned to the checked address), checks it is a PNG, JPEG, GIF or WebP of at most the
image size limit, and replaces the URL with a `data:` URL before the prompt is stored. The model
server and the talk page then never see the remote URL. A URL that cannot be used is a 400
naming the part, like any other bad image.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx

from chinwag.errors import InvalidInput
from chinwag.gateways.fetch import FetchError, UrlGuard, fetch_body
from chinwag.gateways.images import IMAGE_TYPES, MAX_IMAGE_BYTES, _has_magic

# Remote images fetched for one prompt at most (each is a download chinwag makes for the caller).
MAX_REMOTE_IMAGES = 4
FETCH_TIMEOUT = 10.0


def _is_remote(url: Any) -> bool:
    return isinstance(url, str) and url[:8].lower().startswith(("http://", "https://"))


def remote_image_parts(value: Any, where: str = "prompt") -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, image_url object) of every image part with an http(s) URL, named like the
    prompt checks name them (`prompt[1].image_url`, `prompt.content[0].image_url`)."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from remote_image_parts(item, f"{where}[{index}]")
    elif isinstance(value, dict):
        image = value.get("image_url")
        if value.get("type") == "image_url" and isinstance(image, dict):
            url = image.get("url")
            if isinstance(url, str) and _is_remote(url):
                yield f"{where}.image_url", image
        elif "content" in value:
            yield from remote_image_parts(value["content"], f"{where}.content")


def has_remote_images(prompt: Any) -> bool:
    return next(remote_image_parts(prompt), None) is not None


async def fetch_image_data_url(
    http: httpx.AsyncClient, url: str, where: str, *, guard: UrlGuard, max_bytes: int
) -> str:
    """The image at `url` as a base64 data URL, or InvalidInput naming `where`."""
    try:
        fetched = await fetch_body(
            http, url, guard=guard, max_bytes=max_bytes, accept=IMAGE_TYPES, timeout=FETCH_TIMEOUT
        )
    except FetchError as error:
        raise InvalidInput(f"{where}.url could not be fetched: {error}") from None
    if not 200 <= fetched.status < 300:
        raise InvalidInput(f"{where}.url could not be fetched: it answered HTTP {fetched.status}")
    if fetched.truncated:
        raise InvalidInput(f"{where}.url is larger than {max_bytes // (1024 * 1024)} MiB")
    mime = fetched.content_type.split(";")[0].strip().lower()
    if not _has_magic(mime, fetched.body):
        raise InvalidInput(f"{where}.url does not contain {mime} data")
    return f"data:{mime};base64,{base64.b64encode(fetched.body).decode()}"


async def inline_remote_images(
    prompt: Any,
    http: httpx.AsyncClient,
    *,
    guard: UrlGuard,
    max_bytes: int = MAX_IMAGE_BYTES,
) -> Any:
    """`prompt` with every http(s) image URL replaced by the fetched image's data URL.

    Changes the parts in place (the caller's freshly decoded request body) and returns it.
    """
    parts = list(remote_image_parts(prompt))
    if len(parts) > MAX_REMOTE_IMAGES:
        raise InvalidInput(
            f"prompt has {len(parts)} images given by URL; at most {MAX_REMOTE_IMAGES} per "
            "prompt (send more as data: URLs)"
        )
    for where, image in parts:
        image["url"] = await fetch_image_data_url(
            http, image["url"], where, guard=guard, max_bytes=max_bytes
        )
    return prompt
