"""Public session API: the access key in the path is the only credential.

Used by the talk page (and anyone embedding a chat): session info, the conversation (to restore
it after a reload), prompt (JSON or SSE), clear and stop. Nothing here ever returns the gateway,
the session metadata or the extra context.
"""

from __future__ import annotations

from quart import Blueprint, Response, request

from chinwag.errors import InvalidInput, ModelFailed
from chinwag.http import deps
from chinwag.http.auth import request_client, session_for_access_key
from chinwag.http.bodies import BodyLimits, check_prompt_size
from chinwag.http.envelope import no_content, ok
from chinwag.http.openapi import doc
from chinwag.http.openapi_shapes import FOLLOW_EVENTS
from chinwag.http.paging import PAGE_DESCRIPTION, PAGE_QUERY, page_query
from chinwag.http.public_errors import public_errors
from chinwag.http.schemas import PromptBody, read_body
from chinwag.http.sse import (
    SSE_HEADERS,
    SSE_MIMETYPE,
    close_stream,
    event_stream,
    numbered_event_stream,
    wants_event_stream,
)
from chinwag.http.views import messages_view, public_session_view, turn_result_view
from chinwag.rules.bounds import IDEMPOTENCY_HEADER, MAX_LAST_EVENT_ID_CHARS
from chinwag.rules.fields import IdempotencyKey, LastEventId
from chinwag.rules.prompt import check_idempotency_key
from chinwag.service import ReplyStarted, TurnFinished

blueprint = Blueprint("public", __name__, url_prefix="/api/v1/public/chat-clients/<access_key>")


@blueprint.get("/session")
@doc(
    "The session behind an access key: expiresAt, clientParameters, limits (usage when debug)",
    auth="accessKey",
)
async def session_info(access_key: str) -> Response:
    service = deps.service()
    session = await session_for_access_key(access_key)
    client = request_client() or await service.aget_client(session.client_id)
    return ok(public_session_view(session, client, await service.alimit_state(session.id)))


@blueprint.get("/messages")
@doc(
    "The conversation, a page at a time, to restore it after a reload",
    auth="accessKey",
    query=PAGE_QUERY,
    description=PAGE_DESCRIPTION,
)
async def list_messages(access_key: str) -> Response:
    session = await session_for_access_key(access_key)
    limit, before = page_query()
    service = deps.service()
    page = await service.amessages_page(session.id, limit=limit, before=before)
    feedback = await service.afeedback_for(session.id, page)
    shown = _shows_tool_calls(session.client_id)
    return ok(messages_view(page, public_errors().language, feedback, show_tool_calls=shown))


def _shows_tool_calls(client_id: str) -> bool:
    """The client's `showToolCalls`: without it the public sees no tool call (URL or result).

    The client was read when the access key was checked (`session_for_access_key`)."""
    client = request_client()
    if client is None or client.id != client_id:
        client = deps.service().get_client(client_id)
    return client.client_parameters.show_tool_calls


