"""What each record looks like on the wire, per audience.

Secrets never leave the server (gateway apiKey becomes `apiKeySet`; integration tokens become
`…Set` flags), and the public views carry nothing but what the talk page needs: no metadata, no
extra context, no gateway. Keeping these in one place makes "what does a client see" reviewable.

A failed reply's stored `error` is the upstream detail (already redacted when it was made):
management views show it (redacted again, for records older than that rule), public views
replace it with the talk page's localized sentence (see public_errors.py).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from chinwag.http import i18n
from chinwag.records import ChatClient, Feedback, Gateway, Message, Session, to_builtins
from chinwag.redaction import masked_url, redact
from chinwag.service import OpenedSession, TurnResult

# Session fields that are bookkeeping of the runtime, not part of the API.
_SESSION_INTERNALS = ("nextSeq", "recentPrompts")


def gateway_summary(gateway: Gateway) -> dict[str, Any]:
    return {"id": gateway.id, "name": gateway.name}


def gateway_view(gateway: Gateway) -> dict[str, Any]:
    data = to_builtins(gateway)
    parameters = data["parameters"]
    parameters["apiKeySet"] = bool(parameters.pop("apiKey", None))
    # A password in a URL is a credential too: shown masked, stored as given.
    if parameters.get("baseUrl"):
        parameters["baseUrl"] = masked_url(parameters["baseUrl"])
    research = parameters.get("research") or {}
    if research.get("webSearchUrl"):
        research["webSearchUrl"] = masked_url(research["webSearchUrl"])
    return data


def client_summary(client: ChatClient) -> dict[str, Any]:
    return {"id": client.id, "name": client.name}


def client_view(client: ChatClient) -> dict[str, Any]:
    data = to_builtins(client)
    integrations: dict[str, Any] = {}
    telegram = client.integrations.telegram
    if telegram is not None:
        integrations["telegram"] = {
            "sessionDuration": telegram.session_duration,
            "botTokenSet": bool(telegram.bot_token),
            "botUsername": telegram.bot_username,
            "groups": telegram.groups,
        }
    zapi = client.integrations.zapi
    if zapi is not None:
        integrations["zapi"] = {
            "instanceId": zapi.instance_id,
            "sessionDuration": zapi.session_duration,
            "instanceTokenSet": bool(zapi.instance_token),
            "clientTokenSet": bool(zapi.client_token),
            "allowGroups": zapi.allow_groups,
            "groups": zapi.groups,
            "whatsappNumber": zapi.whatsapp_number,
        }
    data["integrations"] = integrations
    return data


def session_view(session: Session, now: float) -> dict[str, Any]:
    """Management view: everything about the session, metadata included."""
    data = to_builtins(session)
    for name in _SESSION_INTERNALS:
        data.pop(name, None)
    data["sessionId"] = data["id"]
    data["expired"] = session.expires_at <= now
    return data


def opened_session_view(opened: OpenedSession) -> dict[str, Any]:
    return {
        "sessionId": opened.session.id,
        "accessKey": opened.access_key,
        "talkUrl": opened.talk_url,
    }


def public_session_view(
    session: Session, client: ChatClient, limit_state: dict[str, Any]
) -> dict[str, Any]:
    """What the talk page may know: never the gateway, the metadata or the extra context."""
    data: dict[str, Any] = {
        "sessionId": session.id,
        "channel": session.channel,
        "createdAt": session.created_at,
        "expiresAt": session.expires_at,
        "messageCount": session.message_count,
        "clientParameters": to_builtins(client.client_parameters),
        "limits": limit_state,
    }
    if not client.client_parameters.debug:
        # Usage only with debug (API.md): the limit state keeps its bounds and `blocked`, not
        # the tokens used.
        data["limits"] = {k: v for k, v in limit_state.items() if k != "conversationTokens"}
    else:
        data["usage"] = to_builtins(session.usage)
        # Since the last clear: what the talk page's token badge shows.
        data["conversationUsage"] = to_builtins(session.conversation_usage)
    return data


def public_error_text(language: str = i18n.DEFAULT) -> str:
    """What the public reads where a reply failed: never the upstream's words."""
    return i18n.strings(language)["modelFailed"]


def _message_items(messages: list[Message]) -> list[dict[str, Any]]:
    """Messages as wire dicts; `requestId` only where there is one (error markers)."""
    items = to_builtins(messages)
    for item in items:
        if item.get("requestId") is None:
            item.pop("requestId", None)
    return items


