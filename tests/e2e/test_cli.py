"""The README's commands, run for real: the switchboard CLI and scripts/run."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trio

from actors import schema
from tests.e2e.procs import ROOT, _env, cli
from tests.helpers import PASSWORD

pytestmark = pytest.mark.slow


def run_cli(
    data_dir: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=_env(data_dir),
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_migrate_creates_the_schema_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    newest = len(schema.MIGRATIONS)
    first = cli(data, "migrate")
    assert f"schema version 0 -> {newest} ({newest} migration(s) applied)" in first
    assert f"schema version {newest} -> {newest} (0 migration(s) applied)" in cli(data, "migrate")
    with sqlite3.connect(data / "switchboard.db") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"users", "conversations", "messages", "events", "cursors"} <= tables


def test_bootstrap_creates_one_admin_and_prints_the_login(tmp_path: Path) -> None:
    data = tmp_path / "data"
    out = cli(data, "bootstrap")
    line = next(line for line in out.splitlines() if line.startswith("login: "))
    email, password = line.removeprefix("login: ").split()[0], line.split()[3]
    assert email == "admin@example.com"
    assert len(password) >= 12
    secret = data / "initial-admin.txt"
    assert secret.stat().st_mode & 0o777 == 0o600
    # Running again does not create a second admin and prints the same login.
    assert line in cli(data, "bootstrap")
    with sqlite3.connect(data / "switchboard.db") as conn:
        assert conn.execute("SELECT COUNT(*), MIN(role) FROM users").fetchone() == (1, "admin")


def test_create_user_and_token_refuse_bad_input_and_write_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    short = run_cli(
        data, "create-user", "--email", "a@example.com", "--password-stdin", stdin="short\n"
    )
    assert short.returncode == 2
    assert "at least 8 characters" in short.stderr
    ok = run_cli(
        data, "create-user", "--email", "a@example.com", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert ok.returncode == 0
    assert "created agent a@example.com" in ok.stdout
    again = run_cli(
        data, "create-user", "--email", "A@example.com", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert again.returncode == 2
    assert "exists already" in again.stderr
    missing = run_cli(data, "token", "--email", "nobody@example.com")
    assert missing.returncode == 2
    assert "no user with email" in missing.stderr
    with sqlite3.connect(data / "switchboard.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM users").fetchone() == (1,)
        assert conn.execute("SELECT COUNT(*) FROM api_tokens").fetchone() == (0,)


def test_bad_setting_is_a_clear_error(tmp_path: Path) -> None:
    env = _env(tmp_path / "data") | {"SWITCHBOARD_PORT": "eighty"}
    result = subprocess.run(
        [sys.executable, "-m", "server", "migrate"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "setting port" in result.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="scripts/run is a bash script")
async def test_scripts_run_installs_starts_and_prints_url_and_login(tmp_path: Path) -> None:
    """scripts/run as a newcomer runs it (reusing this checkout's .venv, port 0)."""
    env = dict(os.environ) | {
        "SWITCHBOARD_DATA_DIR": str(tmp_path / "data"),
        "SWITCHBOARD_PORT": "0",
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
        "PYTHON": sys.executable,
    }
    with trio.fail_after(240):
        process = await trio.lowlevel.open_process(
            ["bash", str(ROOT / "scripts" / "run")],
            stdout=subprocess.PIPE,
            env=env,
            cwd=ROOT,
        )
        try:
            assert process.stdout is not None
            output = b""
            while b"Switchboard listening on" not in output or not output.endswith(b"\n"):
                chunk = await process.stdout.receive_some(4096)
                assert chunk, f"scripts/run exited early: {output.decode()}"
                output += chunk
            text = output.decode()
            login = next(line for line in text.splitlines() if line.startswith("login: "))
            email, password = login.split()[1], login.split()[3]
            url = text.split("Switchboard listening on ")[1].split()[0]
            async with httpx.AsyncClient(base_url=url) as http:
                assert (await http.get("/healthz")).json()["ok"] is True
                answer = await http.post(
                    "/api/v1/auth/login", json={"email": email, "password": password}
                )
                assert answer.status_code == 200, answer.text
                assert answer.json()["user"]["role"] == "admin"
        finally:
            process.terminate()
            with trio.CancelScope(shield=True):
                await process.wait()
