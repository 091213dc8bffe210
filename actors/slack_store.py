"""SQL of the Slack bridge: its settings, the conversation -> (channel, thread_ts) map, the
durable queue of Slack operations, the Slack message map, the inbox of Slack events, and
the planner that turns event-log events into operations.

Operations (``slack_ops``) are keyed for idempotency (``reply:<conversation>:<seq>``...):
an event handed to the bridge twice plans nothing new. Each operation belongs to a *lane*
(``channel`` for the one picked channel, ``webinar:<context id>`` for a per-webinar
channel) and lanes are worked off in id order, so a thread's parent always goes before
its replies and replies keep the conversation's order. A conversation's lane is fixed
when its thread is planned: changing the settings later moves no running thread.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from actors.integration_store import read_settings
from actors.store import Tx
from protocol.frames import Participant

#: settings_kv prefix of the Slack settings saved over REST.
SETTINGS_PREFIX = "slack."
#: settings_kv key of a webinar's reply attribution: ``webinar.<context id>.reply_as``.
WEBINAR_PREFIX = "webinar."
#: client_msg_id prefix of messages that came from Slack: never mirrored back.
SLACK_ORIGIN = "slack:"
#: The lane of every thread in the one picked channel.
CHANNEL_LANE = "channel"
REPLY_AS = ("primary", "actual")
OP_STATUSES = ("pending", "done", "held", "failed")


@dataclass(frozen=True, slots=True)
class SlackConfig:
    """The bridge's settings: environment defaults overlaid with values saved over REST."""

    api_url: str = "https://slack.com/api/"
    bot_token: str = ""
    signing_secret: str = ""
    channel: str = ""
    channel_per_webinar: bool = False
    channel_prefix: str = "webinar-"
    first_message_only: bool = False
    note_prefix: str = "note:"
    reply_as: str = "primary"

    @property
    def enabled(self) -> bool:
        """Slack is on once a bot token is known."""
        return bool(self.bot_token)

    def with_saved(self, saved: dict[str, Any]) -> SlackConfig:
        """These defaults with the saved values (unknown or mistyped ones are ignored)."""
        known = {f.name: type(getattr(self, f.name)) for f in dataclasses.fields(self)}
        changes = {k: v for k, v in saved.items() if k in known and type(v) is known[k]}
        return dataclasses.replace(self, **changes)


def load_config(conn: sqlite3.Connection, defaults: SlackConfig) -> SlackConfig:
    return defaults.with_saved(read_settings(conn, SETTINGS_PREFIX))


# -- threads and channels -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Thread:
    """Where a conversation lives in Slack; channel and ts are None until the parent posts."""

    conversation: str
    lane: str
    channel_id: str | None
    thread_ts: str | None


def get_thread(conn: sqlite3.Connection | Tx, conversation: str) -> Thread | None:
    row = conn.execute(
        "SELECT lane, channel_id, thread_ts FROM slack_threads WHERE conversation_id = ?",
        (conversation,),
    ).fetchone()
    return None if row is None else Thread(conversation, row[0], row[1], row[2])


def thread_for_ts(conn: sqlite3.Connection, channel: str, thread_ts: str) -> str | None:
    """The conversation whose parent message is (channel, thread_ts)."""
    row = conn.execute(
        "SELECT conversation_id FROM slack_threads WHERE channel_id = ? AND thread_ts = ?",
        (channel, thread_ts),
    ).fetchone()
    return None if row is None else str(row[0])


def set_thread_posted(tx: Tx, conversation: str, channel: str, ts: str) -> None:
    tx.execute(
        "UPDATE slack_threads SET channel_id = ?, thread_ts = ? WHERE conversation_id = ?",
        (channel, ts, conversation),
    )
    record_message(tx, channel, ts, conversation, 0, "out")


def webinar_channel(conn: sqlite3.Connection, context: str) -> str | None:
    row = conn.execute(
        "SELECT channel_id FROM slack_channels WHERE context_id = ?", (context,)
    ).fetchone()
    return None if row is None else str(row[0])


def save_webinar_channel(tx: Tx, context: str, channel: str, name: str) -> None:
    tx.execute(
        "INSERT INTO slack_channels (context_id, channel_id, name, created_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (context_id) DO NOTHING",
        (context, channel, name, tx.now_ms),
    )


def channel_owner(conn: sqlite3.Connection, channel: str) -> str | None:
    """The webinar whose channel this is, if any."""
    row = conn.execute(
        "SELECT context_id FROM slack_channels WHERE channel_id = ?", (channel,)
    ).fetchone()
    return None if row is None else str(row[0])


