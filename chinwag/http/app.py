"""`create_app(service, settings, integrations)`: the whole HTTP surface as one Quart-Trio app.

The app holds no state of its own besides metrics: the runtime facade and settings live in
`app.config` (see `chinwag.http.deps`), so an embedding Trio program can build the app around a
runtime it already runs and serve it in its own nursery (`chinwag.http.server.serve_app`).

Error policy: every response, including 404/405/413 from routing and body handling and any
unexpected exception, is the `{"message", "data"}` envelope; a traceback goes to the log only.
Every response carries `X-Request-Id` (see request_id.py); an unexpected failure answers only
"internal error (request id …)" and the log line with the traceback names the same id.
"""

from __future__ import annotations

import logging
import time

import msgspec
from quart import Blueprint, Response, current_app, g, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from chinwag.config import Settings
from chinwag.errors import ChinwagError
from chinwag.http import deps
from chinwag.http.auth import challenge
from chinwag.http.bodies import install_body_bounds, mib
from chinwag.http.caching import register_no_store
from chinwag.http.cors import register_cors
from chinwag.http.envelope import fail, ok
from chinwag.http.forward import register_forwarding
from chinwag.http.links import blueprint as links_blueprint
from chinwag.http.management import blueprint as management_blueprint
from chinwag.http.metrics import Metrics
from chinwag.http.openapi import build_openapi, doc, docs_html
from chinwag.http.public import blueprint as public_blueprint
from chinwag.http.public_errors import INTERNAL_ERROR, error_message
from chinwag.http.request_id import register_request_ids, request_id, with_request_id
from chinwag.http.talk import blueprint as talk_blueprint
from chinwag.http.webhooks import blueprint as webhooks_blueprint
from chinwag.integrations.manager import IntegrationManager
from chinwag.service import ChinwagService
from chinwag.storage.errors import StorageError

log = logging.getLogger(__name__)


operations = Blueprint("operations", __name__)


@operations.get("/healthz")
@doc("Health: 200 {status: ok, node, storage, nodes}; 503 {status: unavailable} on store failure")
async def healthz() -> Response:
    health = await deps.service().health()
    if health["status"] != "ok":
        # A load balancer reads the status code; the body says why without any detail.
        return ok(health, status=503, message="The storage is unavailable.")
    return ok(health)


@operations.get("/metrics")
@doc("Prometheus metrics (text exposition format)", produces=("text/plain",))
async def metrics_endpoint() -> Response:
    body, content_type = deps.metrics().render()
    return Response(body, status=200, content_type=content_type)


@operations.get("/openapi.json")
@doc("This OpenAPI document (the bare document, not the envelope)", enveloped=False)
async def openapi_document() -> Response:
    # The bare document, not the envelope: OpenAPI tools expect it at the top level.
    return Response(
        msgspec.json.encode(current_app.config["CHINWAG_OPENAPI"]),
        content_type="application/json",
    )


@operations.get("/docs")
@doc("The API reference as an HTML page", produces=("text/html",))
async def docs_page() -> Response:
    return Response(
        docs_html(current_app.config["CHINWAG_OPENAPI"]),
        content_type="text/html; charset=utf-8",
    )


def _http_error_message(error: HTTPException) -> str:
    code = error.code or 500
    if code == 404:
        return f"No endpoint matches {request.method} {request.path}."
    if code == 405:
        allowed = ", ".join(sorted(getattr(error, "valid_methods", None) or []))
        return f"Method {request.method} is not allowed for {request.path}" + (
            f"; allowed: {allowed}." if allowed else "."
        )
    if code == 413:
        limit = request.max_content_length or deps.settings().max_body_bytes
        return f"The request body is larger than the limit of {limit} bytes ({mib(limit)})."
    if code == 408:
        seconds = deps.settings().body_timeout_seconds
        return f"The request body did not arrive within the limit of {seconds:g} seconds."
    return error.description or error.name or "HTTP error."


