"""The OpenAPI document, derived from the app's real routes and the msgspec request schemas.

Routes carry a `@doc(...)` marker (summary, body schema, success status); `build_openapi`
walks `app.url_map`, so the document can never list a route that does not exist. The docs page is
rendered on the server from the same document: no CDN, it works offline.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from quart import Quart

from chinwag.records import ChatClient, Gateway, Message, Session, Usage

F = TypeVar("F", bound=Callable[..., Any])

_DOC_ATTR = "__chinwag_doc__"
_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


@dataclass(frozen=True, slots=True)
class RouteDoc:
    summary: str
    body: type | None = None
    success: int = 200
    auth: str | None = None  # "apiKey", "accessKey" or None
    query: dict[str, str] = field(default_factory=dict)
    description: str = ""
    streams: bool = False


def doc(
    summary: str,
    *,
    body: type | None = None,
    success: int = 200,
    auth: str | None = None,
    query: dict[str, str] | None = None,
    description: str = "",
    streams: bool = False,
) -> Callable[[F], F]:
    """Mark a view with what the OpenAPI document says about it."""

    def mark(view: F) -> F:
        setattr(
            view,
            _DOC_ATTR,
            RouteDoc(summary, body, success, auth, dict(query or {}), description, streams),
        )
        return view

    return mark


def _envelope(data_schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["message", "data"],
        "properties": {"message": {"type": ["string", "null"]}, "data": data_schema},
    }


ERROR_RESPONSE = {
    "description": "Error: `data` is null and `message` names the field or limit at fault.",
    "content": {"application/json": {"schema": _envelope({"type": "null"})}},
}


def build_openapi(app: Quart, request_schemas: tuple[type, ...]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every documented route of `app`."""
    records = (Gateway, ChatClient, Session, Message, Usage)
    (_, components) = msgspec.json.schema_components(
        (*request_schemas, *records), ref_template="#/components/schemas/{name}"
    )
    paths: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        route_doc: RouteDoc | None = getattr(view, _DOC_ATTR, None)
        if route_doc is None:
            continue
        path = _PARAM.sub(r"{\1}", rule.rule)
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in rule.arguments
        ]
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
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation: dict[str, Any] = {
                "summary": route_doc.summary,
                "operationId": f"{rule.endpoint}_{method.lower()}",
                "tags": [rule.endpoint.split(".", 1)[0]],
                "parameters": parameters,
                "responses": {
                    str(route_doc.success): _success(route_doc),
                    "4XX": ERROR_RESPONSE,
                    "5XX": ERROR_RESPONSE,
                },
            }
            if route_doc.description:
                operation["description"] = route_doc.description
            auth = route_doc.auth or ("apiKey" if rule.endpoint.startswith("management.") else None)
            if auth == "apiKey":
                operation["security"] = [{"apiKey": []}]
            if route_doc.body is not None:
                operation["requestBody"] = {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": f"#/components/schemas/{route_doc.body.__name__}"}
                        }
                    },
                }
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
            "schemas": components,
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "A chinwag API key."}
            },
        },
    }


def _success(route_doc: RouteDoc) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": _envelope({})}}
    if route_doc.streams:
        content["text/event-stream"] = {"schema": {"type": "string"}}
    return {"description": "Success.", "content": content}


def docs_html(spec: dict[str, Any]) -> str:
    """A small, dependency-free HTML page listing the operations of `spec`."""
    rows = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            body_name = body["schema"]["$ref"].rsplit("/", 1)[-1] if body else ""
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
