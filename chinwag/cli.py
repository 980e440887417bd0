"""The `chinwag` command: run the server and manage keys, gateways, chat clients and sessions.

Settings come from defaults < `--config` TOML file < environment (CHINWAG_*) < flags.
Management subcommands open the data directory themselves; it is locked against a second
process, so they work while the server is stopped (stop it first, or use the HTTP API).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import click
import trio

from chinwag.config import Settings
from chinwag.errors import ChinwagError
from chinwag.settings_loader import env_name, field_types, load_settings

T = TypeVar("T")

SETTING_HELP: dict[str, str] = {
    "data_dir": "LMDB data directory (created if missing).",
    "database_url": "postgresql://user:password@host:port/db: keep all state in PostgreSQL "
    "(cluster mode) instead of LMDB in the data directory.",
    "bind": "host:port to listen on.",
    "workers": "Worker processes sharing the port and the store, supervised by this one "
    "(1: serve in this process).",
    "node_url": "Cluster mode: base URL at which the other nodes reach this one "
    "(default: http://<bind>).",
    "node_lease_seconds": "Cluster mode: a node silent this long is dead and its sessions move.",
    "node_renew_seconds": "Cluster mode: how often a node renews its liveness lease.",
    "public_url": "Base of talkUrl and webhook URLs, e.g. https://chat.example.com "
    "(default: http://<bind>).",
    "api_key": "An extra management API key accepted as given (containers, scripts).",
    "openai_base_url": "OpenAI-compatible server for the demo gateway made on first start "
    "(default: the offline echo assistant).",
    "openai_api_key": "API key of that server (also read from OPENAI_API_KEY).",
    "telegram_api_url": "Telegram Bot API base URL.",
    "zapi_api_url": "Z-API base URL.",
    "fetch_allow_private": "Let contextLocation and fetch_url reach private/loopback addresses.",
    "retention_seconds": "How long expired sessions stay readable before they are purged.",
    "passivate_after_seconds": "Idle seconds after which a session leaves memory "
    "(it is revived on the next message).",
    "max_queued_prompts": "Prompts that may wait behind a running reply in one session before 429.",
    "max_body_bytes": "Largest management request body (413 above it).",
    "max_public_body_bytes": "Largest public or webhook request body (413 above it).",
    "max_prompt_body_bytes": "Largest public prompt body with image parts (413 above it).",
    "body_timeout_seconds": "Seconds a request body may take to arrive (408 after).",
    "max_prompt_chars": "Characters of text one prompt may hold (400 above it).",
    "map_size": "Initial LMDB map size in bytes (it grows automatically).",
    "restart_limit": "Restarts of one session actor allowed within the restart window.",
    "restart_window_seconds": "The window for restart_limit, in seconds.",
}

DATA_DIR_NOTE = (
    "Opens the data directory directly; it is locked by a running server, so stop the server "
    "first (or use the HTTP API)."
)


def _setting_options(names: list[str]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """One click option per setting, named --<field-with-dashes>; help names its env variable."""
    types = field_types()

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for name in reversed(names):
            flag = name.replace("_", "-")
            help_text = SETTING_HELP.get(name, name.replace("_", " ").capitalize() + ".")
            help_text += f" [env: {env_name(name)}]"
            kind = types[name]
            if kind is bool:
                option = click.option(f"--{flag}/--no-{flag}", name, default=None, help=help_text)
            else:
                click_type = _click_type(kind)
                option = click.option(
                    f"--{flag}", name, type=click_type, default=None, help=help_text
                )
            command = option(command)
        return click.option(
            "--config",
            "config_file",
            type=click.Path(dir_okay=False),
            default=None,
            help="TOML file with settings (keys named like the flags). [env: CHINWAG_CONFIG]",
        )(command)

    return decorate


def _click_type(kind: Any) -> Any:
    args = [a for a in getattr(kind, "__args__", ()) if a is not type(None)]
    base = args[0] if args else kind
    return {int: int, float: float}.get(base, str)


def _settings(config_file: str | None, flags: dict[str, Any]) -> Settings:
    try:
        return load_settings(config_file=config_file, overrides=flags)
    except ChinwagError as error:
        raise click.UsageError(error.message) from None


def _run(settings: Settings, action: Callable[[Any], Awaitable[T]]) -> T:
    """Open the runtime on the data directory, run `action(runtime)`, close it."""
    failure: list[ChinwagError] = []

    async def main() -> T | None:
        from chinwag.wiring import open_runtime

        async with open_runtime(settings) as runtime:
            try:
                return await action(runtime)
            except ChinwagError as error:  # caught here, before nurseries wrap it in a group
                failure.append(error)
                return None

    try:
        result = trio.run(main)
    except ChinwagError as error:
        raise click.ClickException(error.message) from None
    except BaseExceptionGroup as group:
        matched, _rest = group.split(ChinwagError)
        if matched is None:
            raise
        raise click.ClickException(_first_leaf(matched).message) from None
    if failure:
        raise click.ClickException(failure[0].message)
    return result  # type: ignore[return-value]


def _first_leaf(group: BaseExceptionGroup) -> Any:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


def _when(unix_time: float | None) -> str:
    if not unix_time:
        return "-"
    return datetime.fromtimestamp(unix_time, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _table(rows: list[list[str]], headers: list[str]) -> None:
    if not rows:
        click.echo("(none)")
        return
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        click.echo(
            "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        )


# ---------------------------------------------------------------- root and serve


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="chinwag")
def main() -> None:
    """chinwag: AI chat sessions (web talk page, Telegram, WhatsApp) over OpenAI-compatible models.

    Start with `chinwag serve`: on an empty data directory it creates an admin API key (printed
    once), a demo gateway and a demo chat, and prints the talk URL.
    """


@main.command()
@_setting_options(list(field_types()))
@click.option("--access-log/--no-access-log", default=False, help="Log every request.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
# Internal: how the parent of `--workers N` starts a worker (settings arrive on stdin).
@click.option("--worker-socket-fd", type=int, default=None, hidden=True)
@click.option("--worker-lock-fd", type=int, default=-1, hidden=True)
def serve(
    config_file: str | None,
    access_log: bool,
    verbose: bool,
    worker_socket_fd: int | None,
    worker_lock_fd: int,
    **flags: Any,
) -> None:
    """Run the HTTP server until SIGINT/SIGTERM (in-flight replies finish, writes are flushed).

    With --workers N (N > 1) this process binds the port and supervises N worker processes
    that share it and the store (see "Run a cluster" in the README).
    Every setting can also be given in the TOML file (--config) or the environment.
    """
    from chinwag.http.server import run_server
    from chinwag.redaction import install_log_redaction

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs request URLs at INFO, and Telegram / Z-API URLs carry bot and instance tokens.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Whatever a library or an upstream error puts in a log line, credentials are masked.
    install_log_redaction()
    if worker_socket_fd is not None:
        from chinwag.workers.child import worker_main

        _serving(partial(worker_main, worker_socket_fd, worker_lock_fd, access_log=access_log))
        return
    settings = _settings(config_file, flags)
    if settings.workers > 1:
        from chinwag.workers.parent import run_group

        server = partial(
            run_group, settings, announce=click.echo, access_log=access_log, verbose=verbose
        )
    else:
        server = partial(run_server, settings, announce=click.echo, access_log=access_log)
    _serving(partial(trio.run, server))


def _serving(run: Callable[[], object]) -> None:
    """Run a server; its ChinwagErrors become one line and exit 1, not a traceback."""
    try:
        run()
    except ChinwagError as error:
        raise click.ClickException(error.message) from None
    except BaseExceptionGroup as group:  # raised inside a nursery: one line, not a traceback
        matched, _rest = group.split(ChinwagError)
        if matched is None:
            raise
        raise click.ClickException(_first_leaf(matched).message) from None
    except KeyboardInterrupt:  # a second Ctrl+C during shutdown
        sys.exit(130)


def _data_command(
    group: click.Group, name: str, help_text: str | None = None
) -> Callable[..., Any]:
    """A management subcommand with --data-dir/--config (and the data-dir note in its help)."""

    def decorate(function: Callable[..., Any]) -> Any:
        doc = (help_text or function.__doc__ or "").strip()
        function.__doc__ = f"{doc}\n\n{DATA_DIR_NOTE}"
        return group.command(name)(_setting_options(["data_dir"])(function))

    return decorate


# ---------------------------------------------------------------- keys


@main.group()
def keys() -> None:
    """Management API keys (only a hash is stored; a key is shown once, at creation)."""


@_data_command(keys, "create")
@click.argument("name")
def keys_create(name: str, config_file: str | None, **flags: Any) -> None:
    """Create an API key named NAME and print it (once)."""
    settings = _settings(config_file, flags)

    async def action(runtime: Any) -> tuple[Any, str]:
        return await runtime.create_api_key(name)

    info, key = _run(settings, action)
    click.echo(f"Created API key {info.id} ({info.name}). Store it now, it is not shown again:")
    click.echo(key)


@_data_command(keys, "list")
def keys_list(config_file: str | None, **flags: Any) -> None:
    """List API keys (ids and names, never the keys)."""
    settings = _settings(config_file, flags)

    async def action(runtime: Any) -> list[Any]:
        return runtime.list_api_keys()

    infos = _run(settings, action)
    _table([[i.id, i.name, _when(i.created_at)] for i in infos], ["ID", "NAME", "CREATED (UTC)"])


@_data_command(keys, "revoke")
@click.argument("key_id")
def keys_revoke(key_id: str, config_file: str | None, **flags: Any) -> None:
    """Revoke the API key with id KEY_ID."""
    settings = _settings(config_file, flags)

    async def action(runtime: Any) -> None:
        await runtime.revoke_api_key(key_id)

    _run(settings, action)
    click.echo(f"Revoked API key {key_id}.")


# ---------------------------------------------------------------- gateways


@main.group()
def gateways() -> None:
    """AI gateways (model configurations)."""


@_data_command(gateways, "list")
def gateways_list(config_file: str | None, **flags: Any) -> None:
    """List AI gateways."""
    settings = _settings(config_file, flags)

    async def action(runtime: Any) -> list[Any]:
        return runtime.list_gateways()

    rows = [
        [g.id, g.name, g.parameters.provider, g.parameters.model or "-"]
        for g in _run(settings, action)
    ]
    _table(rows, ["ID", "NAME", "PROVIDER", "MODEL"])


@_data_command(gateways, "create")
@click.option("--name", required=True, help="Display name.")
@click.option(
    "--provider",
    type=click.Choice(["echo", "openai"]),
    default="echo",
    show_default=True,
    help="echo: offline test assistant; openai: any OpenAI-compatible server.",
)
@click.option(
    "--base-url", default=None, help="Server base URL (openai), e.g. http://localhost:11434/v1."
)
@click.option("--api-key", "gateway_api_key", default=None, help="The model server's API key.")
@click.option("--model", default=None, help="Model name.")
@click.option("--instructions", default=None, help="System prompt.")
def gateways_create(
    name: str,
    provider: str,
    base_url: str | None,
    gateway_api_key: str | None,
    model: str | None,
    instructions: str | None,
    config_file: str | None,
    **flags: Any,
) -> None:
    """Create an AI gateway and print its id."""
    from chinwag.rules import checked

    settings = _settings(config_file, flags)
    parameters = {
        key: value
        for key, value in (
            ("provider", provider),
            ("baseUrl", base_url),
            ("apiKey", gateway_api_key),
            ("model", model),
            ("instructions", instructions),
        )
        if value is not None
    }
    try:
        # The rules the runtime applies, checked before the data directory is opened.
        checked.gateway_create(name, parameters)
    except ChinwagError as error:
        raise click.UsageError(error.message) from None

    async def action(runtime: Any) -> Any:
        return await runtime.create_gateway(name, parameters)

    gateway = _run(settings, action)
    click.echo(gateway.id)


# ---------------------------------------------------------------- chat clients


@main.group()
def clients() -> None:
    """Chat clients."""


@_data_command(clients, "list")
def clients_list(config_file: str | None, **flags: Any) -> None:
    """List chat clients."""
    settings = _settings(config_file, flags)

    async def action(runtime: Any) -> list[Any]:
        return runtime.list_clients()

    rows = [[c.id, c.name, c.ai_gateway_id] for c in _run(settings, action)]
    _table(rows, ["ID", "NAME", "AI GATEWAY"])


# ---------------------------------------------------------------- sessions


@main.group()
def sessions() -> None:
    """Sessions of a chat client."""


@_data_command(sessions, "list")
@click.argument("client_id")
@click.option("--filter", "filter_", default=None, help="A tag or a session id.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 200))
@click.option("--cursor", default=None, help="The cursor printed by the previous page.")
def sessions_list(
    client_id: str,
    filter_: str | None,
    limit: int,
    cursor: str | None,
    config_file: str | None,
    **flags: Any,
) -> None:
    """List the sessions of chat client CLIENT_ID (oldest first; page with --cursor)."""
    settings = _settings(config_file, flags)

    async def action(runtime: Any) -> tuple[list[Any], str | None]:
        return runtime.list_sessions(client_id, filter=filter_, limit=limit, cursor=cursor)

    items, next_cursor = _run(settings, action)
    rows = [
        [s.id, s.channel, s.tag or s.external_id or "-", _when(s.expires_at), str(s.message_count)]
        for s in items
    ]
    _table(rows, ["ID", "CHANNEL", "TAG/EXTERNAL ID", "EXPIRES (UTC)", "MESSAGES"])
    if next_cursor:
        click.echo(f"(more: pass --cursor {next_cursor})")


@_data_command(sessions, "show")
@click.argument("client_id")
@click.argument("session_id")
def sessions_show(client_id: str, session_id: str, config_file: str | None, **flags: Any) -> None:
    """Print session SESSION_ID of chat client CLIENT_ID as JSON (metadata included)."""
    from chinwag.http.views import session_view
    from chinwag.rules import talk_url

    settings = _settings(config_file, flags)

    async def action(runtime: Any) -> dict[str, Any]:
        session = runtime.get_session(client_id, session_id)
        data = session_view(session, datetime.now(tz=UTC).timestamp())
        access_key = runtime.access_key_for(session.id)
        data["accessKey"] = access_key
        data["talkUrl"] = talk_url(settings.effective_public_url(), access_key)
        return data

    click.echo(json.dumps(_run(settings, action), indent=2, ensure_ascii=False))


@_data_command(sessions, "transcript")
@click.argument("client_id")
@click.argument("session_id")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["md", "json"]),
    default="md",
    show_default=True,
)
@click.option(
    "-o",
    "--output",
    type=click.File("w", encoding="utf-8"),
    default="-",
    help="File to write (default: stdout).",
)
def sessions_transcript(
    client_id: str,
    session_id: str,
    output_format: str,
    output: Any,
    config_file: str | None,
    **flags: Any,
) -> None:
    """Export the conversation of session SESSION_ID (Markdown or JSON)."""
    from chinwag.http.views import session_view, transcript_markdown
    from chinwag.records import to_builtins

    settings = _settings(config_file, flags)

    async def action(runtime: Any) -> str:
        session = runtime.get_session(client_id, session_id)
        messages = runtime.messages(session.id)
        if output_format == "md":
            client = runtime.get_client(client_id)
            return transcript_markdown(session, client.name, messages)
        data = {
            "session": session_view(session, datetime.now(tz=UTC).timestamp()),
            "messages": to_builtins(messages),
        }
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    output.write(_run(settings, action))


if __name__ == "__main__":  # pragma: no cover
    main()
