"""Running the real server and CLI as subprocesses, for the end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parents[2]


def _env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "SWITCHBOARD_DATA_DIR": str(data_dir),
            "SWITCHBOARD_PORT": "0",
            "SWITCHBOARD_HOST": "127.0.0.1",
            "SWITCHBOARD_LOG_LEVEL": "WARNING",
            "SWITCHBOARD_RATE_PER_SECOND": "10000",
            "SWITCHBOARD_RATE_BURST": "10000",
        }
    )
    return env


def cli(data_dir: Path, *args: str, stdin: str | None = None) -> str:
    """Run the switchboard CLI (python -m server) and return its stdout."""
    result = subprocess.run(
        [sys.executable, "-m", "server", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=_env(data_dir),
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@asynccontextmanager
async def server_process(data_dir: Path) -> AsyncIterator[tuple[trio.Process, str]]:
    """Start ``python -m server serve`` and yield (process, base URL)."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "server", "serve"],
        stdout=subprocess.PIPE,
        env=_env(data_dir),
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        buffer = b""
        while b"\n" not in buffer:
            chunk = await process.stdout.receive_some(4096)
            assert chunk, "the server exited before printing its URL"
            buffer += chunk
        line = buffer.split(b"\n", 1)[0].decode()
        assert line.startswith("Switchboard listening on http://127.0.0.1:"), line
        yield process, line.rsplit(" ", 1)[1]
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()
