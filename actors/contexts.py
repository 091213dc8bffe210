"""SQL for the audience side: contexts (a webinar, a note, a site...), the contacts who
write in them, and the creation of their conversations and attendee tokens.

Split from actors/directory.py, which keeps the staff side (users, teams, login sessions,
API tokens) and the identity helpers both sides use (``new_id``, ``digest``,
``Principal``); attendee tokens are issued here (:func:`create_attendee`) and looked up
there (``lookup_attendee_token``), with the other token lookups. Write functions take a
:class:`~actors.store.Tx`, reads a read-only connection.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from actors.directory import Conflict, digest, get_user, new_id
from actors.records import NotFound
from actors.store import Tx

CONTEXT_KINDS = ("webinar", "note", "email", "event", "site")
CHANNELS = ("widget", "link", "api")


def create_context(
    tx: Tx,
    kind: str,
    title: str,
    data: dict[str, Any],
    moderators: list[str],
    primary_moderator: str | None,
    external_id: str | None,
) -> dict[str, Any]:
    if kind not in CONTEXT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(CONTEXT_KINDS)}")
    if (
        external_id is not None
        and tx.execute("SELECT 1 FROM contexts WHERE external_id = ?", (external_id,)).fetchone()
    ):
        raise Conflict(f"a context with external_id {external_id} exists already")
    context_id = new_id("cx")
    tx.execute(
        "INSERT INTO contexts (id, kind, title, data, external_id, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (context_id, kind, title, json.dumps(data, sort_keys=True), external_id, tx.now_ms),
    )
    primary = primary_moderator or (moderators[0] if moderators else None)
    for user_id in dict.fromkeys(moderators + ([primary] if primary else [])):
        get_user(tx, user_id)
        tx.execute(
            "INSERT INTO context_moderators (context_id, user_id, is_primary) VALUES (?, ?, ?)",
            (context_id, user_id, user_id == primary),
        )
    return get_context(tx, context_id)


def get_context(conn: sqlite3.Connection | Tx, context_id: str) -> dict[str, Any]:
    row = conn.execute(
        "SELECT id, kind, title, data, external_id, created_at FROM contexts WHERE id = ?",
        (context_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"context {context_id} does not exist")
    moderators = conn.execute(
        "SELECT user_id, is_primary FROM context_moderators WHERE context_id = ? ORDER BY user_id",
        (context_id,),
    ).fetchall()
    return {
        "id": row[0],
        "kind": row[1],
        "title": row[2],
        "data": json.loads(row[3]),
        "external_id": row[4],
        "created_at": row[5],
        "moderators": [m[0] for m in moderators],
        "primary_moderator": next((m[0] for m in moderators if m[1]), None),
    }


def list_contexts(conn: sqlite3.Connection, limit: int, kind: str | None) -> list[dict[str, Any]]:
    if kind is not None:
        rows = conn.execute(
            "SELECT id FROM contexts WHERE kind = ? ORDER BY created_at DESC LIMIT ?", (kind, limit)
        ).fetchall()
    else:
        rows = conn.execute(
            "SELECT id FROM contexts ORDER BY created_at DESC LIMIT ?", (limit,)
        ).fetchall()
    return [get_context(conn, r[0]) for r in rows]


def get_contact(conn: sqlite3.Connection | Tx, contact_id: str) -> dict[str, Any]:
    row = conn.execute(
        "SELECT id, name, email, verified, owner_id, external_id, created_at FROM contacts "
        "WHERE id = ?",
        (contact_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"contact {contact_id} does not exist")
    return {
        "id": row[0],
        "name": row[1],
        "email": row[2],
        "verified": bool(row[3]),
        "owner": row[4],
        "external_id": row[5],
        "created_at": row[6],
    }


def block_contact(tx: Tx, contact_id: str) -> bool:
    """Block a contact: their tokens are refused from now on (websocket hello and REST).

    Returns True when blocked now, False when the contact was blocked already (the first
    block's time is kept).

    Raises:
        NotFound: no such contact.
    """
    get_contact(tx, contact_id)
    cur = tx.execute(
        "UPDATE contacts SET blocked_at = ? WHERE id = ? AND blocked_at IS NULL",
        (tx.now_ms, contact_id),
    )
    return cur.rowcount == 1


def is_blocked(conn: sqlite3.Connection | Tx, contact_id: str) -> bool:
    row = conn.execute("SELECT blocked_at FROM contacts WHERE id = ?", (contact_id,)).fetchone()
    return row is not None and row[0] is not None


def create_conversation(
    tx: Tx, context_id: str | None, contact_id: str | None, channel: str
) -> str:
    """Insert a conversation and its ``conversation.created`` event; return its id."""
    conversation = new_id("cv")
    now = tx.now_ms
    tx.execute(
        "INSERT INTO conversations (id, context_id, contact_id, channel, created_at, updated_at, "
        "last_activity_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (conversation, context_id, contact_id, channel, now, now, now),
    )
    tx.append_event(
        "conversation.created",
        conversation,
        {
            "conversation": conversation,
            "context": context_id,
            "contact": contact_id,
            "channel": channel,
            "ts": now,
        },
    )
    return conversation


def create_attendee(
    tx: Tx,
    context_id: str,
    name: str,
    email: str | None,
    external_id: str | None,
    channel: str,
    token: str,
    ttl_ms: int,
) -> dict[str, Any]:
    """Find or create the contact and their conversation in this context; issue a token.

    One person has one conversation per context: asking again (same external_id, or same
    email) returns the same conversation with a fresh token.
    """
    get_context(tx, context_id)
    if channel not in CHANNELS:
        raise ValueError(f"channel must be one of {', '.join(CHANNELS)}")
    contact = None
    if external_id is not None:
        contact = tx.execute(
            "SELECT id FROM contacts WHERE external_id = ?", (external_id,)
        ).fetchone()
    if contact is None and email:
        # The same email is the same person, unless the host application told us two
        # different external ids.
        contact = tx.execute(
            "SELECT id FROM contacts WHERE email = ? AND (external_id IS NULL OR ? IS NULL) "
            "ORDER BY created_at LIMIT 1",
            (email, external_id),
        ).fetchone()
    if contact is None:
        contact_id = new_id("ct")
        tx.execute(
            "INSERT INTO contacts (id, name, email, external_id, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (contact_id, name, email, external_id, tx.now_ms),
        )
    else:
        contact_id = contact[0]
        tx.execute(
            "UPDATE contacts SET name = ?, email = COALESCE(email, ?), "
            "external_id = COALESCE(external_id, ?) WHERE id = ?",
            (name, email, external_id, contact_id),
        )
    row = tx.execute(
        "SELECT id FROM conversations WHERE context_id = ? AND contact_id = ?",
        (context_id, contact_id),
    ).fetchone()
    created = row is None
    conversation = create_conversation(tx, context_id, contact_id, channel) if created else row[0]
    expires_at = tx.now_ms + ttl_ms
    tx.execute(
        "INSERT INTO attendee_tokens (token_hash, contact_id, conversation_id, created_at, "
        "expires_at) VALUES (?, ?, ?, ?, ?)",
        (digest(token), contact_id, conversation, tx.now_ms, expires_at),
    )
    return {
        "contact": get_contact(tx, contact_id),
        "conversation": conversation,
        "created": created,
        "token": token,
        "expires_at": expires_at,
    }


def conversation_exists(conn: sqlite3.Connection, conversation: str) -> bool:
    return (
        conn.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation,)).fetchone()
        is not None
    )
