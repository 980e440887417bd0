"""`Cache-Control: no-store` on every answer of the API (JSON, transcripts).

Public answers carry a conversation, management ones access keys and talk URLs: neither may be
kept by a browser cache or a shared proxy. The talk page sets its own headers (talk.py).
"""

from __future__ import annotations

from quart import Quart, Response, request

API_PREFIX = "/api/"


def register_no_store(app: Quart) -> None:
    @app.after_request
    async def no_store(response: Response) -> Response:
        if not request.path.startswith(API_PREFIX):
            return response
        # JSON always; any other answer (a Markdown transcript, ...) unless its route chose
        # (SSE streams say no-cache).
        if response.mimetype == "application/json" or "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"
        return response
