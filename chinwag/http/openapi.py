"""The OpenAPI document, generated from the routes that exist and the types that validate them.

Routes carry a `@doc(...)` marker: summary, body type, query type, typed path parameters, media
types. `build_openapi` walks `app.url_map`, so the document never lists a route that does not
exist, and takes every schema from `msgspec.json.schema_components` over the same chinwag.rules
types the server decodes with, so bounds, enums and required fields cannot drift from what is
enforced. A body is required when its type has a required field (or `body_required=True`).
The docs page is rendered on the server from the same document: no CDN, it works offline.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from quart import Quart

from chinwag.http.openapi_shapes import RESPONSE_DATA, SSE_EVENTS, sse_media_type

F = TypeVar("F", bound=Callable[..., Any])

_DOC_ATTR = "__chinwag_doc__"
_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
REF = "#/components/schemas/{name}"
JSON = "application/json"


@dataclass(frozen=True, slots=True)
class RouteDoc:
    summary: str
    body: type | None = None
    body_schema: dict[str, Any] | None = None  # a raw schema, for bodies chinwag does not type
    body_required: bool | None = None
    success: int = 200
    auth: str | None = None  # "apiKey", "accessKey" or None
    # A Struct (each field one typed query parameter); a {name: description} dict is accepted
    # from routes not yet typed, and documented as strings.
    query: type | dict[str, str] | None = None
    path: dict[str, Any] = field(default_factory=dict)  # parameter name -> type
    headers: dict[str, tuple[Any, str]] = field(default_factory=dict)  # name -> (type, text)
    description: str = ""
    streams: bool = False
    stream_events: dict[str, type] | None = None  # SSE events when not a prompt's (shapes)
    produces: tuple[str, ...] = (JSON,)
    errors_produce: tuple[str, ...] = (JSON,)
    also: dict[int, str] = field(default_factory=dict)  # other success statuses, no body
    enveloped: bool = True  # False: the JSON answer is not the {message, data} envelope


def doc(summary: str, **details: Any) -> Callable[[F], F]:
    """Mark a view with what the OpenAPI document says about it (see RouteDoc)."""
    route_doc = RouteDoc(summary, **details)

    def mark(view: F) -> F:
        setattr(view, _DOC_ATTR, route_doc)
        return view

    return mark


def _envelope(data_schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["message", "data"],
        "properties": {"message": {"type": ["string", "null"]}, "data": data_schema},
    }


def _error_response(media_types: tuple[str, ...]) -> dict[str, Any]:
    content: dict[str, Any] = {}
    for media_type in media_types:
        schema = _envelope({"type": "null"}) if media_type == JSON else {"type": "string"}
        content[media_type] = {"schema": schema}
    return {
        "description": "Error: `data` is null and `message` names the field or limit at fault.",
        "content": content,
    }


def _route_docs(app: Quart) -> list[tuple[Any, RouteDoc]]:
    found = []
    for rule in app.url_map.iter_rules():
        route_doc = getattr(app.view_functions.get(rule.endpoint), _DOC_ATTR, None)
        if route_doc is not None:
            found.append((rule, route_doc))
    return found


def undocumented_endpoints(app: Quart) -> set[str]:
    """Endpoints without a `@doc` marker (the document leaves them out)."""
    return {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if getattr(app.view_functions.get(rule.endpoint), _DOC_ATTR, None) is None
    }


def build_openapi(app: Quart, extra_schemas: tuple[type, ...] = ()) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every documented route of `app`."""
    routes = _route_docs(app)
    types: list[Any] = list(extra_schemas)
    for _, route_doc in routes:
        types += [t for t in (route_doc.body, route_doc.query) if isinstance(t, type)]
        types += list(route_doc.path.values())
        types += [kind for kind, _ in route_doc.headers.values()]
    data_types = {
        endpoint: type(None) if kind is None else kind for endpoint, kind in RESPONSE_DATA.items()
    }
    types += list(data_types.values())
    unique = list(dict.fromkeys(types))
    schemas, components = msgspec.json.schema_components(unique, ref_template=REF)
    schema_of = dict(zip(unique, schemas, strict=True))
    sse_of: dict[tuple[str, ...], dict[str, Any]] = {}

    def sse(route_doc: RouteDoc) -> dict[str, Any]:
        """The event-stream media type of a route (one per set of events)."""
        events = route_doc.stream_events or SSE_EVENTS
        if tuple(events) not in sse_of:
            media_type, sse_components = sse_media_type(REF, events)
            components.update(sse_components)
            sse_of[tuple(events)] = media_type
        return sse_of[tuple(events)]

    def data_schema(endpoint: str) -> dict[str, Any]:
        """The documented `data` of the endpoint's JSON answer ({}: any value)."""
        return schema_of[data_types[endpoint]] if endpoint in data_types else {}

    paths: dict[str, dict[str, Any]] = {}
    for rule, route_doc in routes:
        path = _PARAM.sub(r"{\1}", rule.rule)
        parameters = _parameters(rule, route_doc, schema_of, components)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation: dict[str, Any] = {
                "summary": route_doc.summary,
                "operationId": f"{rule.endpoint}_{method.lower()}",
                "tags": [rule.endpoint.split(".", 1)[0]],
                "parameters": parameters,
                "responses": _responses(route_doc, sse(route_doc), data_schema(rule.endpoint)),
            }
            if route_doc.description:
                operation["description"] = route_doc.description
            auth = route_doc.auth or ("apiKey" if rule.endpoint.startswith("management.") else None)
            if auth == "apiKey":
                operation["security"] = [{"apiKey": []}]
            body = _request_body(route_doc, schema_of, components)
            if body is not None:
                operation["requestBody"] = body
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "chinwag",
            "version": "1",
            "description": "AI chat sessions: AI gateways, chat clients, sessions and the public "
            "session API. Every JSON response is the envelope {message, data}.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "A chinwag API key."}
            },
        },
    }


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    return components[ref.rsplit("/", 1)[-1]] if ref.startswith("#/components/") else schema


