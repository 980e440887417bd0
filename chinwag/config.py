"""Settings: one struct, filled from defaults, an optional TOML file, environment and CLI flags."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from chinwag.rules.bounds import DEFAULT_MAX_PROMPT_CHARS


class Settings(Struct, kw_only=True):
    """Every knob of a chinwag process. Environment names are `CHINWAG_<FIELD>` (see README)."""

    data_dir: str = "./chinwag-data"
    # postgresql://user:password@host:port/db: all state in PostgreSQL, shared by every node
    # (cluster mode). None: LMDB in data_dir.
    database_url: str | None = None
    # Cluster mode: the URL at which the other nodes reach this one (default http://<bind>),
    # how long a node's liveness lease lasts, and how often the node renews it.
    node_url: str | None = None
    node_lease_seconds: float = 10.0
    node_renew_seconds: float = 5.0
    bind: str = "127.0.0.1:8080"
    # `chinwag serve`: worker processes sharing the bound port and the store (1: one process).
    workers: int = 1
    public_url: str | None = None
    api_key: str | None = None
    openai_base_url: str | None = None
    openai_api_key: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    zapi_api_url: str = "https://api.z-api.io"
    fetch_allow_private: bool = False
    # Expired sessions stay readable this long, then are purged with their messages.
    retention_seconds: float = 7 * 24 * 3600
    # A session actor idle this long stops and frees its memory; the next message revives it.
    passivate_after_seconds: float = 300.0
    # Prompts that may wait behind a running reply in one session before 429.
    max_queued_prompts: int = 8
    # Characters of text one prompt may hold (400 above it); images are bounded per part.
    max_prompt_chars: Annotated[int, Meta(ge=1)] = DEFAULT_MAX_PROMPT_CHARS
    # Request body caps (413 above them, checked while the body arrives, never buffered past):
    # management routes; public routes and webhooks; a public prompt with image parts.
    max_body_bytes: int = 8 * 1024 * 1024
    # Bytes one session's stored history may take; a prompt that would pass it is refused (403)
    # until the conversation is cleared.
    max_history_bytes: int = 16 * 1024 * 1024
    # Context window assumed for a model whose gateway sets no contextWindowTokens: the history a
    # turn sends (newest first) stops there, so a turn costs the same at any history length.
    default_context_window_tokens: int = 32_000
    max_public_body_bytes: int = 1024 * 1024
    max_prompt_body_bytes: int = 10 * 1024 * 1024
    # A request body that has not fully arrived this long after it is first read gets 408.
    body_timeout_seconds: float = 15.0
    # Bytes one session's stored history may take; a prompt that would pass it is refused (403)
    # until the conversation is cleared.
    max_history_bytes: int = 16 * 1024 * 1024
    # Context window assumed for a model whose gateway sets no contextWindowTokens: the history a
    # turn sends (newest first) stops there, so a turn costs the same at any history length.
    default_context_window_tokens: int = 32_000
    # LMDB: initial map size; it grows automatically when full.
    map_size: int = 1 << 30
    # Supervisor: at most `restart_limit` restarts of one session actor within `restart_window`.
    restart_limit: int = 3
    restart_window_seconds: float = 60.0

    def effective_public_url(self) -> str:
        """Base of talkUrl and webhook URLs: the configured one, else http://<bind>."""
        return (self.public_url or f"http://{self.bind}").rstrip("/")
