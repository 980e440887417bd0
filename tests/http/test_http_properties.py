"""Hypothesis throws malformed bodies and headers at every endpoint of a real server.

For every request: no 5xx, the envelope is always there (except the documented non-JSON
successes: SSE and the Markdown transcript), and a rejected request changes no stored data.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support.server import server_in_thread

JUNK_ID = st.text(alphabet=string.ascii_letters + string.digits + "-_~", min_size=1, max_size=60)
KNOWN_FIELDS = [
    "name",
    "parameters",
    "aiGatewayId",
    "clientParameters",
    "limitingParameters",
    "expires",
    "tag",
    "metadata",
    "prompt",
    "commit",
    "instructions",
    "extraContext",
    "contextLocation",
    "provider",
    "maxMessages",
    "debug",
    "integrations",
]
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KNOWN_FIELDS) | st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
STRUCTURED = st.dictionaries(st.sampled_from(KNOWN_FIELDS), JSON_VALUES, max_size=5)
BODIES = st.one_of(
    st.none(),
    st.binary(max_size=300),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    STRUCTURED.map(lambda v: json.dumps(v).encode()),
    STRUCTURED.map(lambda v: json.dumps(v).encode()[:-1]),  # truncated JSON
)
# h11 (the client) refuses control characters and surrounding whitespace in header values.
HEADER_TEXT = st.text(alphabet=string.printable.strip("\r\n\t\x0b\x0c"), max_size=40).map(str.strip)
CONTENT_TYPES = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/problem+json",
        ]
    ),
    HEADER_TEXT,
)
ACCEPTS = st.sampled_from([None, "application/json", "text/event-stream", "*/*", "text/html"])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir: Path = tmp_path_factory.mktemp("properties") / "data"
    with (
        server_in_thread(data_dir) as server,
        httpx.Client(
            base_url=server.base_url,
            headers={"Authorization": f"Bearer {server.api_key}"},
            timeout=30,
        ) as admin,
    ):
        gateway = admin.post(
            "/api/v1/ai-gateways", json={"name": "g", "parameters": {"provider": "echo"}}
        ).json()["data"]["id"]
        client = admin.post(
            "/api/v1/web-chat-client", json={"name": "c", "aiGatewayId": gateway}
        ).json()["data"]["id"]
        opened = admin.post(
            f"/api/v1/web-chat-client/{client}/sessions", json={"tag": "fixed"}
        ).json()["data"]
        admin.post(
            f"/api/v1/public/chat-clients/{opened['accessKey']}/prompt",
            json={"prompt": "seed message"},
        )
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            yield {
                "server": server,
                "admin": admin,
                "http": http,
                "gateway": gateway,
                "client": client,
                "session": opened["sessionId"],
                "access_key": opened["accessKey"],
            }


ENDPOINTS = [
    ("POST", "/api/v1/ai-gateways"),
    ("GET", "/api/v1/ai-gateways"),
    ("GET", "/api/v1/ai-gateways/{gateway}"),
    ("PUT", "/api/v1/ai-gateways/{gateway}"),
    ("DELETE", "/api/v1/ai-gateways/{junk}"),
    ("POST", "/api/v1/web-chat-client"),
    ("GET", "/api/v1/web-chat-client"),
    ("GET", "/api/v1/web-chat-client/{client}"),
    ("PUT", "/api/v1/web-chat-client/{client}"),
    ("DELETE", "/api/v1/web-chat-client/{junk}"),
    ("POST", "/api/v1/web-chat-client/{client}/sessions"),
    ("GET", "/api/v1/web-chat-client/{client}/sessions"),
    ("GET", "/api/v1/web-chat-client/{client}/sessions/{session}"),
    ("DELETE", "/api/v1/web-chat-client/{client}/sessions/{junk}"),
    ("DELETE", "/api/v1/web-chat-client/{client}/sessions/{junk}/messages"),
    ("GET", "/api/v1/web-chat-client/{client}/sessions/{session}/transcript"),
    ("GET", "/api/v1/public/chat-clients/{access_key}/session"),
    ("GET", "/api/v1/public/chat-clients/{access_key}/messages"),
    ("POST", "/api/v1/public/chat-clients/{access_key}/prompt"),
    ("DELETE", "/api/v1/public/chat-clients/{junk}/messages"),
    ("POST", "/api/v1/public/chat-clients/{access_key}/stop"),
    ("GET", "/healthz"),
    ("GET", "/api/v1/{junk}"),
]


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    method, template = draw(st.sampled_from(ENDPOINTS))
    if draw(st.integers(0, 9)) == 0:
        method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]))
    ids = {
        name: draw(st.one_of(st.just(f"<{name}>"), JUNK_ID))
        for name in ("gateway", "client", "session", "access_key")
    }
    ids["junk"] = draw(JUNK_ID)
    headers: dict[str, str] = {}
    # Mostly a valid key, so bodies get past authentication and reach validation.
    auth = draw(
        st.sampled_from(["valid"] * 8 + ["none", "Bearer junk", "Basic eA==", "Bearer", "text"])
    )
    if auth == "text":
        headers["Authorization"] = draw(HEADER_TEXT)
    elif auth not in ("valid", "none"):
        headers["Authorization"] = auth
    content_type = draw(CONTENT_TYPES)
    if content_type is not None:
        headers["Content-Type"] = content_type
    accept = draw(ACCEPTS)
    if accept is not None:
        headers["Accept"] = accept
    if draw(st.booleans()):
        headers["X-" + draw(st.text(string.ascii_letters, min_size=1, max_size=8))] = draw(
            HEADER_TEXT
        )
    query = draw(
        st.dictionaries(
            st.sampled_from(["limit", "cursor", "filter", "format", "x"]), HEADER_TEXT, max_size=3
        )
    )
    return {
        "method": method,
        "template": template,
        "ids": ids,
        "auth": auth,
        "headers": headers,
        "query": query,
        "body": draw(BODIES),
    }


def snapshot(live: dict[str, Any]) -> list[Any]:
    """Everything a rejected request must leave untouched."""
    admin: httpx.Client = live["admin"]
    client = live["client"]
    return [
        admin.get("/api/v1/ai-gateways").json(),
        admin.get(f"/api/v1/ai-gateways/{live['gateway']}").json(),
        admin.get("/api/v1/web-chat-client").json(),
        admin.get(f"/api/v1/web-chat-client/{client}").json(),
        admin.get(f"/api/v1/web-chat-client/{client}/sessions").json(),
        admin.get(f"/api/v1/web-chat-client/{client}/sessions/{live['session']}/transcript").json()[
            "data"
        ]["messages"],
    ]


def resolve(path_template: str, ids: dict[str, str], live: dict[str, Any]) -> str:
    values = {name: (live[name] if value == f"<{name}>" else value) for name, value in ids.items()}
    return path_template.format(**values)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=requests())
def test_no_5xx_envelope_always_and_rejections_change_nothing(
    live: dict[str, Any], request: dict[str, Any]
) -> None:
    http: httpx.Client = live["http"]
    headers = dict(request["headers"])
    if request["auth"] == "valid":
        headers["Authorization"] = f"Bearer {live['server'].api_key}"
    path = resolve(request["template"], request["ids"], live)
    before = snapshot(live)
    try:
        response = http.request(
            request["method"],
            path,
            params=request["query"],
            headers=headers,
            content=request["body"],
        )
    except httpx.TimeoutException:
        pytest.fail(f"no answer within 30 s to {request['method']} {path} {headers!r} {request}")
    event(f"{request['template']} -> {response.status_code}")
    assert response.status_code < 500, (request, response.status_code, response.text)
    content_type = response.headers.get("content-type", "")
    documented_non_json = response.is_success and (
        content_type.startswith("text/event-stream") or content_type.startswith("text/markdown")
    )
    if not documented_non_json:
        assert content_type.startswith("application/json"), (request, content_type)
        body = response.json()
        assert set(body) == {"message", "data"}, body
        if response.is_error:
            assert body["data"] is None
            assert isinstance(body["message"], str) and body["message"]
    if response.is_error:
        assert snapshot(live) == before, request


BODY_ENDPOINTS = [
    ("POST", "/api/v1/ai-gateways"),
    ("PUT", "/api/v1/ai-gateways/{gateway}"),
    ("POST", "/api/v1/web-chat-client"),
    ("PUT", "/api/v1/web-chat-client/{client}"),
    ("POST", "/api/v1/web-chat-client/{client}/sessions"),
    ("POST", "/api/v1/public/chat-clients/{access_key}/prompt"),
]


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    endpoint=st.sampled_from(BODY_ENDPOINTS),
    body=BODIES,
    content_type=st.sampled_from(["application/json", "application/json; charset=utf-8"]),
    accept=ACCEPTS,
)
def test_random_bodies_on_valid_targets(
    live: dict[str, Any],
    endpoint: tuple[str, str],
    body: bytes | None,
    content_type: str,
    accept: str | None,
) -> None:
    """Valid credentials and ids, so every body reaches validation (or the runtime)."""
    method, template = endpoint
    path = template.format(**{name: live[name] for name in ("gateway", "client", "access_key")})
    headers = {"Content-Type": content_type, **({"Accept": accept} if accept else {})}
    before = snapshot(live)
    response = live["admin"].request(method, path, headers=headers, content=body)
    event(f"{template} -> {response.status_code}")
    assert response.status_code < 500, (endpoint, body, response.text)
    if response.headers["content-type"].startswith("text/event-stream"):
        assert response.is_success
        assert "event: done" in response.text or "event: error" in response.text
        return
    envelope = response.json()
    assert set(envelope) == {"message", "data"}
    if response.is_error:
        assert envelope["data"] is None and envelope["message"]
        assert snapshot(live) == before, (endpoint, body)
