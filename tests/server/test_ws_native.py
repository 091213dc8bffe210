"""The listener (server/listener.py) and the native websocket path (server/ws_native.py):
HTTP still reaches hypercorn on the same port after the sniff, bad heads are closed, and
``/ws`` speaks the websocket protocol correctly on a connection we own.

The websocket tests here use raw sockets and wsproto as the client, so they can send what
trio-websocket never would (fragments, a ping, half a frame); the session's behaviour is
covered by test_ws_*.py, which run on the native path by default.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import h11
import pytest
import trio
import trio.testing
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.extensions import PerMessageDeflate

from protocol.codec import JSON, MSGPACK
from protocol.frames import Hello, Welcome
from server.config import Settings
from server.listener import HEAD_LIMIT, HEAD_TIMEOUT
from server.main import Running, serve
from tests.helpers import Seed, open_ws, read_until_closed


def _port(running: Running) -> int:
    return int(running.url.rsplit(":", 1)[1])


async def _response(stream: trio.SocketStream, conn: h11.Connection) -> tuple[int, bytes]:
    """Read one HTTP response: (status, body)."""
    status = 0
    body = b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(65536))
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += bytes(event.data)
        elif isinstance(event, h11.EndOfMessage):
            return status, body


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


async def _closed_by_server(stream: trio.SocketStream) -> bool:
    """True when the server closed the connection (EOF or reset) without answering."""
    try:
        return await stream.receive_some(65536) == b""
    except trio.BrokenResourceError:
        return True


# -- HTTP after the sniff ----------------------------------------------------------------------


async def test_http_keep_alive_serves_two_requests_on_one_connection(
    server: Running, guard: trio.CancelScope
) -> None:
    with guard:
        async with await trio.open_tcp_stream("127.0.0.1", _port(server)) as stream:
            for _ in range(2):
                await stream.send_all(_get("/healthz"))
                # A parser per response: the requests are written by hand.
                status, body = await _response(stream, h11.Connection(h11.CLIENT))
                assert status == 200
                assert json.loads(body)["ok"] is True


async def test_a_head_in_small_writes_is_reassembled(
    server: Running, guard: trio.CancelScope
) -> None:
    request = _get("/healthz")
    with guard:
        async with await trio.open_tcp_stream("127.0.0.1", _port(server)) as stream:
            for start in range(0, len(request), 7):
                await stream.send_all(request[start : start + 7])
                # Separate reads: the server (same trio run) reads this piece and waits
                # for more before the next one is sent.
                await trio.testing.wait_all_tasks_blocked()
            status, body = await _response(stream, h11.Connection(h11.CLIENT))
            assert status == 200
            assert json.loads(body)["ok"] is True


async def test_a_post_body_reaches_the_app(server: Running, guard: trio.CancelScope) -> None:
    body = json.dumps({"email": "nobody@example.org", "password": "x"}).encode()
    request = (
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    with guard:
        async with await trio.open_tcp_stream("127.0.0.1", _port(server)) as stream:
            await stream.send_all(request)  # head and body in one write: the body is replayed
            status, answer = await _response(stream, h11.Connection(h11.CLIENT))
    # 401 (not 400): the body was read and parsed, the login refused.
    assert status == 401
    assert json.loads(answer)["error"]["code"] == "bad_login"


@pytest.fixture
def slow_clock() -> trio.testing.MockClock:
    """Virtual time that jumps only after 0.2 s of real idleness (socket waits are real)."""
    return trio.testing.MockClock(autojump_threshold=0.2)


async def test_a_connection_without_a_complete_head_is_closed_after_the_timeout(
    slow_clock: trio.testing.MockClock, server: Running, guard: trio.CancelScope
) -> None:
    with guard:
        async with await trio.open_tcp_stream("127.0.0.1", _port(server)) as stream:
            start = trio.current_time()
            await stream.send_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            assert await _closed_by_server(stream)
            assert trio.current_time() - start == pytest.approx(HEAD_TIMEOUT)


async def test_an_oversized_head_is_closed(server: Running, guard: trio.CancelScope) -> None:
    filler = b"".join(b"X-Filler-%d: %s\r\n" % (n, b"y" * 100) for n in range(200))
    assert len(filler) > HEAD_LIMIT
    with guard:
        async with await trio.open_tcp_stream("127.0.0.1", _port(server)) as stream:
            await stream.send_all(b"GET /healthz HTTP/1.1\r\n" + filler + b"\r\n")
            assert await _closed_by_server(stream)
        # The listener keeps serving.
        async with await trio.open_tcp_stream("127.0.0.1", _port(server)) as stream:
            await stream.send_all(_get("/healthz"))
            status, _ = await _response(stream, h11.Connection(h11.CLIENT))
            assert status == 200


async def test_get_ws_without_upgrade_is_answered_by_hypercorn_as_http(
    server: Running, guard: trio.CancelScope
) -> None:
    with guard:
        async with await trio.open_tcp_stream("127.0.0.1", _port(server)) as stream:
            await stream.send_all(_get("/ws?x=1"))
            status, body = await _response(stream, h11.Connection(h11.CLIENT))
    # Plain HTTP to /ws is Quart's: no such route.
    assert status == 404
    assert json.loads(body)["error"]["code"] == "not_found"


# -- the native websocket --------------------------------------------------------------------


class RawClient:
    """A websocket client on a bare TCP stream (wsproto), for frames by hand."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.subprotocol: str | None = None

    @classmethod
    async def open(cls, running: Running, subprotocol: str = "switchboard.v1.json") -> RawClient:
        client = cls(await trio.open_tcp_stream("127.0.0.1", _port(running)))
        request = Request(
            host="127.0.0.1",
            target="/ws",
            subprotocols=[subprotocol],
            extensions=[PerMessageDeflate()],
        )
        await client.stream.send_all(client.ws.send(request))
        event = await client.next_event()
        assert isinstance(event, AcceptConnection), event
        assert event.extensions == []  # the native path negotiates no compression
        client.subprotocol = event.subprotocol
        return client

    async def next_event(self) -> Event:
        """The next event, after answering the server's heartbeat pings."""
        while True:
            for event in self.ws.events():
                if isinstance(event, Ping):
                    await self.send(event.response())
                    continue
                return event
            data = await self.stream.receive_some(65536)
            self.ws.receive_data(data or None)

    async def send(self, event: Event) -> None:
        await self.stream.send_all(self.ws.send(event))

    async def hello(self, token: str) -> None:
        await self.send(TextMessage(data=str(JSON.encode(Hello(token=token)))))
        event = await self.next_event()
        assert isinstance(event, TextMessage)
        assert isinstance(JSON.decode_server(event.data), Welcome)


