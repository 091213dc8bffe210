"""SQL shared by the integrations (Slack bridge, mailer): saved settings and the activity log.

Settings edited by admins over REST live in ``settings_kv`` under a prefix (``slack.``,
``mail.``, ``webinar.<context id>.``), one JSON value per key; a saved value wins over the
environment default, and removing it falls back to the environment again.

The activity log is what the console shows under "Slack activity" and "Mail activity":
one row per outcome of an external effect (posted, retried, held, failed, re-driven),
with the error code and the fix in plain words for errors. It is bounded: old rows are
pruned as new ones come.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from actors.store import Tx

#: Activity rows kept per integration; older ones are pruned (a log, not an archive).
ACTIVITY_KEEP = 10_000
#: Prune once every this many inserts (pruning is a range delete on the primary key).
PRUNE_EVERY = 200
LEVELS = ("info", "warning", "error")


def read_settings(conn: sqlite3.Connection | Tx, prefix: str) -> dict[str, Any]:
    """The saved values under ``prefix`` (the prefix stripped from the keys)."""
    rows = conn.execute(
        "SELECT key, value FROM settings_kv WHERE substr(key, 1, ?) = ?", (len(prefix), prefix)
    ).fetchall()
    return {key[len(prefix) :]: json.loads(value) for key, value in rows}


def write_settings(tx: Tx, prefix: str, values: dict[str, Any]) -> None:
    """Save values under ``prefix``; a value of None removes the saved one."""
    for name, value in values.items():
        if value is None:
            tx.execute("DELETE FROM settings_kv WHERE key = ?", (prefix + name,))
        else:
            tx.execute(
                "INSERT INTO settings_kv (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (prefix + name, json.dumps(value)),
            )


@dataclass(frozen=True, slots=True)
class Activity:
    """One entry of an integration's activity log."""

    integration: str
    level: str
    action: str
    message: str
    conversation: str | None = None
    ref: str | None = None
    code: str | None = None
    hint: str | None = None


def log_activity(tx: Tx, entry: Activity) -> int:
    """Append an activity entry; return its id."""
    if entry.level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}")
    cur = tx.execute(
        "INSERT INTO integration_activity (ts, integration, level, action, conversation_id, "
        "ref, code, message, hint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            tx.now_ms,
            entry.integration,
            entry.level,
            entry.action,
            entry.conversation,
            entry.ref,
            entry.code,
            entry.message[:2000],
            entry.hint,
        ),
    )
    row_id = int(cur.lastrowid or 0)
    if row_id % PRUNE_EVERY == 0:
        tx.execute(
            "DELETE FROM integration_activity WHERE integration = ? AND id <= ("
            "SELECT id FROM integration_activity WHERE integration = ? "
            "ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (entry.integration, entry.integration, ACTIVITY_KEEP),
        )
    return row_id


def list_activity(
    conn: sqlite3.Connection,
    integration: str,
    *,
    errors_only: bool,
    limit: int,
    before: int | None = None,
) -> list[dict[str, Any]]:
    """Newest first; ``errors_only`` keeps level error; ``before`` pages by id."""
    where = ["integration = ?"]
    params: list[Any] = [integration]
    if errors_only:
        where.append("level = 'error'")
    if before is not None:
        where.append("id < ?")
        params.append(before)
    rows = conn.execute(
        "SELECT id, ts, level, action, conversation_id, ref, code, message, hint "
        f"FROM integration_activity WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
        (*params, limit),
    ).fetchall()
    return [
        {
            "id": r[0],
            "ts": r[1],
            "level": r[2],
            "action": r[3],
            "conversation": r[4],
            "ref": r[5],
            "code": r[6],
            "message": r[7],
            "hint": r[8],
        }
        for r in rows
    ]
