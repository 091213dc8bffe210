"""The event-log consumer pattern: read after the cursor, handle, advance the cursor.

Every side effect outside the conversation itself (LiveFeed pushes, Slack mirroring,
recipes, webhooks, mail, custom channels) is a consumer. A consumer's cursor is stored in
the ``cursors`` table through the Store, so a restart resumes where it stopped. Delivery
is at least once: a crash between handling and storing the cursor hands the same events
to the consumer again, so consumers make their effects idempotent (event id + target).

A consumer that raises is not advanced; the exception ends ``run_consumer`` and the
supervisor restarts it from its durable cursor.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Sequence
from typing import Protocol

import trio

from actors.store import Store, StoredEvent, Tx

log = logging.getLogger(__name__)

#: Events handed to a consumer at once: large enough to amortise the read and the cursor
#: write, small enough that one slow batch does not hold the rest back for long.
BATCH_SIZE = 256


class Consumer(Protocol):
    """What ``run_consumer`` drives."""

    #: Unique, stable name: the key of the durable cursor.
    name: str
    #: True: start from the newest event when no cursor is stored, and never store one
    #: (for consumers of live state only, such as the LiveFeed).
    live_only: bool

    async def handle(self, events: Sequence[StoredEvent]) -> None:
        """Handle events in id order. Must be idempotent: events may be handed again."""


def read_events(conn: sqlite3.Connection, after: int, limit: int) -> list[StoredEvent]:
    rows = conn.execute(
        "SELECT id, type, conversation_id, payload, ts FROM events WHERE id > ? "
        "ORDER BY id LIMIT ?",
        (after, limit),
    ).fetchall()
    return [StoredEvent(r[0], r[1], r[2], r[3], r[4]) for r in rows]


def get_cursor(conn: sqlite3.Connection, name: str) -> int | None:
    row = conn.execute("SELECT event_id FROM cursors WHERE name = ?", (name,)).fetchone()
    return None if row is None else int(row[0])


def set_cursor(tx: Tx, name: str, event_id: int) -> None:
    tx.execute(
        "INSERT INTO cursors (name, event_id) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET event_id = excluded.event_id",
        (name, event_id),
    )


async def run_consumer(
    store: Store,
    consumer: Consumer,
    *,
    batch_size: int = BATCH_SIZE,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Feed ``consumer`` every event after its cursor, forever (see module docstring)."""
    if consumer.live_only:
        cursor = store.last_event_id
    else:
        stored = await store.read(functools.partial(get_cursor, name=consumer.name))
        cursor = 0 if stored is None else stored
    log.info("consumer.start name=%s cursor=%d", consumer.name, cursor)
    task_status.started()
    while True:
        await store.wait_for_event(cursor)
        events = await store.read(functools.partial(read_events, after=cursor, limit=batch_size))
        if not events:
            continue
        await consumer.handle(events)
        cursor = events[-1].id
        if not consumer.live_only:
            await store.write(functools.partial(set_cursor, name=consumer.name, event_id=cursor))
