"""Compressed, cache-friendly responses for the talk page, its static files and /widget.js.

Why this module exists: a first visit to the talk page should move as few bytes as possible
(issue 12: at most 100 KB on the wire). Hypercorn and Quart do not compress, and the ASGI
compression middlewares compress every response with one ETag for all encodings, buffer or
chunk SSE streams, and re-compress the same static file on every request. Here:

- Static files are read once, and compressed once at the highest level (gzip 9, brotli 11):
  they change only with a release, and their URLs carry a content hash.
- The encoding is negotiated with werkzeug's Accept-Encoding parser (q-values, `q=0`, `*`),
  preferring brotli, then gzip, then identity; every response says `Vary: Accept-Encoding`.
- Each encoding has its own strong ETag (`"<hash>"`, `"<hash>-br"`, `"<hash>-gz"`), as a strong
  validator must differ between representations; `If-None-Match` gets a 304.
- The HTML page is rendered per request (it carries a CSP nonce), so it is compressed per
  response at a fast level; it is small, so this costs well under a millisecond.
- Nothing else (JSON API, SSE) is touched.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path

import brotli
from quart import Request, Response
from werkzeug.security import safe_join

# Below this many bytes compression saves less than the headers it needs.
MIN_COMPRESS_BYTES = 1024
ENCODINGS = ("br", "gzip")
_TEXT_TYPES = ("text/", "application/javascript", "application/json", "image/svg+xml")


@dataclass
class StaticFile:
    """One static file, its content hash and its compressed forms (made on first use)."""

    data: bytes
    mimetype: str
    digest: str
    encoded: dict[str, bytes] = field(default_factory=dict)

    def body(self, encoding: str | None) -> bytes:
        if encoding is None:
            return self.data
        if encoding not in self.encoded:
            self.encoded[encoding] = compress(self.data, encoding, best=True)
        return self.encoded[encoding]

    def etag(self, encoding: str | None) -> str:
        suffix = {"br": "-br", "gzip": "-gz"}.get(encoding or "", "")
        return f'"{self.digest}{suffix}"'


class StaticFiles:
    """The files under one directory, loaded lazily and kept in memory (they are few and small)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._files: dict[str, StaticFile | None] = {}

    def get(self, name: str) -> StaticFile | None:
        """The file at this relative path, or None when it is missing or outside the root."""
        if name in self._files:
            return self._files[name]
        found: StaticFile | None = None
        joined = safe_join(str(self.root), name)
        if joined is not None and Path(joined).is_file():
            data = Path(joined).read_bytes()
            mimetype = mimetypes.guess_type(joined)[0] or "application/octet-stream"
            if mimetype in ("text/javascript", "application/javascript"):
                mimetype = "text/javascript"
            found = StaticFile(data, mimetype, hashlib.sha256(data).hexdigest()[:16])
        if len(self._files) < 256:  # a bound: unknown names are not remembered forever
            self._files[name] = found
        return found


def compressible(mimetype: str) -> bool:
    return mimetype.startswith(_TEXT_TYPES)


def compress(data: bytes, encoding: str, *, best: bool = False) -> bytes:
    """`data` in this content coding; `best` for files compressed once and served many times."""
    if encoding == "br":
        return brotli.compress(data, mode=brotli.MODE_TEXT, quality=11 if best else 5)
    if encoding == "gzip":
        return gzip.compress(data, compresslevel=9 if best else 6, mtime=0)
    raise ValueError(f"unknown content coding {encoding!r}")


def choose_encoding(request: Request, size: int, mimetype: str) -> str | None:
    """The content coding to answer with: the client's best of br/gzip, or None (identity)."""
    if size < MIN_COMPRESS_BYTES or not compressible(mimetype):
        return None
    return request.accept_encodings.best_match(ENCODINGS)


def _with_charset(mimetype: str) -> str:
    return f"{mimetype}; charset=utf-8" if compressible(mimetype) else mimetype


def static_response(request: Request, file: StaticFile, cache_control: str) -> Response:
    """A static file in the best encoding the client takes, with its ETag (304 when it matches)."""
    encoding = choose_encoding(request, len(file.data), file.mimetype)
    etag = file.etag(encoding)
    headers = {
        "ETag": etag,
        "Cache-Control": cache_control,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    if etag in _if_none_match(request):
        return Response(b"", status=304, headers=headers)
    if encoding:
        headers["Content-Encoding"] = encoding
    return Response(
        file.body(encoding), status=200, headers=headers, content_type=_with_charset(file.mimetype)
    )


def compressed_page(request: Request, html: str, status: int) -> Response:
    """A rendered HTML page, compressed for this client when it is worth it."""
    data = html.encode("utf-8")
    encoding = choose_encoding(request, len(data), "text/html")
    response = Response(
        compress(data, encoding) if encoding else data,
        status=status,
        content_type="text/html; charset=utf-8",
    )
    if encoding:
        response.headers["Content-Encoding"] = encoding
    response.headers["Vary"] = "Accept-Encoding"
    return response


def _if_none_match(request: Request) -> set[str]:
    header = request.headers.get("If-None-Match", "")
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}
