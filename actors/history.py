"""History reads: what sessions, the LiveFeed, the REST API and the recipes read back
of conversations and their messages.

Split from actors/records.py (which keeps the message types and the writes) so that the
write path and the read path can each be read on their own. Every function takes a
read-only ``sqlite3.Connection`` (``conversation_states`` also a :class:`~actors.store.Tx`,
for a write that must answer with the new state) and runs in a worker thread; nothing
here awaits.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from actors.records import MESSAGE_COLUMNS, NotFound, StoredMessage, row_to_message
from actors.store import Tx

#: Most messages one history read returns; joins page through longer gaps.
HISTORY_PAGE = 500


def last_seq(conn: sqlite3.Connection, conversation: str) -> int:
    row = conn.execute(
        "SELECT last_seq FROM conversations WHERE id = ?", (conversation,)
    ).fetchone()
    if row is None:
        raise NotFound(f"conversation {conversation} does not exist")
    return int(row[0])


def messages_after(
    conn: sqlite3.Connection,
    conversation: str,
    after_seq: int,
    upto_seq: int,
    *,
    include_notes: bool,
    limit: int = HISTORY_PAGE,
) -> list[StoredMessage]:
    """Messages with after_seq < seq <= upto_seq, oldest first, at most ``limit``.

    ``include_notes=False`` (a contact reading) leaves out every internal message: notes
    and internal change events.
    """
    notes = "" if include_notes else "AND internal = 0 "
    rows = conn.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? "
        f"AND seq > ? AND seq <= ? AND deleted_at IS NULL {notes}ORDER BY seq LIMIT ?",
        (conversation, after_seq, upto_seq, limit),
    ).fetchall()
    return [row_to_message(conversation, row) for row in rows]


def messages_before(
    conn: sqlite3.Connection,
    conversation: str,
    before_seq: int | None,
    *,
    include_notes: bool,
    limit: int,
) -> list[StoredMessage]:
    """The newest ``limit`` messages with seq < before_seq (all when None), oldest first.

    ``include_notes`` as in :func:`messages_after`.
    """
    notes = "" if include_notes else "AND internal = 0 "
    bound = before_seq if before_seq is not None else 2**62
    rows = conn.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND seq < ? "
        f"AND deleted_at IS NULL {notes}ORDER BY seq DESC LIMIT ?",
        (conversation, bound, limit),
    ).fetchall()
    return [row_to_message(conversation, row) for row in reversed(rows)]


_STATE_SQL = """
SELECT c.id, c.status, c.assignee_user_id, c.assignee_team_id, c.priority, c.properties,
       c.channel, c.last_seq, c.preview, c.created_at, c.updated_at, c.last_activity_at,
       c.last_customer_at, c.last_staff_at,
       x.id, x.kind, x.title, k.id, k.name, k.email
FROM conversations c
LEFT JOIN contexts x ON x.id = c.context_id
LEFT JOIN contacts k ON k.id = c.contact_id
WHERE c.id IN ({marks})
"""


def conversation_states(conn: sqlite3.Connection | Tx, ids: Iterable[str]) -> list[dict[str, Any]]:
    """Summaries of the given conversations (order of ``ids``; missing ones left out)."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    states: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(_STATE_SQL.format(marks=marks), chunk).fetchall():
            states[row[0]] = {
                "id": row[0],
                "status": row[1],
                "assignee": {"user": row[2], "team": row[3]},
                "priority": row[4],
                "properties": json.loads(row[5]),
                "channel": row[6],
                "last_seq": row[7],
                "preview": row[8],
                "created_at": row[9],
                "updated_at": row[10],
                "last_activity_at": row[11],
                "last_customer_at": row[12],
                "last_staff_at": row[13],
                "context": (
                    {"id": row[14], "kind": row[15], "title": row[16]} if row[14] else None
                ),
                "contact": (
                    {"id": row[17], "name": row[18], "email": row[19]} if row[17] else None
                ),
                "tags": [],
            }
        for conv, tag in conn.execute(
            f"SELECT conversation_id, tag FROM conversation_tags WHERE conversation_id IN "
            f"({marks}) ORDER BY tag",
            chunk,
        ).fetchall():
            states[conv]["tags"].append(tag)
    return [states[i] for i in wanted if i in states]
