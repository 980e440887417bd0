"""Settings layering, body validation messages, metrics families and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from chinwag.cli import main
from chinwag.errors import InvalidInput
from chinwag.http.metrics import Metrics
from chinwag.http.schemas import (
    PromptBody,
    SessionCreate,
    UnsupportedMediaType,
    decode_body,
    describe_validation_error,
)
from chinwag.settings_loader import load_settings

# ---------------------------------------------------------------- settings


def test_settings_layers_in_order(tmp_path: Path) -> None:
    config = tmp_path / "chinwag.toml"
    config.write_text(
        'data_dir = "/from/toml"\nbind = "127.0.0.1:9000"\nmax-queued-prompts = 3\n'
        'public_url = "https://toml.example"\n'
    )
    env = {
        "CHINWAG_BIND": "0.0.0.0:9100",
        "CHINWAG_FETCH_ALLOW_PRIVATE": "yes",
        "OPENAI_API_KEY": "sk-env",
        "CHINWAG_MAX_BODY_BYTES": "4096",
    }
    settings = load_settings(
        config_file=config, env=env, overrides={"public_url": "https://flag.example", "bind": None}
    )
    assert settings.data_dir == "/from/toml"  # toml over default
    assert settings.bind == "0.0.0.0:9100"  # env over toml; a None flag is "not given"
    assert settings.public_url == "https://flag.example"  # flag over toml
    assert settings.max_queued_prompts == 3
    assert settings.fetch_allow_private is True
    assert settings.openai_api_key == "sk-env"
    assert settings.max_body_bytes == 4096
    assert settings.telegram_api_url == "https://api.telegram.org"  # default


def test_settings_defaults_and_config_env(tmp_path: Path) -> None:
    assert load_settings(env={}).bind == "127.0.0.1:8080"
    config = tmp_path / "c.toml"
    config.write_text('[chinwag]\nbind = "127.0.0.1:7000"\n')
    assert load_settings(env={"CHINWAG_CONFIG": str(config)}).bind == "127.0.0.1:7000"


@pytest.mark.parametrize(
    ("env", "config", "words"),
    [
        ({"CHINWAG_FETCH_ALLOW_PRIVATE": "maybe"}, None, "CHINWAG_FETCH_ALLOW_PRIVATE"),
        ({"CHINWAG_MAX_BODY_BYTES": "lots"}, None, "CHINWAG_MAX_BODY_BYTES"),
        ({"CHINWAG_BIND": "nohost"}, None, "bind"),
        ({}, "colour = 1\n", "colour"),
        ({}, "bind = \n", "TOML"),
        ({}, 'max_body_bytes = "x"\n', "max_body_bytes"),
    ],
)
def test_settings_errors_name_the_source(
    tmp_path: Path, env: dict, config: str | None, words: str
) -> None:
    config_file = None
    if config is not None:
        config_file = tmp_path / "bad.toml"
        config_file.write_text(config)
    with pytest.raises(InvalidInput) as caught:
        load_settings(config_file=config_file, env=env)
    assert words in caught.value.message


# ---------------------------------------------------------------- validation messages


def test_describe_validation_error_names_fields() -> None:
    assert (
        describe_validation_error("Expected `int`, got `str` - at `$.expires`")
        == "Invalid value for `expires`: expected `int`, got `str`."
    )
    assert (
        describe_validation_error("Object contains unknown field `x` - at `$.parameters`")
        == "Unknown field `parameters.x`."
    )
    assert describe_validation_error("Object contains unknown field `x`") == "Unknown field `x`."
    assert (
        describe_validation_error("Object missing required field `name`")
        == "Missing required field `name`."
    )
    assert (
        describe_validation_error("Expected `str`, got `int` - at `$[0].label`", "buttons")
        == "Invalid value for `buttons[0].label`: expected `str`, got `int`."
    )


def test_decode_body_rules() -> None:
    assert decode_body(b"", SessionCreate, None).expires == 3600
    with pytest.raises(UnsupportedMediaType):
        decode_body(b'{"expires": 600}', SessionCreate, "text/plain")
    assert decode_body(b'{"expires": 600}', SessionCreate, "application/json; charset=utf-8")
    assert decode_body(b'{"expires": 600}', SessionCreate, "application/vnd.api+json")
    with pytest.raises(InvalidInput) as caught:
        decode_body(
            b'{"prompt": {"content": [{"type": "image_url"}]}}', PromptBody, "application/json"
        )
    assert "prompt.content[0]" in caught.value.message
    body = decode_body(
        b'{"prompt": [{"content": [{"type": "text", "text": "hi"}]}]}',
        PromptBody,
        "application/json",
    )
    assert body.prompt_builtins() == [
        {"content": [{"type": "text", "text": "hi"}], "role": "user", "name": None}
    ] or body.prompt_builtins() == [{"content": [{"type": "text", "text": "hi"}], "role": "user"}]


# ---------------------------------------------------------------- metrics


def test_runtime_metrics_families() -> None:
    metrics = Metrics()
    metrics.register_runtime_gauges(
        lambda: {
            "live_sessions": 2,
            "stored_sessions": 7,
            "turns_started": 5,
            "custom_total": 9,
            "writer_batch_size": {"buckets": [(1, 3), (8, 5)], "sum": 20, "count": 6},
            "not_a_number": "x",
        }
    )

    def broken() -> dict:
        raise RuntimeError("runtime gone")

    metrics.register_runtime_gauges(broken)  # a failing callback must not break the scrape
    metrics.observe("GET", "/healthz", 200, 0.003)
    text = metrics.render()[0].decode()
    assert "chinwag_live_sessions 2.0" in text
    assert "chinwag_passivated_sessions 5.0" in text
    assert "# TYPE chinwag_turns_started_total counter" in text
    assert "chinwag_custom_total 9.0" in text
    assert 'chinwag_writer_batch_size_bucket{le="8.0"} 5.0' in text
    assert 'chinwag_writer_batch_size_bucket{le="+Inf"} 6.0' in text
    assert "not_a_number" not in text
    assert 'chinwag_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text


# ---------------------------------------------------------------- CLI


def test_cli_manages_keys_gateways_clients_sessions(tmp_path: Path) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "data")]

    created = runner.invoke(main, ["keys", "create", "ops", *data])
    assert created.exit_code == 0, created.output
    key = created.output.strip().splitlines()[-1]
    assert key.startswith("cwk_")
    listed = runner.invoke(main, ["keys", "list", *data])
    assert "ops" in listed.output and key not in listed.output
    key_id = listed.output.splitlines()[1].split()[0]

    gateway = runner.invoke(main, ["gateways", "create", "--name", "cli-gw", *data])
    assert gateway.exit_code == 0, gateway.output
    gateway_id = gateway.output.strip()
    bad = runner.invoke(main, ["gateways", "create", "--name", "x", "--provider", "openai", *data])
    assert bad.exit_code != 0
    assert "baseUrl" in bad.output
    assert "cli-gw" in runner.invoke(main, ["gateways", "list", *data]).output

    async def seed() -> tuple[str, str]:
        from chinwag.config import Settings
        from chinwag.wiring import open_runtime

        async with open_runtime(Settings(data_dir=str(tmp_path / "data"))) as runtime:
            client = await runtime.create_client({"name": "cli-client", "aiGatewayId": gateway_id})
            opened = await runtime.open_session(client.id, tag="cli", metadata={"m": 1})
            await runtime.prompt(opened.session.id, "from the cli test")
            return client.id, opened.session.id

    import trio

    client_id, session_id = trio.run(seed)
    assert "cli-client" in runner.invoke(main, ["clients", "list", *data]).output
    sessions = runner.invoke(main, ["sessions", "list", client_id, *data])
    assert session_id in sessions.output
    shown = runner.invoke(main, ["sessions", "show", client_id, session_id, *data])
    assert json.loads(shown.output)["metadata"] == {"m": 1}
    transcript = runner.invoke(main, ["sessions", "transcript", client_id, session_id, *data])
    assert "You said: from the cli test" in transcript.output
    as_json = runner.invoke(
        main, ["sessions", "transcript", client_id, session_id, "--format", "json", *data]
    )
    assert len(json.loads(as_json.output)["messages"]) == 2
    missing = runner.invoke(main, ["sessions", "show", client_id, "nope", *data])
    assert missing.exit_code != 0 and "not found" in missing.output

    revoked = runner.invoke(main, ["keys", "revoke", key_id, *data])
    assert revoked.exit_code == 0
    assert "ops" not in runner.invoke(main, ["keys", "list", *data]).output


def test_cli_help_explains_settings_and_locking() -> None:
    runner = CliRunner()
    serve_help = runner.invoke(main, ["serve", "--help"]).output
    for flag in (
        "--data-dir",
        "--bind",
        "--public-url",
        "--api-key",
        "--openai-base-url",
        "--telegram-api-url",
        "--zapi-api-url",
        "--fetch-allow-private",
        "--config",
    ):
        assert flag in serve_help
    assert "CHINWAG_PUBLIC_URL" in serve_help
    keys_help = runner.invoke(main, ["keys", "list", "--help"]).output
    assert "locked" in keys_help


def test_cli_reports_a_locked_data_dir(tmp_path: Path) -> None:
    from chinwag.storage.dirlock import lock_directory

    lock = lock_directory(tmp_path / "data")
    try:
        result = CliRunner().invoke(main, ["keys", "list", "--data-dir", str(tmp_path / "data")])
    finally:
        lock.release()
    assert result.exit_code != 0
    assert "already in use" in result.output


def test_cli_rejects_bad_settings(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["serve", "--bind", "nope", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "bind must be host:port" in result.output
