"""SQL for who is who on the staff side: users, teams, login sessions, API tokens, and
the lookup of every kind of bearer token (attendee tokens too) into a :class:`Principal`.

Contexts, contacts and the creation of conversations and attendee tokens are in
actors/contexts.py, which builds on the helpers here (``new_id``, ``digest``).

Secrets are never stored: tokens are kept as SHA-256 digests (they are long random
strings, so a fast hash is enough), passwords as scrypt hashes made by the server.
Write functions take a :class:`~actors.store.Tx`, reads a read-only connection.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from actors.records import NotFound as NotFound  # re-exported: callers catch directory.NotFound
from actors.store import Tx

ROLES = ("admin", "agent")


class Conflict(ValueError):
    """A unique value (email, name, external id) is taken already."""


def new_id(prefix: str) -> str:
    """A short random id such as ``cv_5kq2m7x1b9zt``: unguessable, URL-safe, sortable enough."""
    return f"{prefix}_{secrets.token_hex(8)}"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(prefix: str) -> str:
    """A bearer secret; the prefix says what kind it is (sbs_ session, sbt_ API, sba_ attendee)."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a token or session belongs to."""

    kind: str  #: "staff" or "contact"
    id: str
    name: str
    role: str | None  #: admin/agent for staff, None for contacts
    conversations: frozenset[str] | None  #: the only conversations it may use; None = any
    expires_at: int | None  #: ms since epoch


# -- users and teams --------------------------------------------------------------------------


def _user_json(row: sqlite3.Row | tuple[Any, ...]) -> dict[str, Any]:
    return {
        "id": row[0],
        "email": row[1],
        "name": row[2],
        "role": row[3],
        "active": bool(row[4]),
        "created_at": row[5],
    }


_USER_COLUMNS = "id, email, name, role, active, created_at"


def create_user(
    tx: Tx, email: str, name: str, role: str, password_hash: str | None
) -> dict[str, Any]:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if tx.execute("SELECT 1 FROM users WHERE email = ?", (email,)).fetchone():
        raise Conflict(f"a user with email {email} exists already")
    user_id = new_id("us")
    tx.execute(
        "INSERT INTO users (id, email, name, role, password_hash, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (user_id, email, name, role, password_hash, tx.now_ms),
    )
    return get_user(tx, user_id)


def get_user(conn: sqlite3.Connection | Tx, user_id: str) -> dict[str, Any]:
    row = conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (user_id,)).fetchone()
    if row is None:
        raise NotFound(f"user {user_id} does not exist")
    return _user_json(row)


