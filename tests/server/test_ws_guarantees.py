"""The delivery guarantees of DESIGN.md section 4, over real websockets to a real server."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.lowlevel

from protocol.frames import (
    Ack,
    ErrorFrame,
    HistoryEnd,
    Join,
    MessageFrame,
    Ping,
    Pong,
    Presence,
    Read,
    Receipt,
    Send,
    Typing,
    TypingFrame,
)
from server.config import Settings
from server.main import Running, serve
from tests.helpers import Client, Seed, connect, read_until_closed


async def _join(client: Client, conversation: str, after_seq: int = 0) -> list[MessageFrame]:
    """Join and return the replayed history (up to history_end)."""
    await client.send(Join(conversation=conversation, after_seq=after_seq))
    end, before = await client.until(lambda f: isinstance(f, HistoryEnd))
    assert isinstance(end, HistoryEnd)
    return [f for f in before if isinstance(f, MessageFrame)]


async def _count_messages(seed: Seed, conversation: str) -> int:
    def count(conn: object) -> int:
        return int(
            conn.execute(  # type: ignore[attr-defined]
                "SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (conversation,)
            ).fetchone()[0]
        )

    return await seed.store.read(count)


async def test_send_is_acked_after_commit_and_idempotent(
    seed: Seed, guard: trio.CancelScope
) -> None:
    with guard:
        ctx = await seed.context()
        att = await seed.attendee(ctx["id"])
        conv = att["conversation"]
        async with connect(seed.ws_url, att["token"]) as client:
            assert client.welcome is not None
            assert client.welcome.conversations == (conv,)
            assert await _join(client, conv) == []
            await client.send(Send(conversation=conv, client_msg_id="m-1", body="hello"))
            ack, _ = await client.until(lambda f: isinstance(f, Ack))
            assert isinstance(ack, Ack)
            assert ack.seq == 1
            # The same client_msg_id again (a resend after a lost ack): same seq, no new message.
            await client.send(Send(conversation=conv, client_msg_id="m-1", body="hello again"))
            ack2, between = await client.until(lambda f: isinstance(f, Ack))
            assert isinstance(ack2, Ack)
            assert ack2.seq == 1
            assert not [f for f in between if isinstance(f, MessageFrame)]
            await client.send(Send(conversation=conv, client_msg_id="m-2", body="next"))
            ack3, _ = await client.until(lambda f: isinstance(f, Ack))
            assert isinstance(ack3, Ack)
            assert ack3.seq == 2
        assert await _count_messages(seed, conv) == 2


async def test_three_readers_see_the_same_order_under_concurrent_senders(
    seed: Seed, guard: trio.CancelScope
) -> None:
    senders, per_sender = 4, 25
    with guard:
        ctx = await seed.context()
        att = await seed.attendee(ctx["id"])
        conv = att["conversation"]
        _, staff_token = await seed.staff_token()
        readers: list[list[int]] = [[], [], []]

        async def reader(index: int, ready: trio.Event, done: trio.Event) -> None:
            async with connect(seed.ws_url, staff_token) as client:
                await _join(client, conv)
                ready.set()
                while len(readers[index]) < senders * per_sender:
                    frame = await client.recv()
                    if isinstance(frame, MessageFrame):
                        readers[index].append(frame.seq)
            done.set()

        async def sender(index: int) -> None:
            async with connect(seed.ws_url, staff_token) as client:
                for n in range(per_sender):
                    await client.send(
                        Send(conversation=conv, client_msg_id=f"s{index}-{n}", body=f"{index}:{n}")
                    )
                acks = 0
                while acks < per_sender:
                    if isinstance(await client.recv(), Ack):
                        acks += 1

        async with trio.open_nursery() as nursery:
            events = [(trio.Event(), trio.Event()) for _ in readers]
            for i, (ready, done) in enumerate(events):
                nursery.start_soon(reader, i, ready, done)
            for ready, _ in events:
                await ready.wait()
            async with trio.open_nursery() as send_nursery:
                for i in range(senders):
                    send_nursery.start_soon(sender, i)
        expected = list(range(1, senders * per_sender + 1))
        assert readers[0] == expected
        assert readers[1] == readers[0]
        assert readers[2] == readers[0]


async def test_resume_with_after_seq_has_no_gap_and_no_duplicate(
    seed: Seed, guard: trio.CancelScope
) -> None:
    total = 120
    with guard:
        ctx = await seed.context()
        att = await seed.attendee(ctx["id"])
        conv = att["conversation"]
        _, staff_token = await seed.staff_token()
        seen: list[int] = []
        sending_done = trio.Event()

        async def keep_sending() -> None:
            async with connect(seed.ws_url, staff_token) as client:
                for n in range(total):
                    await client.send(Send(conversation=conv, client_msg_id=f"k{n}", body=f"m{n}"))
                    if n % 10 == 0:
                        await trio.lowlevel.checkpoint()
                acks = 0
                while acks < total:
                    if isinstance(await client.recv(), Ack):
                        acks += 1
            sending_done.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(keep_sending)
            # First connection: read a part, then drop the connection mid-stream.
            async with connect(seed.ws_url, att["token"]) as client:
                seen.extend(m.seq for m in await _join(client, conv))
                while len(seen) < 30:
                    frame = await client.recv()
                    if isinstance(frame, MessageFrame):
                        seen.append(frame.seq)
            # Reconnect and resume from the last seq seen while the sender keeps going.
            async with connect(seed.ws_url, att["token"]) as client:
                history = await _join(client, conv, after_seq=seen[-1])
                seen.extend(m.seq for m in history)
                while len(seen) < total:
                    frame = await client.recv()
                    if isinstance(frame, MessageFrame):
                        seen.append(frame.seq)
        assert seen == list(range(1, total + 1))


@pytest.fixture
async def small_server(nursery: trio.Nursery, tmp_path: Path) -> Running:
    settings = Settings.from_mapping(
        {
            "port": 0,
            "data_dir": tmp_path / "small",
            "outbox_frames": 64,
            "rate_per_second": 100000,
            "rate_burst": 100000,
        }
    )
    with trio.fail_after(30):
        running: Running = await nursery.start(serve, settings)
    return running


async def test_slow_reader_is_closed_with_4008_while_others_keep_being_served(
    small_server: Running,
) -> None:
    seed = Seed(small_server)
    body = "x" * 15000
    total = 2000  # ~30 MB: far more than the loopback socket buffers hold
    window = 20  # the sender is paced by the fast reader, so bursts stay small
    with trio.fail_after(120):
        ctx = await seed.context()
        att = await seed.attendee(ctx["id"])
        conv = att["conversation"]
        _, staff_token = await seed.staff_token()
        fast_seen = 0
        async with (
            connect(seed.ws_url, staff_token, message_queue_size=1) as slow,
            connect(seed.ws_url, staff_token) as fast,
            connect(seed.ws_url, staff_token) as sender,
        ):
            await _join(slow, conv)
            await _join(fast, conv)

            progressed = trio.Event()

            async def read_fast() -> None:
                nonlocal fast_seen, progressed
                while fast_seen < total:
                    if isinstance(await fast.recv(), MessageFrame):
                        fast_seen += 1
                        progressed.set()
                        progressed = trio.Event()

            async def drain_acks() -> None:
                while True:
                    await sender.recv()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(read_fast)
                nursery.start_soon(drain_acks)
                for start in range(0, total, window):
                    # Paced by the fast reader, so only the slow one can ever fall behind.
                    while fast_seen < start:
                        await progressed.wait()
                    for n in range(start, start + window):
                        await sender.send(Send(conversation=conv, client_msg_id=f"b{n}", body=body))
                while fast_seen < total:
                    await progressed.wait()
                nursery.cancel_scope.cancel()
            assert fast_seen == total
            # The slow reader never read: it was cut off with 4008 (after what was buffered).
            code, _ = await read_until_closed(slow.recv)
            assert code == 4008


async def test_scoped_token_cannot_touch_another_conversation(
    seed: Seed, guard: trio.CancelScope
) -> None:
    with guard:
        ctx = await seed.context()
        a = await seed.attendee(ctx["id"], name="A")
        b = await seed.attendee(ctx["id"], name="B")
        assert a["conversation"] != b["conversation"]
        other = b["conversation"]
        async with connect(seed.ws_url, a["token"]) as client:
            for frame in (
                Join(conversation=other, ref="j"),
                Send(conversation=other, client_msg_id="x", body="hi", ref="s"),
                Read(conversation=other, seq=1, ref="r"),
                Typing(conversation=other, ref="t"),
            ):
                await client.send(frame)
                error = await client.recv()
                assert isinstance(error, ErrorFrame), error
                assert error.code == "forbidden"
                assert error.ref == frame.ref
            # The connection stays usable.
            await client.send(Ping(nonce=7))
            assert await client.recv() == Pong(nonce=7)
        assert await _count_messages(seed, other) == 0


async def test_presence_typing_and_receipts(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        ctx = await seed.context()
        att = await seed.attendee(ctx["id"], name="Ann")
        conv = att["conversation"]
        _user, staff_token = await seed.staff_token()
        async with connect(seed.ws_url, staff_token) as staff:
            await _join(staff, conv)
            async with connect(seed.ws_url, att["token"]) as ann:
                await _join(ann, conv)
                online, _ = await staff.until(lambda f: isinstance(f, Presence))
                assert isinstance(online, Presence)
                assert online.status == "online"
                assert online.participant.id == att["contact"]["id"]
                await ann.send(Typing(conversation=conv, active=True))
                typing, _ = await staff.until(lambda f: isinstance(f, TypingFrame))
                assert isinstance(typing, TypingFrame)
                assert typing.author.name == "Ann"
                await staff.send(Send(conversation=conv, client_msg_id="r1", body="hello Ann"))
                message, _ = await ann.until(lambda f: isinstance(f, MessageFrame))
                assert isinstance(message, MessageFrame)
                await ann.send(Read(conversation=conv, seq=message.seq))
                receipt, _ = await staff.until(lambda f: isinstance(f, Receipt))
                assert isinstance(receipt, Receipt)
                assert receipt.seq == message.seq
                assert receipt.reader.kind == "contact"
            offline, _ = await staff.until(lambda f: isinstance(f, Presence))
            assert isinstance(offline, Presence)
            assert offline.status == "offline"


async def test_notes_reach_staff_but_never_the_attendee(
    seed: Seed, guard: trio.CancelScope
) -> None:
    with guard:
        ctx = await seed.context()
        att = await seed.attendee(ctx["id"])
        conv = att["conversation"]
        _, staff_token = await seed.staff_token()
        async with (
            connect(seed.ws_url, staff_token) as staff,
            connect(seed.ws_url, att["token"]) as ann,
        ):
            await _join(staff, conv)
            await _join(ann, conv)
            await staff.send(
                Send(conversation=conv, client_msg_id="n1", body="internal", kind="note")
            )
            await staff.send(Send(conversation=conv, client_msg_id="m1", body="public"))
            got, _before = await ann.until(lambda f: isinstance(f, MessageFrame))
            assert isinstance(got, MessageFrame)
            assert got.body == "public"
            assert got.seq == 2
            staff_msgs = []
            while len(staff_msgs) < 2:
                frame = await staff.recv()
                if isinstance(frame, MessageFrame):
                    staff_msgs.append(frame.kind)
            assert staff_msgs == ["note", "message"]
            # An attendee may not write notes; a rejoin never replays the note either.
            await ann.send(
                Send(conversation=conv, client_msg_id="n2", body="x", kind="note", ref="q")
            )
            error, _ = await ann.until(lambda f: isinstance(f, ErrorFrame))
            assert isinstance(error, ErrorFrame)
            assert error.code == "forbidden"
            history = await _join(ann, conv)
            assert [m.body for m in history] == ["public"]


async def test_unknown_conversation_for_staff_is_not_found(
    seed: Seed, guard: trio.CancelScope
) -> None:
    with guard:
        _, staff_token = await seed.staff_token()
        async with connect(seed.ws_url, staff_token) as staff:
            await staff.send(Join(conversation="cv_missing", ref="j1"))
            error = await staff.recv()
            assert isinstance(error, ErrorFrame)
            assert error.code == "not_found"
            assert error.ref == "j1"


async def test_json_subprotocol_works_too(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        ctx = await seed.context()
        att = await seed.attendee(ctx["id"])
        conv = att["conversation"]
        async with connect(seed.ws_url, att["token"], subprotocol="switchboard.v1.json") as client:
            await _join(client, conv)
            await client.send(Send(conversation=conv, client_msg_id="j", body="é ✓"))
            message, _ = await client.until(lambda f: isinstance(f, MessageFrame))
            assert isinstance(message, MessageFrame)
            assert message.body == "é ✓"


async def test_no_common_subprotocol_is_refused(seed: Seed, guard: trio.CancelScope) -> None:
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import RejectConnection, Request

    port = int(seed.running.url.rsplit(":", 1)[1])
    with guard:
        async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
            ws = WSConnection(ConnectionType.CLIENT)
            request = Request(host=f"127.0.0.1:{port}", target="/ws", subprotocols=["chat.v9"])
            await stream.send_all(ws.send(request))
            events: list[object] = []
            while not events:
                data = await stream.receive_some(65536)
                assert data, "closed without an answer"
                ws.receive_data(data)
                events.extend(ws.events())
        assert isinstance(events[0], RejectConnection)
        assert events[0].status_code == 403


async def test_session_rejoins_when_its_conversation_actor_crashes(
    seed: Seed, guard: trio.CancelScope, monkeypatch: pytest.MonkeyPatch
) -> None:
    from actors.group import ConversationGroup
    from actors.group_commands import Post

    original = ConversationGroup._handle

    async def crashing(self: ConversationGroup, command: object) -> None:
        if isinstance(command, Post) and command.msg.body == "boom":
            raise RuntimeError("injected crash")
        await original(self, command)  # type: ignore[arg-type]

    monkeypatch.setattr(ConversationGroup, "_handle", crashing)
    with guard:
        ctx = await seed.context()
        att = await seed.attendee(ctx["id"])
        conv = att["conversation"]
        _, staff_token = await seed.staff_token()
        async with (
            connect(seed.ws_url, att["token"]) as ann,
            connect(seed.ws_url, staff_token) as staff,
        ):
            await _join(ann, conv)
            await staff.send(Send(conversation=conv, client_msg_id="s1", body="before"))
            first, _ = await ann.until(lambda f: isinstance(f, MessageFrame))
            await staff.send(Send(conversation=conv, client_msg_id="s2", body="boom"))
            error, _ = await staff.until(lambda f: isinstance(f, ErrorFrame))
            assert isinstance(error, ErrorFrame)
            assert (error.code, error.ref) == ("internal", "s2")
            # The actor was restarted; the attendee's session rejoined on its own.
            await staff.send(Send(conversation=conv, client_msg_id="s3", body="after"))
            later, _ = await ann.until(lambda f: isinstance(f, MessageFrame))
            assert isinstance(first, MessageFrame)
            assert isinstance(later, MessageFrame)
            assert (first.seq, first.body, later.seq, later.body) == (1, "before", 2, "after")
