"""The actions of a recipe run, in three steps the scheduler (actors/recipe_scheduler.py)
calls in order:

1. :func:`plan_action` reads and decides (who a team's turn is, whom smart assign
   picks, which users to notify, the webhook payload): a :class:`Planned` stored with the
   run, so a run performed again after a crash makes the same decisions.
2. :func:`enqueue_action` runs inside the run's claim transaction and writes the queued
   effects: notifications and staff mail (actors/recipe_notify.py), draft and approval
   replies (actors/recipe_inbox.py), webhook deliveries keyed by (trigger event,
   endpoint), the round-robin pointer. The claim happens once per trigger, and every row
   is keyed besides, so a replayed event stores nothing twice.
3. :func:`perform_action`, after the claim committed, does the direct effects through
   the System, each idempotent: conversation updates carrying the run's ``cause``, a
   reply with ``client_msg_id`` ``recipe:<run>:<index>``, deleting the triggering
   message, blocking the contact (its open sessions closed at once). It also wakes the
   webhook dispatcher and the mailer for what step 2 queued, and returns the action's
   result for the run's history entry.

The effects themselves are in actors/recipe_effects.py. Drafts and approval replies wait
for staff: :func:`approve_reply` posts one as the approving staff member (maybe edited),
:func:`discard_reply` drops it (both in actors/recipe_inbox.py, re-exported here).

Error handling: an action whose target is gone (a deleted user or team, a message
deleted meanwhile) is *skipped* with the reason; an error from the System (a conversation
deleted, a timeout) makes that action *failed*; the other actions go on either way.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from actors import directory, recipe_effects, recipe_inbox, recipe_notify, recipe_webhooks
from actors.presence import StaffPresence
from actors.recipe_assign import NoAssignee, Pick, advance_pointer, pick_team, pick_user, smart_pick
from actors.recipe_defs import Recipe
from actors.recipe_effects import result
from actors.recipe_inbox import approve_reply as approve_reply
from actors.recipe_inbox import discard_reply as discard_reply
from actors.recipe_model import Action, Facts, default_notify_text
from actors.records import NotFound
from actors.store import StoreError, Tx
from actors.system import System
from protocol.frames import Participant

#: Characters of a reply's text quoted when describing the action.
QUOTE_CHARS = 60


@dataclass(frozen=True)
class RunContext:
    """Everything an action of one run needs (the scheduler builds it)."""

    system: System
    recipe: Recipe
    run_id: str
    trigger: str
    trigger_key: str
    #: The trigger's event id (for a timer: the event that armed it); webhook deliveries
    #: are keyed by it, so a replay stores nothing new.
    key_event: int
    facts: Facts
    depth: int
    chain: tuple[str, ...]
    now_ms: int
    presence: StaffPresence

    @property
    def cause(self) -> dict[str, Any]:
        """What the run's changes and messages carry: recipes skip their own doing, and
        chains stop at a depth (actors/recipe_events.py)."""
        return {
            "recipe": self.recipe.id,
            "version": self.recipe.version,
            "run": self.run_id,
            "depth": self.depth + 1,
            "chain": [*self.chain, self.recipe.id],
        }

    @property
    def bot(self) -> Participant:
        """Who the run's messages and changes are by: the recipe."""
        return Participant(kind="bot", id=self.recipe.id, name=self.recipe.name)

    @property
    def conversation(self) -> str:
        return str(self.facts["conversation"]["id"])


@dataclass(frozen=True)
class Planned:
    """One action decided: what it will do (``describe``), the decisions (``data``,
    JSON), or why it will not (``skip``)."""

    index: int
    type: str
    describe: str
    data: dict[str, Any]
    skip: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "type": self.type,
            "describe": self.describe,
            "data": self.data,
            "skip": self.skip,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Planned:
        return cls(
            index=int(data["index"]),
            type=str(data["type"]),
            describe=str(data.get("describe", "")),
            data=dict(data.get("data") or {}),
            skip=data.get("skip"),
        )


def _quote(text: str) -> str:
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…"


# -- 1. plan --------------------------------------------------------------------------------


async def plan_action(ctx: RunContext, index: int, action: Action) -> Planned:
    """Decide what ``action`` will do for this run (reads only)."""
    params = action.params
    kind = action.type

    def planned(describe: str, data: dict[str, Any] | None = None) -> Planned:
        return Planned(index, kind, describe, data or {})

    def skipped(describe: str, reason: str) -> Planned:
        return Planned(index, kind, describe, {}, reason)

    if kind == "resolve":
        return planned("resolve the conversation")
    if kind == "set_pending":
        return planned("set the conversation pending")
    if kind in ("add_tags", "remove_tags"):
        tags = list(params["tags"])
        return planned(
            f"{'tag' if kind == 'add_tags' else 'untag'} {', '.join(tags)}", {"tags": tags}
        )
    if kind == "set_properties":
        props = dict(params["properties"])
        shown = ", ".join(f"{k} {'cleared' if v is None else v}" for k, v in props.items())
        return planned(f"set {shown}", {"properties": props})
    if kind in ("assign", "smart_assign"):
        return await _plan_assign(ctx, index, action)
    if kind == "reply":
        text, mode = str(params["text"]), str(params["mode"])
        how = {"send": "reply", "draft": "save a draft reply", "approval": "queue for approval"}
        return planned(f"{how[mode]} “{_quote(text)}”", {"text": text, "mode": mode})
    if kind == "notify":
        return await _plan_notify(ctx, index, action)
    if kind == "hide_message":
        message = ctx.facts.get("message")
        if not message:
            return skipped("hide the message", "no message triggered this run")
        return planned(f"hide message {message['seq']}", {"seq": int(message["seq"])})
    if kind == "block_contact":
        contact = ctx.facts["conversation"].get("contact")
        if not contact:
            return skipped("block the contact", "the conversation has no contact")
        return planned(
            f"block {contact.get('name') or contact['id']}",
            {"contact": contact["id"], "name": contact.get("name") or contact["id"]},
        )
    if kind == "webhook":
        return await _plan_webhook(ctx, index, action)
    return skipped(kind, f"unknown action type {kind!r}")


