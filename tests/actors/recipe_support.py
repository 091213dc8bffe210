"""Helpers of the recipe engine tests: a System on a virtual clock with the scheduler,
stopped and started again on the same file, plus the data and the reads they check.

Time: ``SystemConfig.clock`` reads trio's clock, so every timestamp the system writes
and every timer it keeps is in virtual time; tests request ``threaded_clock``
(tests/actors/conftest.py) and sleep in virtual time only.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import trio

from actors import directory, recipe_defs
from actors.consumer import get_cursor
from actors.history import conversation_states
from actors.recipe_defs import Recipe
from actors.recipe_scheduler import CONSUMER_NAME, RecipeScheduler
from actors.records import ConversationChanges, NewMessage, StoredMessage
from actors.store import Store
from actors.supervisor import ChildSpec, Restart
from actors.system import System, SystemConfig
from protocol.frames import Participant
from tests.actors.conftest import STAFF, new_conversation

#: Virtual time 0: Monday 5 January 2026, 07:00 UTC (08:00 in Paris, before opening).
BASE_MS = int(datetime(2026, 1, 5, 7, 0, tzinfo=UTC).timestamp() * 1000)
MINUTE = 60.0


def virtual_ms() -> int:
    """The system clock of these tests: BASE_MS plus trio's (virtual) time."""
    return BASE_MS + round(trio.current_time() * 1000)


def at(ts_ms: int) -> float:
    """The trio time of a system timestamp."""
    return (ts_ms - BASE_MS) / 1000


@dataclass
class Engine:
    system: System
    scheduler: RecipeScheduler

    @property
    def store(self) -> Store:
        return self.system.store


@asynccontextmanager
async def engine(db_path: Path) -> AsyncIterator[Engine]:
    """A System with the recipe scheduler (consumer and timer loop, supervised as the
    server does it), stopped at the end of the block as a process stop would."""
    async with trio.open_nursery() as nursery:
        system = System(SystemConfig(database=db_path, synchronous="NORMAL", clock=virtual_ms))
        scheduler = RecipeScheduler(system)
        system.add_consumer(scheduler)
        await nursery.start(system.run)
        await system.root.start_child(ChildSpec("recipes", scheduler.run, Restart.PERMANENT))
        try:
            yield Engine(system, scheduler)
        finally:
            nursery.cancel_scope.cancel()


async def settle(store: Store) -> None:
    """Return once the recipes consumer handled every event, including the ones its own
    runs appended (each check is a worker-thread read, so virtual time stands still)."""
    while True:
        last = store.last_event_id
        while (await store.read(functools.partial(get_cursor, name=CONSUMER_NAME)) or 0) < last:
            pass
        if store.last_event_id == last:
            return


# -- data ---------------------------------------------------------------------------------------


async def create_recipe(store: Store, definition: dict[str, Any]) -> Recipe:
    recipe: Recipe = await store.write(
        functools.partial(recipe_defs.create_recipe, data=definition, by=None)
    )
    return recipe


async def create_user(store: Store, email: str) -> str:
    user = await store.write(
        functools.partial(
            directory.create_user, email=email, name=email.split("@")[0], role="agent",
            password_hash=None,
        )
    )  # fmt: skip
    user_id: str = user["id"]
    return user_id


async def conversation(store: Store, name: str = "Ann") -> tuple[str, Participant]:
    """A new conversation and its attendee as an author."""
    conv = await new_conversation(store, name)
    state = await store.read(lambda conn: conversation_states(conn, [conv])[0])
    contact = state["contact"]
    return conv, Participant(kind="contact", id=contact["id"], name=contact["name"])


async def say(system: System, conv: str, body: str, author: Participant = STAFF) -> StoredMessage:
    return await system.post(NewMessage(conv, author, "message", body))


async def set_status(system: System, conv: str, status: str) -> None:
    await system.update(conv, ConversationChanges(status=status), STAFF)


# -- reads --------------------------------------------------------------------------------------


async def state(store: Store, conv: str) -> dict[str, Any]:
    found: dict[str, Any] = await store.read(lambda conn: conversation_states(conn, [conv])[0])
    return found


async def query(store: Store, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    def read(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in conn.execute(sql, params).fetchall()]

    return await store.read(read)


async def history(store: Store, conv: str) -> list[dict[str, Any]]:
    """The data of the conversation's recipe history entries, in order."""
    rows = await query(
        store,
        "SELECT data, body, internal, author_kind, client_msg_id FROM messages "
        "WHERE conversation_id = ? AND kind = 'event' AND data LIKE '%recipe_run%' ORDER BY seq",
        conv,
    )
    return [
        {**json.loads(r[0]), "body": r[1], "internal": r[2], "author_kind": r[3], "cmid": r[4]}
        for r in rows
    ]


async def bot_messages(store: Store, conv: str) -> list[tuple[Any, ...]]:
    """(seq, body, client_msg_id) of the public messages recipes posted."""
    return await query(
        store,
        "SELECT seq, body, client_msg_id FROM messages WHERE conversation_id = ? "
        "AND kind = 'message' AND author_kind = 'bot' ORDER BY seq",
        conv,
    )


async def status_changes(store: Store, conv: str) -> list[tuple[list[str], int, dict[str, Any]]]:
    """(status [old, new], ts, payload) of the conversation's status changes."""
    rows = await query(
        store,
        "SELECT payload, ts FROM events WHERE conversation_id = ? "
        "AND type = 'conversation.updated' ORDER BY id",
        conv,
    )
    found = []
    for payload, ts in rows:
        data = json.loads(payload)
        if "status" in data["changes"]:
            found.append((data["changes"]["status"], ts, data))
    return found


async def table_counts(store: Store) -> dict[str, int]:
    """Rows of every table of the database (to show that something wrote nothing)."""

    def read(conn: sqlite3.Connection) -> dict[str, int]:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names
        }

    return await store.read(read)
