"""Settings from four layers: defaults < TOML file < environment (CHINWAG_*) < CLI flags.

Every field of `chinwag.config.Settings` is reachable from each layer under a derived name:
TOML key `data_dir` (or `data-dir`), environment `CHINWAG_DATA_DIR`, flag `--data-dir`.
`OPENAI_API_KEY` is also read, as the conventional name of the OpenAI key. Values from text
sources (environment) are converted to the field's type; a bad value is an `InvalidInput`
naming its source, so a typo stops the server at start instead of being ignored.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from chinwag.config import Settings
from chinwag.errors import InvalidInput

ENV_PREFIX = "CHINWAG_"
CONFIG_ENV = "CHINWAG_CONFIG"
# Conventional names read in addition to CHINWAG_<FIELD> (which wins when both are set).
ALIAS_ENV = {"OPENAI_API_KEY": "openai_api_key"}

# Worker processes of one `chinwag serve` (each is a cluster node with its own memory).
MAX_WORKERS = 64

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def field_names() -> list[str]:
    return [f.name for f in msgspec.structs.fields(Settings)]


def field_types() -> dict[str, Any]:
    return {f.name: f.type for f in msgspec.structs.fields(Settings)}


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def read_toml(path: str | Path) -> dict[str, Any]:
    """Settings from a TOML file: top-level keys (or a [chinwag] table) named like the fields."""
    file = Path(path)
    try:
        with file.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise InvalidInput(f"Config file {file} does not exist.") from None
    except tomllib.TOMLDecodeError as error:
        raise InvalidInput(f"Config file {file} is not valid TOML: {error}.") from None
    table = document.get("chinwag", document)
    if not isinstance(table, dict):
        raise InvalidInput(f"Config file {file}: [chinwag] must be a table.")
    known = set(field_names())
    values: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in known:
            raise InvalidInput(
                f"Config file {file}: unknown setting `{key}` (known: {', '.join(sorted(known))})."
            )
        values[name] = value
    return values


def read_env(env: Mapping[str, str]) -> dict[str, Any]:
    """Settings given in the environment (as text; converted later)."""
    values: dict[str, Any] = {}
    for alias, name in ALIAS_ENV.items():
        if alias in env:
            values[name] = env[alias]
    for name in field_names():
        key = env_name(name)
        if key in env:
            values[name] = env[key]
    return values


def _from_text(name: str, text: str, source: str) -> Any:
    kind = field_types()[name]
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise InvalidInput(f"{source} must be true or false, not {text!r}.")
    if text == "" and _is_optional(kind):
        return None
    try:
        return msgspec.convert(text, kind, strict=False)
    except msgspec.ValidationError as error:
        raise InvalidInput(f"{source} has an invalid value {text!r}: {error}.") from None


def _is_optional(kind: Any) -> bool:
    return type(None) in getattr(kind, "__args__", ())


def _check(settings: Settings) -> Settings:
    host, sep, port = settings.bind.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InvalidInput(
            f"bind must be host:port (for example 127.0.0.1:8080), not {settings.bind!r}."
        )
    for name in ("max_body_bytes", "max_public_body_bytes", "max_prompt_body_bytes"):
        if getattr(settings, name) < 1024:
            raise InvalidInput(f"{name} must be at least 1024.")
    if not 1 <= settings.workers <= MAX_WORKERS:
        raise InvalidInput(f"workers must be between 1 and {MAX_WORKERS}.")
    if not 0 < settings.body_timeout_seconds <= 3600:
        raise InvalidInput("body_timeout_seconds must be above 0 and at most 3600.")
    if settings.public_url is not None and not settings.public_url.startswith(
        ("http://", "https://")
    ):
        raise InvalidInput("public_url must start with http:// or https://.")
    return settings


def load_settings(
    *,
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge the layers; `overrides` (CLI flags) whose value is None are treated as not given."""
    env = os.environ if env is None else env
    config_file = config_file or env.get(CONFIG_ENV) or None
    merged: dict[str, Any] = {}
    if config_file:
        merged.update(read_toml(config_file))
    for name, text in read_env(env).items():
        merged[name] = _from_text(name, text, env_name(name))
    for name, value in (overrides or {}).items():
        if value is None:
            continue
        if name not in field_types():
            raise InvalidInput(f"Unknown setting `{name}`.")
        merged[name] = value
    try:
        settings = msgspec.convert(merged, Settings)
    except msgspec.ValidationError as error:
        raise InvalidInput(f"Invalid settings: {error}.") from None
    return _check(settings)
