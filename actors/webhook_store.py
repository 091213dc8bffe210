"""SQL and pure helpers of the outgoing webhooks: endpoints, deliveries, attempts, signing.

An **endpoint** is a URL an admin subscribed to event types of the event log (or ``*``
for all). For each event an enabled endpoint wants, the dispatcher stores one
**delivery**, keyed by (event id, endpoint): handing the same event again (at-least-once
consumers, a replayed log) stores nothing new, so nothing is delivered twice. A recipe's
webhook action owns an endpoint of its own (``recipe_id``, ``action_index``): it wants no
event of the log; the recipe run stores its deliveries, keyed by the event that triggered
the run, and admins' endpoint listings leave it out. A
delivery's id (``msg_...``) is the ``webhook-id`` header of every attempt, so receivers
can drop a repeat. Every **attempt** is logged: response status, an excerpt of the
body, duration, what happened next.

Signing follows the Standard Webhooks spec: the secret is ``whsec_`` + base64 of random
bytes, the signature ``v1,`` + base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}")).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from actors.directory import Conflict, new_id
from actors.records import NotFound
from actors.store import StoredEvent, Tx
from protocol.events import EVENT_TYPES

#: Subscribes an endpoint to every event type, including ones added later.
ALL_EVENTS = "*"
#: What an endpoint may subscribe to: the event log's types.
KNOWN_EVENTS = frozenset(EVENT_TYPES)
#: Only POST with a JSON body for subscribed endpoints (what admins may choose).
METHODS = ("POST",)
CONTENT_TYPES = ("application/json",)
#: What a recipe's webhook action may use besides: a GET sends the payload's top-level
#: fields as query parameters, a form body the same fields form-encoded.
RECIPE_METHODS = ("POST", "GET")
RECIPE_CONTENT_TYPES = ("application/json", "application/x-www-form-urlencoded")
STATES = ("pending", "delivered", "failed")
#: Random bytes of a signing secret (the spec asks for 24 to 64).
SECRET_BYTES = 32
SECRET_PREFIX = "whsec_"
#: Characters of a response body kept in the delivery log.
EXCERPT_CHARS = 1024


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One subscribed URL. ``auth_header`` and ``secret`` never leave the server in full."""

    id: str
    url: str
    description: str
    event_types: tuple[str, ...]
    enabled: bool
    method: str
    content_type: str
    auth_header: str | None
    secret: str
    disabled_reason: str | None
    #: The newest event when the endpoint was created: it gets only later ones (a replay
    #: of the log must not send it what happened before it existed).
    after_event: int
    created_at: int
    updated_at: int
    #: Set for the endpoint of a recipe's webhook action (which wants no event).
    recipe_id: str | None = None
    action_index: int | None = None
    #: The payload fields a new-item recipe's action sends (None: all of them).
    fields: tuple[str, ...] | None = None

    def wants(self, event: StoredEvent) -> bool:
        if self.recipe_id is not None or event.id <= self.after_event:
            return False
        return ALL_EVENTS in self.event_types or event.type in self.event_types


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event for one endpoint."""

    id: str
    seq: int
    endpoint_id: str
    event_id: int
    event_type: str
    body: str
    state: str
    attempts: int
    error: str | None


@dataclass(frozen=True, slots=True)
class Attempt:
    """The outcome of one HTTP attempt, as logged."""

    attempt: int
    url: str
    duration_ms: int
    #: ``delivered``, ``retry`` (another attempt follows), ``failed`` or ``disabled``.
    outcome: str
    response_status: int | None = None
    response_excerpt: str | None = None
    error: str | None = None
    #: Seconds until the next attempt, for ``retry``.
    retry_in: float | None = None


# -- signing ---------------------------------------------------------------------------------


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` header value for one attempt."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def event_body(event: StoredEvent) -> str:
    """The JSON body delivered for an event (Standard Webhooks' type/timestamp/data)."""
    when = datetime.fromtimestamp(event.ts / 1000, tz=UTC).isoformat().replace("+00:00", "Z")
    return json.dumps(
        {"type": event.type, "timestamp": when, "event_id": event.id, "data": event.payload},
        separators=(",", ":"),
        ensure_ascii=False,
    )


# -- endpoints -------------------------------------------------------------------------------

_ENDPOINT_COLUMNS = (
    "id, url, description, event_types, enabled, method, content_type, auth_header, secret, "
    "disabled_reason, after_event, created_at, updated_at, recipe_id, action_index, fields"
)


def _endpoint(row: Sequence[Any]) -> Endpoint:
    return Endpoint(
        row[0], row[1], row[2], tuple(json.loads(row[3])), bool(row[4]), row[5], row[6],
        row[7], row[8], row[9], row[10], row[11], row[12], row[13], row[14],
        None if row[15] is None else tuple(json.loads(row[15])),
    )  # fmt: skip


def get_endpoint(conn: sqlite3.Connection | Tx, endpoint_id: str) -> Endpoint | None:
    row = conn.execute(
        f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?", (endpoint_id,)
    ).fetchone()
    return None if row is None else _endpoint(row)


def require_endpoint(conn: sqlite3.Connection | Tx, endpoint_id: str) -> Endpoint:
    """Raises: NotFound."""
    endpoint = get_endpoint(conn, endpoint_id)
    if endpoint is None:
        raise NotFound(f"no webhook {endpoint_id}")
    return endpoint


def require_admin_endpoint(conn: sqlite3.Connection | Tx, endpoint_id: str) -> Endpoint:
    """An endpoint an admin subscribed (the /webhooks API), not one a recipe owns.

    Raises: NotFound (a recipe's endpoint is managed through its recipe).
    """
    endpoint = require_endpoint(conn, endpoint_id)
    if endpoint.recipe_id is not None:
        raise NotFound(f"no webhook {endpoint_id}")
    return endpoint


def mask_authorization(value: str | None) -> str | None:
    """``Bearer …1a2b``: the scheme and at most the last four characters of long ones."""
    if not value:
        return None
    scheme, _, credentials = value.partition(" ")
    tail = credentials[-4:] if len(credentials) >= 16 else ""
    return f"{scheme} …{tail}"


def list_endpoints(
    conn: sqlite3.Connection, *, enabled_only: bool = False, recipe_id: str | None = None
) -> list[Endpoint]:
    """The endpoints admins subscribed, or (``recipe_id``) those of one recipe's actions."""
    where = "recipe_id IS NULL" if recipe_id is None else "recipe_id = ?"
    params = () if recipe_id is None else (recipe_id,)
    if enabled_only:
        where += " AND enabled = 1"
    rows = conn.execute(
        f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE {where} ORDER BY rowid", params
    ).fetchall()
    return [_endpoint(r) for r in rows]


def create_endpoint(
    tx: Tx,
    *,
    url: str,
    description: str,
    event_types: Sequence[str],
    enabled: bool,
    auth_header: str | None,
) -> Endpoint:
    """Store a new endpoint with a fresh signing secret."""
    endpoint_id = new_id("wh")
    tx.execute(
        "INSERT INTO webhook_endpoints (id, url, description, event_types, enabled, method, "
        "content_type, auth_header, secret, after_event, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(id), 0) FROM events), ?, ?)",
        (
            endpoint_id, url, description, json.dumps(list(event_types)), enabled, METHODS[0],
            CONTENT_TYPES[0], auth_header, new_secret(), tx.now_ms, tx.now_ms,
        ),
    )  # fmt: skip
    return require_endpoint(tx, endpoint_id)


#: Columns PATCH may change.
EDITABLE = ("url", "description", "event_types", "enabled", "auth_header")


def update_endpoint(tx: Tx, endpoint_id: str, changes: dict[str, Any]) -> Endpoint:
    """Apply validated changes; enabling an endpoint clears why it was disabled.

    Raises:
        NotFound: no such endpoint.
    """
    require_endpoint(tx, endpoint_id)
    sets: list[str] = []
    params: list[Any] = []
    for name, value in changes.items():
        if name not in EDITABLE:
            raise ValueError(f"{name} is not editable")
        sets.append(f"{name} = ?")
        params.append(json.dumps(list(value)) if name == "event_types" else value)
    if changes.get("enabled") is True:
        sets.append("disabled_reason = NULL")
    sets.append("updated_at = ?")
    params.append(tx.now_ms)
    tx.execute(
        f"UPDATE webhook_endpoints SET {', '.join(sets)} WHERE id = ?", (*params, endpoint_id)
    )
    return require_endpoint(tx, endpoint_id)


def delete_endpoint(tx: Tx, endpoint_id: str) -> None:
    """Remove an endpoint with its deliveries and their attempts.

    Raises:
        NotFound: no such endpoint.
    """
    require_endpoint(tx, endpoint_id)
    tx.execute(
        "DELETE FROM webhook_attempts WHERE delivery_id IN "
        "(SELECT id FROM webhook_deliveries WHERE endpoint_id = ?)",
        (endpoint_id,),
    )
    tx.execute("DELETE FROM webhook_deliveries WHERE endpoint_id = ?", (endpoint_id,))
    tx.execute("DELETE FROM webhook_endpoints WHERE id = ?", (endpoint_id,))


def disable_endpoint(tx: Tx, endpoint_id: str, reason: str) -> None:
    tx.execute(
        "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ?, updated_at = ? "
        "WHERE id = ?",
        (reason, tx.now_ms, endpoint_id),
    )


def delivery_counts(conn: sqlite3.Connection, endpoint_id: str) -> dict[str, int]:
    counts = dict.fromkeys(STATES, 0)
    for state, n in conn.execute(
        "SELECT state, COUNT(*) FROM webhook_deliveries WHERE endpoint_id = ? GROUP BY state",
        (endpoint_id,),
    ).fetchall():
        counts[str(state)] = int(n)
    return counts


# -- deliveries ------------------------------------------------------------------------------

_DELIVERY_COLUMNS = "id, seq, endpoint_id, event_id, event_type, body, state, attempts, error"


def _delivery(row: Sequence[Any]) -> Delivery:
    return Delivery(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8])


