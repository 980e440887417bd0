"""First start: make an empty data directory usable in one command.

On a first start (no API keys, no gateways, no chat clients) this creates an admin API key
(shown once; only its hash is stored) unless CHINWAG_API_KEY already provides one, an AI
gateway (the offline `echo`, or the model server of CHINWAG_OPENAI_BASE_URL / OPENAI_API_KEY)
and a demo chat client with a live session, and returns what to print: the key (if one was
made) and a ready talk URL. It uses only the runtime facade.

Processes started together on one empty store (cluster nodes on one PostgreSQL, however many)
agree through the store which one sets up (`ChinwagService.claim_first_start`, a conditional
write): exactly one admin key, demo gateway and demo client, and the key is printed by that
process alone; the others wait until it is done (they print that another node did it). A setup
whose process died midway is finished by the next one to start (each step first looks for what
was already made).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import trio

from chinwag.config import Settings
from chinwag.rules.bounds import MAX_EXPIRES
from chinwag.service import ChinwagService

log = logging.getLogger(__name__)

DEMO_TAG = "chinwag-demo"
DEMO_EXPIRES = MAX_EXPIRES  # 90 days: the demo link keeps working while you explore
# The model of the demo gateway when an OpenAI-compatible server is configured.
MODEL_ENV = "CHINWAG_OPENAI_MODEL"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEMO_GATEWAY_NAMES = ("Demo gateway (OpenAI-compatible)", "Demo gateway (echo)")
DEMO_CLIENT_NAME = "Demo chat"
# A process waits this long for another one's setup (it takes well under a second), polling.
WAIT_FOR_OTHER_SECONDS = 60.0
POLL_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    api_key: str | None = None
    gateway_id: str | None = None
    client_id: str | None = None
    talk_url: str | None = None
    provider: str | None = None
    # Data exists but no stored key and no CHINWAG_API_KEY: the operator needs `keys create`.
    no_credentials: bool = False
    # Another process (node) ran the first-start setup while this one waited.
    by_other_node: bool = False


def is_first_start(service: ChinwagService) -> bool:
    return not (service.list_api_keys() or service.list_gateways() or service.list_clients())


async def bootstrap(service: ChinwagService, settings: Settings) -> BootstrapResult:
    """Create the admin key, a gateway, a demo client and session when the store is empty,
    unless another process starting at the same time does (then wait for it)."""
    waited = False
    deadline = trio.current_time() + WAIT_FOR_OTHER_SECONDS
    while True:
        seen = await service.first_start()
        if seen.state == "working":  # another live process sets up: wait until it is done
            if trio.current_time() >= deadline:
                log.warning("another node's first-start setup did not finish; not waiting")
                return BootstrapResult(by_other_node=True)
            waited = True
            await trio.sleep(POLL_SECONDS)
            continue
        if seen.state != "stale" and not is_first_start(service):
            no_credentials = not service.list_api_keys() and not settings.api_key
            return BootstrapResult(no_credentials=no_credentials, by_other_node=waited)
        if await service.claim_first_start(seen):
            break
        # Another process claimed it between our read and our write: wait for it.
    result = await _set_up(service, settings)
    await service.finish_first_start()
    return result


async def _set_up(service: ChinwagService, settings: Settings) -> BootstrapResult:
    """The setup itself; each step reuses what a process that died midway already made."""
    if settings.openai_base_url:
        provider = "openai"
        parameters = {
            "provider": "openai",
            "baseUrl": settings.openai_base_url,
            "apiKey": settings.openai_api_key,
            "model": os.environ.get(MODEL_ENV, DEFAULT_OPENAI_MODEL),
            "instructions": "You are a helpful assistant.",
        }
        gateway_name = DEMO_GATEWAY_NAMES[0]
    else:
        provider = "echo"
        parameters = {"provider": "echo", "streamDelaySeconds": 0.03}
        gateway_name = DEMO_GATEWAY_NAMES[1]
    gateway = next((g for g in service.list_gateways() if g.name in DEMO_GATEWAY_NAMES), None)
    if gateway is None:
        gateway = await service.create_gateway(gateway_name, parameters)
    client = next(
        (c for c in service.list_clients() if c.name == DEMO_CLIENT_NAME), None
    ) or await service.create_client(
        {
            "name": DEMO_CLIENT_NAME,
            "aiGatewayId": gateway.id,
            "clientParameters": {
                "pageTitle": "chinwag demo",
                "helloLabel": "Hello!",
                "helloSubLabel": "This is the chinwag demo chat. Say something.",
                "debug": True,
            },
            "limitingParameters": {},
        }
    )
    opened = await service.open_session(client.id, expires=DEMO_EXPIRES, tag=DEMO_TAG)
    api_key: str | None = None
    if not settings.api_key and not service.list_api_keys():
        # Made last, right before it is printed. With CHINWAG_API_KEY set the operator has a
        # key: minting and printing another one would only put a second admin credential
        # into the logs.
        _info, api_key = await service.create_api_key("admin (first start)")
    return BootstrapResult(
        api_key=api_key,
        gateway_id=gateway.id,
        client_id=client.id,
        talk_url=opened.talk_url,
        provider=provider,
    )


def describe(result: BootstrapResult, settings: Settings) -> list[str]:
    """Lines to print for the operator after bootstrap."""
    if result.no_credentials:
        return [
            "No API key exists and CHINWAG_API_KEY is not set: the management API is locked.",
            "Create a key with `chinwag keys create --data-dir "
            f"{settings.data_dir} <name>` while the server is stopped.",
        ]
    if result.talk_url is None:
        if result.by_other_node:
            return [
                "First start: another node created the admin key and the demo "
                "(they are in its output)."
            ]
        return []
    if result.api_key is None:
        lines = ["First start: the management API key is the one in CHINWAG_API_KEY."]
    else:
        lines = [
            "First start: created an admin API key. It is shown ONCE; store it now:",
            f"    {result.api_key}",
        ]
    return [
        *lines,
        f"Created a demo AI gateway ({result.provider}) and a demo chat client.",
        "Open the demo chat in a browser:",
        f"    {result.talk_url}",
    ]