def _register_error_handlers(app: QuartTrio) -> None:
    @app.errorhandler(ChinwagError)
    async def on_chinwag_error(error: ChinwagError) -> Response:
        # A 5xx is worded by audience and logged with the request id (see public_errors.py);
        # a storage failure is always an "internal error", whatever its class says.
        status = max(error.status, 500) if isinstance(error, StorageError) else error.status
        headers = {"WWW-Authenticate": challenge(request.path)} if status == 401 else None
        return fail(status, error_message(error), retry_after=error.retry_after, headers=headers)

    @app.errorhandler(HTTPException)
    async def on_http_error(error: HTTPException) -> Response:
        code = error.code or 500
        headers = {}
        if code == 405 and getattr(error, "valid_methods", None):
            headers["Allow"] = ", ".join(sorted(error.valid_methods))  # type: ignore[union-attr]
        if code == 413:
            # The rest of the body will not be read: close, or the client blocks sending it.
            headers["Connection"] = "close"
        return fail(code, _http_error_message(error), headers=headers)

    @app.errorhandler(Exception)
    async def on_unexpected(error: Exception) -> Response:
        log.error(
            "unhandled error on %s %s (request id %s)",
            request.method,
            request.path,
            request_id(),
            exc_info=error,
        )
        return fail(500, with_request_id(INTERNAL_ERROR))


def _register_metrics(app: QuartTrio, metrics: Metrics) -> None:
    @app.before_request
    async def start_timer() -> None:
        g.chinwag_started = time.perf_counter()

    @app.after_request
    async def count_request(response: Response) -> Response:
        started = getattr(g, "chinwag_started", None)
        elapsed = time.perf_counter() - started if started is not None else 0.0
        route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        metrics.observe(request.method, route, response.status_code, elapsed)
        return response


def create_app(
    service: ChinwagService, settings: Settings, integrations: IntegrationManager
) -> QuartTrio:
    """The Quart-Trio app serving `service` with `settings` (body limit, public URL, API key);
    webhooks and integration settings go to `integrations`."""
    from chinwag.http import feedback

    app = QuartTrio("chinwag")
    app.config.update(
        {
            deps.SERVICE_KEY: service,
            deps.SETTINGS_KEY: settings,
            deps.INTEGRATIONS_KEY: integrations,
            # OPTIONS would answer with an empty body; 405 keeps the envelope promise.
            "PROVIDE_AUTOMATIC_OPTIONS": False,
            "JSON_SORT_KEYS": False,
        }
    )
    # No redirects from routing: werkzeug would answer `//` in a path or a missing trailing
    # slash with an HTML 308 whose Location is built from the client's Host header (never HTML,
    # and no redirect a caching proxy could be poisoned with): such paths are a JSON 404.
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False
    app.url_map.redirect_defaults = False
    metrics = Metrics()
    app.config[deps.METRICS_KEY] = metrics
    metrics.register_runtime_gauges(lambda: service.stats().as_metrics())
    metrics.register_runtime_gauges(lambda: integrations.stats().as_metrics())

    register_request_ids(app)
    _register_metrics(app, metrics)
    # Credentials are checked before a body is read; bodies are capped per route (bodies.py).
    install_body_bounds(app, settings)
    register_no_store(app)
    register_cors(app)
    _register_error_handlers(app)
    register_forwarding(app)  # cluster mode: relay requests for sessions on other nodes
    app.register_blueprint(operations)
    app.register_blueprint(management_blueprint)
    app.register_blueprint(public_blueprint)
    app.register_blueprint(talk_blueprint)
    app.register_blueprint(webhooks_blueprint)
    app.register_blueprint(links_blueprint)
    app.register_blueprint(feedback.public)
    app.register_blueprint(feedback.management)
    app.config["CHINWAG_OPENAPI"] = build_openapi(app)
    return app
