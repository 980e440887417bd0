"""Management API (Bearer API key): AI gateways, chat clients and their sessions.

Handlers stay thin: validate the body (schemas), call the runtime facade, shape the answer
(views). All rules about sessions (tag reuse, renewal, expiry) live in the runtime.
"""

from __future__ import annotations

from functools import partial

from quart import Blueprint, Response

from chinwag.http import deps
from chinwag.http.auth import require_api_key
from chinwag.http.envelope import JSON_MIMETYPE, ok
from chinwag.http.openapi import doc
from chinwag.http.paging import (
    PAGE_DESCRIPTION,
    PAGE_QUERY,
    json_transcript,
    markdown_transcript,
    page_query,
)
from chinwag.http.schemas import (
    ClientCreate,
    ClientUpdate,
    GatewayCreate,
    GatewayUpdate,
    SessionCreate,
    SessionListQuery,
    TranscriptQuery,
    read_body,
    read_query,
)
from chinwag.http.views import (
    client_summary,
    client_view,
    gateway_summary,
    gateway_view,
    management_messages_view,
    opened_session_view,
    session_view,
    transcript_header,
)
from chinwag.records import to_builtins
from chinwag.rules.bounds import talk_url

blueprint = Blueprint("management", __name__, url_prefix="/api/v1")


@blueprint.before_request
async def authenticate() -> None:
    await require_api_key()


# ---------------------------------------------------------------- AI gateways


@blueprint.post("/ai-gateways")
@doc("Create an AI gateway", body=GatewayCreate, success=201)
async def create_gateway() -> Response:
    body = await read_body(GatewayCreate)
    parameters = to_builtins(body.parameters)
    gateway = await deps.service().create_gateway(body.name, parameters)
    return ok({"id": gateway.id}, status=201, message="AI gateway created successfully.")


@blueprint.get("/ai-gateways")
@doc("List AI gateways ({id, name})")
async def list_gateways() -> Response:
    return ok([gateway_summary(g) for g in deps.service().list_gateways()])


@blueprint.get("/ai-gateways/<gateway_id>")
@doc("Get an AI gateway (apiKey is never returned, only apiKeySet)")
async def get_gateway(gateway_id: str) -> Response:
    return ok(gateway_view(deps.service().get_gateway(gateway_id)))


@blueprint.put("/ai-gateways/<gateway_id>")
@doc("Update an AI gateway: name and/or the given parameters", body=GatewayUpdate)
async def update_gateway(gateway_id: str) -> Response:
    body = await read_body(GatewayUpdate)
    gateway = await deps.service().update_gateway(gateway_id, to_builtins(body))
    return ok(gateway_view(gateway), message="AI gateway updated successfully.")


@blueprint.delete("/ai-gateways/<gateway_id>")
@doc("Delete an AI gateway (409 while a chat client uses it)")
async def delete_gateway(gateway_id: str) -> Response:
    await deps.service().delete_gateway(gateway_id)
    return ok(None, message="AI gateway deleted successfully.")


# ---------------------------------------------------------------- chat clients


@blueprint.post("/web-chat-client")
@doc("Create a chat client", body=ClientCreate, success=201)
async def create_client() -> Response:
    body = await read_body(ClientCreate)
    client = await deps.service().create_client(to_builtins(body))
    return ok({"id": client.id}, status=201, message="Web client created successfully.")


@blueprint.get("/web-chat-client")
@doc("List chat clients ({id, name})")
async def list_clients() -> Response:
    return ok([client_summary(c) for c in deps.service().list_clients()])


@blueprint.get("/web-chat-client/<client_id>")
@doc("Get a chat client (integration secrets are reported as …Set flags)")
async def get_client(client_id: str) -> Response:
    return ok(client_view(deps.service().get_client(client_id)))


@blueprint.put("/web-chat-client/<client_id>")
@doc("Update a chat client; the two parameter objects are shallow-merged", body=ClientUpdate)
async def update_client(client_id: str) -> Response:
    body = await read_body(ClientUpdate)
    # Only the given fields (UNSET ones are left out): the runtime merges them.
    client = await deps.service().update_client(client_id, to_builtins(body))
    return ok(client_view(client), message="Web client updated successfully.")


@blueprint.delete("/web-chat-client/<client_id>")
@doc("Delete a chat client and all its sessions")
async def delete_client(client_id: str) -> Response:
    await deps.service().delete_client(client_id)
    return ok(None, message="Web client deleted successfully.")


# ---------------------------------------------------------------- sessions


