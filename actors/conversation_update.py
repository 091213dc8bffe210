"""The conversation update path: status, assignee, priority, tags and properties.

Split from actors/records.py because it is a unit of its own: it validates a
:class:`~actors.records.ConversationChanges`, writes only what differs, appends the
``conversation.updated`` event and records the change in the history as ``event``
messages (a public one for what a contact may see, an internal one for the rest). The
ConversationGroup hands :func:`update_conversation` to the Store, so it runs inside a
group-committed transaction; nothing here awaits. ``ConversationChanges`` itself stays in
actors/records.py with the other message and change types.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from actors.history import conversation_states
from actors.records import (
    PRIORITIES,
    STATUSES,
    ConversationChanges,
    NewMessage,
    NotFound,
    StoredMessage,
    insert_message,
    participant_json,
)
from actors.store import Tx
from protocol.frames import Participant

#: Conversation changes a contact may see in the history; the rest (assignee, tags,
#: priority, properties) is recorded in an internal event message, for staff only.
PUBLIC_CHANGES = frozenset({"status"})


def _current_state(conn: sqlite3.Connection | Tx, conversation: str) -> dict[str, Any]:
    states = conversation_states(conn, [conversation])
    if not states:
        raise NotFound(f"conversation {conversation} does not exist")
    return states[0]


def update_conversation(
    tx: Tx, conversation: str, changes: ConversationChanges, by: Participant
) -> tuple[dict[str, Any], list[StoredMessage]]:
    """Apply ``changes``; return the new state and the ``event`` messages recording them.

    Status changes are recorded in a public event message (the contact sees "resolved");
    assignee, tag, priority and property changes in an internal one (staff only).
    Unchanged fields are not recorded; when nothing changes nothing is written and the
    list is empty.

    Raises:
        NotFound: the conversation, the user or the team does not exist.
        ValueError: a status or priority outside the allowed values.
    """
    before = _current_state(tx, conversation)
    sets: dict[str, Any] = {}
    diff: dict[str, list[Any]] = {}
    if changes.status is not None:
        if changes.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        if changes.status != before["status"]:
            sets["status"] = changes.status
            diff["status"] = [before["status"], changes.status]
    if changes.priority is not None:
        if changes.priority not in PRIORITIES:
            raise ValueError(f"priority must be one of {', '.join(PRIORITIES)}")
        if changes.priority != before["priority"]:
            sets["priority"] = changes.priority
            diff["priority"] = [before["priority"], changes.priority]
    old_assignee = before["assignee"]
    new_assignee = dict(old_assignee)
    if changes.clear_assignee:
        new_assignee = {"user": None, "team": None}
    if changes.assignee_user is not None:
        if (
            tx.execute("SELECT 1 FROM users WHERE id = ?", (changes.assignee_user,)).fetchone()
            is None
        ):
            raise NotFound(f"user {changes.assignee_user} does not exist")
        new_assignee["user"] = changes.assignee_user
    if changes.assignee_team is not None:
        if (
            tx.execute("SELECT 1 FROM teams WHERE id = ?", (changes.assignee_team,)).fetchone()
            is None
        ):
            raise NotFound(f"team {changes.assignee_team} does not exist")
        new_assignee["team"] = changes.assignee_team
    if new_assignee != old_assignee:
        sets["assignee_user_id"] = new_assignee["user"]
        sets["assignee_team_id"] = new_assignee["team"]
        diff["assignee"] = [old_assignee, new_assignee]
    if changes.properties:
        props = dict(before["properties"])
        for key, value in changes.properties.items():
            if value is None:
                props.pop(key, None)
            else:
                props[key] = value
        if props != before["properties"]:
            sets["properties"] = json.dumps(props, sort_keys=True)
            diff["properties"] = [before["properties"], props]
    old_tags = set(before["tags"])
    new_tags = (old_tags | set(changes.tags_add)) - set(changes.tags_remove)
    if new_tags != old_tags:
        for tag in new_tags - old_tags:
            tx.execute(
                "INSERT INTO conversation_tags (conversation_id, tag) VALUES (?, ?)",
                (conversation, tag),
            )
        for tag in old_tags - new_tags:
            tx.execute(
                "DELETE FROM conversation_tags WHERE conversation_id = ? AND tag = ?",
                (conversation, tag),
            )
        diff["tags"] = [sorted(old_tags), sorted(new_tags)]
    if not diff:
        return before, []
    assignments = ", ".join(f"{column} = ?" for column in sets)
    tx.execute(
        f"UPDATE conversations SET {assignments}{', ' if sets else ''}updated_at = ? WHERE id = ?",
        (*sets.values(), tx.now_ms, conversation),
    )
    tx.append_event(
        "conversation.updated",
        conversation,
        {
            "conversation": conversation,
            "changes": diff,
            "by": participant_json(by),
            "ts": tx.now_ms,
            **({"cause": changes.cause} if changes.cause is not None else {}),
        },
    )
    public = {key: value for key, value in diff.items() if key in PUBLIC_CHANGES}
    internal = {key: value for key, value in diff.items() if key not in PUBLIC_CHANGES}
    events = [
        insert_message(
            tx,
            NewMessage(
                conversation=conversation,
                author=by,
                kind="event",
                body=describe_changes(part),
                data={
                    "event": "conversation_updated",
                    "changes": part,
                    **({"cause": changes.cause} if changes.cause is not None else {}),
                },
                internal=is_internal,
            ),
        )
        for part, is_internal in ((public, False), (internal, True))
        if part
    ]
    return _current_state(tx, conversation), events


def describe_changes(diff: dict[str, list[Any]]) -> str:
    """A short human sentence for the history, e.g. 'status: open → resolved'."""
    parts = []
    for key, (old, new) in sorted(diff.items()):
        if key == "assignee":
            old = old.get("user") or old.get("team") or "nobody"
            new = new.get("user") or new.get("team") or "nobody"
        elif key == "properties":
            parts.append("properties changed")
            continue
        elif key == "tags":
            added = sorted(set(new) - set(old))
            removed = sorted(set(old) - set(new))
            if added:
                parts.append("tagged " + ", ".join(added))
            if removed:
                parts.append("untagged " + ", ".join(removed))
            continue
        parts.append(f"{key}: {old} → {new}")
    return "; ".join(parts)
