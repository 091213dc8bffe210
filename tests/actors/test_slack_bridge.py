"""The SlackBridge as an actor: planning is idempotent and ordered, retries back off and end
held (visibly) until a re-drive, and incoming events from bots or other threads are ignored."""

from __future__ import annotations

import functools
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from actors import slack_store
from actors.consumer import read_events
from actors.integration_store import list_activity
from actors.records import NewMessage
from actors.slack_bridge import SlackBridge, backoff
from actors.slack_client import UNREACHABLE_HINT
from actors.slack_store import SlackConfig
from actors.store import Store
from actors.system import System
from protocol.frames import Participant
from tests.actors.conftest import STAFF, StartSystem, new_conversation

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import slack_emulator

TOKEN = "xoxb-test-token"


def _ops(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    rows = conn.execute("SELECT key, lane, status FROM slack_ops ORDER BY id").fetchall()
    return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]


async def _contact(store: Store, conversation: str) -> Participant:
    def read(conn: sqlite3.Connection) -> Participant:
        row = conn.execute(
            "SELECT k.id, k.name FROM conversations c JOIN contacts k ON k.id = c.contact_id "
            "WHERE c.id = ?",
            (conversation,),
        ).fetchone()
        return Participant("contact", row[0], row[1])

    return await store.read(read)


async def test_planning_is_ordered_idempotent_and_backfills_in_first_message_mode(
    start_system: StartSystem,
) -> None:
    config = SlackConfig(bot_token=TOKEN, channel="C1", first_message_only=True)
    bridge: SlackBridge
    system: System = await start_system()
    bridge = SlackBridge(system, config)  # not a consumer here: fed by hand below
    conv = await new_conversation(system.store)
    ann = await _contact(system.store, conv)
    await system.post(NewMessage(conv, STAFF, "message", "Welcome, Ann!"))
    await system.post(NewMessage(conv, STAFF, "note", "vip"))
    await system.post(NewMessage(conv, ann, "message", "Thanks!"))
    await system.post(NewMessage(conv, STAFF, "message", "from slack", client_msg_id="slack:1.2"))
    events = await system.store.read(functools.partial(read_events, after=0, limit=100))
    await bridge.handle(events)
    first = await system.store.read(_ops)
    await bridge.handle(events)  # at least once: the same events again plan nothing new
    again = await system.store.read(_ops)
    assert first == again
    assert [key.rsplit(":", 1)[-1] if key.startswith("reply") else key.split(":")[0]
            for key, _, _ in first] == ["parent", "1", "2", "3"]  # fmt: skip
    assert {lane for _, lane, _ in first} == {"channel"}
    assert {status for _, _, status in first} == {"pending"}


async def test_post_on_join_and_a_channel_per_webinar_lane(start_system: StartSystem) -> None:
    system: System = await start_system()
    bridge = SlackBridge(system, SlackConfig(bot_token=TOKEN, channel_per_webinar=True))
    conv = await new_conversation(system.store)
    events = await system.store.read(functools.partial(read_events, after=0, limit=100))
    await bridge.handle(events)
    ops = await system.store.read(_ops)
    context = await system.store.read(
        lambda conn: conn.execute(
            "SELECT context_id FROM conversations WHERE id = ?", (conv,)
        ).fetchone()[0]
    )
    assert ops == [(f"parent:{conv}", f"webinar:{context}", "pending")]
    # Slack off (no token): nothing is planned at all.
    off = SlackBridge(system, SlackConfig())
    await new_conversation(system.store, "Bob")
    events = await system.store.read(functools.partial(read_events, after=0, limit=100))
    await off.handle(events)
    assert await system.store.read(_ops) == ops


@pytest.fixture
def clock() -> trio.testing.MockClock:
    """Virtual time that jumps after 0.2 s of real idleness (sqlite and WebClient threads)."""
    return trio.testing.MockClock(autojump_threshold=0.2)


