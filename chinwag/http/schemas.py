"""Request bodies as msgspec Structs, and the one function that reads and validates a body.

msgspec does the type checking; `read_body` turns its terse errors into sentences that name the
field ("Invalid value for `expires`: expected `int`, got `str`."), rejects non-JSON content types
(415) and leaves the size limit (413) to Quart's MAX_CONTENT_LENGTH. Partial updates (PUT) are
validated by converting the given subset of fields into the full record type, whose fields all
have defaults, so a typo or a wrong type in a PUT is caught exactly like in a POST.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType, field
from quart import request

from chinwag.errors import ChinwagError, InvalidInput
from chinwag.records import ClientParameters, GatewayParameters, LimitingParameters

T = TypeVar("T")

MIN_EXPIRES = 600
MAX_EXPIRES = 7_776_000
DEFAULT_EXPIRES = 3600

Name = Annotated[str, Meta(min_length=1, max_length=200)]
Identifier = Annotated[str, Meta(min_length=1, max_length=200)]
Tag = Annotated[str, Meta(min_length=1, max_length=256)]


class UnsupportedMediaType(ChinwagError):
    """The body is not JSON (415)."""

    status = 415
    code = "unsupported_media_type"


class Body(Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    """Base of request bodies: camelCase on the wire, unknown fields rejected."""


# ---------------------------------------------------------------- AI gateways


class GatewayCreate(Body):
    name: Name
    parameters: GatewayParameters = field(default_factory=GatewayParameters)

    def __post_init__(self) -> None:
        check_gateway_parameters(self.parameters)


class GatewayUpdate(Body):
    """PUT: `name` and/or a subset of `parameters`; the given parameters replace stored ones."""

    name: Name | UnsetType = UNSET
    parameters: dict[str, Any] | UnsetType = UNSET

    def __post_init__(self) -> None:
        if self.parameters is not UNSET:
            convert_partial(self.parameters, GatewayParameters, "parameters")


def check_gateway_parameters(parameters: GatewayParameters) -> None:
    """Cross-field rules msgspec types cannot express."""
    if parameters.provider == "openai" and not parameters.base_url:
        raise ValueError("parameters.baseUrl is required when provider is openai")
    if parameters.base_url is not None:
        check_http_url(parameters.base_url, "parameters.baseUrl")
    if parameters.temperature is not None and not 0 <= parameters.temperature <= 2:
        raise ValueError("parameters.temperature must be between 0 and 2")
    if parameters.max_completion_tokens is not None and parameters.max_completion_tokens < 1:
        raise ValueError("parameters.maxCompletionTokens must be a positive integer")
    if parameters.timeout_seconds <= 0:
        raise ValueError("parameters.timeoutSeconds must be greater than 0")
    if parameters.stream_delay_seconds < 0 or parameters.stream_delay_seconds > 5:
        raise ValueError("parameters.streamDelaySeconds must be between 0 and 5")


# ---------------------------------------------------------------- chat clients


class ClientCreate(Body):
    name: Name
    ai_gateway_id: Identifier
    client_parameters: ClientParameters = field(default_factory=ClientParameters)
    limiting_parameters: LimitingParameters = field(default_factory=LimitingParameters)

    def __post_init__(self) -> None:
        check_limits(self.limiting_parameters)
        check_client_parameters(self.client_parameters)


class ClientUpdate(Body):
    """PUT: the two parameter objects are shallow-merged into the stored ones by the runtime."""

    name: Name | UnsetType = UNSET
    ai_gateway_id: Identifier | UnsetType = UNSET
    client_parameters: dict[str, Any] | UnsetType = UNSET
    limiting_parameters: dict[str, Any] | UnsetType = UNSET

    def __post_init__(self) -> None:
        if self.client_parameters is not UNSET:
            params = convert_partial(self.client_parameters, ClientParameters, "clientParameters")
            check_client_parameters(params)
        if self.limiting_parameters is not UNSET:
            limits = convert_partial(
                self.limiting_parameters, LimitingParameters, "limitingParameters"
            )
            check_limits(limits)


def check_limits(limits: LimitingParameters) -> None:
    for name in ("max_messages", "max_conversation_tokens", "user_input_max_tokens"):
        value = getattr(limits, name)
        if value is not None and value < 1:
            raise ValueError(f"limitingParameters.{camel(name)} must be a positive integer or null")
    if limits.messages_per_hour is not None and limits.messages_per_hour < 1:
        raise ValueError("limitingParameters.messagesPerHour must be a positive integer or null")


def check_client_parameters(params: ClientParameters) -> None:
    if params.message_debounce_interval < 0 or params.message_debounce_interval > 60:
        raise ValueError(
            "clientParameters.messageDebounceInterval must be between 0 and 60 seconds"
        )
    if params.logo_image_url:
        check_http_url(params.logo_image_url, "clientParameters.logoImageUrl")


# ---------------------------------------------------------------- sessions


class SessionCreate(Body):
    """The seed's body: `{expires, extraContext?, contextLocation?, tag?, metadata?}`."""

    expires: int = DEFAULT_EXPIRES
    extra_context: str | None = None
    context_location: str | None = None
    tag: Tag | None = None
    metadata: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if not MIN_EXPIRES <= self.expires <= MAX_EXPIRES:
            raise ValueError(
                f"expires must be between {MIN_EXPIRES} and {MAX_EXPIRES} seconds"
                " (10 minutes to 90 days)"
            )
        if self.context_location is not None:
            check_http_url(self.context_location, "contextLocation")