def plan_deliveries(tx: Tx, events: Sequence[StoredEvent], endpoints: Sequence[Endpoint]) -> int:
    """Store a delivery for each (event, endpoint that wants it) not stored before; return
    how many are new."""
    added = 0
    for event in events:
        body: str | None = None
        for endpoint in endpoints:
            if not endpoint.wants(event):
                continue
            body = body if body is not None else event_body(event)
            added += tx.execute(
                "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, body, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (event_id, endpoint_id) DO NOTHING",
                (new_id("msg"), endpoint.id, event.id, event.type, body, tx.now_ms, tx.now_ms),
            ).rowcount
    return added


def due_deliveries(conn: sqlite3.Connection, limit: int) -> list[Delivery]:
    """Pending deliveries of enabled endpoints, oldest first (a disabled endpoint's wait
    until it is enabled again)."""
    rows = conn.execute(
        f"SELECT {', '.join('d.' + c for c in _DELIVERY_COLUMNS.split(', '))} "
        "FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id "
        "WHERE d.state = 'pending' AND e.enabled = 1 ORDER BY d.seq LIMIT ?",
        (limit,),
    ).fetchall()
    return [_delivery(r) for r in rows]


def get_delivery(conn: sqlite3.Connection | Tx, delivery_id: str) -> Delivery | None:
    row = conn.execute(
        f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = ?", (delivery_id,)
    ).fetchone()
    return None if row is None else _delivery(row)