@pytest.mark.parametrize(
    ("subprotocol", "codec"), [("switchboard.v1.json", JSON), ("switchboard.v1.msgpack", MSGPACK)]
)
async def test_the_offered_subprotocol_is_chosen_and_spoken(
    seed: Seed, guard: trio.CancelScope, subprotocol: str, codec: object
) -> None:
    with guard:
        att = await seed.attendee((await seed.context())["id"])
        async with open_ws(seed.ws_url, subprotocols=["chat", subprotocol]) as ws:
            assert ws.subprotocol == subprotocol
            await ws.send_message(codec.encode(Hello(token=att["token"])))  # type: ignore[attr-defined]
            welcome = codec.decode_server(await ws.get_message())  # type: ignore[attr-defined]
            assert isinstance(welcome, Welcome)


async def test_no_known_subprotocol_is_refused_with_403(
    seed: Seed, guard: trio.CancelScope
) -> None:
    with guard:
        async with await trio.open_tcp_stream("127.0.0.1", _port(seed.running)) as stream:
            client = RawClient(stream)
            await client.send(Request(host="127.0.0.1", target="/ws", subprotocols=["chat"]))
            refused = await client.next_event()
    assert isinstance(refused, RejectConnection)
    assert refused.status_code == 403


async def test_a_refused_hello_is_closed_with_policy_and_the_close_completes(
    server: Running, guard: trio.CancelScope
) -> None:
    with guard:
        client = await RawClient.open(server)
        async with client.stream:
            await client.send(TextMessage(data=str(JSON.encode(Hello(token="sbt_wrong")))))
            event = await client.next_event()
            while not isinstance(event, CloseConnection):
                event = await client.next_event()
            assert event.code == 1008
            await client.send(event.response())
            # Our answer completes the closing handshake: the server closes TCP.
            assert await client.stream.receive_some(65536) == b""


