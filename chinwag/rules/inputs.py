"""The input types: what the management API, the public API, the CLI and the embedding API accept.

Parameter objects subclass their stored records (chinwag.records) and only re-declare the fields
that carry a bound, so a field added to a record is accepted here too, and records already
stored are never refused by a bound added later. Request bodies are camelCase, reject unknown
fields, and run the rules msgspec cannot express in `__post_init__` (worded "`field` must …",
see chinwag.rules.messages). `patch_of` derives the PUT types: the same fields, each optional.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType, field

from chinwag.records import (
    ClientParameters,
    GatewayParameters,
    InputMode,
    LimitingParameters,
    Research,
    SuggestionButton,
)
from chinwag.rules import bounds as b
from chinwag.rules.fields import (
    CssColor,
    CustomCode,
    Expires,
    ExtraContext,
    HttpUrl,
    Identifier,
    ImageOrigin,
    Label,
    LimitValue,
    Name,
    Origin,
    Secret,
    Tag,
)


class Body(Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    """Base of request bodies: camelCase on the wire, unknown fields rejected."""


def patch_of(record: type[Struct], name: str) -> type[Struct]:
    """`record` with every field optional (UNSET when absent): the shape of a partial update.

    The bounds come along with the field types; rules across fields run on the merged result.
    """
    fields = [(f.name, f.type | UnsetType, UNSET) for f in msgspec.structs.fields(record)]
    return msgspec.defstruct(
        name, fields, rename="camel", forbid_unknown_fields=True, kw_only=True, module=__name__
    )


class ApiKeyCreate(Body):
    """`chinwag keys create NAME`: a management API key's display name."""

    name: Name


# ---------------------------------------------------------------- AI gateways


class ResearchInput(Research):
    web_search_url: HttpUrl | None = None


class GatewayParametersInput(GatewayParameters):
    base_url: HttpUrl | None = None
    api_key: Secret | None = None
    model: Identifier | None = None
    instructions: Annotated[str, Meta(max_length=b.MAX_GATEWAY_INSTRUCTIONS_CHARS)] | None = None
    temperature: Annotated[float, Meta(ge=0, le=2)] | None = None
    max_completion_tokens: LimitValue | None = None
    research: ResearchInput = field(default_factory=ResearchInput)
    context_window_tokens: LimitValue | None = None
    timeout_seconds: Annotated[
        float,
        Meta(ge=b.MIN_MODEL_TIMEOUT, le=b.MAX_MODEL_TIMEOUT, extra={"unit": "seconds"}),
    ] = 120.0
    max_tool_steps: Annotated[int, Meta(ge=0, le=16)] = 4
    stream_delay_seconds: Annotated[float, Meta(ge=0, le=5, extra={"unit": "seconds"})] = 0.0

    def __post_init__(self) -> None:
        if self.provider == "openai":
            if not self.base_url:
                raise ValueError("`baseUrl` is required when provider is openai")
            if not self.model:
                raise ValueError("`model` is required when provider is openai")


GatewayParametersPatch = patch_of(GatewayParametersInput, "GatewayParametersPatch")


class GatewayCreate(Body):
    """`{name, parameters}`: both required (`{}` is an echo gateway)."""

    name: Name
    parameters: GatewayParametersInput


class GatewayUpdate(Body):
    """PUT: `name` and/or some `parameters`; the given parameters replace the stored ones."""

    name: Name | UnsetType = UNSET
    parameters: GatewayParametersPatch | UnsetType = UNSET  # type: ignore[valid-type]


# ---------------------------------------------------------------- chat clients


class SuggestionButtonInput(SuggestionButton):
    label: Annotated[str, Meta(min_length=1, max_length=b.MAX_NAME_CHARS)]
    prompt: Annotated[str, Meta(min_length=1, max_length=b.MAX_INSTRUCTIONS_CHARS)]


class ClientParametersInput(ClientParameters):
    page_title: Annotated[str, Meta(max_length=b.MAX_NAME_CHARS)] | None = None
    primary_color: CssColor | None = None
    hello_label: Label | None = None
    hello_sub_label: Label | None = None
    text_area_placeholder: Label | None = None
    logo_image_url: HttpUrl | None = None
    custom_styles: CustomCode | None = None
    custom_scripts: CustomCode | None = None
    input_modes: Annotated[list[InputMode], Meta(max_length=3)] = field(default_factory=list)
    allowed_frame_origins: Annotated[list[Origin], Meta(max_length=b.MAX_LIST_ITEMS)] = field(
        default_factory=list
    )
    image_origins: Annotated[list[ImageOrigin], Meta(max_length=b.MAX_IMAGE_ORIGINS)] = field(
        default_factory=list
    )
    suggestion_buttons: Annotated[
        list[SuggestionButtonInput], Meta(max_length=b.MAX_SUGGESTION_BUTTONS)
    ] = field(default_factory=list)
    message_debounce_interval: Annotated[float, Meta(ge=0, le=60, extra={"unit": "seconds"})] = 0.0


