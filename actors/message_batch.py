"""Appending many messages at once: the fast path of group commit for message writes.

Why: the Store runs SQLite in a worker thread, and the sqlite3 module releases the GIL
around every statement step. When the event loop is busy (under load, always), each
reacquisition waits for the loop to yield the GIL, up to the interpreter's switch
interval. Writing messages one by one (a dedupe SELECT, an UPDATE ... RETURNING, two
INSERTs and a SAVEPOINT pair: about eight steps each) made a batch of 150 messages take
half a second under load, although the same work takes 6 ms on an idle machine.

So a run of consecutive message writes in one batch is applied here with a handful of
multi-row statements, whatever its length: one SELECT finds resends, one reads the
conversations' last seqs, one INSERT writes all messages, one all events, and one
``UPDATE ... FROM (VALUES ...)`` moves every conversation touched. Semantics are those of
:func:`actors.records.insert_message` applied in order (a test checks the two paths agree
on random batches); if this path fails, the Store rolls it back and falls back to the
one-by-one path.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import outcome

from actors.records import (
    DUPLICATE_COLUMNS,
    PREVIEW_CHARS,
    NewMessage,
    NotFound,
    StoredMessage,
    attachment_json,
    message_payload,
    stored_duplicate,
)
from actors.store import Tx

T = TypeVar("T")

#: Rows per multi-row statement: stays far below SQLite's 32766 bound variables.
_CHUNK = 400
_MESSAGE_COLUMNS = (
    "conversation_id, seq, kind, author_kind, author_id, author_name, body, attachments, "
    "client_msg_id, in_reply_to, data, internal, sender_kind, sender_id, created_at"
)
_Key = tuple[str, str, str, str]


def _chunks(items: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _marks(width: int, rows: int) -> str:
    row = "(" + ",".join("?" * width) + ")"
    return ",".join([row] * rows)


def _key(msg: NewMessage) -> _Key | None:
    if msg.client_msg_id is None:
        return None
    writer = msg.writer
    return (msg.conversation, writer.kind, writer.id, msg.client_msg_id)


def _stored_keys(tx: Tx, keys: list[_Key]) -> dict[_Key, tuple[Any, ...]]:
    """Messages already stored under any of ``keys`` (resends)."""
    found: dict[_Key, tuple[Any, ...]] = {}
    for chunk in _chunks(keys):
        found_rows = tx.execute(
            f"SELECT conversation_id, sender_kind, sender_id, client_msg_id, {DUPLICATE_COLUMNS} "
            "FROM messages "
            "WHERE (conversation_id, sender_kind, sender_id, client_msg_id) IN "
            f"(VALUES {_marks(4, len(chunk))})",
            [part for key in chunk for part in key],
        ).fetchall()
        for row in found_rows:
            found[(row[0], row[1], row[2], row[3])] = row
    return found


def insert_messages(tx: Tx, msgs: Sequence[NewMessage]) -> list[outcome.Outcome[StoredMessage]]:
    """Append ``msgs`` in order, as ``insert_message`` would one by one (see module doc).

    Returns one outcome per message: the stored message (``duplicate`` for a resend), or
    ``NotFound`` for a conversation that does not exist.
    """
    now = tx.now_ms
    keys = [key for key in map(_key, msgs) if key is not None]
    stored_before = _stored_keys(tx, keys) if keys else {}
    last: dict[str, int] = {}
    conversations = list(dict.fromkeys(m.conversation for m in msgs))
    for ids in _chunks(conversations):
        marks = ",".join("?" * len(ids))
        for conversation, seq in tx.execute(
            f"SELECT id, last_seq FROM conversations WHERE id IN ({marks})", list(ids)
        ).fetchall():
            last[conversation] = seq

    results: list[outcome.Outcome[StoredMessage]] = []
    fresh: dict[_Key, StoredMessage] = {}
    rows: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    # conversation -> [last_seq, last_activity_at, preview, last_customer_at, last_staff_at]
    touched: dict[str, list[Any]] = {}
    for msg in msgs:
        key = _key(msg)
        if key is not None:
            row = stored_before.get(key)
            if row is not None:
                results.append(outcome.Value(stored_duplicate(msg, row[4:])))
                continue
            earlier = fresh.get(key)
            if earlier is not None:
                results.append(outcome.Value(dataclasses.replace(earlier, duplicate=True)))
                continue
        previous = last.get(msg.conversation)
        if previous is None:
            results.append(
                outcome.Error(NotFound(f"conversation {msg.conversation} does not exist"))
            )
            continue
        seq = last[msg.conversation] = previous + 1
        internal = msg.is_internal
        stored = StoredMessage(
            conversation=msg.conversation,
            seq=seq,
            kind=msg.kind,
            author=msg.author,
            body=msg.body,
            attachments=msg.attachments,
            client_msg_id=msg.client_msg_id,
            in_reply_to=msg.in_reply_to,
            data=msg.data,
            ts=now,
            internal=internal,
        )
        rows.append(
            (
                msg.conversation,
                seq,
                msg.kind,
                msg.author.kind,
                msg.author.id,
                msg.author.name,
                msg.body,
                json.dumps([attachment_json(a) for a in msg.attachments])
                if msg.attachments
                else "[]",
                msg.client_msg_id,
                msg.in_reply_to,
                json.dumps(msg.data) if msg.data is not None else None,
                internal,
                msg.writer.kind,
                msg.writer.id,
                now,
            )
        )
        payload = json.dumps(message_payload(stored), separators=(",", ":"))
        events.append(("message.posted", msg.conversation, payload, now))
        state = touched.setdefault(msg.conversation, [seq, None, None, None, None])
        state[0] = seq
        if msg.kind == "message" and not internal:
            state[1] = now
            state[2] = msg.body[:PREVIEW_CHARS]
            if msg.author.kind == "contact":
                state[3] = now
            elif msg.author.kind == "staff":
                state[4] = now
        results.append(outcome.Value(stored))
        if key is not None:
            fresh[key] = stored

    for chunk in _chunks(rows):
        tx.execute(
            f"INSERT INTO messages ({_MESSAGE_COLUMNS}) VALUES {_marks(15, len(chunk))}",
            [value for row in chunk for value in row],
        )
    for chunk in _chunks(events):
        tx.execute(
            "INSERT INTO events (type, conversation_id, payload, ts) "
            f"VALUES {_marks(4, len(chunk))}",
            [value for row in chunk for value in row],
        )
    if events:
        # One statement's rows get consecutive ids; the last one is the newest event.
        newest = int(tx.execute("SELECT last_insert_rowid()").fetchone()[0])
        tx.max_event_id = max(tx.max_event_id, newest)
    updates = [(conversation, *state) for conversation, state in touched.items()]
    for chunk in _chunks(updates):
        tx.execute(
            "UPDATE conversations SET last_seq = v.column2, updated_at = ?, "
            "last_activity_at = COALESCE(v.column3, last_activity_at), "
            "preview = COALESCE(v.column4, preview), "
            "last_customer_at = COALESCE(v.column5, last_customer_at), "
            "last_staff_at = COALESCE(v.column6, last_staff_at) "
            f"FROM (VALUES {_marks(6, len(chunk))}) AS v WHERE conversations.id = v.column1",
            [now, *[value for row in chunk for value in row]],
        )
    return results
