"""The staff inbox query: conversations filtered, searched (SQLite FTS5) and paged.

Read functions only: they take a read-only ``sqlite3.Connection`` and run in a worker
thread through :meth:`actors.store.Store.read`. Pages are ordered by last activity,
newest first, with the conversation id as tie-breaker, and continue with a keyset
cursor (``before``) rather than an offset, so a page never repeats or skips rows when
new activity arrives between requests.

Full-text search never hands user text to FTS5 as query syntax: every term becomes a
quoted phrase (see :func:`fts_query`), so ``"a" OR NEAR(`` is searched for, not parsed.

Every conversation these functions return carries the calling staff user's own unread
count (:func:`unread_counts`): their read mark and the messages after it that they did
not write, so each agent's inbox shows what *they* have not read yet.
"""

from __future__ import annotations

import base64
import binascii
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from actors import contexts, history, records

#: Most terms of one search: a longer query is almost certainly not typed by a person and
#: each term costs an FTS5 phrase lookup.
MAX_TERMS = 16
#: Control characters end an FTS5 string early (NUL) or mean nothing in a search.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: The assignee filter's special values.
UNASSIGNED = "unassigned"
TEAM_PREFIX = "team:"
#: Conversations per unread query: well under SQLite's bound-parameter limit, and above
#: the API's largest page (200), so a page costs one query.
_UNREAD_CHUNK = 500
#: The viewer's read mark and, per conversation, a count over the (conversation_id, seq)
#: unique index from the mark onwards: only public ``message`` rows (never notes, events
#: or internal rows), not deleted (history no longer shows them), not written by the
#: viewer. Rows the viewer never read have no mark: 0, so everything counts.
_UNREAD_SQL = """
SELECT c.id, coalesce(r.seq, 0),
       (SELECT count(*) FROM messages m
        WHERE m.conversation_id = c.id AND m.seq > coalesce(r.seq, 0)
          AND m.kind = 'message' AND m.internal = 0 AND m.deleted_at IS NULL
          AND NOT (m.author_kind = 'staff' AND m.author_id = ?))
FROM conversations c
LEFT JOIN read_marks r
       ON r.conversation_id = c.id AND r.reader_kind = 'staff' AND r.reader_id = ?
WHERE c.id IN ({marks})
"""


class BadCursor(ValueError):
    """A ``before`` cursor that this server did not make."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ended: the last row's (last_activity_at, id)."""

    last_activity_at: int
    id: str

    def encode(self) -> str:
        """An opaque URL-safe string (clients must not build or parse it)."""
        raw = f"{self.last_activity_at}:{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Parse a string made by :meth:`encode`.

        Raises:
            BadCursor: the text is not such a string.
        """
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            stamp, _, conversation = raw.partition(":")
            moment = int(stamp)
            if not conversation or not 0 <= moment < 2**63:
                raise ValueError("not a cursor")
            return cls(moment, conversation)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise BadCursor("before is not a cursor returned by this API") from None


@dataclass(frozen=True, slots=True)
class ConversationFilter:
    """What the inbox asks for; None means no filter on that column."""

    status: str | None = None
    #: A user id, ``unassigned``, or ``team:<id>``.
    assignee: str | None = None
    context: str | None = None
    channel: str | None = None
    tag: str | None = None
    #: Free text searched in message and note bodies.
    q: str | None = None


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression that finds every whitespace-separated term of ``text``.

    Each term is quoted as a phrase (inner quotes doubled), so FTS5 operators, column
    filters and parentheses are plain text. A trailing ``*`` keeps its prefix meaning.

    Returns:
        The expression, or None when ``text`` has no terms at all.
    """
    terms = _CONTROL.sub(" ", text).split()[:MAX_TERMS]
    phrases = []
    for term in terms:
        prefix = len(term) > 1 and term.endswith("*")
        word = term.rstrip("*") if prefix else term
        quoted = '"' + word.replace('"', '""') + '"'
        phrases.append(quoted + ("*" if prefix else ""))
    return " ".join(phrases) or None


def unread_counts(
    conn: sqlite3.Connection, ids: Iterable[str], viewer: str
) -> dict[str, tuple[int, int]]:
    """The staff user ``viewer``'s ``(read_seq, unread)`` for each of the conversations.

    ``read_seq`` is the viewer's read mark (0 when they never sent a ``read``); ``unread``
    the number of public messages after it that someone else wrote. One query per
    :data:`_UNREAD_CHUNK` conversations.

    Returns:
        conversation id -> (read_seq, unread); conversations that do not exist are left out.
    """
    wanted = list(dict.fromkeys(ids))
    counts: dict[str, tuple[int, int]] = {}
    for start in range(0, len(wanted), _UNREAD_CHUNK):
        chunk = wanted[start : start + _UNREAD_CHUNK]
        sql = _UNREAD_SQL.format(marks=",".join("?" * len(chunk)))
        for conversation, read_seq, unread in conn.execute(sql, (viewer, viewer, *chunk)):
            counts[conversation] = (read_seq, unread)
    return counts