def record_attempt(tx: Tx, delivery_id: str, attempt: Attempt) -> bool:
    """Log an attempt and move its delivery on (``retry`` keeps it pending); False (and
    nothing written) when the delivery was deleted with its endpoint meanwhile."""
    state = {"delivered": "delivered", "retry": "pending"}.get(attempt.outcome, "failed")
    updated = tx.execute(
        "UPDATE webhook_deliveries SET state = ?, attempts = MAX(attempts, ?), error = ?, "
        "updated_at = ? WHERE id = ?",
        (
            state, attempt.attempt, None if state == "delivered" else attempt.error,
            tx.now_ms, delivery_id,
        ),
    ).rowcount  # fmt: skip
    if not updated:
        return False
    tx.execute(
        "INSERT INTO webhook_attempts (delivery_id, attempt, ts, url, response_status, "
        "response_excerpt, duration_ms, outcome, error, retry_in) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            delivery_id, attempt.attempt, tx.now_ms, attempt.url, attempt.response_status,
            attempt.response_excerpt, attempt.duration_ms, attempt.outcome, attempt.error,
            attempt.retry_in,
        ),
    )  # fmt: skip
    return True


def redeliver(tx: Tx, endpoint_id: str, delivery_id: str) -> Delivery:
    """Queue a delivered or failed delivery again (same id: receivers may dedupe it).

    Raises:
        NotFound: no such endpoint or delivery (of that endpoint).
        Conflict: it is still pending, or the endpoint is disabled.
    """
    endpoint = require_endpoint(tx, endpoint_id)
    delivery = get_delivery(tx, delivery_id)
    if delivery is None or delivery.endpoint_id != endpoint_id:
        raise NotFound(f"no delivery {delivery_id} of webhook {endpoint_id}")
    if delivery.state == "pending":
        raise Conflict("the delivery is still pending: it is being attempted")
    if not endpoint.enabled:
        raise Conflict("the webhook is disabled: enable it first")
    tx.execute(
        "UPDATE webhook_deliveries SET state = 'pending', error = NULL, updated_at = ? "
        "WHERE id = ?",
        (tx.now_ms, delivery_id),
    )
    found = get_delivery(tx, delivery_id)
    assert found is not None
    return found