async def test_5xx_backs_off_then_holds_visibly_and_redrive_posts_once(
    clock: trio.testing.MockClock, start_system: StartSystem, nursery: trio.Nursery
) -> None:
    slack = slack_emulator.SlackState(token=TOKEN)
    channel = slack.add_channel("attendees").id
    url = await nursery.start(slack_emulator.serve, slack)
    config = SlackConfig(api_url=url, bot_token=TOKEN, channel=channel)
    system: System | None = None
    bridges: list[SlackBridge] = []

    class Holder:
        """Consumers are registered before the system runs; the bridge needs the system."""

        name = "slack"
        live_only = False

        async def handle(self, events: Any) -> None:
            await bridges[0].handle(events)

    system = await start_system(consumers=[Holder()])
    bridge = SlackBridge(system, config, post_interval=0)
    bridges.append(bridge)
    await nursery.start(bridge.run)
    slack.add_fault("http_error", count=10, status=500, method="chat.postMessage")
    with trio.fail_after(3600):
        await new_conversation(system.store)
        await slack.wait_until(lambda: len(slack.calls_to("chat.postMessage")) == 1)
        first = trio.current_time()
        await slack.wait_until(lambda: len(slack.calls_to("chat.postMessage")) == 10)
        last = trio.current_time()
        while "held" not in {s for _, _, s in await system.store.read(_ops)}:
            pass  # each read is a worker-thread round trip
        errors = await system.store.read(
            functools.partial(list_activity, integration="slack", errors_only=True, limit=10)
        )
        assert await bridge.redrive() == 1
        await slack.wait_until(lambda: len(slack.history(channel)) == 1)
        while {s for _, _, s in await system.store.read(_ops)} != {"done"}:
            pass
    assert last - first == sum(backoff(n) for n in range(1, 10)) == 367
    (error,) = errors
    assert (error["code"], error["hint"]) == ("internal_error", UNREACHABLE_HINT)
    # Every 500 might have posted: each retry looked first; only one post landed.
    assert len(slack.calls_to("conversations.history")) == 10
    assert [c.ok for c in slack.calls_to("chat.postMessage")] == [False] * 10 + [True]


async def test_incoming_events_from_bots_joins_and_other_threads_are_ignored(
    start_system: StartSystem,
) -> None:
    system: System = await start_system()
    bridge = SlackBridge(system, SlackConfig(bot_token=TOKEN, channel="C1"))
    conv = await new_conversation(system.store)

    def thread(tx: Any) -> None:
        tx.execute(
            "INSERT INTO slack_threads (conversation_id, lane, channel_id, thread_ts, "
            "created_at) VALUES (?, 'channel', 'C1', '100.000001', 0)",
            (conv,),
        )

    await system.store.write(thread)

    def envelope(**event: Any) -> dict[str, Any]:
        base = {"type": "message", "channel": "C1", "user": "U1", "text": "hi", "ts": "200.1"}
        return {"type": "event_callback", "event_id": "Ev1", "event": {**base, **event}}

    outcomes = [
        await bridge.inbound.handle(envelope(thread_ts="100.000001", bot_id="B0BOT")),
        await bridge.inbound.handle(envelope(thread_ts="100.000001", subtype="channel_join")),
        await bridge.inbound.handle(envelope(thread_ts="100.000001", subtype="bot_message")),
        await bridge.inbound.handle(envelope()),  # top level, not in a thread
        await bridge.inbound.handle(envelope(thread_ts="999.000001")),  # another thread
        await bridge.inbound.handle(envelope(thread_ts="100.000001", text="   ")),
        await bridge.inbound.handle({"type": "app_rate_limited"}),
        await bridge.inbound.handle(envelope(type="reaction_added")),
    ]
    assert all(o.startswith("ignored") for o in outcomes), outcomes
    count = await system.store.read(
        lambda conn: conn.execute(
            "SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (conv,)
        ).fetchone()[0]
    )
    assert count == 0


async def test_accept_stores_each_event_id_once(start_system: StartSystem) -> None:
    system: System = await start_system()
    bridge = SlackBridge(system, SlackConfig(bot_token=TOKEN))
    envelope = {"type": "event_callback", "event_id": "Ev9", "event": {"type": "message"}}
    assert await bridge.accept(envelope) is True
    assert await bridge.accept(envelope) is False
    assert await bridge.accept({"type": "event_callback"}) is False  # no event id
    pending = await system.store.read(functools.partial(slack_store.pending_events, limit=10))
    assert [event_id for event_id, _ in pending] == ["Ev9"]
