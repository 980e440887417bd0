"""CORS for the public session API.

The access key in the path is the only credential (no cookies), so any site may call the public
API from a browser: that is how a business builds its own chat widget instead of the talk page.
Management endpoints get no CORS headers: their API key must stay on servers.
"""

from __future__ import annotations

from quart import Quart, Response, request

from chinwag.http.envelope import no_content

PUBLIC_PREFIX = "/api/v1/public/"
_ALLOW = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Retry-After",
}
_PREFLIGHT = {
    **_ALLOW,
    "Access-Control-Allow-Methods": "GET, POST, DELETE",
    "Access-Control-Allow-Headers": "Content-Type, Accept, Idempotency-Key, Last-Event-ID",
    "Access-Control-Max-Age": "86400",
}


def register_cors(app: Quart) -> None:
    @app.before_request
    async def answer_preflight() -> Response | None:
        if request.method == "OPTIONS" and request.path.startswith(PUBLIC_PREFIX):
            return no_content(_PREFLIGHT)
        return None

    @app.after_request
    async def allow_cross_origin(response: Response) -> Response:
        if request.path.startswith(PUBLIC_PREFIX):
            response.headers.update(_ALLOW)
        return response
