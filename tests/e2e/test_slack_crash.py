"""The server killed with SIGKILL in the middle of a Slack call, then restarted on the same
data directory: every message reaches the thread once, in order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import trio

from protocol.frames import Send
from tests.e2e.procs import ROOT, _env, cli
from tests.e2e.slack_env import SECRET, TOKEN, Env
from tests.helpers import PASSWORD, connect

pytestmark = pytest.mark.slow


@asynccontextmanager
async def slack_server(env: Env) -> AsyncIterator[tuple[trio.Process, str]]:
    """``python -m server serve`` pointed at the in-process emulator and sink."""
    variables = _env(env.data_dir)
    variables.update(
        {
            "SWITCHBOARD_SLACK_API_URL": env.slack_url,
            "SWITCHBOARD_SLACK_BOT_TOKEN": TOKEN,
            "SWITCHBOARD_SLACK_SIGNING_SECRET": SECRET,
            "SWITCHBOARD_SLACK_CHANNEL": env.channel,
            "SWITCHBOARD_SLACK_POST_INTERVAL": "0.01",
            "SWITCHBOARD_SQLITE_SYNCHRONOUS": "FULL",
        }
    )
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "server", "serve"],
        stdout=subprocess.PIPE,
        env=variables,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        buffer = b""
        while b"\n" not in buffer:
            chunk = await process.stdout.receive_some(4096)
            assert chunk, "the server exited before printing its URL"
            buffer += chunk
        url = buffer.split(b"\n", 1)[0].decode().rsplit(" ", 1)[1]
        env.slack.configure(request_url=url + "/slack/events", signing_secret=SECRET)
        yield process, url
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()


async def test_sigkill_mid_call_posts_nothing_twice_and_loses_nothing(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    env = Env(nursery, tmp_path)
    with trio.fail_after(120):
        await env.start_tools()
        cli(env.data_dir, "create-user", "--email", "boss@example.com", "--role", "admin",
            "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
        token = cli(env.data_dir, "token", "--email", "boss@example.com").strip()
        bodies = [f"line {n}" for n in range(6)]
        async with slack_server(env) as (process, url):
            async with httpx.AsyncClient(
                base_url=url, headers={"Authorization": f"Bearer {token}"}
            ) as http:
                ctx = (
                    await http.post(
                        "/api/v1/contexts", json={"kind": "webinar", "title": "Crash course"}
                    )
                ).json()
                att = (
                    await http.post(
                        f"/api/v1/contexts/{ctx['id']}/attendees",
                        json={"name": "Ann", "email": "ann@example.com"},
                    )
                ).json()
            parent = await env.parent_of("Ann")
            hung = env.watch_hangs()
            env.slack.add_fault("hang", seconds=60, method="chat.postMessage")
            async with connect(url.replace("http", "ws") + "/ws", att["token"]) as ann:
                for n, body in enumerate(bodies):
                    await ann.send(
                        Send(conversation=att["conversation"], client_msg_id=f"m{n}", body=body)
                    )
            await hung.wait()  # the server is inside chat.postMessage for "line 0"
            os.kill(process.pid, signal.SIGKILL)
            await process.wait()
            assert process.returncode == -signal.SIGKILL
        env.slack.release_hangs()  # whatever the dead server's call does now, it does
        async with slack_server(env):
            texts = await env.thread_texts(parent.ts, len(bodies))
    assert texts == [f"*Ann*: {b}" for b in bodies]
    ok_posts = [c for c in env.slack.calls_to("chat.postMessage") if c.ok]
    assert len(ok_posts) == 1 + len(bodies)
