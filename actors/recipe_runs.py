"""SQL for recipe runs: the claim that makes a run happen at most once per trigger.

A **run** is one recipe acting on one conversation for one trigger. Its row in
``recipe_runs`` is unique per (recipe, ``trigger_key``): ``event:<id>`` for a run caused
by an event of the log, ``timer:<conversation>:<anchor event>`` for a timer. The
scheduler inserts the row (state ``running``, with the planned actions) in the same
transaction as the actions' queued effects, and only then performs the direct effects;
an event handed again finds the row and does nothing, unless it is still ``running``
(the process died mid-run): then the stored plan is performed again (each action is
idempotent). Runs that were skipped (outside business hours, chain too deep) have a row
too, so the reason can be shown.

Read functions take a read-only connection (or a Tx); write functions a Tx. Nothing here
awaits.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from actors.records import NotFound
from actors.store import Tx

#: A run's states: ``running`` from the claim until the results are stored.
STATES = ("running", "done", "skipped", "failed")
#: Most runs one listing returns (REST pages beyond with ``before``).
MAX_LIMIT = 200

_COLUMNS = (
    "r.id, r.recipe_id, r.version, r.conversation_id, r.trigger_key, r.depth, r.state, "
    "r.matched, r.plan, r.results, r.reason, r.created_at, r.finished_at, rc.name"
)


@dataclass(frozen=True, slots=True)
class Run:
    """One row of ``recipe_runs`` (JSON columns decoded)."""

    id: str
    recipe_id: str
    version: int
    conversation_id: str | None
    trigger_key: str
    depth: int
    state: str
    matched: list[dict[str, Any]]
    plan: list[dict[str, Any]]
    results: list[dict[str, Any]]
    reason: str | None
    created_at: int
    finished_at: int | None
    #: The recipe's current name (for listings; the history entry keeps the name of then).
    recipe_name: str | None = None

    @property
    def key_event(self) -> int:
        """The event id the trigger key names (the event, or the timer's anchor event)."""
        return key_event(self.trigger_key)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "recipe": self.recipe_id,
            "recipe_name": self.recipe_name,
            "version": self.version,
            "conversation": self.conversation_id,
            "trigger_key": self.trigger_key,
            "depth": self.depth,
            "state": self.state,
            "matched": self.matched,
            "plan": self.plan,
            "results": self.results,
            "reason": self.reason,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
        }


def event_key(event_id: int) -> str:
    """The trigger key of a run caused by an event."""
    return f"event:{event_id}"


def timer_key(conversation_id: str, anchor_event: int) -> str:
    """The trigger key of a run fired by a timer armed by ``anchor_event``."""
    return f"timer:{conversation_id}:{anchor_event}"


def key_event(trigger_key: str) -> int:
    """The event id at the end of a trigger key (see :func:`event_key`, :func:`timer_key`).

    Raises:
        ValueError: not a key these functions made.
    """
    kind, _, rest = trigger_key.partition(":")
    if kind not in ("event", "timer") or not rest:
        raise ValueError(f"not a run trigger key: {trigger_key!r}")
    return int(rest.rsplit(":", 1)[-1])


def run_id_for(recipe_id: str, trigger_key: str) -> str:
    """The run's id, derived from its unique key: a run planned twice (a replay racing a
    crash recovery) carries the same id, so its replies' client_msg_ids match too."""
    digest = hashlib.sha256(f"{recipe_id}\x00{trigger_key}".encode()).hexdigest()
    return f"rr_{digest[:24]}"


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _run(row: Sequence[Any]) -> Run:
    return Run(
        id=row[0],
        recipe_id=row[1],
        version=row[2],
        conversation_id=row[3],
        trigger_key=row[4],
        depth=row[5],
        state=row[6],
        matched=json.loads(row[7]),
        plan=json.loads(row[8]),
        results=json.loads(row[9]),
        reason=row[10],
        created_at=row[11],
        finished_at=row[12],
        recipe_name=row[13],
    )


_FROM = "FROM recipe_runs r LEFT JOIN recipes rc ON rc.id = r.recipe_id"


def _select(where: str) -> str:
    return f"SELECT {_COLUMNS} {_FROM} {where}"


# -- writes ---------------------------------------------------------------------------------


def claim(
    tx: Tx,
    *,
    run_id: str,
    recipe_id: str,
    version: int,
    conversation_id: str | None,
    trigger_key: str,
    depth: int,
    matched: list[dict[str, Any]],
    plan: list[dict[str, Any]],
    results: list[dict[str, Any]] | None = None,
    reason: str | None = None,
) -> tuple[Run, bool]:
    """Insert the run in state ``running``; return it and whether it is new.

    When (recipe, trigger_key) has a row already, nothing is written and that row is
    returned with ``False``: the caller does nothing more unless it is still ``running``.
    """
    cur = tx.execute(
        "INSERT INTO recipe_runs (id, recipe_id, version, conversation_id, trigger_key, depth, "
        "state, matched, plan, results, reason, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?) "
        "ON CONFLICT (recipe_id, trigger_key) DO NOTHING",
        (
            run_id,
            recipe_id,
            version,
            conversation_id,
            trigger_key,
            depth,
            _dumps(matched),
            _dumps(plan),
            _dumps(results or []),
            reason,
            tx.now_ms,
        ),
    )
    existing = find_run(tx, recipe_id, trigger_key)
    assert existing is not None, "the run was just claimed or found"
    return existing, cur.rowcount == 1


