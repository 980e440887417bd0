"""`Cache-Control: no-store` on every JSON answer of the API.

Public answers carry a conversation, management ones access keys and talk URLs: neither may be
kept by a browser cache or a shared proxy. The talk page sets its own headers (talk.py).
"""

from __future__ import annotations

from quart import Quart, Response, request

API_PREFIX = "/api/"


def register_no_store(app: Quart) -> None:
    @app.after_request
    async def no_store(response: Response) -> Response:
        if request.path.startswith(API_PREFIX) and response.mimetype == "application/json":
            response.headers["Cache-Control"] = "no-store"
        return response
