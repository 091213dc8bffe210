"""What an event of the log means to recipes: the triggers it fires, the timers it arms or
cancels, its cause chain and the message facts it carries.

Pure (no trio, no sqlite): the scheduler (actors/recipe_scheduler.py) and the timers
(actors/recipe_timers.py) read events through these functions, and tests can hand them
plain events.

Causes: a change made by a recipe run carries ``{"recipe", "version", "run", "depth",
"chain"}`` (records.ConversationChanges.cause): in the ``conversation.updated`` payload
as ``cause``, and in the ``data`` of a message the run posted. A recipe never runs for an
event whose chain names it (its own actions do not re-trigger it), and nothing runs for
an event at depth :data:`MAX_CHAIN_DEPTH` or more (a chain of recipes triggering each
other stops).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from actors.store import StoredEvent

#: Recipes triggering recipes: a run caused by an event of this depth or more is skipped
#: (recorded with the reason), so A -> B -> C runs and the fourth link does not.
MAX_CHAIN_DEPTH = 3
#: The event types recipes look at; the rest is skipped before any read.
RELEVANT_EVENTS = frozenset({"conversation.created", "conversation.updated", "message.posted"})
#: Facts ``message.kind`` of a public ``message`` by author kind.
_MESSAGE_KINDS = {
    "contact": "attendee_message",
    "staff": "staff_reply",
    "bot": "bot_reply",
    "system": "system_message",
}
_UNASSIGNED = {"user": None, "team": None}


@dataclass(frozen=True, slots=True)
class Cause:
    """Why an event happened, as far as recipes are concerned."""

    depth: int = 0
    chain: tuple[str, ...] = ()

    def names(self, recipe_id: str) -> bool:
        return recipe_id in self.chain


def cause_of(event: StoredEvent) -> Cause:
    """The recipe chain behind ``event`` (depth 0 and no chain for a person's doing)."""
    payload = event.payload
    raw: Any = None
    if event.type == "conversation.updated":
        raw = payload.get("cause")
    elif event.type == "message.posted":
        data = payload.get("data")
        raw = data.get("cause") if isinstance(data, Mapping) else None
    return parse_cause(raw)


def parse_cause(raw: Any) -> Cause:
    if not isinstance(raw, Mapping):
        return Cause()
    depth = raw.get("depth")
    chain = raw.get("chain")
    return Cause(
        depth=depth if isinstance(depth, int) and not isinstance(depth, bool) else 0,
        chain=tuple(str(r) for r in chain) if isinstance(chain, list) else (),
    )


def is_public_message(payload: Mapping[str, Any]) -> bool:
    """A ``message.posted`` payload of a real message (not a note or timeline event, not
    internal)."""
    return payload.get("kind") == "message" and not payload.get("internal")


def message_facts(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The facts' ``message`` from a ``message.posted`` payload (or a StoredMessage's JSON)."""
    author = payload.get("author") or {}
    kind = payload.get("kind")
    if kind == "message" and not payload.get("internal"):
        shown = _MESSAGE_KINDS.get(str(author.get("kind")), "message")
    elif kind == "message":
        shown = "internal_message"
    else:
        shown = str(kind)
    return {
        "seq": payload.get("seq"),
        "kind": shown,
        "author": {"kind": author.get("kind"), "id": author.get("id"), "name": author.get("name")},
        "body": payload.get("body") or "",
        "ts": payload.get("ts"),
    }


def _change(payload: Mapping[str, Any], key: str) -> tuple[Any, Any] | None:
    changes = payload.get("changes")
    if not isinstance(changes, Mapping):
        return None
    pair = changes.get(key)
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        return None
    return pair[0], pair[1]


def fires(trigger_type: str, status: str | None, tag: str | None, event: StoredEvent) -> bool:
    """Whether ``event`` is the trigger of a new-item or status/tag recipe (timers are
    fired by :mod:`actors.recipe_timers`)."""
    payload = event.payload
    if trigger_type == "new_conversation":
        return event.type == "conversation.created"
    if trigger_type == "new_message":
        return event.type == "message.posted" and is_public_message(payload)
    if event.type != "conversation.updated":
        return False
    if trigger_type == "status_changed":
        pair = _change(payload, "status")
        return pair is not None and pair[1] == status
    if trigger_type == "tag_added":
        pair = _change(payload, "tags")
        if pair is None or tag is None:
            return False
        before = {str(t).casefold() for t in pair[0] or ()}
        after = {str(t).casefold() for t in pair[1] or ()}
        return tag.casefold() in after - before
    return False


def timer_effect(trigger_type: str, event: StoredEvent) -> str | None:
    """What ``event`` does to a conversation's timer of a recipe with this trigger:
    ``"arm"`` (start, or restart from now), ``"cancel"``, or None (nothing)."""
    payload = event.payload
    if trigger_type == "no_attendee_reply":
        if event.type != "message.posted" or not is_public_message(payload):
            return None
        kind = (payload.get("author") or {}).get("kind")
        if kind in ("staff", "bot"):
            return "arm"
        return "cancel" if kind == "contact" else None
    if trigger_type == "pending_for":
        pair = _change(payload, "status") if event.type == "conversation.updated" else None
        if pair is None:
            return None
        if pair[1] == "pending":
            return "arm"
        return "cancel" if pair[0] == "pending" else None
    if trigger_type == "unassigned_for":
        if event.type == "conversation.created":
            return "arm"  # conversations start unassigned (contexts.create_conversation)
        pair = _change(payload, "assignee") if event.type == "conversation.updated" else None
        if pair is None:
            return None
        before = _assignee(pair[0])
        after = _assignee(pair[1])
        if after == _UNASSIGNED:
            return "arm" if before != _UNASSIGNED else None
        return "cancel"
    return None


def _assignee(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        return dict(_UNASSIGNED)
    return {"user": value.get("user"), "team": value.get("team")}
