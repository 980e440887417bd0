"""A model server's HTML error page with `secret=`/`token=`/`api_key=` pairs: masked in the
server log and the management views, never shown to the public."""

from __future__ import annotations

import logging

from gateways.fake_openai import error_reply, start_fake_openai
from support.server import ServerHandle

PAGE = (
    "<html><body>Traceback (most recent call last): File /srv/app.py "
    "secret=hunter2 token=t0ps3cr3t api_key=k3yk3y</body></html>"
)
SECRETS = ("hunter2", "t0ps3cr3t", "k3yk3y")


async def test_html_error_page_credentials_are_masked(
    server: ServerHandle, nursery, caplog
) -> None:
    caplog.set_level(logging.INFO)
    fake = await start_fake_openai(nursery)
    fake.script.append(error_reply(400, PAGE))  # not retried
    client_id = await server.create_client(provider="openai", baseUrl=fake.base_url, model="m")
    opened = await server.open_session(client_id)
    public = await server.anonymous.post(
        server.public_path(opened["accessKey"], "prompt"), json={"prompt": "hi"}
    )
    assert public.status_code == 502
    base = f"/api/v1/web-chat-client/{client_id}/sessions/{opened['sessionId']}"
    views = [
        (await server.client.get(f"{base}/messages")).text,
        (await server.client.get(f"{base}/transcript", params={"format": "json"})).text,
        (await server.client.get(f"{base}/transcript", params={"format": "md"})).text,
    ]
    assert any("secret=***" in view for view in views), views[0]
    for text in [public.text, *views, caplog.text]:
        for secret in SECRETS:
            assert secret not in text