def _parameters(
    rule: Any, route_doc: RouteDoc, schema_of: dict[Any, Any], components: dict[str, Any]
) -> list[dict[str, Any]]:
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": schema_of[route_doc.path[name]]
            if name in route_doc.path
            else {"type": "string", "minLength": 1},
        }
        for name in sorted(rule.arguments)
    ]
    if isinstance(route_doc.query, dict):
        parameters += [
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": text,
                "schema": {"type": "string"},
            }
            for name, text in route_doc.query.items()
        ]
    elif route_doc.query is not None:
        query = _resolve(schema_of[route_doc.query], components)
        required = set(query.get("required", ()))
        for name, schema in query.get("properties", {}).items():
            # A query parameter is a single value: `T | null` documents as `T`.
            options = [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in required,
                    "schema": options[0] if len(options) == 1 else {"anyOf": options},
                }
            )
    for name, (kind, text) in route_doc.headers.items():
        parameters.append(
            {
                "name": name,
                "in": "header",
                "required": False,
                "description": text,
                "schema": schema_of[kind],
            }
        )
    return parameters


def _request_body(
    route_doc: RouteDoc, schema_of: dict[Any, Any], components: dict[str, Any]
) -> dict[str, Any] | None:
    if route_doc.body is None and route_doc.body_schema is None:
        return None
    if route_doc.body is not None:
        schema = schema_of[route_doc.body]
        required = bool(_resolve(schema, components).get("required"))
    else:
        schema = route_doc.body_schema or {}
        required = True
    if route_doc.body_required is not None:
        required = route_doc.body_required
    return {"required": required, "content": {JSON: {"schema": schema}}}


def _responses(route_doc: RouteDoc, sse: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = {}
    for media_type in route_doc.produces:
        if media_type == JSON:
            schema = _envelope(data) if route_doc.enveloped else {"type": "object"}
            content[media_type] = {"schema": schema}
        else:
            content[media_type] = {"schema": {"type": "string"}}
    if route_doc.streams:
        content["text/event-stream"] = sse
    responses: dict[str, Any] = {
        str(route_doc.success): {"description": "Success.", "content": content}
    }
    for status, text in route_doc.also.items():
        responses[str(status)] = {"description": text}
    responses["4XX"] = _error_response(route_doc.errors_produce)
    responses["5XX"] = _error_response((JSON,))
    return responses


def docs_html(spec: dict[str, Any]) -> str:
    """A small, dependency-free HTML page listing the operations of `spec`."""
    rows = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get(JSON)
            ref = body["schema"].get("$ref", "") if body else ""
            body_name = ref.rsplit("/", 1)[-1] if ref else ("JSON" if body else "")
            auth = "API key" if operation.get("security") else ""
            rows.append(
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td>"
                "<td>{}</td><td>{}</td></tr>".format(
                    method.upper(),
                    html.escape(path),
                    html.escape(operation["summary"]),
                    html.escape(body_name),
                    auth,
                )
            )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>chinwag API</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}"
        "td,th{border-bottom:1px solid #ddd;padding:.35rem .6rem;text-align:left}</style></head>"
        "<body><h1>chinwag API</h1><p>Machine-readable document: <a href='/openapi.json'>"
        '/openapi.json</a>. Every JSON response is <code>{"message", "data"}</code>.</p>'
        "<table><tr><th>Method</th><th>Path</th><th>Summary</th><th>Body</th><th>Auth</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )
