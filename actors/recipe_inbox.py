"""What recipes leave for staff: replies waiting as drafts or for approval, and
notifications; the SQL behind the console's approval queue, composer drafts and bell.

A **reply** row is written by a recipe's ``reply`` action in mode ``draft`` or
``approval`` (unique per run and action). It waits until a staff member sends it
(``recipe_actions.approve_reply``: posted as that staff member, maybe edited) or
discards it; either way the row keeps who decided and when. Sending first *claims* the
row (``decided_by`` set while still waiting), so two staff members approving at once do
not both post it; a claim older than :data:`CLAIM_MS` (its sender died) may be taken over.

A **notification** row is one message of a recipe's ``notify`` action to one user.

Read functions take a read-only connection (or a Tx), writes a Tx;
:func:`approve_reply` and :func:`discard_reply` are the async entry points (REST).
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Sequence
from typing import Any

from actors.directory import Conflict
from actors.records import NewMessage, NotFound
from actors.store import Tx
from actors.system import System
from protocol.frames import Participant

log = logging.getLogger(__name__)

REPLY_STATES = ("waiting", "sent", "discarded")
REPLY_MODES = ("draft", "approval")
#: How long a staff member's claim on a waiting reply (sending it) holds off others.
CLAIM_MS = 60_000
#: Most rows one listing returns.
MAX_LIMIT = 200

_REPLY_COLUMNS = (
    "r.id, r.conversation_id, r.recipe_id, k.name, r.run_id, r.action_index, r.mode, r.body, "
    "r.state, r.decided_by, r.decided_at, r.sent_seq, r.created_at"
)


def _reply(row: Sequence[Any]) -> dict[str, Any]:
    return {
        "id": row[0], "conversation": row[1], "recipe": row[2], "recipe_name": row[3],
        "run": row[4], "action_index": row[5], "mode": row[6], "body": row[7],
        "state": row[8], "decided_by": row[9], "decided_at": row[10], "sent_seq": row[11],
        "created_at": row[12],
    }  # fmt: skip


def _select(where: str) -> str:
    return (
        f"SELECT {_REPLY_COLUMNS} FROM recipe_replies r "
        f"LEFT JOIN recipes k ON k.id = r.recipe_id {where}"
    )


def list_replies(
    conn: sqlite3.Connection,
    *,
    state: str | None = "waiting",
    mode: str | None = None,
    conversation_id: str | None = None,
    limit: int = MAX_LIMIT,
) -> list[dict[str, Any]]:
    """Replies, oldest first (a queue); ``None`` filters leave that part open.

    Raises:
        ValueError: an unknown state or mode.
    """
    if state is not None and state not in REPLY_STATES:
        raise ValueError(f"state must be one of {', '.join(REPLY_STATES)}")
    if mode is not None and mode not in REPLY_MODES:
        raise ValueError(f"mode must be one of {', '.join(REPLY_MODES)}")
    where: list[str] = []
    params: list[Any] = []
    for column, value in (("state", state), ("mode", mode), ("conversation_id", conversation_id)):
        if value is not None:
            where.append(f"r.{column} = ?")
            params.append(value)
    clause = f"WHERE {' AND '.join(where)} " if where else ""
    rows = conn.execute(
        _select(f"{clause}ORDER BY r.created_at, r.rowid LIMIT ?"), (*params, limit)
    ).fetchall()
    return [_reply(r) for r in rows]


def get_reply(conn: sqlite3.Connection | Tx, reply_id: str) -> dict[str, Any]:
    """Raises: NotFound."""
    row = conn.execute(_select("WHERE r.id = ?"), (reply_id,)).fetchone()
    if row is None:
        raise NotFound(f"reply {reply_id} does not exist")
    return _reply(row)


def queue_reply(
    tx: Tx,
    *,
    reply_id: str,
    conversation_id: str,
    recipe_id: str,
    run_id: str,
    action_index: int,
    mode: str,
    body: str,
) -> dict[str, Any]:
    """Store a draft or to-be-approved reply once per (run, action); return the row."""
    tx.execute(
        "INSERT INTO recipe_replies (id, conversation_id, recipe_id, run_id, action_index, "
        "mode, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (run_id, action_index) DO NOTHING",
        (reply_id, conversation_id, recipe_id, run_id, action_index, mode, body, tx.now_ms),
    )
    return find_reply(tx, run_id, action_index) or {}


def find_reply(
    conn: sqlite3.Connection | Tx, run_id: str, action_index: int
) -> dict[str, Any] | None:
    row = conn.execute(
        _select("WHERE r.run_id = ? AND r.action_index = ?"), (run_id, action_index)
    ).fetchone()
    return None if row is None else _reply(row)


def _approval_message(tx: Tx, reply: dict[str, Any]) -> int | None:
    """The seq of the message an earlier approval of ``reply`` posted, if any."""
    row = tx.execute(
        "SELECT seq FROM messages WHERE conversation_id = ? AND client_msg_id = ?",
        (reply["conversation"], f"approved:{reply['id']}"),
    ).fetchone()
    return None if row is None else int(row[0])


def claim_reply(tx: Tx, reply_id: str, user_id: str) -> dict[str, Any]:
    """Claim a waiting reply for ``user_id`` to send; a sent one is returned as it is.

    If an earlier approval posted the message but stopped before recording it, the reply
    is marked sent with that message now.

    Raises:
        NotFound: no such reply.
        Conflict: it was discarded, or another staff member is sending it right now.
    """
    reply = get_reply(tx, reply_id)
    if reply["state"] == "discarded":
        raise Conflict("the reply was discarded; it cannot be sent")
    if reply["state"] == "sent":
        return reply
    _check_claim(tx, reply, user_id)
    seq = _approval_message(tx, reply)
    if seq is not None:
        return mark_sent(tx, reply_id, reply["decided_by"] or user_id, seq, reply["body"])
    tx.execute(
        "UPDATE recipe_replies SET decided_by = ?, decided_at = ? WHERE id = ?",
        (user_id, tx.now_ms, reply_id),
    )
    return get_reply(tx, reply_id)


def _check_claim(tx: Tx, reply: dict[str, Any], user_id: str) -> None:
    holder = reply["decided_by"]
    if holder is not None and holder != user_id and tx.now_ms - reply["decided_at"] < CLAIM_MS:
        raise Conflict(f"the reply is being sent by {holder}")


def mark_sent(tx: Tx, reply_id: str, user_id: str, seq: int, body: str) -> dict[str, Any]:
    tx.execute(
        "UPDATE recipe_replies SET state = 'sent', decided_by = ?, decided_at = ?, sent_seq = ?, "
        "body = ? WHERE id = ? AND state = 'waiting'",
        (user_id, tx.now_ms, seq, body, reply_id),
    )
    return get_reply(tx, reply_id)


def discard_reply_row(tx: Tx, reply_id: str, user_id: str) -> dict[str, Any]:
    """Discard a waiting reply (idempotent for a discarded one).

    Raises:
        NotFound: no such reply.
        Conflict: it was sent, or another staff member is sending it right now.
    """
    reply = get_reply(tx, reply_id)
    if reply["state"] == "discarded":
        return reply
    if reply["state"] == "sent":
        raise Conflict("the reply was sent already")
    _check_claim(tx, reply, user_id)
    tx.execute(
        "UPDATE recipe_replies SET state = 'discarded', decided_by = ?, decided_at = ? "
        "WHERE id = ?",
        (user_id, tx.now_ms, reply_id),
    )
    return get_reply(tx, reply_id)


# -- sending or discarding (async) ----------------------------------------------------------


async def approve_reply(
    system: System, reply_id: str, by: Participant, body: str | None = None
) -> dict[str, Any]:
    """Send a draft or to-be-approved reply as staff member ``by`` (``body`` replaces the
    text when given); idempotent: approving a sent reply returns it unchanged.

    Raises:
        NotFound: no such reply (or its conversation is gone).
        Conflict: it was discarded, or someone else is sending it right now.
        ValueError: an empty ``body``.
    """
    if body is not None and not body.strip():
        raise ValueError("body must not be empty")
    reply = await system.store.write(
        functools.partial(claim_reply, reply_id=reply_id, user_id=by.id)
    )
    if reply["state"] == "sent":
        return reply
    text = reply["body"] if body is None else body
    stored = await system.post(
        NewMessage(
            conversation=reply["conversation"],
            author=by,
            kind="message",
            body=text,
            client_msg_id=f"approved:{reply_id}",
            data={"recipe_reply": reply_id, "recipe": reply["recipe"]},
        )
    )
    sent: dict[str, Any] = await system.store.write(
        functools.partial(mark_sent, reply_id=reply_id, user_id=by.id, seq=stored.seq, body=text)
    )
    log.info("recipes.reply_sent reply=%s by=%s seq=%d", reply_id, by.id, stored.seq)
    return sent


async def discard_reply(system: System, reply_id: str, by: Participant) -> dict[str, Any]:
    """Discard a waiting reply (idempotent).

    Raises:
        NotFound: no such reply.
        Conflict: it was sent, or someone else is sending it right now.
    """
    discarded: dict[str, Any] = await system.store.write(
        functools.partial(discard_reply_row, reply_id=reply_id, user_id=by.id)
    )
    return discarded


# -- notifications ----------------------------------------------------------------------------


def list_notifications(
    conn: sqlite3.Connection, user_id: str, *, unread_only: bool = False, limit: int = 50
) -> list[dict[str, Any]]:
    """A user's notifications, newest first."""
    unread = "AND read_at IS NULL " if unread_only else ""
    rows = conn.execute(
        "SELECT id, key, recipe_id, conversation_id, title, body, created_at, read_at "
        f"FROM notifications WHERE user_id = ? {unread}ORDER BY id DESC LIMIT ?",
        (user_id, min(limit, MAX_LIMIT)),
    ).fetchall()
    return [
        {
            "id": r[0], "key": r[1], "recipe": r[2], "conversation": r[3], "title": r[4],
            "body": r[5], "created_at": r[6], "read_at": r[7], "read": r[7] is not None,
        }
        for r in rows
    ]  # fmt: skip


def unread_count(conn: sqlite3.Connection, user_id: str) -> int:
    row = conn.execute(
        "SELECT COUNT(*) FROM notifications WHERE user_id = ? AND read_at IS NULL", (user_id,)
    ).fetchone()
    return int(row[0])


def mark_notifications_read(tx: Tx, user_id: str, ids: list[int] | None) -> int:
    """Mark some (``ids``) or all of a user's unread notifications read; return how many
    changed. Ids of other users' notifications are ignored."""
    if ids is None:
        cur = tx.execute(
            "UPDATE notifications SET read_at = ? WHERE user_id = ? AND read_at IS NULL",
            (tx.now_ms, user_id),
        )
        return cur.rowcount
    changed = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        changed += tx.execute(
            f"UPDATE notifications SET read_at = ? WHERE user_id = ? AND read_at IS NULL "
            f"AND id IN ({marks})",
            (tx.now_ms, user_id, *chunk),
        ).rowcount
    return changed