# ---------------------------------------------------------------- prompts (OpenAI message shape)


class Part(Struct, tag_field="type", forbid_unknown_fields=True):
    """One OpenAI content part; field names stay snake_case as in the OpenAI API."""


class TextPart(Part, tag="text"):
    text: str


class ImageUrl(Struct, forbid_unknown_fields=True, omit_defaults=True):
    url: Annotated[str, Meta(min_length=1)]
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(Part, tag="image_url"):
    image_url: ImageUrl


class InputAudio(Struct, forbid_unknown_fields=True):
    data: Annotated[str, Meta(min_length=1)]
    format: Annotated[str, Meta(min_length=1, max_length=16)]


class AudioPart(Part, tag="input_audio"):
    input_audio: InputAudio


class FilePart(Part, tag="file"):
    file: dict[str, Any]


ContentPart = TextPart | ImagePart | AudioPart | FilePart


class PromptMessage(Struct, forbid_unknown_fields=True):
    content: str | Annotated[list[ContentPart], Meta(min_length=1)]
    role: Literal["user"] = "user"
    name: str | None = None


class PromptBody(Body):
    """`{prompt, commit?, instructions?}`: a string, one OpenAI-style message, or a list of them."""

    prompt: (
        Annotated[str, Meta(min_length=1)]
        | PromptMessage
        | Annotated[list[PromptMessage], Meta(min_length=1)]
    )
    commit: bool = True
    instructions: str | None = None

    def prompt_builtins(self) -> str | dict[str, Any] | list[dict[str, Any]]:
        """The prompt as plain JSON values, the shape the runtime facade takes."""
        return msgspec.to_builtins(self.prompt)


# ---------------------------------------------------------------- helpers


def camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(word.title() for word in rest)


def check_http_url(value: str, field_name: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{field_name} must be an http(s) URL")


def convert_partial(values: dict[str, Any], record: type[T], prefix: str) -> T:
    """Validate a subset of a record's fields (all of which have defaults)."""
    try:
        return msgspec.convert(values, record)
    except msgspec.ValidationError as error:
        raise ValueError(describe_validation_error(str(error), prefix)) from None


_AT = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]*)`$")


def _join(prefix: str, path: str) -> str:
    path = path.lstrip(".")
    if not prefix:
        return path
    if not path:
        return prefix
    return prefix + ("" if path.startswith("[") else ".") + path


def describe_validation_error(text: str, prefix: str = "") -> str:
    """Rewrite msgspec's message into a sentence that leads with the field at fault."""
    match = _AT.match(text)
    what = match.group("what") if match else text
    path = _join(prefix, (match.group("path") or "") if match else "")
    unknown = _UNKNOWN.match(what)
    if unknown:
        return f"Unknown field `{_join(path, unknown.group('name'))}`."
    missing = _MISSING.match(what)
    if missing:
        return f"Missing required field `{_join(path, missing.group('name'))}`."
    if not path:
        # Our own __post_init__ sentences already name their field.
        if what.startswith("Expected `object`"):
            return "The request body must be a JSON object."
        return what if what.endswith(".") else what + "."
    detail = what[0].lower() + what[1:] if what else "invalid value"
    return f"Invalid value for `{path}`: {detail}."


def is_json_content_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime == "application/json" or (
        mime.startswith("application/") and mime.endswith("+json")
    )


def decode_body(raw: bytes, schema: type[T], content_type: str | None) -> T:
    """Validate raw request bytes against `schema`; an empty body counts as `{}`."""
    if not raw.strip():
        raw = b"{}"
    elif not is_json_content_type(content_type):
        raise UnsupportedMediaType(
            "The request body must be JSON: send it with Content-Type: application/json."
        )
    raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark is still JSON
    try:
        return msgspec.json.decode(raw, type=schema)
    except msgspec.ValidationError as error:
        raise InvalidInput(describe_validation_error(str(error))) from None
    except msgspec.DecodeError as error:
        raise InvalidInput(f"The request body is not valid JSON: {error}.") from None
    except UnicodeDecodeError:
        raise InvalidInput("The request body is not valid UTF-8.") from None
    except RecursionError:
        raise InvalidInput("The request body is nested too deeply.") from None


async def read_body(schema: type[T]) -> T:
    """Read the current request's body and validate it (400/413/415 on failure)."""
    raw = await request.get_data(cache=True, as_text=False)
    return decode_body(raw, schema, request.headers.get("Content-Type"))


def query_int(name: str, default: int, *, minimum: int, maximum: int) -> int:
    """An integer query parameter within bounds, or a 400 naming it."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"Query parameter `{name}` must be an integer.") from None
    if not minimum <= value <= maximum:
        raise InvalidInput(f"Query parameter `{name}` must be between {minimum} and {maximum}.")
    return value


def query_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = request.args.get(name) or default
    if raw not in choices:
        raise InvalidInput(f"Query parameter `{name}` must be one of: {', '.join(choices)}.")
    return raw


REQUEST_SCHEMAS: tuple[type, ...] = (
    GatewayCreate,
    GatewayUpdate,
    ClientCreate,
    ClientUpdate,
    SessionCreate,
    PromptBody,
)