def _with_unread(
    conn: sqlite3.Connection, states: list[dict[str, Any]], viewer: str
) -> list[dict[str, Any]]:
    """Add ``read_seq`` and ``unread`` (see :func:`unread_counts`) to each state."""
    counts = unread_counts(conn, [s["id"] for s in states], viewer)
    for state in states:
        state["read_seq"], state["unread"] = counts.get(state["id"], (0, 0))
    return states


def list_conversations(
    conn: sqlite3.Connection,
    filters: ConversationFilter,
    limit: int,
    before: Cursor | None = None,
    *,
    viewer: str,
) -> tuple[list[dict[str, Any]], Cursor | None]:
    """One page of conversation states, newest activity first.

    Args:
        conn: A read connection.
        filters: What the inbox asks for.
        limit: Most conversations in the page.
        before: Where the previous page ended.
        viewer: The staff user asking: ``read_seq`` and ``unread`` are theirs.

    Returns:
        The states (``actors.history.conversation_states`` plus ``read_seq`` and ``unread``) and
        the cursor of the next page, or None when this page is the last.
    """
    clauses = filter_clauses(filters)
    if clauses is None:
        return [], None
    where, params = clauses
    if before is not None:
        where.append("(c.last_activity_at < ? OR (c.last_activity_at = ? AND c.id < ?))")
        params.extend([before.last_activity_at, before.last_activity_at, before.id])
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = conn.execute(
        f"SELECT c.id, c.last_activity_at FROM conversations c {clause} "
        "ORDER BY c.last_activity_at DESC, c.id DESC LIMIT ?",
        (*params, limit + 1),
    ).fetchall()
    page = rows[:limit]
    following = Cursor(page[-1][1], page[-1][0]) if len(rows) > limit else None
    states = history.conversation_states(conn, [r[0] for r in page])
    return _with_unread(conn, states, viewer), following


def conversation_detail(
    conn: sqlite3.Connection, conversation: str, *, viewer: str
) -> dict[str, Any]:
    """The conversation's state with its full context, full contact and read marks.

    Like the inbox page, it carries ``read_seq`` and ``unread`` of the staff user
    ``viewer``.

    Raises:
        NotFound: no such conversation.
    """
    states = history.conversation_states(conn, [conversation])
    if not states:
        raise records.NotFound(f"conversation {conversation} does not exist")
    state = _with_unread(conn, states, viewer)[0]
    if state["context"] is not None:
        state["context"] = contexts.get_context(conn, state["context"]["id"])
    if state["contact"] is not None:
        state["contact"] = contexts.get_contact(conn, state["contact"]["id"])
    marks = conn.execute(
        "SELECT reader_kind, reader_id, seq, updated_at FROM read_marks "
        "WHERE conversation_id = ? ORDER BY reader_kind, reader_id",
        (conversation,),
    ).fetchall()
    state["read_marks"] = [
        {"reader": {"kind": m[0], "id": m[1]}, "seq": m[2], "updated_at": m[3]} for m in marks
    ]
    return state


def filter_clauses(filters: ConversationFilter) -> tuple[list[str], list[Any]] | None:
    """The WHERE terms (on ``conversations c``) and parameters of ``filters``, with the
    same meaning as :func:`list_conversations`; None when nothing can match (a search
    with no terms)."""
    where: list[str] = []
    params: list[Any] = []
    if filters.status is not None:
        where.append("c.status = ?")
        params.append(filters.status)
    if filters.assignee is not None:
        if filters.assignee == UNASSIGNED:
            where.append("c.assignee_user_id IS NULL AND c.assignee_team_id IS NULL")
        elif filters.assignee.startswith(TEAM_PREFIX):
            where.append("c.assignee_team_id = ?")
            params.append(filters.assignee[len(TEAM_PREFIX) :])
        else:
            where.append("c.assignee_user_id = ?")
            params.append(filters.assignee)
    for column, value in (("c.context_id", filters.context), ("c.channel", filters.channel)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if filters.tag is not None:
        where.append(
            "EXISTS (SELECT 1 FROM conversation_tags t WHERE t.conversation_id = c.id "
            "AND t.tag = ?)"
        )
        params.append(filters.tag)
    if filters.q is not None:
        match = fts_query(filters.q)
        if match is None:
            return None
        where.append(
            "c.id IN (SELECT m.conversation_id FROM messages_fts f "
            "JOIN messages m ON m.id = f.rowid WHERE messages_fts MATCH ? "
            "AND m.kind != 'event' AND m.deleted_at IS NULL)"
        )
        params.append(match)
    return where, params


def conversation_matches(
    conn: sqlite3.Connection, filters: ConversationFilter, conversation: str
) -> bool:
    """Whether the inbox would list ``conversation`` under ``filters`` (a saved filter of a
    recipe). Searches with ``q`` see the full-text index as it is: run
    ``search_indexer.catch_up`` first to include messages committed just now."""
    clauses = filter_clauses(filters)
    if clauses is None:
        return False
    where, params = clauses
    sql = " AND ".join(["c.id = ?", *where])
    row = conn.execute(f"SELECT 1 FROM conversations c WHERE {sql}", (conversation, *params))
    return row.fetchone() is not None