async def test_the_client_closing_gets_a_close_back_and_the_session_ends(
    seed: Seed, guard: trio.CancelScope
) -> None:
    with guard:
        att = await seed.attendee((await seed.context())["id"])
        client = await RawClient.open(seed.running)
        async with client.stream:
            await client.hello(att["token"])
            await client.send(CloseConnection(code=1000, reason="bye"))
            event = await client.next_event()
            assert isinstance(event, CloseConnection)
            assert event.code == 1000
            assert await client.stream.receive_some(65536) == b""
        await _sessions_drop_to_zero(seed.running)


async def test_a_ping_from_the_client_gets_a_pong(server: Running, guard: trio.CancelScope) -> None:
    with guard:
        client = await RawClient.open(server)
        async with client.stream:
            await client.send(Ping(payload=b"are you there"))
            event = await client.next_event()
            assert isinstance(event, Pong)
            assert event.payload == b"are you there"


async def test_a_fragmented_message_is_reassembled_and_an_oversized_one_closes_with_1009(
    seed: Seed, guard: trio.CancelScope
) -> None:
    with guard:
        att = await seed.attendee((await seed.context())["id"])
        client = await RawClient.open(seed.running, "switchboard.v1.msgpack")
        async with client.stream:
            hello = MSGPACK.encode(Hello(token=att["token"]))
            assert isinstance(hello, bytes)
            third = len(hello) // 3
            for start, finished in ((0, False), (third, False), (2 * third, True)):
                end = len(hello) if finished else start + third
                await client.send(BytesMessage(data=hello[start:end], message_finished=finished))
            event = await client.next_event()
            assert isinstance(event, BytesMessage)
            assert isinstance(MSGPACK.decode_server(event.data), Welcome)
            # Fragments each under the limit, together over it (65,536 bytes by default).
            for _ in range(3):
                await client.send(BytesMessage(data=b"x" * 30_000, message_finished=False))
            while not isinstance(event, CloseConnection):
                event = await client.next_event()
            assert event.code == 1009


async def test_a_client_vanishing_mid_frame_ends_its_session_and_others_go_on(
    seed: Seed, guard: trio.CancelScope
) -> None:
    with guard:
        att = await seed.attendee((await seed.context())["id"])
        client = await RawClient.open(seed.running)
        await client.hello(att["token"])
        assert seed.running.state.sessions_open == 1
        # A masked binary frame announcing 1,000 bytes, of which 10 arrive.
        header = b"\x82" + bytes([0x80 | 126]) + struct.pack("!H", 1000) + os.urandom(4)
        await client.stream.send_all(header + b"0123456789")
        await client.stream.aclose()
        await _sessions_drop_to_zero(seed.running)
        other = await seed.attendee((await seed.context())["id"], name="Bob")
        async with open_ws(seed.ws_url, subprotocols=["switchboard.v1.msgpack"]) as ws:
            await ws.send_message(MSGPACK.encode(Hello(token=other["token"])))
            assert isinstance(MSGPACK.decode_server(await ws.get_message()), Welcome)
            await ws.aclose(code=1000)
            code, _ = await read_until_closed(ws.get_message)
            assert code == 1000


async def _sessions_drop_to_zero(running: Running) -> None:
    """Once every task (the server's too) is idle, no session is left open."""
    await trio.testing.wait_all_tasks_blocked(cushion=0.05)
    assert running.state.sessions_open == 0


async def test_with_ws_native_off_hypercorn_serves_the_websockets(
    nursery: trio.Nursery, tmp_path: Path, guard: trio.CancelScope
) -> None:
    settings = Settings.from_mapping(
        {"port": 0, "data_dir": tmp_path / "d", "host": "127.0.0.1", "ws_native": False}
    )
    with guard:
        running: Running = await nursery.start(serve, settings)
        seed = Seed(running)
        att = await seed.attendee((await seed.context())["id"])
        async with await trio.open_tcp_stream("127.0.0.1", _port(running)) as stream:
            client = RawClient(stream)
            await client.send(
                Request(
                    host="127.0.0.1",
                    target="/ws",
                    subprotocols=["switchboard.v1.json"],
                    extensions=[PerMessageDeflate()],
                )
            )
            accepted = await client.next_event()
            assert isinstance(accepted, AcceptConnection)
            # hypercorn negotiates permessage-deflate; the native path never does.
            assert [e.name for e in accepted.extensions] == ["permessage-deflate"]
            await client.hello(att["token"])
