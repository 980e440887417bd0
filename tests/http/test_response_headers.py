"""Response details from the QA pass: a 204 has no Content-Type, the talk page's CSP lists
default-src, connect-src and style-src, and the public session view shows token usage (also
the conversation's tokens in the limit state) only when the client's `debug` is on."""

from __future__ import annotations

from support.server import ServerHandle


async def test_204s_have_no_content_type(server: ServerHandle) -> None:
    client_id = await server.create_client()
    opened = await server.open_session(client_id)
    idle = await server.anonymous.get(server.public_path(opened["accessKey"], "stream"))
    assert idle.status_code == 204
    assert "content-type" not in idle.headers
    assert idle.content == b""
    preflight = await server.anonymous.request(
        "OPTIONS",
        server.public_path(opened["accessKey"], "prompt"),
        headers={"Origin": "https://shop.example.com", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert "content-type" not in preflight.headers


def _directives(csp: str) -> dict[str, str]:
    pairs = (d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    return {p[0]: (p[1] if len(p) > 1 else "") for p in pairs}


async def test_talk_page_csp_is_tight(server: ServerHandle) -> None:
    client_id = await server.create_client(
        client_parameters={"primaryColor": "#0f766e", "customStyles": "body { color: red }"}
    )
    opened = await server.open_session(client_id)
    page = await server.anonymous.get(f"/chat/{opened['accessKey']}")
    assert page.status_code == 200
    csp = _directives(page.headers["content-security-policy"])
    assert csp["default-src"] == "'none'"
    assert csp["connect-src"] == "'self'"
    nonce = csp["script-src"].split("'nonce-", 1)[1].split("'", 1)[0]
    assert csp["style-src"] == f"'self' 'nonce-{nonce}'"
    # Both inline <style> elements carry the nonce, so the colour and custom CSS still apply.
    assert page.text.count(f'<style nonce="{nonce}"') == 2
    assert "<style>" not in page.text


async def test_session_view_hides_token_use_without_debug(server: ServerHandle) -> None:
    limits = {"maxConversationTokens": 100000}
    for debug in (False, True):
        client_id = await server.create_client(
            client_parameters={"debug": debug}, limiting_parameters=limits
        )
        opened = await server.open_session(client_id)
        key = opened["accessKey"]
        await server.anonymous.post(server.public_path(key, "prompt"), json={"prompt": "count"})
        data = (await server.anonymous.get(server.public_path(key, "session"))).json()["data"]
        assert data["limits"]["maxConversationTokens"] == 100000
        assert data["limits"]["blocked"] is False
        if debug:
            assert data["limits"]["conversationTokens"] > 0
            assert data["usage"]["totalTokens"] > 0
        else:
            assert "conversationTokens" not in data["limits"]
            assert "usage" not in data and "conversationUsage" not in data


async def test_doubled_slashes_are_a_json_404_never_a_redirect(server: ServerHandle) -> None:
    """werkzeug used to answer `//` with an HTML 308 whose Location came from the Host header."""
    client_id = await server.create_client()
    opened = await server.open_session(client_id)
    key = opened["accessKey"]
    for path in (
        f"/api/v1/public//chat-clients/{key}/session",
        "/api/v1//web-chat-client",
        f"/chat//{key}",
    ):
        response = await server.anonymous.get(path, headers={"Host": "evil.example"})
        assert response.status_code == 404, (path, response.status_code)
        assert "location" not in response.headers
        assert response.headers["content-type"].startswith("application/json")
        assert "evil.example" not in response.text
    # The real paths still work.
    fine = await server.anonymous.get(f"/api/v1/public/chat-clients/{key}/session")
    assert fine.status_code == 200
