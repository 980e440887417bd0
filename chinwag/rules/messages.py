"""msgspec's terse validation errors as sentences that name the field and its limit.

`convert` (Python values, the embedding API and the CLI) and `decode_json` (request bytes, the
HTTP API) go through the same types and this one translation, so both refuse the same input
with the same sentence. A bound is described from the constraint itself (found by walking the
type along the error's path), e.g. "limitingParameters.maxMessages must be between 2 and
1000000000 (a user message and its reply)."; a rule raised by a type's `__post_init__` is
written "`field` must ..." relative to its struct, and gets the path of that struct prepended.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

import msgspec
from msgspec import inspect

from chinwag.errors import InvalidInput

T = TypeVar("T")

_AT = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>[^`]*)`$", re.DOTALL)
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]*)`$")
_OWN_RULE = re.compile(r"^`(?P<field>[^`]*)` (?P<rest>.*)$", re.DOTALL)
_CONSTRAINT = re.compile(r"(>=|<=| > | < |of length|matching regex|multiple of)")
_SEGMENT = re.compile(r"\.([^.\[]+)|\[([^\]]*)\]")


def join(prefix: str, path: str) -> str:
    """`clientParameters` + `.logoImageUrl` (or `[0]`) as one dotted field name."""
    path = path.lstrip(".")
    if not prefix:
        return path
    if not path:
        return prefix
    return prefix + ("" if path.startswith("[") else ".") + path


def describe(text: str, root: Any = None, prefix: str = "") -> str:
    """Rewrite msgspec's message (`text`) about a value of type `root` into a sentence."""
    match = _AT.match(text)
    what = (match.group("what") if match else text).strip()
    raw_path = (match.group("path") or "") if match else ""
    path = join(prefix, raw_path)
    unknown = _UNKNOWN.match(what)
    if unknown:
        name = unknown.group("name")
        if not name:
            where = f"`{path}`" if path else "the request body"
            return f'Unknown field "" (an empty name) in {where}: field names must not be empty.'
        return f"Unknown field `{join(path, name)}`."
    missing = _MISSING.match(what)
    if missing:
        return f"Missing required field `{join(path, missing.group('name'))}`."
    own = _OWN_RULE.match(what)
    if own:
        return _sentence(f"{join(path, own.group('field'))} {own.group('rest')}")
    if what.startswith(("Invalid enum value", "Invalid value")) and root is not None:
        choices = _choices(inspect.type_info(root), raw_path)
        if choices:
            return f"{path or 'The value'} must be one of: {', '.join(choices)}."
    if _CONSTRAINT.search(what) and root is not None:
        leaf = _leaf(inspect.type_info(root), raw_path, what)
        if leaf is not None:
            sentence = _bounds_sentence(path, what, *leaf)
            if sentence:
                return sentence
    if not path:
        if what.startswith("Expected `object`"):
            return "The request body must be a JSON object."
        return _sentence(what)
    detail = what[0].lower() + what[1:] if what else "invalid value"
    return f"Invalid value for `{path}`: {_sentence(detail)}"


def convert(value: Any, kind: type[T], prefix: str = "", *, strict: bool = True) -> T:
    """`value` (plain Python values, camelCase keys) as `kind`, or InvalidInput saying why."""
    try:
        return msgspec.convert(value, kind, strict=strict)
    except msgspec.ValidationError as error:
        raise InvalidInput(describe(str(error), kind, prefix)) from None
    except RecursionError:
        raise InvalidInput(f"{prefix or 'The input'} is nested too deeply.") from None


def decode_json(raw: bytes, kind: type[T]) -> T:
    """Request bytes as `kind`, or InvalidInput saying why (JSON syntax, encoding, the rules)."""
    raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark is still JSON
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as error:
        raise InvalidInput(describe(str(error), kind)) from None
    except msgspec.DecodeError as error:
        if _lone_surrogate(raw, str(error)):
            raise InvalidInput(
                "The request body is not valid JSON: a string holds a lone UTF-16 surrogate "
                "escape (such as \\ud800 without its pair), which is not valid Unicode."
            ) from None
        raise InvalidInput(f"The request body is not valid JSON: {error}.") from None
    except UnicodeDecodeError:
        raise InvalidInput("The request body is not valid UTF-8.") from None
    except RecursionError:
        raise InvalidInput("The request body is nested too deeply.") from None


def _lone_surrogate(raw: bytes, error: str) -> bool:
    """Whether msgspec refused `raw` only for an unpaired surrogate escape: it says so for a low
    one, but calls a high one at the end of a string "truncated". Python's json module accepts
    lone surrogates, so a body it parses was complete and well-formed apart from them."""
    if "surrogate" in error:
        return True
    if "truncated" not in error or b"\\u" not in raw:
        return False
    try:
        json.loads(raw)
    except (ValueError, RecursionError):
        return False
    return True


# ---------------------------------------------------------------- finding the violated bound


def _sentence(text: str) -> str:
    return text if text.endswith(".") else text + "."


def _unwrap(info: Any, extra: dict[str, Any]) -> Any:
    while isinstance(info, inspect.Metadata):
        extra.update(info.extra or {})
        info = info.type
    return info


