"""``switchboard demo`` for real: a subprocess with the Slack emulator and the SMTP sink, on
loopback and free ports, shows a working Slack thread."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trio

from tests.e2e.procs import ROOT, _env

pytestmark = pytest.mark.slow


async def _lines_until(stream: trio.abc.ReceiveStream, marker: str, seen: list[str]) -> None:
    """Read stdout lines into ``seen`` until one starts with ``marker``."""
    buffer = b""
    while not any(line.startswith(marker) for line in seen):
        chunk = await stream.receive_some(65536)
        assert chunk, f"the demo exited early; it printed {seen}"
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        seen.extend(line.decode() for line in complete)


async def test_demo_shows_a_working_slack_thread(tmp_path: Path) -> None:
    with trio.fail_after(90):
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "server", "demo", "--port", "0", "--data-dir", str(tmp_path)],
            stdout=subprocess.PIPE,
            env=_env(tmp_path),
            cwd=ROOT,
        )
        try:
            assert process.stdout is not None
            lines: list[str] = []
            await _lines_until(process.stdout, "mail: ", lines)
            emulator = next(line for line in lines if line.startswith("Slack emulator: "))
            state_url = emulator.rsplit("everything: ", 1)[1].rstrip(")")
            async with httpx.AsyncClient(timeout=10) as http:
                state = (await http.get(state_url)).json()
                server = lines[0].removeprefix("Switchboard listening on ")
                health = await http.get(server + "/healthz")
            process.send_signal(signal.SIGINT)
            code = await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                with trio.CancelScope(shield=True):
                    await process.wait()
    assert lines[0].startswith("Switchboard listening on http://127.0.0.1:")
    assert health.status_code == 200
    assert any(line.startswith("console: ") and "mia@example.com / " in line for line in lines)
    assert any(line.startswith("Slack thread ready: #switchboard-demo") for line in lines)
    channel = next(c for c in state["channels"] if c["name"] == "switchboard-demo")
    (parent,) = channel["messages"]
    assert parent["text"].startswith("Ann Attendee (ann@example.com) started chatting in") or (
        parent["text"].startswith("Ann Attendee (ann@example.com) joined")
    )
    replies = [r["text"] for r in parent["replies"]]
    assert replies[0] == "*Ann Attendee*: Hi! Will the recording be shared after the session?"
    assert replies[1].startswith("Yes! We will email everyone the recording")
    mail = next(line for line in lines if line.startswith("mail: "))
    assert "to=ann@example.com" in mail
    assert code == 0