def _public_messages(items: list[dict[str, Any]], language: str) -> list[dict[str, Any]]:
    """A failed reply's error becomes the public sentence, with the id of the request that
    failed (as its response said it) when the marker has one."""
    for item in items:
        if item.get("error"):
            rid = item.get("requestId")
            suffix = f" (request id {rid})" if rid else ""
            item["error"] = public_error_text(language) + suffix
    return items


def _without_tool_calls(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Public message views of a client that does not show tool calls: the calls' URLs and
    fetched text stay with the operator (management views keep them)."""
    for item in items:
        if "toolCalls" in item:
            item["toolCalls"] = []
    return items


def messages_view(
    messages: list[Message],
    language: str = i18n.DEFAULT,
    feedback: dict[str, Feedback] | None = None,
    *,
    show_tool_calls: bool = False,
) -> list[dict[str, Any]]:
    """Public view of messages: a failed reply's error is the localized sentence only; with
    `feedback` (by message id) each assistant message carries its `feedback` (or null); tool
    calls only when the client shows them."""
    items = _public_messages(_message_items(messages), language)
    if not show_tool_calls:
        items = _without_tool_calls(items)
    return _with_feedback(items, feedback)


def management_messages_view(
    messages: list[Message], feedback: dict[str, Feedback] | None = None
) -> list[dict[str, Any]]:
    """Management view of messages: the error detail, credentials redacted (and feedback)."""
    items = _message_items(messages)
    for item in items:
        if item.get("error"):
            item["error"] = redact(item["error"])
    return _with_feedback(items, feedback)


def _with_feedback(
    items: list[dict[str, Any]], feedback: dict[str, Feedback] | None
) -> list[dict[str, Any]]:
    if feedback is not None:
        for item in items:
            if item["role"] == "assistant":
                item["feedback"] = feedback_view(feedback.get(item["id"]))
    return items


def feedback_view(record: Feedback | None) -> dict[str, Any] | None:
    """The wire shape of one feedback (the listing's items, and `feedback` in message views)."""
    if record is None:
        return None
    return {
        "sessionId": record.session_id,
        "messageId": record.message_id,
        "rating": record.rating,
        "comment": record.comment,
        "createdAt": record.created_at,
    }


def turn_result_view(
    result: TurnResult, language: str = i18n.DEFAULT, *, show_tool_calls: bool = False
) -> dict[str, Any]:
    """The prompt result as the public sees it (JSON reply and the SSE `done` event); tool
    calls (what the model fetched, and the text it got) only when the client shows them."""
    created = _public_messages(_message_items(result.created_messages), language)
    data: dict[str, Any] = {
        "completionText": result.completion_text,
        "reasoning": result.reasoning,
        "toolCalls": to_builtins(result.tool_calls) if show_tool_calls else [],
        "usage": to_builtins(result.usage),
        "createdMessages": created if show_tool_calls else _without_tool_calls(created),
        "status": result.status,
    }
    if result.error is not None:
        data["error"] = public_error_text(language)
    return data


def _when(unix_time: float | None) -> str:
    if unix_time is None:
        return "never"
    return datetime.fromtimestamp(unix_time, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# Markdown that could make a message's text look like the transcript's own structure: a heading
# (ATX `## …`, also inside quotes and list items), a setext underline (`---`, `===` under a
# line), an HTML block or tag (`<h2>`), and a code fence (an unclosed one would swallow the
# next speaker's heading).
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CONTAINER = r"^((?: {0,3}(?:>|[-*+]|\d{1,9}[.)])(?=\s|$)[ \t]?)*)"
_ATX = re.compile(_CONTAINER + r"( {0,3})#(?=#{0,5}(?:\s|$))")
_SETEXT = re.compile(_CONTAINER + r"( {0,3})(?=(?:=+|-+)[ \t]*$)")
_CODE_SPAN = re.compile(r"(`+)(?:.+?)(?<!`)\1(?!`)")
_TAG = re.compile(r"<(?=[A-Za-z/!?])")


def _inert_line(line: str) -> str:
    """`line` with what would start a heading or an HTML block or tag escaped (as character
    references, so a raw-text reader does not see `## ` either); code spans are left alone."""
    line = _ATX.sub(r"\1\2&#35;", line, count=1)
    line = _SETEXT.sub(r"\1\2\\", line, count=1)
    pieces, last = [], 0
    for span in _CODE_SPAN.finditer(line):
        pieces += [_TAG.sub("&lt;", line[last : span.start()]), span.group(0)]
        last = span.end()
    return "".join([*pieces, _TAG.sub("&lt;", line[last:])])


def inert_markdown(text: str) -> str:
    """A message's text as it goes into the Markdown transcript: its own Markdown kept, but
    nothing in it can pass for a speaker heading (`## Assistant · …`), whoever wrote it. Code
    blocks are kept as they are (nothing in them is structure) and an unclosed one is closed."""
    lines, fence = [], ""
    for line in text.splitlines():
        mark = _FENCE.match(line)
        if fence:
            closing = mark and mark.group(1)[0] == fence[0] and len(mark.group(1)) >= len(fence)
            if closing and not line.strip().strip(fence[0]):
                fence = ""
            lines.append(line)
        elif mark and not (mark.group(1)[0] == "`" and "`" in line[mark.end() :]):
            fence = mark.group(1)
            lines.append(line)
        else:
            lines.append(_inert_line(line))
    if fence:
        lines.append(fence)
    return "\n".join(lines)


def _content_markdown(content: str | list[dict[str, Any]]) -> str:
    if isinstance(content, str):
        return inert_markdown(content)
    pieces = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            pieces.append(inert_markdown(str(part.get("text", ""))))
        elif kind == "image_url":
            pieces.append("*[image]*")
        elif kind == "input_audio":
            pieces.append("*[audio]*")
        else:
            pieces.append(f"*[{kind}]*")
    return "\n\n".join(pieces)


def transcript_header(session: Session, client_name: str) -> str:
    """The Markdown transcript's header; counts come from the session record, not a read of
    the whole history."""
    lines = [
        f"# Conversation {session.id}",
        "",
        f"- Chat client: {_flat(client_name)}",
        f"- Channel: {session.channel}",
    ]
    if session.tag:
        lines.append(f"- Tag: {_flat(session.tag)}")
    if session.external_id:
        lines.append(f"- External id: {_flat(session.external_id)}")
    lines += [
        f"- Created: {_when(session.created_at)}",
        f"- Expires: {_when(session.expires_at)}",
        f"- Messages: {session.message_count}",
        f"- Tokens: {session.usage.total_tokens} "
        f"({session.usage.input_tokens} in, {session.usage.output_tokens} out)",
        "",
    ]
    return "\n".join(lines) + "\n"


def message_markdown(message: Message, feedback: Feedback | None = None) -> str:
    """One message's section of the Markdown transcript (with the user's feedback on it)."""
    who = "User" if message.role == "user" else "Assistant"
    status = "" if message.status == "complete" else f" ({message.status})"
    lines = [f"## {who}{status} · {_when(message.created_at)}", ""]
    if message.reasoning:
        reasoning = inert_markdown(message.reasoning)
        quoted = "\n".join(f"> {line}" for line in reasoning.splitlines())
        lines += ["> **Reasoning**", ">", quoted, ""]
    for call in message.tool_calls:
        lines += [f"*Tool `{call.name}`*: `{' '.join(call.arguments.split())}`", ""]
    lines += [_content_markdown(message.content), ""]
    if message.error:
        rid = f" (request id {message.request_id})" if message.request_id else ""
        lines += [f"*Error: {_flat(redact(message.error))}{rid}*", ""]
    if feedback is not None:
        thumb = "👍 up" if feedback.rating == "up" else "👎 down"
        comment = f": {_one_line(feedback.comment)}" if feedback.comment else ""
        lines += [f"*Feedback: {thumb}{comment}*", ""]
    return "\n".join(lines) + "\n"


def _flat(text: str) -> str:
    """Text from outside on one line of the transcript (a tag, an error): no line breaks (a
    line of its own could pass for a speaker heading), no HTML tags."""
    return _TAG.sub("&lt;", " ".join(text.split()))


def _one_line(text: str) -> str:
    """A user's comment inside an emphasised line: one line, no Markdown markers."""
    return _flat(text).replace("*", "\\*").replace("_", "\\_")


def transcript_markdown(
    session: Session,
    client_name: str,
    messages: list[Message],
    feedback: dict[str, Feedback] | None = None,
) -> str:
    """A readable Markdown transcript: header, then one section per message."""
    feedback = feedback or {}
    sections = "".join(message_markdown(m, feedback.get(m.id)) for m in messages)
    text = transcript_header(session, client_name) + sections
    return text.rstrip() + "\n"