@blueprint.post("/web-chat-client/<client_id>/sessions")
@doc(
    "Create a session, or renew the active one with the same tag",
    body=SessionCreate,
    description="Returns 200 {sessionId, accessKey, talkUrl}. With `tag`, concurrent calls yield "
    "one session; a renewal replaces extraContext, contextLocation and metadata.",
)
async def open_session(client_id: str) -> Response:
    body = await read_body(SessionCreate)
    opened = await deps.service().open_session(
        client_id,
        expires=body.expires,
        extra_context=body.extra_context,
        context_location=body.context_location,
        tag=body.tag,
        metadata=body.metadata,
    )
    return ok(opened_session_view(opened))


@blueprint.get("/web-chat-client/<client_id>/sessions")
@doc(
    "List sessions of a chat client",
    query=SessionListQuery,
    description="data: {items: [session...], nextCursor: string or null}.",
)
async def list_sessions(client_id: str) -> Response:
    query = read_query(SessionListQuery)
    sessions, next_cursor = deps.service().list_sessions(
        client_id, filter=query.filter, limit=query.limit, cursor=query.cursor
    )
    now = deps.service().now()
    return ok({"items": [session_view(s, now) for s in sessions], "nextCursor": next_cursor})


@blueprint.get("/web-chat-client/<client_id>/sessions/<session_id>")
@doc("Get a session (with its metadata, accessKey and talkUrl)")
async def get_session(client_id: str, session_id: str) -> Response:
    service = deps.service()
    session = service.get_session(client_id, session_id)
    data = session_view(session, deps.service().now())
    access_key = service.access_key_for(session.id)
    data["accessKey"] = access_key
    data["talkUrl"] = talk_url(deps.settings().effective_public_url(), access_key)
    # Chats attached to this session with a "continue on…" link (chinwag.http.links).
    data["linkedChats"] = [
        {"channel": channel, "externalId": external_id}
        for channel, external_id in service.linked_chats(session.id)
    ]
    return ok(data)


@blueprint.delete("/web-chat-client/<client_id>/sessions/<session_id>")
@doc("Delete a session: ends access and deletes its history")
async def delete_session(client_id: str, session_id: str) -> Response:
    await deps.service().delete_session(client_id, session_id)
    return ok(None, message="Session deleted successfully.")


@blueprint.delete("/web-chat-client/<client_id>/sessions/<session_id>/messages")
@doc("Clear a session's conversation (the session and its access key stay)")
async def clear_session(client_id: str, session_id: str) -> Response:
    service = deps.service()
    service.get_session(client_id, session_id)  # 404 unless the session belongs to the client
    await service.clear_session(session_id)
    return ok(None, message="Conversation cleared successfully.")


@blueprint.get("/web-chat-client/<client_id>/sessions/<session_id>/messages")
@doc("A session's messages, a page at a time", query=PAGE_QUERY, description=PAGE_DESCRIPTION)
async def list_messages(client_id: str, session_id: str) -> Response:
    service = deps.service()
    session = service.get_session(client_id, session_id)
    limit, before = page_query()
    messages = await service.amessages_page(session.id, limit=limit, before=before)
    return ok(management_messages_view(messages, await service.afeedback_for(session.id, messages)))


@blueprint.get("/web-chat-client/<client_id>/sessions/<session_id>/transcript")
@doc(
    "Download a session's transcript",
    query=TranscriptQuery,
    produces=("application/json", "text/markdown"),
    description="format=json: the envelope with {session, messages}; format=md: text/markdown. "
    "Both with Content-Disposition: attachment. Streamed a page at a time, so memory stays "
    "bounded whatever the history's length.",
)
async def transcript(client_id: str, session_id: str) -> Response:
    output = read_query(TranscriptQuery).format
    service = deps.service()
    session = service.get_session(client_id, session_id)
    pages = service.iter_messages(session.id)
    feedback = partial(service.feedback_for, session.id)
    filename = f"chinwag-session-{session.id}.{output}"
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",  # a whole conversation: never kept by a cache
    }
    if output == "md":
        client = service.get_client(client_id)
        body = markdown_transcript(transcript_header(session, client.name), pages, feedback)
        content_type = "text/markdown; charset=utf-8"
    else:
        body = json_transcript(
            {"session": session_view(session, deps.service().now())}, pages, feedback
        )
        content_type = JSON_MIMETYPE
    response = Response(body, content_type=content_type, headers=headers)
    response.timeout = None  # a long history must not hit Quart's RESPONSE_TIMEOUT
    return response
