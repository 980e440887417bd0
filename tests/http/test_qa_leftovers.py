"""Defects a black-box QA pass found that were left open, each checked through the real server:
request ids a person can quote, the prompt body read no further than its cap, one `gap` per
late listener, the `/stream` route's OpenAPI, speaker headings that user text cannot forge in
the Markdown transcript, and the talk page's colour rule taken from `chinwag.rules`."""

from __future__ import annotations

import inspect
import json

import msgspec
import trio
from support.server import ServerHandle

from chinwag.http import talk

CLIENTS = "/api/v1/web-chat-client"


# ------------------------------------------------------------------ the talk page's colour rule


async def test_talk_page_uses_the_rules_colour_check(server: ServerHandle) -> None:
    """A record stored before the colour rule may hold a value the rule refuses (`#12345`, five
    hex digits, which the page's old pattern of its own let through into a <style>): the page
    applies the same rule as the API and falls back to its default theme."""
    client_id = await server.create_client(client_parameters={"primaryColor": "#0f766e"})
    refused = await server.client.put(
        f"{CLIENTS}/{client_id}", json={"clientParameters": {"primaryColor": "#12345"}}
    )
    assert refused.status_code == 400, refused.text
    session = await server.open_session(client_id)
    page = await server.anonymous.get(f"/chat/{session['accessKey']}")
    assert "--cw-primary: #0f766e" in page.text

    runtime = server.service
    client = runtime.get_client(client_id)
    params = msgspec.structs.replace(client.client_parameters, primary_color="#12345")
    await runtime.repo.commit(
        runtime.repo.put_client(msgspec.structs.replace(client, client_parameters=params))
    )
    page = await server.anonymous.get(f"/chat/{session['accessKey']}")
    assert page.status_code == 200
    assert "#12345" not in page.text
    assert "--cw-primary" not in page.text
    assert '"primaryColor":null' in page.text.replace(" ", "")
    # One rule, one place: the page has no colour pattern of its own.
    assert "re.compile" not in inspect.getsource(talk.primary_color)
