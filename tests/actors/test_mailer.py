"""The Mailer: staff replies to offline attendees go out once over SMTP (the local sink),
temporary failures back off, permanent ones are dead letters until a re-drive."""

from __future__ import annotations

import functools
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from actors import contexts, directory
from actors.consumer import read_events
from actors.integration_store import list_activity
from actors.mailer import BACKOFF_BASE, Mailer, mail_counts
from actors.records import NewMessage
from actors.smtp import MailConfig
from actors.system import System
from protocol.frames import Participant
from tests.actors.conftest import STAFF, Sink, StartSystem, wait_for_cursor

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import smtp_sink


@pytest.fixture
def clock() -> trio.testing.MockClock:
    """Virtual time that jumps after 0.2 s of real idleness (sqlite and smtplib threads)."""
    return trio.testing.MockClock(autojump_threshold=0.2)


class Late:
    """A consumer slot registered before the System runs, filled with the mailer after."""

    name = "mailer"
    live_only = False

    def __init__(self) -> None:
        self.mailer: Mailer | None = None

    async def handle(self, events: Any) -> None:
        assert self.mailer is not None
        await self.mailer.handle(events)


async def _setup(
    start_system: StartSystem, nursery: trio.Nursery, sink: smtp_sink.Sink
) -> tuple[System, Mailer, str]:
    _host, port = await nursery.start(smtp_sink.serve, sink)
    late = Late()
    system = await start_system(consumers=[late])
    config = MailConfig(host="127.0.0.1", port=port, starttls=False, sender="chat@example.com")
    mailer = Mailer(system, config)
    late.mailer = mailer
    await nursery.start(mailer.run)
    context = await system.store.write(
        functools.partial(
            contexts.create_context, kind="webinar", title="Launch", data={}, moderators=[],
            primary_moderator=None, external_id=None,
        )
    )  # fmt: skip
    attendee = await system.store.write(
        functools.partial(
            contexts.create_attendee, context_id=context["id"], name="Ann",
            email="ann@example.com", external_id=None, channel="widget",
            token=directory.new_token("sba"), ttl_ms=3_600_000,
        )
    )  # fmt: skip
    return system, mailer, attendee["conversation"]


def _outbox(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT seq, recipient, status, attempts FROM mail_outbox ORDER BY id"
    ).fetchall()


async def _wait_status(system: System, status: str) -> list[tuple[Any, ...]]:
    while True:  # each read is a worker-thread round trip, not a spin
        rows = await system.store.read(_outbox)
        if any(row[2] == status for row in rows):
            return rows


async def test_a_reply_to_an_offline_attendee_is_mailed_once_after_retries(
    clock: trio.testing.MockClock, start_system: StartSystem, nursery: trio.Nursery
) -> None:
    sink = smtp_sink.Sink()
    sink.reject_next(2, "451 4.3.0 Try again later")
    with trio.fail_after(3600):
        system, mailer, conv = await _setup(start_system, nursery, sink)
        posted_at = trio.current_time()
        await system.post(NewMessage(conv, STAFF, "message", "The slides are attached."))
        await system.post(NewMessage(conv, STAFF, "note", "internal, never mailed"))
        (mail,) = await sink.wait_for(1)
        sent_at = trio.current_time()
        rows = await _wait_status(system, "announced")
        # The same events handed again (at least once delivery): nothing new is queued.
        events = await system.store.read(functools.partial(read_events, after=0, limit=100))
        await mailer.handle(events)
        assert await system.store.read(_outbox) == rows
        history = await system.store.read(
            lambda conn: conn.execute(
                "SELECT seq, kind, internal, data, author_kind FROM messages "
                "WHERE conversation_id = ? ORDER BY seq",
                (conv,),
            ).fetchall()
        )
        emailed = await system.store.read(
            lambda conn: conn.execute(
                "SELECT emailed_at IS NOT NULL FROM messages WHERE conversation_id = ? AND seq = 1",
                (conv,),
            ).fetchone()[0]
        )
    assert sent_at - posted_at == BACKOFF_BASE + 2 * BACKOFF_BASE  # 5 s, then 10 s
    assert len(sink.rejections) == 2
    assert mail.rcpt_to == ("ann@example.com",)
    assert mail.message["Message-ID"] == f"<{conv}.1@switchboard>"
    assert "The slides are attached." in mail.message.get_content()
    assert rows == [(1, "ann@example.com", "announced", 1)]
    assert emailed == 1
    assert history[2][1:] == ("event", 1, '{"event": "emailed", "seq": 1, "to": "ann@example.com"}',
                              "system")  # fmt: skip
    assert len(sink.messages) == 1


async def test_a_permanent_refusal_is_a_dead_letter_until_redriven(
    clock: trio.testing.MockClock, start_system: StartSystem, nursery: trio.Nursery
) -> None:
    sink = smtp_sink.Sink()
    sink.reject_next(1, "550 5.1.1 No such mailbox")
    with trio.fail_after(3600):
        system, mailer, conv = await _setup(start_system, nursery, sink)
        await system.post(NewMessage(conv, STAFF, "message", "Hello?"))
        await _wait_status(system, "dead")
        errors = await system.store.read(
            functools.partial(list_activity, integration="mail", errors_only=True, limit=10)
        )
        assert await mailer.redrive() == 1
        (mail,) = await sink.wait_for(1)
        await _wait_status(system, "announced")
        counts = await system.store.read(mail_counts)
    (error,) = errors
    assert error["code"] == "550"
    assert "Re-drive" in error["hint"]
    assert "Hello?" in mail.message.get_content()
    assert counts["announced"] == 1
    assert counts["dead"] == 0


async def test_an_online_attendee_gets_no_mail(
    start_system: StartSystem, nursery: trio.Nursery
) -> None:
    sink = smtp_sink.Sink()
    with trio.fail_after(30):
        system, _mailer, conv = await _setup(start_system, nursery, sink)
        contact = await system.store.read(
            lambda conn: conn.execute(
                "SELECT contact_id, 'Ann' FROM conversations WHERE id = ?", (conv,)
            ).fetchone()
        )
        ann = Sink(conv, Participant("contact", contact[0], "Ann"), session="s1", is_staff=False)
        await ann.join(system)
        await system.post(NewMessage(conv, STAFF, "message", "while online"))
        await ann.next_message()
        # Presence counts when the mailer handles the reply: stay until it has.
        await wait_for_cursor(system.store, "mailer", system.store.last_event_id)
        await system.unsubscribe(ann.sub)
        await system.post(NewMessage(conv, STAFF, "message", "while away"))
        (mail,) = await sink.wait_for(1)
    assert "while away" in mail.message.get_content()
    assert [row[0] for row in await system.store.read(_outbox)] == [2]


async def test_a_recipe_reply_is_mailed_and_the_attendee_own_message_is_not(
    start_system: StartSystem, nursery: trio.Nursery
) -> None:
    sink = smtp_sink.Sink()
    with trio.fail_after(30):
        system, _mailer, conv = await _setup(start_system, nursery, sink)
        contact = await system.store.read(
            lambda conn: conn.execute(
                "SELECT contact_id FROM conversations WHERE id = ?", (conv,)
            ).fetchone()[0]
        )
        await system.post(NewMessage(conv, Participant("contact", contact, "Ann"), "message", "hi"))
        bot = Participant("bot", "rc_1", "Welcome recipe")
        await system.post(NewMessage(conv, bot, "message", "We reply within the hour."))
        (mail,) = await sink.wait_for(1)
    assert "We reply within the hour." in mail.message.get_content()
    assert [row[0] for row in await system.store.read(_outbox)] == [2]
