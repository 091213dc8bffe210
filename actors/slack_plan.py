"""Which Slack operations an event-log event causes, and the data the operations render.

The planner runs inside one Store transaction per batch of events (the bridge's consumer
``handle``) and only queues rows in ``slack_ops``; the bridge's lanes do the Slack calls
later. What is mirrored into an attendee's thread: the attendee's messages, their answers
to webinar interactions, staff replies and internal notes written in Switchboard. Not
mirrored: messages that came from Slack (they are there already) and timeline events
(status and assignee changes update the parent message instead).

A thread is planned when the conversation is created (post-on-join mode) or, in
first-message mode, when the attendee first writes; a conversation that has no thread yet
when it becomes eligible (Slack was configured later, or first-message mode) gets its
earlier messages backfilled, in order, right after the parent.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from actors.slack_blocks import ParentFacts, thread_line
from actors.slack_store import (
    CHANNEL_LANE,
    SLACK_ORIGIN,
    SlackConfig,
    Thread,
    enqueue,
    get_thread,
)
from actors.store import StoredEvent, Tx

#: Where the "Reply in chat" button leads (the console routes /console/<anything>).
CONSOLE_PATH = "/console/conversations/{conversation}"


def is_mirrored(kind: str, data: dict[str, Any] | None, client_msg_id: str | None) -> bool:
    """Whether a message goes into the Slack thread."""
    if client_msg_id is not None and client_msg_id.startswith(SLACK_ORIGIN):
        return False
    if kind in ("message", "note"):
        return True
    return kind == "event" and isinstance(data, dict) and data.get("event") == "interaction"


def lane_for(conn: Tx | sqlite3.Connection, conversation: str, cfg: SlackConfig) -> str:
    """The lane (so the channel) of a new thread under the current settings."""
    if cfg.channel_per_webinar:
        row = conn.execute(
            "SELECT c.context_id FROM conversations c JOIN contexts x ON x.id = c.context_id "
            "WHERE c.id = ? AND x.kind = 'webinar'",
            (conversation,),
        ).fetchone()
        if row is not None:
            return f"webinar:{row[0]}"
    return CHANNEL_LANE


def _ensure_thread(
    tx: Tx, conversation: str, cfg: SlackConfig, *, before_seq: int | None, chatting: bool
) -> tuple[Thread, int]:
    """Plan the thread (parent, then a backfill of messages before ``before_seq``)."""
    thread = get_thread(tx, conversation)
    if thread is not None:
        return thread, 0
    lane = lane_for(tx, conversation, cfg)
    tx.execute(
        "INSERT INTO slack_threads (conversation_id, lane, created_at) VALUES (?, ?, ?)",
        (conversation, lane, tx.now_ms),
    )
    added = enqueue(
        tx, f"parent:{conversation}", lane, conversation, "parent", payload={"chatting": chatting}
    )
    if before_seq is not None:
        rows = tx.execute(
            "SELECT seq, kind, data, client_msg_id FROM messages WHERE conversation_id = ? "
            "AND seq < ? AND deleted_at IS NULL ORDER BY seq",
            (conversation, before_seq),
        ).fetchall()
        for seq, kind, data, client_msg_id in rows:
            if is_mirrored(kind, json.loads(data) if data else None, client_msg_id):
                added += enqueue(
                    tx, f"reply:{conversation}:{seq}", lane, conversation, "reply", seq
                )
    return Thread(conversation, lane, None, None), added


def _plan_message(tx: Tx, conversation: str, p: dict[str, Any], cfg: SlackConfig) -> int:
    data = p.get("data") or {}
    seq = int(p["seq"])
    if p["kind"] == "event" and data.get("event") == "emailed":
        # The mailer sent message data.seq by email: mark its copy in the thread.
        thread = get_thread(tx, conversation)
        if thread is None:
            return 0
        target = int(data["seq"])
        key = f"react:{conversation}:{target}:email"
        return enqueue(tx, key, thread.lane, conversation, "react", target, {"name": "email"})
    if not is_mirrored(p["kind"], data, p.get("client_msg_id")):
        return 0
    added = 0
    thread = get_thread(tx, conversation)
    if thread is None:
        by_attendee = p["author"]["kind"] == "contact" and p["kind"] == "message"
        if cfg.first_message_only and not by_attendee:
            return 0
        thread, added = _ensure_thread(
            tx, conversation, cfg, before_seq=seq, chatting=cfg.first_message_only
        )
    return added + enqueue(
        tx, f"reply:{conversation}:{seq}", thread.lane, conversation, "reply", seq
    )


def plan_events(tx: Tx, events: Sequence[StoredEvent], cfg: SlackConfig) -> int:
    """Queue the Slack operations ``events`` cause; return how many were new."""
    added = 0
    for event in events:
        conversation = event.conversation
        if conversation is None:
            continue
        kind = event.type
        if kind == "conversation.created":
            if not cfg.first_message_only and event.payload.get("contact"):
                added += _ensure_thread(tx, conversation, cfg, before_seq=None, chatting=False)[1]
        elif kind == "message.posted":
            added += _plan_message(tx, conversation, event.payload, cfg)
        elif kind in ("conversation.updated", "message.edited", "message.deleted"):
            thread = get_thread(tx, conversation)
            if thread is None:
                continue
            if kind == "conversation.updated":
                key, op, seq = f"update:{conversation}:{event.id}", "update", None
            elif kind == "message.edited":
                seq = int(event.payload["seq"])
                key, op = f"edit:{conversation}:{seq}:{event.id}", "edit"
            else:
                seq = int(event.payload["seq"])
                key, op = f"delete:{conversation}:{seq}", "delete"
            added += enqueue(tx, key, thread.lane, conversation, op, seq)
    return added


# -- what operations render -----------------------------------------------------------------


def parent_facts(
    conn: sqlite3.Connection, conversation: str, base_url: str, *, chatting: bool
) -> ParentFacts | None:
    """The facts of the parent message as they are now (None: no such conversation)."""
    row = conn.execute(
        "SELECT c.status, c.created_at, k.name, k.email, x.kind, x.title, x.data, u.name "
        "FROM conversations c LEFT JOIN contacts k ON k.id = c.contact_id "
        "LEFT JOIN contexts x ON x.id = c.context_id "
        "LEFT JOIN users u ON u.id = c.assignee_user_id WHERE c.id = ?",
        (conversation,),
    ).fetchone()
    if row is None:
        return None
    status, created_at, name, email, kind, title, raw, assignee = row
    data = json.loads(raw) if raw else {}
    webinar = (data.get("webinar") or title) if kind == "webinar" else title
    return ParentFacts(
        conversation=conversation,
        contact_name=name or "Someone",
        contact_email=email,
        webinar=webinar,
        session_type=data.get("session_type"),
        starts_at=data.get("starts_at"),
        joined_at=int(created_at),
        status=str(status),
        assignee=assignee,
        console_url=base_url.rstrip("/") + CONSOLE_PATH.format(conversation=conversation),
        started_chatting=chatting,
    )


def message_text(conn: sqlite3.Connection, conversation: str, seq: int) -> str | None:
    """The thread line of message ``seq`` as it is now; None when it is gone."""
    row = conn.execute(
        "SELECT author_kind, author_name, kind, body, data FROM messages "
        "WHERE conversation_id = ? AND seq = ? AND deleted_at IS NULL",
        (conversation, seq),
    ).fetchone()
    if row is None:
        return None
    author_kind, author_name, kind, body, data = row
    return thread_line(author_kind, author_name, kind, body, json.loads(data) if data else None)
