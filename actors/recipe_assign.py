"""Who a recipe's ``assign`` and ``smart_assign`` actions assign: the reads behind the
decision, and the round-robin pointer.

- ``assign`` to a user assigns that user. To a team it takes turns among the team's
  members who are online now (actors/presence.py), in user-id order after the member
  picked last (the ``round_robin`` row of the team); with nobody online the team itself
  is the assignee.
- ``smart_assign`` looks at the same contact's other conversations active within the
  window (``last_activity_at``, from the run's now): the most recent one's assignee (its
  user, else its team) is picked if online (a team: any member online); otherwise the
  action's fallback (a user, or a team itself); otherwise the action is skipped.

The pick is made when the run is planned and stored in the plan, so a run performed
again after a crash assigns the same person; the pointer moves in the run's claim
transaction (:func:`advance_pointer`).

Read functions take a read-only connection and run in a worker thread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from actors.recipe_model import SMART_ASSIGN_WINDOWS
from actors.store import Tx


@dataclass(frozen=True, slots=True)
class Pick:
    """An assignee decided: a user, a team, or a team member (both set)."""

    user: str | None
    team: str | None
    describe: str
    #: Set when the pick came from a team's rotation: move its pointer.
    rotated: bool = False

    def to_data(self) -> dict[str, Any]:
        return {"user": self.user, "team": self.team, "rotated": self.rotated}


class NoAssignee(LookupError):
    """Nobody to assign: the message says why (the action is skipped with it)."""


def _user_name(conn: sqlite3.Connection, user_id: str) -> str | None:
    """The name of an active user, or None if there is none by that id."""
    row = conn.execute("SELECT name FROM users WHERE id = ? AND active = 1", (user_id,)).fetchone()
    return None if row is None else str(row[0])


def _team(conn: sqlite3.Connection, team_id: str) -> tuple[str, list[str]] | None:
    """(name, active member ids in id order) of a team, or None if it does not exist."""
    row = conn.execute("SELECT name FROM teams WHERE id = ?", (team_id,)).fetchone()
    if row is None:
        return None
    members = [
        str(r[0])
        for r in conn.execute(
            "SELECT m.user_id FROM team_members m JOIN users u ON u.id = m.user_id "
            "WHERE m.team_id = ? AND u.active = 1 ORDER BY m.user_id",
            (team_id,),
        ).fetchall()
    ]
    return str(row[0]), members


def pick_user(conn: sqlite3.Connection, user_id: str) -> Pick:
    """Raises: NoAssignee (no active user by that id)."""
    name = _user_name(conn, user_id)
    if name is None:
        raise NoAssignee(f"user {user_id} does not exist or is deactivated")
    return Pick(user_id, None, f"assign to {name}")


def pick_team(conn: sqlite3.Connection, team_id: str, online: Collection[str]) -> Pick:
    """The team's next online member after its pointer, or the team when none is online.

    Raises:
        NoAssignee: no such team.
    """
    found = _team(conn, team_id)
    if found is None:
        raise NoAssignee(f"team {team_id} does not exist")
    name, members = found
    here = [m for m in members if m in online]
    if not here:
        return Pick(None, team_id, f"assign to team {name} (no member online)")
    row = conn.execute(
        "SELECT last_user_id FROM round_robin WHERE team_id = ?", (team_id,)
    ).fetchone()
    last = None if row is None else row[0]
    user = next((m for m in here if last is None or m > last), here[0])
    who = _user_name(conn, user) or user
    return Pick(user, team_id, f"assign to {who} (team {name}, round robin)", rotated=True)


def pick_team_itself(conn: sqlite3.Connection, team_id: str) -> Pick:
    """Raises: NoAssignee (no such team)."""
    found = _team(conn, team_id)
    if found is None:
        raise NoAssignee(f"team {team_id} does not exist")
    return Pick(None, team_id, f"assign to team {found[0]}")


def previous_handler(
    conn: sqlite3.Connection, contact_id: str, conversation_id: str, since_ms: int
) -> tuple[str | None, str | None] | None:
    """(user, team) assigned to the contact's most recently active other conversation
    with an assignee and activity at or after ``since_ms``; None when there is none."""
    row = conn.execute(
        "SELECT assignee_user_id, assignee_team_id FROM conversations "
        "WHERE contact_id = ? AND id != ? AND last_activity_at >= ? "
        "AND (assignee_user_id IS NOT NULL OR assignee_team_id IS NOT NULL) "
        "ORDER BY last_activity_at DESC, rowid DESC LIMIT 1",
        (contact_id, conversation_id, since_ms),
    ).fetchone()
    return None if row is None else (row[0], row[1])


def _handler_pick(
    conn: sqlite3.Connection,
    handler: tuple[str | None, str | None],
    window: str,
    online: Collection[str],
) -> Pick | str:
    """The earlier handler if online, else why not."""
    user, team = handler
    within = f"handled this contact within {window}"
    if user is not None:
        name = _user_name(conn, user)
        if name is not None and user in online:
            return Pick(user, None, f"assign to {name} ({within})")
        return f"{name or user}, who {within}, is offline"
    assert team is not None
    found = _team(conn, team)
    if found is not None and any(m in online for m in found[1]):
        return Pick(None, team, f"assign to team {found[0]} ({within})")
    return f"team {found[0] if found else team}, which {within}, has nobody online"


def smart_pick(
    conn: sqlite3.Connection,
    params: Mapping[str, Any],
    facts: Mapping[str, Any],
    now_ms: int,
    online: Collection[str],
) -> Pick:
    """The smart_assign decision (see module docstring).

    Raises:
        NoAssignee: nobody online handled the contact and there is no fallback.
    """
    window = str(params["window"])
    conversation = facts["conversation"]
    contact = conversation.get("contact")
    reason = "the conversation has no contact"
    if contact is not None:
        since = now_ms - SMART_ASSIGN_WINDOWS[window]
        handler = previous_handler(conn, contact["id"], conversation["id"], since)
        reason = f"nobody handled this contact's conversations in the last {window}"
        if handler is not None:
            found = _handler_pick(conn, handler, window, online)
            if isinstance(found, Pick):
                return found
            reason = found
    fallback = params.get("fallback")
    if not fallback:
        raise NoAssignee(f"{reason}, and there is no fallback")
    if fallback.get("user"):
        pick = pick_user(conn, fallback["user"])
    else:
        pick = pick_team_itself(conn, fallback["team"])
    return Pick(pick.user, pick.team, f"{pick.describe} (fallback: {reason})")


def advance_pointer(tx: Tx, team_id: str, user_id: str) -> None:
    """Remember the member a team's rotation picked last."""
    tx.execute(
        "INSERT INTO round_robin (team_id, last_user_id, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (team_id) DO UPDATE SET last_user_id = excluded.last_user_id, "
        "updated_at = excluded.updated_at",
        (team_id, user_id, tx.now_ms),
    )