async def _plan_assign(ctx: RunContext, index: int, action: Action) -> Planned:
    params = action.params
    online = ctx.presence.online()

    def decide(conn: Any) -> Pick:
        if action.type == "smart_assign":
            return smart_pick(conn, params, ctx.facts, ctx.now_ms, online)
        if params.get("user"):
            return pick_user(conn, params["user"])
        return pick_team(conn, params["team"], online)

    try:
        pick = await ctx.system.store.read(decide)
    except NoAssignee as exc:
        return Planned(index, action.type, "assign", {}, str(exc))
    return Planned(index, action.type, pick.describe, pick.to_data())


async def _plan_notify(ctx: RunContext, index: int, action: Action) -> Planned:
    params = action.params
    users = await ctx.system.store.read(
        functools.partial(recipe_notify.active_users, user_ids=list(params["users"]))
    )
    channels = [c for c in ("console", "email") if params[c]]
    if not users:
        return Planned(index, "notify", "notify", {}, "none of the users to notify is active")
    describe = f"notify {', '.join(u['name'] for u in users)} ({', '.join(channels)})"
    every, quiet = int(params["every"]), int(params["at_most_every_minutes"])
    if every > 1:
        describe += f", once every {every} matches"
    if quiet:
        describe += f", at most every {quiet} min"
    data = {
        "users": users,
        "console": bool(params["console"]),
        "email": bool(params["email"]),
        "every": every,
        "at_most_every_minutes": quiet,
        "title": params.get("text") or default_notify_text(ctx.recipe.name),
        "body": recipe_notify.summary(ctx.facts),
    }
    return Planned(index, "notify", describe, data)


async def _plan_webhook(ctx: RunContext, index: int, action: Action) -> Planned:
    params = action.params
    endpoint = await ctx.system.store.read(
        functools.partial(
            recipe_webhooks.endpoint_id_for, recipe_id=ctx.recipe.id, action_index=index
        )
    )
    payload = recipe_webhooks.webhook_payload(ctx.recipe, action, ctx.facts, ctx.trigger)
    describe = f"call webhook “{params['name']}” ({params['method']} {params['url']})"
    return Planned(
        index, "webhook", describe,
        {"endpoint": endpoint, "name": params["name"], "payload": payload},
    )  # fmt: skip


# -- 2. enqueue (inside the claim transaction) ------------------------------------------------


def enqueue_action(tx: Tx, ctx: RunContext, planned: Planned) -> dict[str, Any] | None:
    """Write the queued part of an action; its result, or None when it has none."""
    if planned.skip is not None:
        return None
    data = planned.data
    if planned.type in ("assign", "smart_assign"):
        if data.get("rotated") and data.get("team") and data.get("user"):
            advance_pointer(tx, data["team"], data["user"])
        return None
    if planned.type == "notify":
        outcome, detail = recipe_notify.enqueue(
            tx, recipe_id=ctx.recipe.id, run_id=ctx.run_id, conversation_id=ctx.conversation,
            index=planned.index, data=data, now_ms=ctx.now_ms,
        )  # fmt: skip
        return result(planned, outcome, detail)
    if planned.type == "reply" and data["mode"] != "send":
        reply = recipe_inbox.queue_reply(
            tx, reply_id=directory.new_id("rp"), conversation_id=ctx.conversation,
            recipe_id=ctx.recipe.id, run_id=ctx.run_id, action_index=planned.index,
            mode=data["mode"], body=data["text"],
        )  # fmt: skip
        what = "saved as a draft" if data["mode"] == "draft" else "waiting for approval"
        return result(planned, "queued", f"reply {what} ({reply.get('id')})")
    if planned.type == "webhook":
        return recipe_effects.enqueue_webhook(tx, ctx, planned)
    return None


# -- 3. perform (after the claim committed) ---------------------------------------------------


async def perform_action(ctx: RunContext, planned: Planned) -> dict[str, Any]:
    """Do the direct part of an action (idempotent) and return its result."""
    if planned.skip is not None:
        return result(planned, "skipped", planned.skip)
    data = planned.data
    try:
        if planned.type in ("notify", "webhook") or (
            planned.type == "reply" and data["mode"] != "send"
        ):
            return await recipe_effects.queued_result(ctx, planned)
        if planned.type == "reply":
            stored = await recipe_effects.post_reply(ctx, planned)
            return result(planned, "done", f"replied (message {stored.seq})")
        if planned.type == "hide_message":
            return await recipe_effects.hide_message(ctx, planned)
        if planned.type == "block_contact":
            return await recipe_effects.block_contact(ctx, planned)
        changes, detail = recipe_effects.changes_for(planned)
        changes.cause = ctx.cause
        await ctx.system.update(ctx.conversation, changes, by=ctx.bot)
        return result(planned, "done", detail)
    except StoreError:
        raise
    except (NotFound, ValueError) as exc:
        return result(planned, "failed", str(exc))