def webinar_for_channel(conn: sqlite3.Connection, context: str) -> tuple[str, list[str]]:
    """(the webinar's name, its moderators' emails) for creating its channel."""
    row = conn.execute("SELECT title, data FROM contexts WHERE id = ?", (context,)).fetchone()
    title = str(row[0]) if row else context
    if row and row[1]:
        title = str(json.loads(row[1]).get("webinar") or title)
    emails = [
        str(r[0])
        for r in conn.execute(
            "SELECT u.email FROM context_moderators m JOIN users u ON u.id = m.user_id "
            "WHERE m.context_id = ? AND u.active = 1 ORDER BY m.is_primary DESC, u.email",
            (context,),
        ).fetchall()
    ]
    return title, emails


# -- the Slack message map ------------------------------------------------------------------


def record_message(tx: Tx, channel: str, ts: str, conversation: str, seq: int, origin: str) -> None:
    """Remember that Slack message (channel, ts) is message ``seq`` ("out": we posted it)."""
    tx.execute(
        "INSERT INTO slack_messages (channel_id, ts, conversation_id, seq, origin) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (channel_id, ts) DO NOTHING",
        (channel, ts, conversation, seq, origin),
    )


def slack_message(
    conn: sqlite3.Connection, conversation: str, seq: int
) -> tuple[str, str, str] | None:
    """(channel, ts, origin) of the Slack copy of message ``seq``, if there is one."""
    row = conn.execute(
        "SELECT channel_id, ts, origin FROM slack_messages WHERE conversation_id = ? AND seq = ? "
        "ORDER BY origin DESC LIMIT 1",
        (conversation, seq),
    ).fetchone()
    return None if row is None else (str(row[0]), str(row[1]), str(row[2]))


def message_for_ts(conn: sqlite3.Connection, channel: str, ts: str) -> tuple[str, int, str] | None:
    """(conversation, seq, origin) of a Slack message we know."""
    row = conn.execute(
        "SELECT conversation_id, seq, origin FROM slack_messages WHERE channel_id = ? AND ts = ?",
        (channel, ts),
    ).fetchone()
    return None if row is None else (str(row[0]), int(row[1]), str(row[2]))


# -- operations -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Op:
    """One queued Slack operation."""

    id: int
    key: str
    lane: str
    conversation: str | None
    kind: str
    seq: int | None
    payload: dict[str, Any]
    attempts: int
    in_doubt: bool
    created_at: int


_OP_COLUMNS = "id, key, lane, conversation_id, kind, seq, payload, attempts, in_doubt, created_at"


def _op(row: Sequence[Any]) -> Op:
    return Op(
        row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6]), row[7],
        bool(row[8]), row[9],
    )  # fmt: skip


def enqueue(
    tx: Tx,
    key: str,
    lane: str,
    conversation: str | None,
    kind: str,
    seq: int | None = None,
    payload: dict[str, Any] | None = None,
) -> int:
    """Queue an operation unless its key was queued before; return 1 if queued, else 0."""
    cur = tx.execute(
        "INSERT INTO slack_ops (key, lane, conversation_id, kind, seq, payload, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
        (key, lane, conversation, kind, seq, json.dumps(payload or {}), tx.now_ms, tx.now_ms),
    )
    return cur.rowcount


def parent_chatting(conn: sqlite3.Connection, conversation: str) -> bool:
    """Whether the parent was posted in first-message mode (its text says so)."""
    row = conn.execute(
        "SELECT payload FROM slack_ops WHERE key = ?", (f"parent:{conversation}",)
    ).fetchone()
    return bool(row and json.loads(row[0]).get("chatting"))


def runnable_lanes(conn: sqlite3.Connection) -> list[str]:
    """Lanes with pending operations and nothing held."""
    rows = conn.execute(
        "SELECT DISTINCT lane FROM slack_ops WHERE status = 'pending' AND lane NOT IN "
        "(SELECT lane FROM slack_ops WHERE status = 'held')"
    ).fetchall()
    return [str(r[0]) for r in rows]


def next_op(conn: sqlite3.Connection, lane: str) -> Op | None:
    """The lane's oldest pending operation, or None when it is empty or held."""
    held = conn.execute(
        "SELECT 1 FROM slack_ops WHERE lane = ? AND status = 'held' LIMIT 1", (lane,)
    ).fetchone()
    if held is not None:
        return None
    row = conn.execute(
        f"SELECT {_OP_COLUMNS} FROM slack_ops WHERE lane = ? AND status = 'pending' "
        "ORDER BY id LIMIT 1",
        (lane,),
    ).fetchone()
    return None if row is None else _op(row)


def later_update_queued(conn: sqlite3.Connection, op: Op) -> bool:
    """Another parent update of the same conversation waits behind ``op`` (skip this one)."""
    row = conn.execute(
        "SELECT 1 FROM slack_ops WHERE lane = ? AND conversation_id = ? AND kind = 'update' "
        "AND status = 'pending' AND id > ? LIMIT 1",
        (op.lane, op.conversation, op.id),
    ).fetchone()
    return row is not None


def start_attempt(tx: Tx, op_id: int, *, in_doubt: bool) -> None:
    """Count an attempt, durably before the call (``in_doubt``: the call may post)."""
    tx.execute(
        "UPDATE slack_ops SET attempts = attempts + 1, in_doubt = MAX(in_doubt, ?), "
        "updated_at = ? WHERE id = ?",
        (in_doubt, tx.now_ms, op_id),
    )


