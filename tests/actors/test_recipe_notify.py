"""The notify action: console notifications and staff mail, once ``every`` matches have
accumulated and at most every M minutes (MockClock), delivered by the Mailer to SMTP."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import trio
import trio.testing

from actors import recipe_inbox
from actors.mailer import Mailer
from actors.smtp import MailConfig
from actors.system import System
from tests.actors.conftest import StartSystem
from tests.recipe_kit import context, make_recipe, new_attendee, new_user, run, sql

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import smtp_sink

#: Where the system's clock starts (ms): trio's MockClock starts at 0.
BASE_MS = 1_900_000_000_000
#: Virtual seconds a test may take.
VIRTUAL_TIMEOUT = 24 * 3600


def mock_clock_ms() -> int:
    return BASE_MS + round(trio.current_time() * 1000)


async def test_notify_every_n_matches_at_most_every_m_minutes(
    threaded_clock: trio.testing.MockClock, start_system: StartSystem
) -> None:
    with trio.fail_after(VIRTUAL_TIMEOUT):
        system: System = await start_system(clock=mock_clock_ms)
        sam = await new_user(system.store, "sam@example.com", "Sam")
        kim = await new_user(system.store, "kim@example.com", "Kim")
        recipe = await make_recipe(
            system.store,
            [
                {
                    "type": "notify", "users": [sam, kim], "every": 2,
                    "at_most_every_minutes": 10, "text": "Busy inbox",
                },
            ],
            name="Watch",
        )  # fmt: skip
        results = []
        at = []
        for n, pause in enumerate([0, 0, 0, 60, 540, 0]):
            await trio.sleep(pause)
            conv = (await new_attendee(system.store, name=f"A{n}"))["conversation"]
            done = await run(await context(system, recipe, conv, key_event=100 + n))
            results.append((done.results[0]["result"], done.results[0]["detail"]))
            at.append(trio.current_time())
        notes = await system.store.read(
            functools.partial(recipe_inbox.list_notifications, user_id=sam)
        )
        counter = await sql(system.store, "SELECT matched, last_sent_at FROM recipe_counters")
        read = await system.store.write(
            functools.partial(recipe_inbox.mark_notifications_read, user_id=sam, ids=None)
        )
        unread = await system.store.read(
            functools.partial(recipe_inbox.list_notifications, user_id=sam, unread_only=True)
        )
        kims = await system.store.read(
            functools.partial(recipe_inbox.list_notifications, user_id=kim, unread_only=True)
        )
    assert at == [0, 0, 0, 60, 600, 600]
    rate_limited = "rate limited until 2030-03-17 17:56 UTC"  # BASE_MS + 10 minutes
    assert results == [
        ("skipped", "waiting for 1 more match"),
        ("done", "notified Sam, Kim in the console"),
        ("skipped", "waiting for 1 more match"),
        ("skipped", rate_limited),  # two matches, but only a minute after the last one
        ("done", "notified Sam, Kim in the console"),  # ten minutes later: the third match
        ("skipped", "waiting for 1 more match"),
    ]
    assert [n["title"] for n in notes] == ["Busy inbox", "Busy inbox"]
    assert notes[0]["body"].startswith("3 matches since the last notification. The latest:\n")
    assert "with A4 (widget)" in notes[0]["body"]
    assert "with A1 (widget)" in notes[1]["body"]
    assert counter == [(1, BASE_MS + 600_000)]
    assert read == 2
    assert unread == []
    assert len(kims) == 2


async def test_email_notifications_are_mailed_to_staff(
    threaded_clock: trio.testing.MockClock, start_system: StartSystem, nursery: trio.Nursery
) -> None:
    sink = smtp_sink.Sink()
    sink.reject_next(1, "451 4.3.0 Try again later")
    with trio.fail_after(VIRTUAL_TIMEOUT):
        _host, port = await nursery.start(smtp_sink.serve, sink)
        system: System = await start_system()
        mailer = Mailer(
            system, MailConfig(host="127.0.0.1", port=port, starttls=False, sender="sb@example.com")
        )
        await nursery.start(mailer.run)
        sam = await new_user(system.store, "sam@example.com", "Sam")
        att = await new_attendee(system.store, name="Ann")
        recipe = await make_recipe(
            system.store,
            [{"type": "notify", "users": [sam], "console": False, "email": True}],
            name="VIP",
        )
        done = await run(await context(system, recipe, att["conversation"], key_event=5))
        (mail,) = await sink.wait_for(1)
        while (rows := await sql(system.store, "SELECT status, attempts FROM staff_mail")) != [
            ("sent", 2)
        ]:
            pass
        notes = await sql(system.store, "SELECT COUNT(*) FROM notifications")
    assert done.results[0] == {
        "action": "notify", "index": 0, "result": "done", "detail": "notified Sam by email",
    }  # fmt: skip
    assert mail.rcpt_to == ("sam@example.com",)
    assert mail.subject == "[Switchboard] Recipe “VIP” matched a conversation"
    assert f"Conversation {att['conversation']} with Ann (widget)" in mail.message.get_content()
    assert rows == [("sent", 2)]  # one temporary failure, then sent
    assert notes == [(0,)]  # console off: no notification row
