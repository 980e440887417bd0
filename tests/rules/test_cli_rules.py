"""The CLI refuses what HTTP refuses, with the same sentence, before opening the data directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from chinwag.cli import main
from chinwag.errors import InvalidInput
from chinwag.http.schemas import GatewayCreate, decode_body


def _http_message(body: dict) -> str:
    with pytest.raises(InvalidInput) as caught:
        decode_body(json.dumps(body).encode(), GatewayCreate, "application/json")
    return caught.value.message


@pytest.mark.parametrize(
    ("flags", "parameters"),
    [
        (["--provider", "openai"], {"provider": "openai"}),
        (
            ["--provider", "openai", "--base-url", "ftp://m.example", "--model", "m"],
            {"provider": "openai", "baseUrl": "ftp://m.example", "model": "m"},
        ),
        (["--instructions", "i" * 70_000], {"instructions": "i" * 70_000}),
    ],
)
def test_cli_gateway_rules_match_http(tmp_path: Path, flags: list[str], parameters: dict) -> None:
    data_dir = tmp_path / "data"
    result = CliRunner().invoke(
        main, ["gateways", "create", "--name", "g", *flags, "--data-dir", str(data_dir)]
    )
    assert result.exit_code == 2, result.output
    assert _http_message({"name": "g", "parameters": parameters}) in result.output
    assert not data_dir.exists()  # refused before the data directory was opened


def test_cli_key_name_rule(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["keys", "create", "   ", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert (
        "name must be text with at least one visible character and no control characters."
        in result.output
    )
