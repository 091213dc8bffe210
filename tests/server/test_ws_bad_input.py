"""Bad input over the websocket: a clear error (or close code), nothing written, and the
server keeps serving everyone else."""

from __future__ import annotations

import functools
from pathlib import Path

import msgpack
import pytest
import trio
import trio.testing
from trio_websocket import WebSocketConnection

from actors import directory
from protocol.codec import MSGPACK
from protocol.frames import Ack, ErrorFrame, Hello, Join, Ping, Pong, Send
from server.config import Settings
from server.main import Running, serve
from tests.helpers import Seed, connect, open_ws, read_until_closed


async def _closed_code(ws: WebSocketConnection) -> int:
    """Read until the server closes the socket; return the close code."""
    code, _ = await read_until_closed(ws.get_message)
    return code


async def test_malformed_frames_get_error_frames_and_the_connection_stays_open(
    seed: Seed, guard: trio.CancelScope
) -> None:
    with guard:
        ctx = await seed.context()
        att = await seed.attendee(ctx["id"])
        conv = att["conversation"]
        async with connect(seed.ws_url, att["token"]) as client:
            cases = [
                (b"\xc1\xff garbage", "bad_frame"),
                (msgpack.packb([1, 2, 3]), "bad_frame"),
                (msgpack.packb({"type": "launch_missiles"}), "unknown_type"),
                (
                    msgpack.packb({"type": "send", "conversation": conv, "body": "x"}),
                    "missing_field",
                ),
                (
                    msgpack.packb({"type": "join", "conversation": conv, "after_seq": -1}),
                    "bad_field",
                ),
                (
                    msgpack.packb({"type": "join", "conversation": conv, "after_seq": True}),
                    "bad_field",
                ),
                (
                    # 8193 two-byte characters: 16386 UTF-8 bytes, just over the limit.
                    msgpack.packb(
                        {
                            "type": "send",
                            "conversation": conv,
                            "client_msg_id": "big",
                            "body": "é" * 8193,
                        }
                    ),
                    "body_too_large",
                ),
                (MSGPACK.encode(Hello(token="again")), "already_authenticated"),
            ]
            for data, code in cases:
                await client.send_raw(data)
                error = await client.recv()
                assert isinstance(error, ErrorFrame), (code, error)
                assert error.code == code
            await client.send(Ping(nonce=1))
            assert await client.recv() == Pong(nonce=1)
            # Nothing was written by any of it.
            await client.send(Send(conversation=conv, client_msg_id="ok", body="fine"))
            ack, _ = await client.until(lambda f: isinstance(f, Ack))
            assert isinstance(ack, Ack)
            assert ack.seq == 1


async def test_oversized_frame_closes_with_1009_and_others_keep_working(
    seed: Seed, guard: trio.CancelScope
) -> None:
    with guard:
        ctx = await seed.context()
        att = await seed.attendee(ctx["id"])
        other = await seed.attendee(ctx["id"], name="Bob")
        async with open_ws(seed.ws_url, subprotocols=["switchboard.v1.msgpack"]) as ws:
            await ws.send_message(MSGPACK.encode(Hello(token=att["token"])))
            await ws.get_message()  # welcome
            await ws.send_message(b"\x80" + b"x" * 70_000)
            assert await _closed_code(ws) == 1009
        async with connect(seed.ws_url, other["token"]) as client:
            await client.send(
                Send(conversation=other["conversation"], client_msg_id="a", body="still here")
            )
            ack, _ = await client.until(lambda f: isinstance(f, Ack))
            assert isinstance(ack, Ack)


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        (MSGPACK.encode(Join(conversation="cv_x")), 1008),
        (MSGPACK.encode(Hello(token="sba_not-a-real-token")), 1008),
        (MSGPACK.encode(Hello(token="")), 1008),
    ],
)
async def test_bad_first_frame_or_token_closes_with_policy(
    seed: Seed, guard: trio.CancelScope, first: bytes, expected: int
) -> None:
    with guard:
        async with open_ws(seed.ws_url, subprotocols=["switchboard.v1.msgpack"]) as ws:
            await ws.send_message(first)
            assert await _closed_code(ws) == expected


