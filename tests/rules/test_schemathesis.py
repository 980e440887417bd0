"""Schemathesis (a third-party property-based tester) over `/openapi.json` of a real server.

A bounded run on loopback: every documented operation, positive and negative examples, with
the checks of issue 13: no 5xx, responses match the documented schema, status codes and media
types, and schema-violating requests are refused. The path parameters of most operations are
bound to real objects (a gateway, a client, a session and its access key) so the run exercises
the routes behind the 404s; DELETE operations get generated ids, so the objects stay.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import trio
from support.server import running_server

from tests.integrations.fakes import running_fakes

CHECKS = (
    "not_a_server_error",
    "response_schema_conformance",
    "status_code_conformance",
    "content_type_conformance",
    "negative_data_rejection",
)
# Bounded for the suite (~30 s); a deeper run: CHINWAG_SCHEMATHESIS_EXAMPLES=300
# CHINWAG_SCHEMATHESIS_PHASES=examples,coverage,fuzzing,stateful
MAX_EXAMPLES = int(os.environ.get("CHINWAG_SCHEMATHESIS_EXAMPLES", "8"))
PHASES = os.environ.get("CHINWAG_SCHEMATHESIS_PHASES", "examples,fuzzing")


def _config(tmp_path: Path, bound: dict[str, str]) -> Path:
    lines = [
        "[[operations]]",
        'include-method-regex = "^(GET|POST|PUT)$"',
        "parameters = { " + ", ".join(f'"path.{k}" = "{v}"' for k, v in bound.items()) + " }",
    ]
    path = tmp_path / "schemathesis.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_schemathesis_finds_nothing(tmp_path: Path) -> None:
    # Integration PUTs reach a fake Bot API / Z-API on loopback, never the internet.
    async with (
        running_fakes() as (telegram, zapi),
        running_server(
            tmp_path / "data", telegram_api_url=telegram.base_url, zapi_api_url=zapi.base_url
        ) as server,
    ):
        await _run_schemathesis(server, tmp_path)


async def _run_schemathesis(server: Any, tmp_path: Path) -> None:
    gateway_id = await server.create_gateway()
    client_id = await server.create_client(gateway_id)
    opened = await server.open_session(client_id)
    bound = {
        "gateway_id": gateway_id,
        "client_id": client_id,
        "session_id": opened["sessionId"],
        "access_key": opened["accessKey"],
    }
    config = _config(tmp_path, bound)
    report = tmp_path / "report.json"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        f"{server.base_url}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--phases",
        PHASES,
        "--mode",
        "all",
        "--workers",
        "1",
        "--seed",
        os.environ.get("CHINWAG_SCHEMATHESIS_SEED", "13"),
        "--no-shrink",
        "--request-timeout",
        "20",
        "--suppress-health-check",
        "all",
        "--warnings",
        "off",
        "-H",
        f"Authorization: Bearer {server.api_key}",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    env = {**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""}
    result = await trio.run_process(
        command, capture_stdout=True, capture_stderr=True, check=False, env=env, cwd=tmp_path
    )
    output = result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")
    print(output[-6000:])
    assert result.returncode == 0, output[-6000:]
    assert report.exists(), output[-3000:]
    summary = json.loads(report.read_text())
    document = (await server.anonymous.get("/openapi.json")).json()
    documented = sum(len(ops) for ops in document["paths"].values())
    operations, cases = summary["operations"], summary["test_cases"]
    print(
        f"schemathesis: {operations['tested']}/{documented} operations, "
        f"{cases['generated']} cases, checks {', '.join(CHECKS)}, "
        f"failures {len(summary['failures'])}, warnings {summary['warnings']}"
    )
    assert summary["complete"] and summary["exit_code"] == 0
    assert summary["failures"] == [] and summary["errors"] == []
    assert operations["tested"] == operations["total"] == documented >= 30
    assert cases["generated"] >= documented * 2
