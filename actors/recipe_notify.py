"""A recipe's ``notify`` action: console notifications and staff mail, with thresholds.

Every match counts (``recipe_counters``: one row per recipe and action index). Users are
notified when ``every`` matches have accumulated and the last notification is at least
``at_most_every_minutes`` old; then the count starts again. Otherwise the action is
skipped with the reason ("waiting for 2 more matches", "rate limited until ...").

A notification is one ``notifications`` row per user (key ``<run>:<index>``, unique per
user) and, with ``email``, one ``staff_mail`` row per user with an address (key
``<run>:<index>:<user>``), sent by the Mailer. Both are written in the run's claim
transaction; a run planned again writes no second row.

Error handling: the count moves in the claim transaction, which the engine commits once
per run (actors/recipe_runs.py claim); the rows are keyed, so even a second call for the
same run sends nothing twice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from actors import staff_mail
from actors.store import Tx

#: Characters of the triggering message quoted in a notification.
QUOTE_CHARS = 200


def active_users(conn: sqlite3.Connection, user_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The active users among ``user_ids`` (in that order): id, name, email."""
    if not user_ids:
        return []
    marks = ",".join("?" * len(user_ids))
    rows = conn.execute(
        f"SELECT id, name, email FROM users WHERE active = 1 AND id IN ({marks})", list(user_ids)
    ).fetchall()
    found = {r[0]: {"id": r[0], "name": r[1], "email": r[2]} for r in rows}
    return [found[u] for u in user_ids if u in found]


def summary(facts: Mapping[str, Any]) -> str:
    """One line about the conversation (and the message) the recipe matched."""
    conversation = facts["conversation"]
    contact = conversation.get("contact") or {}
    who = contact.get("name") or "someone"
    line = f"Conversation {conversation['id']} with {who} ({conversation.get('channel')})"
    message = facts.get("message")
    if message and message.get("body"):
        body = str(message["body"])
        quoted = body if len(body) <= QUOTE_CHARS else body[: QUOTE_CHARS - 1] + "…"
        line += f": “{quoted}”"
    url = conversation.get("console_url")
    return f"{line}\n{url}" if url else line


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _count(tx: Tx, recipe_id: str, index: int) -> tuple[int, int | None]:
    """This match counted: (matches now accumulated, when users were last notified)."""
    row = tx.execute(
        "INSERT INTO recipe_counters (recipe_id, action_index, matched) VALUES (?, ?, 1) "
        "ON CONFLICT (recipe_id, action_index) DO UPDATE SET matched = matched + 1 "
        "RETURNING matched, last_sent_at",
        (recipe_id, index),
    ).fetchone()
    return int(row[0]), row[1]


def enqueue(
    tx: Tx,
    *,
    recipe_id: str,
    run_id: str,
    conversation_id: str,
    index: int,
    data: Mapping[str, Any],
    now_ms: int,
) -> tuple[str, str]:
    """Count the match and notify when due; return (result, detail) of the action."""
    every = int(data["every"])
    quiet_ms = int(data["at_most_every_minutes"]) * 60_000
    count, last_sent = _count(tx, recipe_id, index)
    if count < every:
        more = every - count
        return "skipped", f"waiting for {more} more match{'' if more == 1 else 'es'}"
    if quiet_ms and last_sent is not None and now_ms - last_sent < quiet_ms:
        return "skipped", f"rate limited until {_when(last_sent + quiet_ms)}"
    tx.execute(
        "UPDATE recipe_counters SET matched = 0, last_sent_at = ? "
        "WHERE recipe_id = ? AND action_index = ?",
        (now_ms, recipe_id, index),
    )
    body = str(data["body"])
    if count > 1:
        body = f"{count} matches since the last notification. The latest:\n{body}"
    key = f"{run_id}:{index}"
    mailed = []
    for user in data["users"]:
        if data["console"]:
            tx.execute(
                "INSERT INTO notifications (user_id, key, recipe_id, conversation_id, title, "
                "body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (user_id, key) DO NOTHING",
                (user["id"], key, recipe_id, conversation_id, data["title"], body, tx.now_ms),
            )
        if data["email"] and user.get("email"):
            staff_mail.queue(
                tx,
                key=f"{key}:{user['id']}",
                user_id=user["id"],
                recipient=user["email"],
                subject=str(data["title"]),
                body=body,
            )
            mailed.append(user["name"])
    names = ", ".join(u["name"] for u in data["users"])
    how = [*(["in the console"] if data["console"] else []), *(["by email"] if mailed else [])]
    detail = f"notified {names} {' and '.join(how)}".rstrip()
    if data["email"] and len(mailed) < len(data["users"]):
        detail += " (no email address for some)"
    return "done", detail


def sent(conn: sqlite3.Connection, run_id: str, index: int) -> bool:
    """Whether the run's notify action notified anyone (its rows exist)."""
    key = f"{run_id}:{index}"
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM notifications WHERE key = ?) "
        "OR EXISTS (SELECT 1 FROM staff_mail WHERE key LIKE ? ESCAPE '\\')",
        (key, key.replace("%", "\\%").replace("_", "\\_") + ":%"),
    ).fetchone()
    return bool(row[0])