def finalise(tx: Tx, run_id: str, state: str, results: list[dict[str, Any]]) -> bool:
    """Store a running run's outcome; False when it was not running (finalised already).

    Raises:
        ValueError: ``state`` is not a final state.
    """
    if state not in STATES or state == "running":
        raise ValueError(f"a run ends done, skipped or failed, not {state!r}")
    cur = tx.execute(
        "UPDATE recipe_runs SET state = ?, results = ?, finished_at = ? "
        "WHERE id = ? AND state = 'running'",
        (state, _dumps(results), tx.now_ms, run_id),
    )
    return cur.rowcount == 1


# -- reads ----------------------------------------------------------------------------------


def get_run(conn: sqlite3.Connection | Tx, run_id: str) -> Run:
    """Raises: NotFound."""
    row = conn.execute(_select("WHERE r.id = ?"), (run_id,)).fetchone()
    if row is None:
        raise NotFound(f"recipe run {run_id} does not exist")
    return _run(row)


def find_run(conn: sqlite3.Connection | Tx, recipe_id: str, trigger_key: str) -> Run | None:
    row = conn.execute(
        _select("WHERE r.recipe_id = ? AND r.trigger_key = ?"), (recipe_id, trigger_key)
    ).fetchone()
    return None if row is None else _run(row)


def running_runs(conn: sqlite3.Connection) -> list[Run]:
    """Runs claimed and never finalised (the process stopped mid-run), oldest first."""
    rows = conn.execute(_select("WHERE r.state = 'running' ORDER BY r.created_at, r.rowid"))
    return [_run(row) for row in rows.fetchall()]


def list_runs(
    conn: sqlite3.Connection,
    *,
    recipe_id: str | None = None,
    conversation_id: str | None = None,
    limit: int = 50,
    before: str | None = None,
) -> list[dict[str, Any]]:
    """Runs, newest first, as JSON objects; ``before`` (a run id: the last one of the
    previous page) continues the listing after that run.

    Raises:
        NotFound: ``before`` names no run.
        ValueError: ``limit`` outside 1..MAX_LIMIT.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    where: list[str] = []
    params: list[Any] = []
    if recipe_id is not None:
        where.append("r.recipe_id = ?")
        params.append(recipe_id)
    if conversation_id is not None:
        where.append("r.conversation_id = ?")
        params.append(conversation_id)
    if before is not None:
        mark = conn.execute(
            "SELECT created_at, rowid FROM recipe_runs WHERE id = ?", (before,)
        ).fetchone()
        if mark is None:
            raise NotFound(f"recipe run {before} does not exist")
        where.append("(r.created_at < ? OR (r.created_at = ? AND r.rowid < ?))")
        params.extend([mark[0], mark[0], mark[1]])
    clause = f"WHERE {' AND '.join(where)} " if where else ""
    rows = conn.execute(
        _select(f"{clause}ORDER BY r.created_at DESC, r.rowid DESC LIMIT ?"), (*params, limit)
    ).fetchall()
    return [_run(row).to_json() for row in rows]


# -- the history entry ------------------------------------------------------------------------

#: How a done action reads in the history sentence.
_DONE = {
    "notify": "notified",
    "resolve": "resolved",
    "set_pending": "set pending",
    "assign": "assigned",
    "smart_assign": "assigned",
    "set_properties": "properties set",
    "reply": "replied",
    "add_tags": "tagged",
    "remove_tags": "untagged",
    "hide_message": "message hidden",
    "block_contact": "contact blocked",
    "webhook": "webhook called",
}
#: ... and a queued one (its effect happens later, elsewhere).
_QUEUED = {
    "notify": "notification queued",
    "reply": "reply queued",
    "webhook": "webhook queued",
}


def describe_run(
    name: str, version: int, results: Sequence[dict[str, Any]], reason: str | None
) -> str:
    """The history sentence: ``Recipe “X” v3: resolved; replied`` or ``... skipped: why``."""
    head = f"Recipe “{name}” v{version}"
    if reason is not None:
        return f"{head} skipped: {reason}"
    parts = []
    for result in results:
        action = str(result.get("action", "action"))
        outcome = result.get("result")
        detail = result.get("detail")
        if outcome == "done":
            parts.append(_DONE.get(action, action))
        elif outcome == "queued":
            parts.append(_QUEUED.get(action, f"{action} queued"))
        else:
            parts.append(f"{action} {outcome}" + (f" ({detail})" if detail else ""))
    return f"{head}: {'; '.join(parts) or 'nothing to do'}"


def history_data(
    run: Run, *, name: str, trigger: str, results: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """The ``data`` of a run's history entry (the console renders it)."""
    return {
        "event": "recipe_run",
        "recipe": run.recipe_id,
        "name": name,
        "version": run.version,
        "run": run.id,
        "trigger": trigger,
        "matched": run.matched,
        "results": list(results),
        "skipped": run.reason,
    }


def history_client_msg_id(run_id: str) -> str:
    """The history entry's client_msg_id: posting it again stores nothing new."""
    return f"run:{run_id}"
