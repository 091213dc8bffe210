"""Tests for actors.schema: versioned migrations through PRAGMA user_version."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils

from actors import schema
from actors.search_indexer import index_new_messages
from actors.store import Store, Tx, connect

CORE_TABLES = {
    "users",
    "contexts",
    "contacts",
    "conversations",
    "messages",
    "messages_fts",
    "read_marks",
    "events",
    "cursors",
}


@pytest.fixture
def conn(db_path: Path) -> Iterator[sqlite3.Connection]:
    connection = connect(db_path)
    yield connection
    connection.close()


def tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {row[0] for row in rows}


def test_migrate_creates_a_new_database_then_is_idempotent(conn: sqlite3.Connection) -> None:
    assert schema.version(conn) == 0
    assert schema.migrate(conn) == len(schema.MIGRATIONS)
    assert schema.version(conn) == len(schema.MIGRATIONS)
    assert tables(conn) >= CORE_TABLES
    assert schema.migrate(conn) == 0
    assert schema.version(conn) == len(schema.MIGRATIONS)
    assert not conn.in_transaction


def test_a_newer_database_is_refused(conn: sqlite3.Connection) -> None:
    newer = len(schema.MIGRATIONS) + 1
    conn.execute(f"PRAGMA user_version = {newer}")
    with pytest.raises(RuntimeError, match=rf"schema version {newer} is newer than this"):
        schema.migrate(conn)
    assert schema.version(conn) == newer
    assert "messages" not in tables(conn)  # nothing was touched


async def test_the_store_refuses_to_open_a_newer_database(db_path: Path) -> None:
    conn = connect(db_path)
    conn.execute(f"PRAGMA user_version = {len(schema.MIGRATIONS) + 7}")
    conn.close()
    with pytest.raises(RuntimeError, match="upgrade Switchboard instead"):
        await Store(db_path).run()


def test_a_failing_migration_leaves_the_previous_version(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A migration runs in one transaction with its version bump: all or nothing."""
    released = len(schema.MIGRATIONS)
    schema.migrate(conn)

    def broken(db: sqlite_utils.Database) -> None:
        db.execute("CREATE TABLE half_done (x INTEGER)")
        db.execute("ALTER TABLE users ADD COLUMN nickname TEXT")
        raise RuntimeError("migration bug")

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, broken])
    with pytest.raises(RuntimeError, match="migration bug"):
        schema.migrate(conn)
    assert schema.version(conn) == released
    assert "half_done" not in tables(conn)
    columns = {row[1] for row in conn.execute("PRAGMA table_info(users)")}
    assert "nickname" not in columns
    assert not conn.in_transaction


def test_the_first_migration_is_all_or_nothing_too(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The core migration must not commit halfway (executescript would)."""

    original = schema.MIGRATIONS[0]

    def failing(db: sqlite_utils.Database) -> None:
        original(db)
        raise RuntimeError("after the core tables")

    monkeypatch.setattr(schema, "MIGRATIONS", [failing])
    with pytest.raises(RuntimeError, match="after the core tables"):
        schema.migrate(conn)
    assert schema.version(conn) == 0
    assert tables(conn) & CORE_TABLES == set()


def test_full_text_index_follows_inserts_updates_and_deletes(conn: sqlite3.Connection) -> None:
    schema.migrate(conn)
    conn.execute(
        "INSERT INTO conversations (id, created_at, updated_at, last_activity_at) "
        "VALUES ('cv_1', 0, 0, 0)"
    )
    insert = (
        "INSERT INTO messages (conversation_id, seq, kind, author_kind, author_id, "
        "author_name, body, created_at) VALUES ('cv_1', ?, 'message', 'staff', 'us_1', 'Sam', ?, 0)"
    )
    conn.execute(insert, (1, "the invoice is attached"))
    conn.execute(insert, (2, "thanks for the webinar"))

    def search(term: str) -> list[int]:
        rows = conn.execute(
            "SELECT m.seq FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
            "WHERE messages_fts MATCH ? ORDER BY m.seq",
            (term,),
        ).fetchall()
        return [row[0] for row in rows]

    # New messages are indexed in batches after their commit, not by a trigger.
    assert search("invoice") == []
    assert index_new_messages(Tx(conn, 0)) == 2
    assert search("invoice") == [1]
    assert search("webinar") == [2]
    conn.execute("UPDATE messages SET body = 'the receipt is attached' WHERE seq = 1")
    assert search("invoice") == []
    assert search("receipt") == [1]
    conn.execute("DELETE FROM messages WHERE seq = 2")
    assert search("webinar") == []
    # A row above the watermark may change or go before it is indexed: the index stays
    # consistent (the triggers only touch indexed rows) and indexes its final text.
    conn.execute(insert, (3, "first draft"))
    conn.execute(insert, (4, "short lived"))
    conn.execute("UPDATE messages SET body = 'final text' WHERE seq = 3")
    conn.execute("DELETE FROM messages WHERE seq = 4")
    assert index_new_messages(Tx(conn, 0)) == 1  # ids 3..3 (id 4 is gone)
    assert search("draft") == []
    assert search("final") == [3]
    assert search("lived") == []
    assert conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")