def list_users(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = conn.execute(f"SELECT {_USER_COLUMNS} FROM users ORDER BY name").fetchall()
    return [_user_json(r) for r in rows]


def user_login_row(conn: sqlite3.Connection, email: str) -> tuple[str, str | None, bool] | None:
    """(user id, password hash, active) for a login attempt."""
    row = conn.execute(
        "SELECT id, password_hash, active FROM users WHERE email = ?", (email,)
    ).fetchone()
    return None if row is None else (row[0], row[1], bool(row[2]))


def update_user(tx: Tx, user_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Change some of a user's fields (email, name, role, active, password_hash).

    Raises:
        NotFound: no such user.
        Conflict: the email is taken, or the change would leave no active admin (nobody
            could manage the server any more).
        ValueError: an unknown field or role.
    """
    before = get_user(tx, user_id)
    allowed = {"email", "name", "role", "active", "password_hash"}
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise ValueError(f"cannot change {', '.join(unknown)}")
    if "role" in fields and fields["role"] not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if "email" in fields:
        row = tx.execute(
            "SELECT id FROM users WHERE email = ? AND id != ?", (fields["email"], user_id)
        ).fetchone()
        if row:
            raise Conflict(f"a user with email {fields['email']} exists already")
    stays_admin = fields.get("role", before["role"]) == "admin" and fields.get(
        "active", before["active"]
    )
    if before["role"] == "admin" and before["active"] and not stays_admin:
        others = tx.execute(
            "SELECT COUNT(*) FROM users WHERE role = 'admin' AND active = 1 AND id != ?",
            (user_id,),
        ).fetchone()[0]
        if not others:
            raise Conflict("this is the last active admin; make another admin first")
    for key, value in fields.items():
        tx.execute(f"UPDATE users SET {key} = ? WHERE id = ?", (value, user_id))
    return get_user(tx, user_id)


def create_team(tx: Tx, name: str, members: list[str]) -> dict[str, Any]:
    if tx.execute("SELECT 1 FROM teams WHERE name = ?", (name,)).fetchone():
        raise Conflict(f"a team named {name} exists already")
    team_id = new_id("tm")
    tx.execute(
        "INSERT INTO teams (id, name, created_at) VALUES (?, ?, ?)", (team_id, name, tx.now_ms)
    )
    set_team_members(tx, team_id, members)
    return get_team(tx, team_id)


def set_team_members(tx: Tx, team_id: str, members: list[str]) -> None:
    for user_id in members:
        get_user(tx, user_id)
    tx.execute("DELETE FROM team_members WHERE team_id = ?", (team_id,))
    tx.conn.executemany(
        "INSERT INTO team_members (team_id, user_id) VALUES (?, ?)",
        [(team_id, u) for u in dict.fromkeys(members)],
    )


def get_team(conn: sqlite3.Connection | Tx, team_id: str) -> dict[str, Any]:
    row = conn.execute("SELECT id, name, created_at FROM teams WHERE id = ?", (team_id,)).fetchone()
    if row is None:
        raise NotFound(f"team {team_id} does not exist")
    members = [
        r[0]
        for r in conn.execute(
            "SELECT user_id FROM team_members WHERE team_id = ? ORDER BY user_id", (team_id,)
        ).fetchall()
    ]
    return {"id": row[0], "name": row[1], "created_at": row[2], "members": members}


def list_teams(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    ids = [r[0] for r in conn.execute("SELECT id FROM teams ORDER BY name").fetchall()]
    return [get_team(conn, i) for i in ids]


def update_team(
    tx: Tx, team_id: str, name: str | None, members: list[str] | None
) -> dict[str, Any]:
    """Rename a team and/or replace its members (None leaves that part as is).

    Raises:
        NotFound: no such team, or a member is not a user.
        Conflict: another team has that name.
    """
    get_team(tx, team_id)
    if name is not None:
        taken = tx.execute(
            "SELECT 1 FROM teams WHERE name = ? AND id != ?", (name, team_id)
        ).fetchone()
        if taken:
            raise Conflict(f"a team named {name} exists already")
        tx.execute("UPDATE teams SET name = ? WHERE id = ?", (name, team_id))
    if members is not None:
        set_team_members(tx, team_id, members)
    return get_team(tx, team_id)


# -- sessions and tokens ----------------------------------------------------------------------


def create_console_session(tx: Tx, user_id: str, token: str, csrf: str, ttl_ms: int) -> None:
    tx.execute(
        "INSERT INTO console_sessions (token_hash, user_id, csrf, created_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (digest(token), user_id, csrf, tx.now_ms, tx.now_ms + ttl_ms),
    )
    # Housekeeping: expired sessions go when new ones are made.
    tx.execute("DELETE FROM console_sessions WHERE expires_at < ?", (tx.now_ms,))


def delete_console_session(tx: Tx, token: str) -> None:
    tx.execute("DELETE FROM console_sessions WHERE token_hash = ?", (digest(token),))


def lookup_console_session(
    conn: sqlite3.Connection, token: str, now: int
) -> tuple[Principal, str] | None:
    """(principal, csrf token) of a live console session."""
    row = conn.execute(
        "SELECT u.id, u.name, u.role, s.csrf, s.expires_at FROM console_sessions s "
        "JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND u.active = 1",
        (digest(token),),
    ).fetchone()
    if row is None or row[4] <= now:
        return None
    return Principal("staff", row[0], row[1], row[2], None, row[4]), row[3]


_TOKEN_COLUMNS = "id, user_id, name, created_at, expires_at, revoked"


def _token_json(row: Sequence[Any]) -> dict[str, Any]:
    """An API token's metadata; the secret itself is never stored, so never shown."""
    return {
        "id": row[0],
        "user": row[1],
        "name": row[2],
        "created_at": row[3],
        "expires_at": row[4],
        "revoked": bool(row[5]),
    }


def create_api_token(
    tx: Tx, user_id: str, name: str, token: str, expires_at: int | None
) -> dict[str, Any]:
    get_user(tx, user_id)
    token_id = new_id("tk")
    tx.execute(
        "INSERT INTO api_tokens (id, token_hash, user_id, name, created_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (token_id, digest(token), user_id, name, tx.now_ms, expires_at),
    )
    return get_api_token(tx, token_id)


def get_api_token(conn: sqlite3.Connection | Tx, token_id: str) -> dict[str, Any]:
    row = conn.execute(
        f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE id = ?", (token_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"API token {token_id} does not exist")
    return _token_json(row)


def list_api_tokens(conn: sqlite3.Connection, user_id: str | None) -> list[dict[str, Any]]:
    """The tokens of one user (or of everyone when None), newest first."""
    where, params = ("WHERE user_id = ?", (user_id,)) if user_id is not None else ("", ())
    rows = conn.execute(
        f"SELECT {_TOKEN_COLUMNS} FROM api_tokens {where} ORDER BY created_at DESC, id", params
    ).fetchall()
    return [_token_json(r) for r in rows]


def revoke_api_token(tx: Tx, token_id: str) -> dict[str, Any]:
    """Revoke a token for good (idempotent); lookups refuse it from the next request on."""
    get_api_token(tx, token_id)
    tx.execute("UPDATE api_tokens SET revoked = 1 WHERE id = ?", (token_id,))
    return get_api_token(tx, token_id)


def lookup_api_token(conn: sqlite3.Connection, token: str, now: int) -> Principal | None:
    row = conn.execute(
        "SELECT u.id, u.name, u.role, t.expires_at FROM api_tokens t JOIN users u "
        "ON u.id = t.user_id WHERE t.token_hash = ? AND t.revoked = 0 AND u.active = 1",
        (digest(token),),
    ).fetchone()
    if row is None or (row[3] is not None and row[3] <= now):
        return None
    return Principal("staff", row[0], row[1], row[2], None, row[3])


def lookup_attendee_token(conn: sqlite3.Connection, token: str, now: int) -> Principal | None:
    """The contact an attendee token stands for; None when unknown or the contact is
    blocked (every token of a blocked contact stops working, new ones too)."""
    row = conn.execute(
        "SELECT k.id, k.name, a.conversation_id, a.expires_at FROM attendee_tokens a "
        "JOIN contacts k ON k.id = a.contact_id WHERE a.token_hash = ? "
        "AND k.blocked_at IS NULL",
        (digest(token),),
    ).fetchone()
    if row is None:
        return None
    return Principal("contact", row[0], row[1], None, frozenset({row[2]}), row[3])