def list_deliveries(
    conn: sqlite3.Connection,
    endpoint_id: str | None = None,
    *,
    state: str | None = None,
    limit: int = 50,
    before: int | None = None,
    recipe_id: str | None = None,
) -> list[dict[str, Any]]:
    """The delivery log of an endpoint, or (``recipe_id``) of every webhook action of a
    recipe, newest first, each with its attempts (oldest first). A recipe's entries also
    name their ``endpoint`` and ``action_index``.

    Raises:
        ValueError: neither or both of ``endpoint_id`` and ``recipe_id``.
    """
    if (endpoint_id is None) == (recipe_id is None):
        raise ValueError("list_deliveries needs exactly one of endpoint_id or recipe_id")
    if recipe_id is not None:
        where = ["e.recipe_id = ?"]
        params: list[Any] = [recipe_id]
    else:
        where = ["d.endpoint_id = ?"]
        params = [endpoint_id]
    if state is not None:
        where.append("d.state = ?")
        params.append(state)
    if before is not None:
        where.append("d.seq < ?")
        params.append(before)
    rows = conn.execute(
        "SELECT d.id, d.seq, d.event_id, d.event_type, d.body, d.state, d.attempts, d.error, "
        "d.created_at, d.updated_at, d.endpoint_id, e.action_index FROM webhook_deliveries d "
        f"JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE {' AND '.join(where)} "
        "ORDER BY d.seq DESC LIMIT ?",
        (*params, limit),
    ).fetchall()
    items = []
    for r in rows:
        attempts = [
            {
                "attempt": a[0], "ts": a[1], "url": a[2], "response_status": a[3],
                "response_excerpt": a[4], "duration_ms": a[5], "outcome": a[6],
                "error": a[7], "retry_in": a[8],
            }
            for a in conn.execute(
                "SELECT attempt, ts, url, response_status, response_excerpt, duration_ms, "
                "outcome, error, retry_in FROM webhook_attempts WHERE delivery_id = ? "
                "ORDER BY id",
                (r[0],),
            ).fetchall()
        ]  # fmt: skip
        last = attempts[-1] if attempts else None
        items.append(
            {
                "id": r[0], "seq": r[1], "event_id": r[2], "event_type": r[3],
                "request_body": r[4], "state": r[5], "attempts": r[6], "error": r[7],
                "created_at": r[8], "updated_at": r[9],
                "response_status": last["response_status"] if last else None,
                "response_excerpt": last["response_excerpt"] if last else None,
                "duration_ms": last["duration_ms"] if last else None,
                "attempt_log": attempts,
            }
        )  # fmt: skip
        if recipe_id is not None:
            items[-1].update(endpoint=r[10], action_index=r[11])
    return items
