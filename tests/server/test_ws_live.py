"""Live behaviour over real sockets: the staff inbox feed and the server's heartbeat."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import trio
import trio.testing
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Ping, Request, TextMessage

from protocol.codec import JSON
from protocol.frames import ConversationFrame, Hello, Send
from server.config import Settings
from server.main import Running, serve
from tests.helpers import Seed, connect


async def test_staff_inbox_gets_new_conversations_messages_and_updates(
    seed: Seed, guard: trio.CancelScope
) -> None:
    with guard:
        _user, staff_token = await seed.staff_token()
        ctx = await seed.context()
        async with connect(seed.ws_url, staff_token, inbox=True) as inbox:
            att = await seed.attendee(ctx["id"], name="Nora")
            conv = att["conversation"]
            created, _ = await inbox.until(lambda f: isinstance(f, ConversationFrame))
            assert isinstance(created, ConversationFrame)
            assert (created.conversation, created.event) == (conv, "created")
            assert created.state["contact"]["name"] == "Nora"
            async with connect(seed.ws_url, att["token"]) as nora:
                await nora.send(Send(conversation=conv, client_msg_id="n1", body="Is it recorded?"))
                message, _ = await inbox.until(lambda f: isinstance(f, ConversationFrame))
                assert isinstance(message, ConversationFrame)
                assert message.event == "message"
                assert message.state["preview"] == "Is it recorded?"
                assert message.state["last_seq"] == 1
            async with seed.http(staff_token) as http:
                answer = await http.patch(
                    f"/api/v1/conversations/{conv}", json={"status": "resolved"}
                )
                assert answer.status_code == 200, answer.text
            updated, _ = await inbox.until(lambda f: isinstance(f, ConversationFrame))
            assert isinstance(updated, ConversationFrame)
            assert updated.event == "updated"
            assert updated.state["status"] == "resolved"
        # A session that did not ask for the inbox gets none of it.
        async with connect(seed.ws_url, staff_token) as plain:
            await seed.attendee(ctx["id"], name="Otto")
            await plain.send(Send(conversation=conv, client_msg_id="s1", body="hi", kind="note"))
            frame = await plain.recv()
            assert not isinstance(frame, ConversationFrame), frame


@pytest.fixture
def heartbeat_clock() -> trio.testing.MockClock:
    """Virtual time that jumps only after 0.2 s of real idleness (socket waits are real)."""
    return trio.testing.MockClock(autojump_threshold=0.2)


async def test_server_pings_every_heartbeat_interval(
    heartbeat_clock: trio.testing.MockClock, nursery: trio.Nursery, tmp_path: Path
) -> None:
    settings = Settings.from_mapping(
        {"port": 0, "data_dir": tmp_path / "d", "ws_ping_interval": 25}
    )
    running: Running = await nursery.start(serve, settings)
    seed = Seed(running)
    att = await seed.attendee((await seed.context())["id"])
    times = await _ping_times(running, att["token"], count=4)
    # One ping at accept, then one every 25 s of (virtual) silence.
    assert [later - earlier for earlier, later in itertools.pairwise(times)] == [25.0, 25.0, 25.0]


async def _ping_times(running: Running, token: str, count: int) -> list[float]:
    """Connect, say hello, then stay silent and note when the server pings."""
    port = int(running.url.rsplit(":", 1)[1])
    times: list[float] = []
    async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
        ws = WSConnection(ConnectionType.CLIENT)
        request = Request(
            host=f"127.0.0.1:{port}", target="/ws", subprotocols=["switchboard.v1.json"]
        )
        await stream.send_all(ws.send(request))
        while len(times) < count:
            data = await stream.receive_some(65536)
            assert data, "the server closed the connection"
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, AcceptConnection):
                    hello = JSON.encode(Hello(token=token))
                    assert isinstance(hello, str)
                    await stream.send_all(ws.send(TextMessage(data=hello)))
                elif isinstance(event, Ping):
                    times.append(trio.current_time())
                    await stream.send_all(ws.send(event.response()))
    return times