class LimitingParametersInput(LimitingParameters):
    max_messages: (
        Annotated[
            int,
            Meta(ge=2, le=b.MAX_LIMIT_VALUE, extra={"note": "a user message and its reply"}),
        ]
        | None
    ) = None
    max_conversation_tokens: LimitValue | None = None
    user_input_max_tokens: LimitValue | None = None
    messages_per_hour: LimitValue | None = None


ClientParametersPatch = patch_of(ClientParametersInput, "ClientParametersPatch")
LimitingParametersPatch = patch_of(LimitingParametersInput, "LimitingParametersPatch")


class ClientCreate(Body):
    name: Name
    ai_gateway_id: Identifier
    client_parameters: ClientParametersInput = field(default_factory=ClientParametersInput)
    limiting_parameters: LimitingParametersInput = field(default_factory=LimitingParametersInput)


class ClientUpdate(Body):
    """PUT: the two parameter objects are shallow-merged into the stored ones."""

    name: Name | UnsetType = UNSET
    ai_gateway_id: Identifier | UnsetType = UNSET
    client_parameters: ClientParametersPatch | UnsetType = UNSET  # type: ignore[valid-type]
    limiting_parameters: LimitingParametersPatch | UnsetType = UNSET  # type: ignore[valid-type]


# ---------------------------------------------------------------- sessions


class SessionCreate(Body):
    """The seed's body: `{expires, extraContext?, contextLocation?, tag?, metadata?}`."""

    expires: Expires = b.DEFAULT_EXPIRES
    extra_context: ExtraContext | None = None
    context_location: HttpUrl | None = None
    tag: Tag | None = None
    metadata: (
        Annotated[
            dict[str, Any],
            Meta(
                description=f"A JSON object of at most {b.MAX_METADATA_BYTES // b.KIB} KiB "
                "once encoded; never shown to the assistant."
            ),
        ]
        | None
    ) = None

    def __post_init__(self) -> None:
        if self.tag is not None and len(self.tag.encode()) > b.MAX_TAG_BYTES:
            raise ValueError(f"`tag` must be at most {b.MAX_TAG_BYTES} bytes in UTF-8")
        if (
            self.extra_context is not None
            and len(self.extra_context.encode()) > b.MAX_EXTRA_CONTEXT_BYTES
        ):
            raise ValueError(
                f"`extraContext` must be at most {b.MAX_EXTRA_CONTEXT_BYTES // b.KIB} KiB "
                f"({b.MAX_EXTRA_CONTEXT_BYTES} bytes) in UTF-8"
            )
        if self.metadata is not None:
            check_metadata(self.metadata)


def check_metadata(metadata: dict[str, Any]) -> None:
    """Stored as msgpack (integers within 64 bits), at most 16 KiB as JSON."""
    try:
        msgspec.msgpack.encode(metadata)
        size = len(msgspec.json.encode(metadata))
    except (OverflowError, RecursionError, TypeError, ValueError):
        raise ValueError(
            "`metadata` must be plain JSON with integers that fit in 64 bits"
        ) from None
    if size > b.MAX_METADATA_BYTES:
        raise ValueError(
            f"`metadata` must be at most {b.MAX_METADATA_BYTES // b.KIB} KiB "
            f"({b.MAX_METADATA_BYTES} bytes) once encoded as JSON; it is {size} bytes"
        )


class SessionListQuery(Struct, rename="camel", kw_only=True):
    """`GET …/sessions?filter=&limit=&cursor=` (unknown query parameters are ignored)."""

    filter: Annotated[str, Meta(max_length=b.MAX_TAG_BYTES * 4)] | None = None
    limit: Annotated[int, Meta(ge=1, le=b.MAX_SESSION_PAGE)] = b.DEFAULT_SESSION_PAGE
    cursor: Annotated[str, Meta(max_length=b.MAX_ID_CHARS)] | None = None


class FeedbackBody(Body):
    """`{rating: "up"|"down"|null, comment?}`: null removes the message's feedback."""

    rating: Literal["up", "down"] | None
    comment: Annotated[str, Meta(max_length=b.MAX_COMMENT_CHARS)] | None = None


class FeedbackListQuery(Struct, kw_only=True):
    """`GET …/feedback?rating=&limit=&cursor=` (`rating=any`, or none: both ratings)."""

    rating: Literal["up", "down", "any"] = "any"
    limit: Annotated[int, Meta(ge=1, le=b.MAX_FEEDBACK_PAGE)] = b.DEFAULT_FEEDBACK_PAGE
    cursor: Annotated[str, Meta(max_length=b.MAX_ID_CHARS)] | None = None


class MessagePageQuery(Struct, kw_only=True):
    """`GET …/messages?limit=&before=`: a page of at most `limit` messages before seq `before`."""

    limit: Annotated[int, Meta(ge=1, le=b.MAX_MESSAGE_PAGE)] = b.DEFAULT_MESSAGE_PAGE
    before: (
        Annotated[
            int,
            Meta(
                ge=0,
                le=b.MAX_SEQ,
                description="A message seq: the page just before it (default: the newest page).",
            ),
        ]
        | None
    ) = None


class TranscriptQuery(Struct, kw_only=True):
    """`GET …/transcript?format=json|md`."""

    format: Literal["json", "md"] = "json"