def _segments(path: str) -> list[str]:
    """`.prompt[0].content` -> ["prompt", "[0]", "content"]."""
    return [name or f"[{index}]" for name, index in _SEGMENT.findall(path)]


def _leaf(info: Any, path: str, what: str) -> tuple[Any, dict[str, Any]] | None:
    """The type info (and its Meta `extra`) at `path`, choosing union members that fit."""
    return _walk(info, _segments(path), what, {})


def _choices(info: Any, path: str) -> list[str]:
    """The allowed values at `path`: a Literal/Enum's values, or the tags of a tagged union."""
    segments = _segments(path)
    *parent_path, last = segments or [""]
    found = _walk(info, segments, "", {})
    leaf = found[0] if found else None
    if isinstance(leaf, inspect.LiteralType):
        return [str(value) for value in leaf.values]
    if isinstance(leaf, inspect.EnumType):
        return [str(member.value) for member in leaf.cls]
    parent = _walk(info, parent_path, "", {}, keep_unions=True)
    members = parent[0].types if parent and isinstance(parent[0], inspect.UnionType) else ()
    return [
        str(member.tag)
        for member in members
        if isinstance(member, inspect.StructType) and member.tag_field == last
    ]


def _walk(
    info: Any, segments: list[str], what: str, extra: dict[str, Any], keep_unions: bool = False
) -> Any:
    """Follow `segments` through structs, lists, dicts and union members; at the end, the type
    info whose kind matches msgspec's "Expected `<kind>`" (or the union itself: `keep_unions`)."""
    info = _unwrap(info, extra)
    if keep_unions and not segments:
        return info, extra
    if isinstance(info, inspect.UnionType):
        for member in info.types:
            found = _walk(member, segments, what, dict(extra), keep_unions)
            if found is not None:
                return found
        return None
    if not segments:
        return (info, extra) if _fits(info, what) else None
    head, rest = segments[0], segments[1:]
    if isinstance(info, inspect.StructType) and not head.startswith("["):
        for field in info.fields:
            if field.encode_name == head:
                return _walk(field.type, rest, what, {}, keep_unions)
        return None
    if isinstance(info, inspect.ListType | inspect.SetType | inspect.VarTupleType):
        return _walk(info.item_type, rest, what, {}, keep_unions) if head.startswith("[") else None
    if isinstance(info, inspect.DictType):
        return _walk(info.value_type, rest, what, {}, keep_unions) if head.startswith("[") else None
    return None


_KIND_OF = {
    "int": inspect.IntType,
    "float": inspect.FloatType,
    "str": inspect.StrType,
    "array": inspect.ListType | inspect.SetType | inspect.VarTupleType,
    "object": inspect.DictType | inspect.StructType,
}


def _fits(info: Any, what: str) -> bool:
    kind = re.match(r"Expected `(\w+)`", what)
    expected = _KIND_OF.get(kind.group(1)) if kind else None
    return expected is None or isinstance(info, expected)


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _between(low: Any, high: Any, low_open: bool, high_open: bool, unit: str) -> str:
    unit = f" {unit}" if unit else ""
    if low is not None and high is not None:
        if not low_open and not high_open:
            return f"must be between {_number(low)} and {_number(high)}{unit}"
        low_text = f"greater than {_number(low)}" if low_open else f"at least {_number(low)}"
        high_text = f"less than {_number(high)}" if high_open else f"at most {_number(high)}"
        return f"must be {low_text} and {high_text}{unit}"
    if low is not None:
        return f"must be {'greater than' if low_open else 'at least'} {_number(low)}{unit}"
    if high is not None:
        return f"must be {'less than' if high_open else 'at most'} {_number(high)}{unit}"
    return ""


def _count(low: int | None, high: int | None, noun: str) -> str:
    if low and high is not None:
        if low == 1:
            return f"must be 1 to {high} {noun}"
        return f"must be {low} to {high} {noun}"
    if low:
        return "must not be empty" if low == 1 else f"must be at least {low} {noun}"
    if high is not None:
        return f"must be at most {high} {noun}"
    return ""


def _bounds_sentence(path: str, what: str, info: Any, extra: dict[str, Any]) -> str:
    field = path or "The value"
    if "matching regex" in what:
        rule = extra.get("rule")
        text = f"must be {rule}" if rule else f"must match the pattern {info.pattern}"
    elif isinstance(info, inspect.IntType | inspect.FloatType):
        low, low_open = (info.gt, True) if info.gt is not None else (info.ge, False)
        high, high_open = (info.lt, True) if info.lt is not None else (info.le, False)
        text = _between(low, high, low_open, high_open, extra.get("unit", ""))
    elif isinstance(info, inspect.StrType):
        text = _count(info.min_length, info.max_length, extra.get("unit", "characters"))
    elif isinstance(info, inspect.ListType | inspect.SetType | inspect.VarTupleType):
        text = _count(info.min_length, info.max_length, "items")
    elif isinstance(info, inspect.DictType):
        text = _count(info.min_length, info.max_length, "fields")
    else:
        text = ""
    if not text:
        return ""
    note = extra.get("note")
    return f"{field} {text}" + (f" ({note})." if note else ".")
