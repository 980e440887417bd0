"""The embedding API's arguments, checked through the same input types as HTTP bodies.

Each function takes the facade's plain arguments, builds the body an HTTP client would send,
converts it with `chinwag.rules.messages.convert` (same types, same sentences as the HTTP
decoder) and hands back stored-record types. Partial updates are merged into the stored record
and the merged result is checked whole, so a rule across fields holds after any PUT.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from chinwag.records import ClientParameters, GatewayParameters, LimitingParameters
from chinwag.rules.inputs import (
    ApiKeyCreate,
    ClientCreate,
    ClientParametersInput,
    ClientUpdate,
    FeedbackBody,
    FeedbackListQuery,
    GatewayCreate,
    GatewayParametersInput,
    GatewayUpdate,
    LimitingParametersInput,
    MessagePageQuery,
    SessionCreate,
    SessionListQuery,
)
from chinwag.rules.messages import convert

R = TypeVar("R")


def as_record(value: Any, record: type[R]) -> R:
    """An input-type instance as its stored record type (same fields, no bounds)."""
    return msgspec.convert(msgspec.to_builtins(value), record)


def given(value: Any) -> dict[str, Any]:
    """The fields a partial update gave (UNSET ones are left out), as camelCase builtins."""
    return msgspec.to_builtins(value)


def _merged(current: Any, patch: Any, kind: type[R], field: str) -> R:
    values = {**msgspec.to_builtins(current), **given(patch)}
    return convert(values, kind, field)


def api_key_name(name: Any) -> str:
    return convert({"name": name}, ApiKeyCreate).name.strip()


def gateway_create(name: Any, parameters: Any) -> tuple[str, GatewayParameters]:
    values: dict[str, Any] = {"name": name}
    if parameters is not None:
        values["parameters"] = parameters
    body = convert(values, GatewayCreate)
    return body.name.strip(), as_record(body.parameters, GatewayParameters)


def gateway_update(patch: Any) -> GatewayUpdate:
    """A PUT body (or the same dict from Python), checked field by field."""
    return convert(patch, GatewayUpdate)


def apply_gateway_update(
    body: GatewayUpdate, name: str, parameters: GatewayParameters
) -> tuple[str, GatewayParameters]:
    """`body` applied to a gateway's name and parameters; the merged parameters checked whole."""
    new_name = name if body.name is msgspec.UNSET else body.name.strip()
    if body.parameters is msgspec.UNSET:
        return new_name, parameters
    merged = _merged(parameters, body.parameters, GatewayParametersInput, "parameters")
    return new_name, as_record(merged, GatewayParameters)


def client_create(body: Any) -> tuple[ClientCreate, ClientParameters, LimitingParameters]:
    checked = convert(body, ClientCreate)
    return (
        checked,
        as_record(checked.client_parameters, ClientParameters),
        as_record(checked.limiting_parameters, LimitingParameters),
    )


def client_update(patch: Any) -> ClientUpdate:
    """A PUT body (or the same dict from Python), checked field by field."""
    return convert(patch, ClientUpdate)


def apply_client_update(
    body: ClientUpdate, client_parameters: ClientParameters, limiting: LimitingParameters
) -> tuple[ClientParameters, LimitingParameters]:
    """`body` applied to a client: each parameter object shallow-merged, then checked whole."""
    if body.client_parameters is not msgspec.UNSET:
        merged = _merged(
            client_parameters, body.client_parameters, ClientParametersInput, "clientParameters"
        )
        client_parameters = as_record(merged, ClientParameters)
    if body.limiting_parameters is not msgspec.UNSET:
        merged_limits = _merged(
            limiting, body.limiting_parameters, LimitingParametersInput, "limitingParameters"
        )
        limiting = as_record(merged_limits, LimitingParameters)
    return client_parameters, limiting


def session_create(
    *,
    expires: Any,
    extra_context: Any = None,
    context_location: Any = None,
    tag: Any = None,
    metadata: Any = None,
) -> SessionCreate:
    values = {
        "expires": expires,
        "extraContext": extra_context,
        "contextLocation": context_location,
        "tag": tag,
        "metadata": metadata,
    }
    return convert(values, SessionCreate)


def session_list_query(*, filter: Any, limit: Any, cursor: Any) -> SessionListQuery:
    return convert({"filter": filter, "limit": limit, "cursor": cursor}, SessionListQuery)


def message_page_query(*, limit: Any, before: Any) -> MessagePageQuery:
    return convert({"limit": limit, "before": before}, MessagePageQuery)


def feedback(*, rating: Any, comment: Any) -> FeedbackBody:
    return convert({"rating": rating, "comment": comment}, FeedbackBody)


def feedback_list_query(*, rating: Any, limit: Any, cursor: Any) -> FeedbackListQuery:
    return convert(
        {"rating": "any" if rating is None else rating, "limit": limit, "cursor": cursor},
        FeedbackListQuery,
    )
