"""`python -m chinwag.cli serve` as a real process: what a first start prints, and its files."""

from __future__ import annotations

import os
import queue
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from support.server import reserve_port

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIGURED_KEY = "operator-provisioned-key-0123456789"


def start_serve(data_dir: Path, env_extra: dict[str, str]) -> tuple[subprocess.Popen, str, list]:
    port, fd = reserve_port()
    os.close(fd)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHINWAG_")}
    env.pop("OPENAI_API_KEY", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.update(env_extra)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chinwag.cli",
            "serve",
            "--data-dir",
            str(data_dir),
            "--bind",
            f"127.0.0.1:{port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in process.stdout:  # type: ignore[union-attr]
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    while True:
        line = lines.get(timeout=60)
        if line is None:
            raise AssertionError("serve exited early:\n" + "".join(seen))
        seen.append(line)
        if "is listening on" in line:
            return process, f"http://127.0.0.1:{port}", seen


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


@pytest.mark.parametrize("configured", [True, False], ids=["CHINWAG_API_KEY", "no-key-set"])
def test_first_start_prints_a_key_only_without_chinwag_api_key(
    tmp_path: Path, configured: bool
) -> None:
    data_dir = tmp_path / "data"
    env = {"CHINWAG_API_KEY": CONFIGURED_KEY} if configured else {}
    process, base_url, output = start_serve(data_dir, env)
    try:
        text = "".join(output)
        printed_keys = [line.strip() for line in output if line.strip().startswith("cwk_")]
        if configured:
            assert printed_keys == [] and "shown ONCE" not in text, text
            assert "CHINWAG_API_KEY" in text
            key = CONFIGURED_KEY
        else:
            assert len(printed_keys) == 1, text
            key = printed_keys[0]
        # The demo is made either way, and the key that works is the one the operator has.
        clients = httpx.get(
            f"{base_url}/api/v1/web-chat-client",
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert clients.status_code == 200 and len(clients.json()["data"]) == 1
        # The running server's data directory is owner-only.
        assert stat.S_IMODE(os.stat(data_dir).st_mode) == 0o700
        for file in data_dir.iterdir():
            assert stat.S_IMODE(os.stat(file).st_mode) == 0o600, file.name
    finally:
        stop(process)
    if configured:
        # No stored key was created behind the operator's back either.
        listed = subprocess.run(
            [sys.executable, "-m", "chinwag.cli", "keys", "list", "--data-dir", str(data_dir)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
        assert listed.returncode == 0, listed.stderr
        assert "admin (first start)" not in listed.stdout


@pytest.mark.parametrize("inside", [False, True], ids=["a-file", "under-a-file"])
def test_data_dir_that_is_a_file_is_one_clear_line(tmp_path: Path, inside: bool) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    data_dir = blocker / "data" if inside else blocker
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHINWAG_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["CHINWAG_DATA_DIR"] = str(data_dir)
    port, fd = reserve_port()
    os.close(fd)
    done = subprocess.run(
        [sys.executable, "-m", "chinwag.cli", "serve", "--bind", f"127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("Error:")]
    assert str(data_dir) in line and "CHINWAG_DATA_DIR" in line
    assert blocker.read_text() == "x"


def test_access_log_masks_access_keys(tmp_path: Path) -> None:
    port, fd = reserve_port()
    os.close(fd)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHINWAG_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["CHINWAG_API_KEY"] = CONFIGURED_KEY
    log_path = tmp_path / "out.log"
    command = [sys.executable, "-m", "chinwag.cli", "serve", "--access-log"]
    command += ["--data-dir", str(tmp_path / "data"), "--bind", f"127.0.0.1:{port}"]
    with log_path.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        base_url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            if "is listening on" in log_path.read_text():
                break
            assert process.poll() is None, log_path.read_text()
            threading.Event().wait(0.1)
        auth = {"Authorization": f"Bearer {CONFIGURED_KEY}"}
        client_id = httpx.get(f"{base_url}/api/v1/web-chat-client", headers=auth).json()["data"][0]
        opened = httpx.post(
            f"{base_url}/api/v1/web-chat-client/{client_id['id']}/sessions", headers=auth, json={}
        ).json()["data"]
        key = opened["accessKey"]
        info = httpx.get(f"{base_url}/api/v1/public/chat-clients/{key}/session")
        assert info.status_code == 200
        for _ in range(100):
            if "/session" in log_path.read_text().split("is listening on", 1)[1]:
                break
            threading.Event().wait(0.1)
    finally:
        stop(process)
    text = log_path.read_text()
    assert f"/api/v1/public/chat-clients/{key[:12]}***/session" in text, text
    assert key not in text and key[12:] not in text
