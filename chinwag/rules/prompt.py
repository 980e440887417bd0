"""The public prompt: `{prompt, commit?, instructions?}` and its size rule.

`prompt` is a string, one OpenAI-style user message, or a list of them; a message's content is
a string or a list of `text` / `image_url` parts (audio and file parts are not accepted, so they
are not part of the type). The image checks that need the chat client (`inputModes`, the bytes
of a data URL) run in the session actor (chinwag.gateways.images); the size of the text needs
the settings (`CHINWAG_MAX_PROMPT_CHARS`) and is `check_prompt_size`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from chinwag.errors import InvalidInput, PromptTooLong
from chinwag.rules import bounds as b
from chinwag.rules.fields import IDEMPOTENCY_KEY_PATTERN, IDEMPOTENCY_KEY_RULE, Instructions
from chinwag.rules.inputs import Body
from chinwag.rules.messages import convert


class Part(Struct, tag_field="type", forbid_unknown_fields=True):
    """One OpenAI content part; field names stay snake_case as in the OpenAI API."""


class TextPart(Part, tag="text"):
    text: str


class ImageUrl(Struct, forbid_unknown_fields=True, omit_defaults=True):
    url: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=b.MAX_IMAGE_URL_CHARS,
            description="An http(s) URL, or a base64 data: URL of a PNG, JPEG, GIF or WebP "
            f"image of at most {b.MAX_IMAGE_BYTES // b.MIB} MiB. Accepted only when the chat "
            "client's inputModes has Image.",
            extra={
                "note": f"images may be at most {b.MAX_IMAGE_BYTES // b.MIB} MiB, "
                "which a base64 data: URL holds in that many characters"
            },
        ),
    ]
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(Part, tag="image_url"):
    image_url: ImageUrl


ContentPart = TextPart | ImagePart


class PromptMessage(Struct, forbid_unknown_fields=True):
    content: str | Annotated[list[ContentPart], Meta(min_length=1)]
    role: Literal["user"] = "user"
    name: Annotated[str, Meta(max_length=b.MAX_NAME_CHARS)] | None = None


class PromptItem(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One item of a prompt list: a user message (`content`, `role`, `name`) or a content part
    (`type` with `text` or `image_url`). msgspec cannot put an untagged message and tagged parts
    in one union, so this one type carries both shapes and `__post_init__` keeps them apart."""

    content: str | Annotated[list[ContentPart], Meta(min_length=1)] | UnsetType = UNSET
    role: Literal["user"] | UnsetType = UNSET
    name: Annotated[str, Meta(max_length=b.MAX_NAME_CHARS)] | UnsetType | None = UNSET
    type: Literal["text", "image_url"] | UnsetType = UNSET
    text: str | UnsetType = UNSET
    image_url: ImageUrl | UnsetType = UNSET

    def __post_init__(self) -> None:
        message = (self.content, self.role, self.name)
        if self.type is UNSET:
            if self.text is not UNSET or self.image_url is not UNSET:
                raise ValueError("`type` is required in a content part")
            if self.content is UNSET:
                raise ValueError("`content` is required: give a message or a content part")
            return
        if any(value is not UNSET for value in message):
            raise ValueError("`type` marks a content part, which has no content, role or name")
        if self.type == "text" and (self.text is UNSET or self.image_url is not UNSET):
            raise ValueError("`text` (and only it) is required in a text part")
        if self.type == "image_url" and (self.image_url is UNSET or self.text is not UNSET):
            raise ValueError("`image_url` (and only it) is required in an image_url part")

    @property
    def is_part(self) -> bool:
        return self.type is not UNSET

    def builtins(self) -> dict[str, Any]:
        """A part as given; a message with its role (`user`) spelled out."""
        if self.is_part:
            return msgspec.to_builtins(self)
        return {"role": "user", **msgspec.to_builtins(self)}


PromptValue = (
    Annotated[str, Meta(min_length=1)]
    | PromptMessage
    | Annotated[list[PromptItem], Meta(min_length=1)]
)


class PromptBody(Body):
    """`{prompt, commit?, instructions?}`: a string, one OpenAI-style message, or a list of them."""

    prompt: Annotated[
        PromptValue,
        Meta(
            description="A string, one user message, a list of user messages, or a list of "
            "content parts (one message); at most "
            f"CHINWAG_MAX_PROMPT_CHARS (default {b.DEFAULT_MAX_PROMPT_CHARS}) characters of text "
            "in all."
        ),
    ]
    commit: bool = True
    instructions: Instructions | None = None

    def __post_init__(self) -> None:
        if isinstance(self.prompt, list) and len({item.is_part for item in self.prompt}) > 1:
            raise ValueError(
                "`prompt` must be a list of messages or a list of content parts, not both"
            )

    def prompt_builtins(self) -> str | dict[str, Any] | list[dict[str, Any]]:
        """The prompt as plain JSON values, the shape the runtime facade takes."""
        if isinstance(self.prompt, list):
            return [item.builtins() for item in self.prompt]
        return msgspec.to_builtins(self.prompt)


def prompt_chars(prompt: PromptValue) -> int:
    """Characters of text in a prompt (all messages, all text parts)."""
    if isinstance(prompt, str):
        return len(prompt)
    items: list[Any] = prompt if isinstance(prompt, list) else [prompt]
    total = 0
    for item in items:
        if isinstance(item, PromptItem) and item.is_part:
            total += len(item.text) if isinstance(item.text, str) else 0
        elif isinstance(item.content, str):
            total += len(item.content)
        else:
            total += sum(len(p.text) for p in item.content if isinstance(p, TextPart))
    return total


def check_prompt_size(body: PromptBody, max_chars: int) -> None:
    """One prompt holds at most `max_chars` characters of text (400 naming the limit)."""
    chars = prompt_chars(body.prompt)
    if chars > max_chars:
        raise PromptTooLong(
            f"prompt must be at most {max_chars} characters of text (CHINWAG_MAX_PROMPT_CHARS); "
            f"it has {chars}."
        )


def prompt_input(prompt: Any, *, commit: Any, instructions: Any, max_chars: int) -> PromptBody:
    """The embedding API's prompt arguments checked exactly like the HTTP body."""
    values: dict[str, Any] = {"prompt": prompt, "commit": commit}
    if instructions is not None:
        values["instructions"] = instructions
    body = convert(values, PromptBody)
    check_prompt_size(body, max_chars)
    return body


def check_idempotency_key(value: Any) -> str:
    """An `Idempotency-Key` (HTTP header or embedding argument): 1 to 200 printable ASCII
    characters (the pattern of `rules.fields.IdempotencyKey`, which the OpenAPI shows)."""
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= b.MAX_IDEMPOTENCY_KEY_CHARS
        or re.match(IDEMPOTENCY_KEY_PATTERN, value) is None
    ):
        raise InvalidInput(
            f"The {b.IDEMPOTENCY_HEADER} header must be 1 to {b.MAX_IDEMPOTENCY_KEY_CHARS} "
            f"{IDEMPOTENCY_KEY_RULE}."
        )
    return value