@blueprint.post("/prompt")
@doc(
    "Send a prompt; the reply as JSON, or as SSE with Accept: text/event-stream",
    body=PromptBody,
    auth="accessKey",
    streams=True,
    headers={
        "Idempotency-Key": (IdempotencyKey, "A retry with the same key is answered once."),
    },
    description="SSE events: reasoning, content, tool, done (usage and result), error. "
    "Errors found before the reply starts are JSON envelopes with their status. "
    "An `Idempotency-Key` header (1-200 characters) makes a retried request return the stored "
    "turn instead of sending the prompt twice.",
)
async def prompt(access_key: str) -> Response:
    session = await session_for_access_key(access_key)
    body = await read_body(PromptBody)
    user_prompt = body.prompt_builtins()
    # The route takes up to 10 MiB for images; without them the public 1 MiB cap applies.
    body_size = len(await request.get_data(cache=True))
    check_prompt_size(body_size, user_prompt, BodyLimits.from_settings(deps.settings()))
    idempotency_key = idempotency_key_header()
    service = deps.service()
    shown = _shows_tool_calls(session.client_id)
    if wants_event_stream(request.headers.get("Accept")):
        stream = service.prompt_stream(
            session.id,
            user_prompt,
            commit=body.commit,
            instructions=body.instructions,
            idempotency_key=idempotency_key,
        )
        iterator = aiter(stream)
        try:
            # Await the first item here: a refusal (403/429/...) is still a JSON envelope.
            first = await anext(iterator)
            started = first if isinstance(first, ReplyStarted) else None
            if started is not None:  # the reply runs; its first event may still be a failure
                first = await anext(iterator)
            if isinstance(first, TurnFinished) and first.error is not None:
                raise first.error  # failed before anything streamed: a JSON envelope
        except StopAsyncIteration:
            raise ModelFailed("The reply ended before it started.") from None
        except BaseException:
            await close_stream(iterator)  # e.g. the client left while the turn was queued
            raise
        response = Response(
            event_stream(first, iterator, public_errors(), started, show_tool_calls=shown),
            mimetype=SSE_MIMETYPE,
            headers=SSE_HEADERS,
        )
        response.timeout = None  # a long reply must not hit Quart's RESPONSE_TIMEOUT
        return response
    result = await service.prompt(
        session.id,
        user_prompt,
        commit=body.commit,
        instructions=body.instructions,
        idempotency_key=idempotency_key,
    )
    return ok(turn_result_view(result, public_errors().language, show_tool_calls=shown))


def idempotency_key_header() -> str | None:
    """The optional `Idempotency-Key` header: a retry with the same key is answered once."""
    value = request.headers.get(IDEMPOTENCY_HEADER)
    return None if value is None else check_idempotency_key(value.strip())


@blueprint.get("/stream")
@doc(
    "Attach to the reply being generated now (SSE), from its start or after Last-Event-ID",
    auth="accessKey",
    streams=True,
    stream_events=FOLLOW_EVENTS,
    produces=(),
    also={204: "No reply is running."},
    headers={
        "Last-Event-ID": (
            LastEventId,
            "The id of the last event received (this reply's): only what followed it is sent.",
        ),
    },
    query={"lastEventId": "The same as the Last-Event-ID header (for EventSource polyfills)."},
    description="The same events as a streamed prompt, each with an `id`, ending with `done` "
    "(or `error`). With a `Last-Event-ID` header (or `?lastEventId=`) naming an event of this "
    "reply, only what followed it. When the events asked for are no longer kept (a very long "
    "reply), one `gap` event comes first ({message, firstKept}): what follows is later text, "
    "reload the conversation (`GET …/messages`) once the reply is done. 204 when no reply is "
    "running.",
)
async def attach_to_reply(access_key: str) -> Response:
    session = await session_for_access_key(access_key)
    last_event_id = request.headers.get("Last-Event-ID") or request.args.get("lastEventId")
    if last_event_id is not None and len(last_event_id) > MAX_LAST_EVENT_ID_CHARS:
        raise InvalidInput(f"Last-Event-ID must be at most {MAX_LAST_EVENT_ID_CHARS} characters.")
    pairs = await deps.service().follow_reply(session.id, last_event_id)
    if pairs is None:
        return no_content({"Cache-Control": "no-store"})
    shown = _shows_tool_calls(session.client_id)
    body = numbered_event_stream(pairs, public_errors(), show_tool_calls=shown)
    response = Response(body, mimetype=SSE_MIMETYPE, headers=SSE_HEADERS)
    response.timeout = None
    return response


@blueprint.delete("/messages")
@doc("Clear the conversation (the session and its access key stay)", auth="accessKey")
async def clear_messages(access_key: str) -> Response:
    session = await session_for_access_key(access_key)
    await deps.service().clear_session(session.id)
    return ok(None, message="Conversation cleared successfully.")


@blueprint.post("/stop")
@doc("Cancel the reply being generated; the part generated so far is kept", auth="accessKey")
async def stop(access_key: str) -> Response:
    session = await session_for_access_key(access_key)
    stopped = await deps.service().stop(session.id)
    return ok({"stopped": stopped})
