"""Durable before acknowledged: every acked message survives ``kill -9`` of the server.

A real server process (``python -m server serve``) is seeded through the CLI and REST,
an attendee sends messages over a websocket, the server is killed with SIGKILL right
after the last ack, restarted on the same data directory, and a resume shows every
acknowledged message with the same seq.
"""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest
import trio

from protocol.frames import Ack, HistoryEnd, Join, MessageFrame, Send
from tests.e2e.procs import cli, server_process
from tests.helpers import PASSWORD, connect

pytestmark = pytest.mark.slow


async def test_acked_messages_survive_kill_9(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    cli(
        data_dir,
        "create-user",
        "--email",
        "boss@example.com",
        "--role",
        "admin",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    token = cli(data_dir, "token", "--email", "boss@example.com").strip()
    assert token.startswith("sbt_")
    total = 200
    with trio.fail_after(120):
        async with server_process(data_dir) as (process, url):
            async with httpx.AsyncClient(
                base_url=url, headers={"Authorization": f"Bearer {token}"}
            ) as http:
                ctx = (
                    await http.post("/api/v1/contexts", json={"kind": "webinar", "title": "Crash"})
                ).json()
                att = (
                    await http.post(f"/api/v1/contexts/{ctx['id']}/attendees", json={"name": "Ann"})
                ).json()
            conv = att["conversation"]
            acked: dict[str, int] = {}
            async with connect(url.replace("http", "ws") + "/ws", att["token"]) as client:
                for n in range(total):
                    await client.send(
                        Send(conversation=conv, client_msg_id=f"c{n}", body=f"msg {n}")
                    )
                while len(acked) < total:
                    frame = await client.recv()
                    if isinstance(frame, Ack):
                        acked[frame.client_msg_id] = frame.seq
                # The instant the last ack arrived: no graceful anything.
                process.send_signal(signal.SIGKILL)
            await process.wait()
            assert process.returncode == -signal.SIGKILL
        assert sorted(acked.values()) == list(range(1, total + 1))

        async with server_process(data_dir) as (_, url):
            async with connect(url.replace("http", "ws") + "/ws", att["token"]) as client:
                await client.send(Join(conversation=conv, after_seq=0))
                end, frames = await client.until(lambda f: isinstance(f, HistoryEnd))
                replayed = {f.client_msg_id: f.seq for f in frames if isinstance(f, MessageFrame)}
                assert replayed == acked
                assert isinstance(end, HistoryEnd)
                assert end.last_seq == total
                # Resending after the crash is still idempotent: same seq, nothing new.
                await client.send(Send(conversation=conv, client_msg_id="c7", body="again"))
                ack, _ = await client.until(lambda f: isinstance(f, Ack))
                assert isinstance(ack, Ack)
                assert ack.seq == acked["c7"]