async def test_expired_attendee_token_closes_with_4001(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        ctx = await seed.context()
        att = await seed.attendee(ctx["id"], ttl_ms=-1)
        async with open_ws(seed.ws_url, subprotocols=["switchboard.v1.msgpack"]) as ws:
            await ws.send_message(MSGPACK.encode(Hello(token=att["token"])))
            assert await _closed_code(ws) == 4001


async def test_rate_limit_answers_then_closes_with_4029(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    # A refill too slow to matter during the test: the bucket holds exactly the burst.
    settings = Settings.from_mapping(
        {"port": 0, "data_dir": tmp_path / "d", "rate_per_second": 0.001, "rate_burst": 5}
    )
    with trio.fail_after(60):
        running: Running = await nursery.start(serve, settings)
        seed = Seed(running)
        ctx = await seed.context()
        att = await seed.attendee(ctx["id"])
        async with connect(seed.ws_url, att["token"]) as client:  # hello took one token
            for n in range(4):
                await client.send(Ping(nonce=n))
                assert await client.recv() == Pong(nonce=n)
            await client.send(Ping(nonce=99))
            error = await client.recv()
            assert isinstance(error, ErrorFrame)
            assert error.code == "rate_limited"
            # Five more refusals exceed the burst: closed. Send no more than that, so the
            # close frame is not lost to a TCP reset caused by unread data.
            for n in range(5):
                await client.send(Ping(nonce=n))
            code, frames = await read_until_closed(client.recv)
            assert code == 4029
            # Every refusal before the close says why (the last may be cut by the close).
            assert frames
            assert {f.code for f in frames if isinstance(f, ErrorFrame)} == {"rate_limited"}


@pytest.fixture
def lazy_clock() -> trio.testing.MockClock:
    """Virtual time that jumps only after 0.2 s of real idleness, so socket and sqlite
    waits (real, short) are not mistaken for idle time."""
    return trio.testing.MockClock(autojump_threshold=0.2)


async def test_no_hello_in_time_closes_with_policy(
    lazy_clock: trio.testing.MockClock, nursery: trio.Nursery, tmp_path: Path
) -> None:
    settings = Settings.from_mapping({"port": 0, "data_dir": tmp_path / "d", "hello_timeout": 10})
    running: Running = await nursery.start(serve, settings)
    url = running.url.replace("http://", "ws://") + "/ws"
    async with open_ws(url, subprotocols=["switchboard.v1.msgpack"]) as ws:
        start = trio.current_time()
        assert await _closed_code(ws) == 1008
        assert trio.current_time() - start == pytest.approx(10, abs=0.5)


async def test_console_cookie_only_from_our_own_origin(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        user = await seed.user(email="cookie@example.com")
        token = directory.new_token("sbs")
        await seed.store.write(
            functools.partial(
                directory.create_console_session,
                user_id=user["id"],
                token=token,
                csrf="c",
                ttl_ms=60_000,
            )
        )
        host = seed.running.url.removeprefix("http://")
        cookie = ("Cookie", f"sb_session={token}")
        async with connect(
            seed.ws_url, "", extra_headers=[cookie, ("Origin", f"http://{host}")]
        ) as ok:
            assert ok.welcome is not None
            assert ok.welcome.identity.id == user["id"]
        async with open_ws(
            seed.ws_url,
            subprotocols=["switchboard.v1.msgpack"],
            extra_headers=[cookie, ("Origin", "https://evil.example")],
        ) as ws:
            await ws.send_message(MSGPACK.encode(Hello(token="")))
            assert await _closed_code(ws) == 1008


async def test_token_expiring_during_the_session_closes_with_4001(
    lazy_clock: trio.testing.MockClock, nursery: trio.Nursery, tmp_path: Path
) -> None:
    settings = Settings.from_mapping({"port": 0, "data_dir": tmp_path / "d"})
    running: Running = await nursery.start(serve, settings)
    seed = Seed(running)
    att = await seed.attendee((await seed.context())["id"], ttl_ms=30_000)
    async with connect(seed.ws_url, att["token"]) as client:
        start = trio.current_time()
        code, _ = await read_until_closed(client.recv)
    assert code == 4001
    # The token's lifetime is wall-clock; the session's deadline is set from it at hello.
    assert trio.current_time() - start == pytest.approx(30, abs=1)
