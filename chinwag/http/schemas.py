"""Reading a request: its JSON body or its query string, validated by the rules of chinwag.rules.

The input types and every bound live in `chinwag.rules` (one source for HTTP, the CLI, the
embedding API and the OpenAPI document); this module adds only what is HTTP's own: the
content-type check (415), the empty body (`{}`), and the query string (strings converted to
the declared types). The size limit (413) is Quart's MAX_CONTENT_LENGTH.
"""

from __future__ import annotations

import functools
import typing
from typing import Any, TypeVar

import msgspec
from quart import request

from chinwag.errors import ChinwagError, InvalidInput
from chinwag.rules.inputs import (
    Body,
    ClientCreate,
    ClientUpdate,
    GatewayCreate,
    GatewayUpdate,
    SessionCreate,
    SessionListQuery,
    TranscriptQuery,
)
from chinwag.rules.messages import convert, decode_json, describe
from chinwag.rules.prompt import PromptBody

T = TypeVar("T")

# JSON's whitespace (RFC 8259): a body of only these is empty. bytes.strip() would also drop
# form feeds and vertical tabs, which JSON does not allow.
JSON_WHITESPACE = b" \t\n\r"

__all__ = [
    "REQUEST_SCHEMAS",
    "Body",
    "ClientCreate",
    "ClientUpdate",
    "GatewayCreate",
    "GatewayUpdate",
    "PromptBody",
    "SessionCreate",
    "SessionListQuery",
    "TranscriptQuery",
    "UnsupportedMediaType",
    "decode_body",
    "describe_validation_error",
    "query_choice",
    "query_int",
    "read_body",
    "read_query",
]


class UnsupportedMediaType(ChinwagError):
    """The body is not JSON (415)."""

    status = 415
    code = "unsupported_media_type"


def describe_validation_error(text: str, prefix: str = "", root: type | None = None) -> str:
    """msgspec's message as a sentence that leads with the field at fault."""
    return describe(text, root, prefix)


def is_json_content_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime == "application/json" or (
        mime.startswith("application/") and mime.endswith("+json")
    )


def decode_body(raw: bytes, schema: type[T], content_type: str | None) -> T:
    """Validate raw request bytes against `schema`; an empty body counts as `{}`."""
    if not raw.strip(JSON_WHITESPACE):
        raw = b"{}"
    elif not is_json_content_type(content_type):
        raise UnsupportedMediaType(
            "The request body must be JSON: send it with Content-Type: application/json."
        )
    return decode_json(raw, schema)


async def read_body(schema: type[T]) -> T:
    """Read the current request's body and validate it (400/413/415 on failure)."""
    raw = await request.get_data(cache=True, as_text=False)
    return decode_body(raw, schema, request.headers.get("Content-Type"))


def read_query(schema: type[T]) -> T:
    """The query string as `schema` (a Struct of optional fields): `?limit=abc` is a 400.

    Each parameter is one value: given twice is a 400. An empty value is checked like any other
    (`?limit=` is not a number), except that it means "absent" for an optional text parameter.
    Parameters the schema does not name are ignored.
    """
    fields = {f.encode_name: f for f in msgspec.structs.fields(schema)}  # type: ignore[arg-type]
    values: dict[str, str] = {}
    for name in request.args:
        if name not in fields:
            continue
        given = request.args.getlist(name)
        if len(given) > 1:
            raise InvalidInput(f"Query parameter `{name}` must be given once.")
        if given[0] == "" and fields[name].default is None:
            continue
        values[name] = given[0]
    # Lax conversion turns the text "null" into None; a query string has no null.
    checked = convert(values, _without_null(schema), strict=False)
    return schema(**msgspec.structs.asdict(checked))  # type: ignore[operator]


@functools.cache
def _without_null(schema: type) -> type:
    """`schema` with None taken out of each field's type (defaults kept): the query's own type."""
    fields: list[tuple[str, Any, Any]] = []
    for info in msgspec.structs.fields(schema):
        kind = info.type
        options = tuple(a for a in typing.get_args(kind) if a is not type(None))
        if len(options) < len(typing.get_args(kind)):
            kind = options[0] if len(options) == 1 else typing.Union[options]  # noqa: UP007
        if info.default_factory is not msgspec.NODEFAULT:
            fields.append((info.name, kind, msgspec.field(default_factory=info.default_factory)))
        elif info.default is not msgspec.NODEFAULT:
            fields.append((info.name, kind, info.default))
        else:
            fields.append((info.name, kind))  # type: ignore[arg-type]
    rename = {info.name: info.encode_name for info in msgspec.structs.fields(schema)}
    return msgspec.defstruct(schema.__name__, fields, rename=rename, kw_only=True, module=__name__)


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