def set_doubt(tx: Tx, op_id: int, in_doubt: bool) -> None:
    tx.execute("UPDATE slack_ops SET in_doubt = ? WHERE id = ?", (in_doubt, op_id))


def finish_op(
    tx: Tx, op_id: int, status: str, *, error: str | None = None, result: str | None = None
) -> None:
    if status not in OP_STATUSES:
        raise ValueError(f"status must be one of {', '.join(OP_STATUSES)}")
    tx.execute(
        "UPDATE slack_ops SET status = ?, error = ?, result = COALESCE(?, result), "
        "in_doubt = CASE WHEN ? = 'done' THEN 0 ELSE in_doubt END, updated_at = ? WHERE id = ?",
        (status, error, result, status, tx.now_ms, op_id),
    )


def redrive(tx: Tx) -> int:
    """Put every held operation back in its queue (in its old place); return how many."""
    cur = tx.execute(
        "UPDATE slack_ops SET status = 'pending', attempts = 0, error = NULL, updated_at = ? "
        "WHERE status = 'held'",
        (tx.now_ms,),
    )
    return cur.rowcount


def op_counts(conn: sqlite3.Connection) -> dict[str, int]:
    counts = dict.fromkeys(OP_STATUSES, 0)
    for status, n in conn.execute(
        "SELECT status, COUNT(*) FROM slack_ops GROUP BY status"
    ).fetchall():
        counts[str(status)] = int(n)
    return counts


# -- the inbox of Slack events --------------------------------------------------------------


def accept_event(tx: Tx, event_id: str, payload: str) -> bool:
    """Store an incoming event once; False when this event_id came before (a Slack retry)."""
    cur = tx.execute(
        "INSERT INTO slack_inbox (event_id, payload, received_at) VALUES (?, ?, ?) "
        "ON CONFLICT (event_id) DO NOTHING",
        (event_id, payload, tx.now_ms),
    )
    return cur.rowcount == 1


def pending_events(conn: sqlite3.Connection, limit: int) -> list[tuple[str, dict[str, Any]]]:
    rows = conn.execute(
        "SELECT event_id, payload FROM slack_inbox WHERE processed_at IS NULL "
        "ORDER BY received_at, rowid LIMIT ?",
        (limit,),
    ).fetchall()
    return [(str(r[0]), json.loads(r[1])) for r in rows]


def finish_event(tx: Tx, event_id: str, *, keep_ms: int) -> None:
    """Mark an event handled; forget handled events older than ``keep_ms``."""
    tx.execute("UPDATE slack_inbox SET processed_at = ? WHERE event_id = ?", (tx.now_ms, event_id))
    tx.execute(
        "DELETE FROM slack_inbox WHERE processed_at IS NOT NULL AND received_at < ?",
        (tx.now_ms - keep_ms,),
    )


# -- who a reply from Slack appears from ----------------------------------------------------


def staff_by_email(conn: sqlite3.Connection, email: str) -> tuple[str, str] | None:
    """(user id, name) of the active staff user with this email."""
    row = conn.execute(
        "SELECT id, name FROM users WHERE email = ? AND active = 1", (email,)
    ).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


def reply_author(
    conn: sqlite3.Connection,
    conversation: str,
    staff: tuple[str, str] | None,
    default_reply_as: str,
) -> Participant | None:
    """Who a staff reply in ``conversation`` appears from (Slack and console alike).

    In a webinar with moderators: the primary moderator, unless the webinar's setting
    (``webinar.<id>.reply_as``, else ``default_reply_as``) is ``actual`` and the writer is
    one of its moderators. Elsewhere the writer themself. None when nobody fits (no
    moderators and an unknown writer).
    """
    row = conn.execute(
        "SELECT context_id FROM conversations WHERE id = ?", (conversation,)
    ).fetchone()
    context = row[0] if row else None
    moderators: list[tuple[str, str, bool]] = []
    if context is not None:
        moderators = [
            (str(r[0]), str(r[1]), bool(r[2]))
            for r in conn.execute(
                "SELECT u.id, u.name, m.is_primary FROM context_moderators m "
                "JOIN users u ON u.id = m.user_id WHERE m.context_id = ? AND u.active = 1",
                (context,),
            ).fetchall()
        ]
    primary = next((m for m in moderators if m[2]), moderators[0] if moderators else None)
    if primary is None:
        return None if staff is None else Participant("staff", staff[0], staff[1])
    saved = read_settings(conn, f"{WEBINAR_PREFIX}{context}.").get("reply_as")
    mode = saved if saved in REPLY_AS else default_reply_as
    if mode == "actual" and staff is not None and any(m[0] == staff[0] for m in moderators):
        return Participant("staff", staff[0], staff[1])
    return Participant("staff", primary[0], primary[1])
