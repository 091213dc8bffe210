"""The effects of recipe actions, apart from the deciding (actors/recipe_actions.py):
the rows a webhook action queues, the conversation changes, the reply, hiding a message,
blocking a contact, and the result of an action whose effect was queued.

Each is idempotent: a webhook delivery is keyed by (trigger event, endpoint), a reply by
its ``client_msg_id``, a hidden message or a blocked contact stays so.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

from actors import contexts, directory, recipe_notify, recipe_webhooks
from actors.group_commands import DeleteMessage
from actors.records import ConversationChanges, NewMessage, NotFound, StoredMessage
from actors.store import Tx

if TYPE_CHECKING:
    from actors.recipe_actions import Planned, RunContext

#: The close reason a blocked contact's sessions get.
BLOCKED_REASON = "the contact was blocked"


def result(planned: Planned, outcome: str, detail: str) -> dict[str, Any]:
    """An action's result as the run's history records it."""
    return {"action": planned.type, "index": planned.index, "result": outcome, "detail": detail}


def enqueue_webhook(tx: Tx, ctx: RunContext, planned: Planned) -> dict[str, Any]:
    data = planned.data
    endpoint = data.get("endpoint") or recipe_webhooks.endpoint_id_for(
        tx, ctx.recipe.id, planned.index
    )
    if endpoint is None:
        return result(
            planned, "failed", "the action has no webhook endpoint: save the recipe again"
        )
    body = json.dumps(data["payload"], separators=(",", ":"), ensure_ascii=False)
    tx.execute(
        "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, body, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (event_id, endpoint_id) DO NOTHING",
        (
            directory.new_id("msg"), endpoint, ctx.key_event, f"recipe.{ctx.trigger}", body,
            tx.now_ms, tx.now_ms,
        ),
    )  # fmt: skip
    row = tx.execute(
        "SELECT id FROM webhook_deliveries WHERE event_id = ? AND endpoint_id = ?",
        (ctx.key_event, endpoint),
    ).fetchone()
    return result(planned, "queued", f"webhook “{data['name']}” queued ({row[0]})")


def changes_for(planned: Planned) -> tuple[ConversationChanges, str]:
    data = planned.data
    kind = planned.type
    if kind == "resolve":
        return ConversationChanges(status="resolved"), "resolved"
    if kind == "set_pending":
        return ConversationChanges(status="pending"), "set pending"
    if kind == "add_tags":
        return ConversationChanges(tags_add=tuple(data["tags"])), "tagged " + ", ".join(
            data["tags"]
        )
    if kind == "remove_tags":
        return ConversationChanges(tags_remove=tuple(data["tags"])), "untagged " + ", ".join(
            data["tags"]
        )
    if kind == "set_properties":
        props = dict(data["properties"])
        priority = props.pop("priority", None)
        return ConversationChanges(priority=priority, properties=props), planned.describe
    if kind in ("assign", "smart_assign"):
        changes = ConversationChanges(
            clear_assignee=True, assignee_user=data.get("user"), assignee_team=data.get("team")
        )
        return changes, planned.describe.replace("assign to", "assigned to", 1)
    raise ValueError(f"unknown action type {kind!r}")


async def post_reply(ctx: RunContext, planned: Planned) -> StoredMessage:
    return await ctx.system.post(
        NewMessage(
            conversation=ctx.conversation,
            author=ctx.bot,
            kind="message",
            body=planned.data["text"],
            client_msg_id=f"recipe:{ctx.run_id}:{planned.index}",
            data={"cause": ctx.cause},
        )
    )


async def hide_message(ctx: RunContext, planned: Planned) -> dict[str, Any]:
    seq = int(planned.data["seq"])
    system = ctx.system
    try:
        await system.groups.call(
            ctx.conversation,
            lambda reply: DeleteMessage(seq, ctx.bot, reply),
            timeout=system.config.call_timeout,
        )
    except NotFound:
        return result(planned, "done", f"message {seq} is hidden already")
    return result(planned, "done", f"hid message {seq}")


async def block_contact(ctx: RunContext, planned: Planned) -> dict[str, Any]:
    contact, name = planned.data["contact"], planned.data["name"]
    now = await ctx.system.store.write(
        functools.partial(contexts.block_contact, contact_id=contact)
    )
    closed = ctx.system.contact_sessions.block(contact, BLOCKED_REASON)
    detail = f"blocked {name}" if now else f"{name} is blocked already"
    if closed:
        detail += f" ({closed} open session{'s' if closed > 1 else ''} closed)"
    return result(planned, "done", detail)


async def queued_result(ctx: RunContext, planned: Planned) -> dict[str, Any]:
    """The result the claim stored for a queued action; wake whoever sends it."""
    if planned.type == "webhook":
        ctx.system.wake_webhooks()
    elif planned.type == "notify" and planned.data.get("email"):
        ctx.system.wake_mailer()
    stored = await ctx.system.store.read(
        functools.partial(_claimed_result, run_id=ctx.run_id, index=planned.index)
    )
    if stored is not None:
        return stored
    if planned.type == "notify":  # the engine kept no result: tell what the rows say
        sent = await ctx.system.store.read(
            functools.partial(recipe_notify.sent, run_id=ctx.run_id, index=planned.index)
        )
        if sent:
            return result(planned, "done", planned.describe)
        return result(planned, "skipped", "waiting for more matches, or rate limited")
    return result(planned, "queued", planned.describe)


def _claimed_result(conn: Any, run_id: str, index: int) -> dict[str, Any] | None:
    row = conn.execute("SELECT results FROM recipe_runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        return None
    for item in json.loads(row[0]):
        if isinstance(item, dict) and item.get("index") == index:
            return item
    return None
