"""The records chinwag stores and serves: AI gateways, chat clients, sessions, messages.

msgspec Structs give one definition for three jobs: validation of API input (camelCase on the
wire), the msgpack encoding in LMDB, and the JSON output. Unknown fields are rejected so a typo
in a request is an error instead of a silently ignored setting.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from msgspec import Struct, field

Provider = Literal["openai", "echo"]
Channel = Literal["web", "telegram", "zapi"]
LanguageCode = Literal["en", "pt-BR", "es"]
InputMode = Literal["Image", "Audio", "Document"]
ReasoningEffort = Literal["minimal", "low", "medium", "high"]


class Api(Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    """Base for structs that appear on the wire in camelCase."""


# ---------------------------------------------------------------- AI gateways


class Research(Api):
    fetch_url: bool = False
    web_search_url: str | None = None


class GatewayParameters(Api):
    provider: Provider = "echo"
    base_url: str | None = None
    api_key: str | None = None
    model: str | None = None
    instructions: str | None = None
    temperature: float | None = None
    max_completion_tokens: int | None = None
    reasoning_effort: ReasoningEffort | None = None
    research: Research = field(default_factory=Research)
    # Tokens the model may receive; older turns are left out of the request beyond it.
    context_window_tokens: int | None = None
    # Seconds to wait for the model (connect + between streamed chunks).
    timeout_seconds: float = 120.0
    max_tool_steps: int = 4
    # echo only: pause between streamed words, for demos and for watching a reply stream.
    stream_delay_seconds: float = 0.0


class Gateway(Api):
    id: str
    name: str
    parameters: GatewayParameters
    created_at: float
    updated_at: float


# ---------------------------------------------------------------- chat clients


class SuggestionButton(Api):
    label: str
    prompt: str


class ClientParameters(Api):
    language_code: LanguageCode | None = None
    page_title: str | None = None
    primary_color: str | None = None
    hello_label: str | None = None
    hello_sub_label: str | None = None
    text_area_placeholder: str | None = None
    logo_image_url: str | None = None
    custom_styles: str | None = None
    custom_scripts: str | None = None
    debug: bool = False
    input_modes: list[InputMode] = field(default_factory=list)
    allowed_frame_origins: list[str] = field(default_factory=list)
    # Origins (https://cdn.example.com) the talk page may load images from, besides its own,
    # data:/blob: and the logo's origin (CSP img-src; other images in answers become links).
    image_origins: list[str] = field(default_factory=list)
    suggestion_buttons: list[SuggestionButton] = field(default_factory=list)
    show_tool_calls: bool = False
    message_debounce_interval: float = 0.0
    split_answer_into_message_chunks: bool = False


class LimitingParameters(Api):
    max_messages: int | None = None
    max_conversation_tokens: int | None = None
    user_input_max_tokens: int | None = None
    messages_per_hour: int | None = None


GroupMode = Literal["off", "mention", "all"]


class TelegramIntegration(Api):
    bot_token: str
    session_duration: str = "03:00:00"
    secret_token: str = ""
    # From getMe when the integration is saved: mentions, replies and /cmd@bot are checked
    # against them, and t.me links name the bot.
    bot_id: int | None = None
    bot_username: str | None = None
    # Group chats: answer none, only messages addressed to the bot, or all of them.
    groups: GroupMode = "mention"


class ZapiIntegration(Api):
    instance_id: str
    instance_token: str
    client_token: str
    session_duration: str = "03:00:00"
    webhook_secret: str = ""
    # WhatsApp group messages are ignored unless enabled.
    allow_groups: bool = False
    # When set, decides which group messages are answered (see parse.zapi_group_mode).
    groups: GroupMode | None = None
    # The WhatsApp number of the instance, digits only: wa.me links point to it.
    whatsapp_number: str | None = None


class Integrations(Api):
    telegram: TelegramIntegration | None = None
    zapi: ZapiIntegration | None = None


class ChatClient(Api):
    id: str
    name: str
    ai_gateway_id: str
    client_parameters: ClientParameters
    limiting_parameters: LimitingParameters
    integrations: Integrations = field(default_factory=Integrations)
    created_at: float = 0.0
    updated_at: float = 0.0


# ---------------------------------------------------------------- sessions and messages


class Usage(Api):
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0

    def plus(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
        )


class Session(Api):
    id: str
    client_id: str
    channel: Channel = "web"
    tag: str | None = None
    external_id: str | None = None
    extra_context: str | None = None
    context_location: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    expires_at: float = 0.0
    last_activity_at: float | None = None
    # Tokens used over the session's life, and since the conversation was last cleared (limits).
    usage: Usage = field(default_factory=Usage)
    conversation_usage: Usage = field(default_factory=Usage)
    message_count: int = 0
    # Bytes the stored history takes (sum of its encoded messages), for CHINWAG_MAX_HISTORY_BYTES.
    history_bytes: int = 0
    # Sequence number of the next stored message; never reused, so clearing keeps keys unique.
    next_seq: int = 0
    # Unix times of the user messages of the last hour, kept only while messagesPerHour is set
    # and never more than it (the sliding window needs no more).
    recent_prompts: list[float] = field(default_factory=list)
    # Seconds a renewal (tag call, integration message) extends the session by.
    duration: float = 3600.0


MessageRole = Literal["user", "assistant"]
MessageStatus = Literal["complete", "stopped", "error"]


class ToolCall(Api):
    id: str
    name: str
    arguments: str
    result: str | None = None


class Message(Api):
    id: str
    seq: int
    role: MessageRole
    # A string, or a list of OpenAI content parts (text, image_url).
    content: str | list[dict[str, Any]]
    created_at: float
    reasoning: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage | None = None
    status: MessageStatus = "complete"
    error: str | None = None
    # Set by the sender of a user message (Telegram update id, Idempotency-Key header): a retry
    # with the same key is answered from the stored turn instead of being stored twice.
    idempotency_key: str | None = None
    # On an assistant message: the seq of the user message it answers (a retried prompt is
    # answered with exactly this message, whatever came after it in the session).
    in_reply_to: int | None = None
    # On a failed reply (status "error"): the id of the request whose turn failed, the one its
    # response and the server log named, so whoever sees the marker later can quote it.
    request_id: str | None = None


FeedbackRating = Literal["up", "down"]


class Feedback(Api):
    """A user's rating (and optional comment) of one assistant message; one per message."""

    session_id: str
    client_id: str
    message_id: str
    seq: int
    rating: FeedbackRating
    comment: str | None = None
    created_at: float = 0.0


def to_builtins(value: Any) -> Any:
    """JSON-ready builtins (camelCase keys) of a record or a list of records."""
    return msgspec.to_builtins(value)
