"""Draft and approval replies: queued once per run, sent once by the approving staff
member (maybe edited), or discarded; the queue lists what waits."""

from __future__ import annotations

import functools

import pytest
import trio

from actors import recipe_inbox
from actors.directory import Conflict
from actors.recipe_actions import approve_reply, discard_reply
from actors.records import NewMessage, NotFound
from actors.system import System
from protocol.frames import Participant
from tests.actors.conftest import TEST_TIMEOUT
from tests.recipe_kit import context, execute, make_recipe, new_attendee, new_user, run, sql


async def _queue(system: System) -> tuple[str, dict[str, str], Participant, Participant]:
    """A conversation with a draft and an approval reply; two staff members."""
    sam = Participant("staff", await new_user(system.store, "sam@example.com", "Sam"), "Sam")
    kim = Participant("staff", await new_user(system.store, "kim@example.com", "Kim"), "Kim")
    conv = (await new_attendee(system.store))["conversation"]
    recipe = await make_recipe(
        system.store,
        [
            {"type": "reply", "text": "Here is a draft.", "mode": "draft"},
            {"type": "reply", "text": "Refund approved.", "mode": "approval"},
        ],
        name="Refunds",
    )
    await run(await context(system, recipe, conv, key_event=1))
    replies = await system.store.read(
        functools.partial(recipe_inbox.list_replies, state=None, conversation_id=conv)
    )
    return conv, {r["mode"]: r["id"] for r in replies}, sam, kim


async def _messages(system: System, conv: str) -> list[tuple[object, ...]]:
    return await sql(
        system.store,
        "SELECT seq, author_kind, author_id, body, client_msg_id FROM messages "
        "WHERE conversation_id = ? AND kind = 'message' ORDER BY seq",
        conv,
    )


async def test_approval_sends_once_as_the_approver_with_an_edit(system: System) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        conv, ids, sam, kim = await _queue(system)
        waiting = await system.store.read(
            functools.partial(recipe_inbox.list_replies, mode="approval")
        )
        sent = await approve_reply(system, ids["approval"], sam, "Refund approved, Ann.")
        again = await approve_reply(system, ids["approval"], sam)
        by_other = await approve_reply(system, ids["approval"], kim)
        messages = await _messages(system, conv)
        with pytest.raises(Conflict, match="sent already"):
            await discard_reply(system, ids["approval"], sam)
        left = await system.store.read(functools.partial(recipe_inbox.list_replies))
    assert [w["id"] for w in waiting] == [ids["approval"]]
    assert waiting[0]["recipe_name"] == "Refunds"
    assert waiting[0]["body"] == "Refund approved."
    (message,) = messages
    assert message[1:] == (
        "staff", sam.id, "Refund approved, Ann.", f"approved:{ids['approval']}",
    )  # fmt: skip
    assert sent["state"] == "sent"
    assert sent["decided_by"] == sam.id
    assert sent["sent_seq"] == message[0]
    assert sent["body"] == "Refund approved, Ann."
    assert again == sent
    assert by_other == sent
    assert [r["mode"] for r in left] == ["draft"]


async def test_a_draft_is_discarded_or_sent_as_it_is(system: System) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        conv, ids, sam, kim = await _queue(system)
        discarded = await discard_reply(system, ids["draft"], kim)
        twice = await discard_reply(system, ids["draft"], kim)
        with pytest.raises(Conflict, match="discarded"):
            await approve_reply(system, ids["draft"], sam)
        with pytest.raises(NotFound):
            await approve_reply(system, "rp_nope", sam)
        with pytest.raises(ValueError, match="empty"):
            await approve_reply(system, ids["approval"], sam, "  ")
        plain = await approve_reply(system, ids["approval"], sam)
        messages = await _messages(system, conv)
    assert discarded["state"] == "discarded"
    assert discarded["decided_by"] == kim.id
    assert twice == discarded
    assert plain["body"] == "Refund approved."
    assert [m[3] for m in messages] == ["Refund approved."]


async def test_a_reply_being_sent_is_not_taken_by_another(system: System) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        conv, ids, sam, kim = await _queue(system)
        claimed = await system.store.write(
            functools.partial(recipe_inbox.claim_reply, reply_id=ids["approval"], user_id=sam.id)
        )
        with pytest.raises(Conflict, match=f"being sent by {sam.id}"):
            await approve_reply(system, ids["approval"], kim)
        with pytest.raises(Conflict, match="being sent"):
            await discard_reply(system, ids["approval"], kim)
        # Sam's approval posted, then the process died before recording it; once the
        # claim is old, Kim's approval finds Sam's message and posts nothing new.
        await system.post(
            NewMessage(
                conv, sam, "message", "Refund approved.",
                client_msg_id=f"approved:{ids['approval']}",
            )
        )  # fmt: skip
        await execute(
            system.store,
            "UPDATE recipe_replies SET decided_at = decided_at - ? WHERE id = ?",
            recipe_inbox.CLAIM_MS, ids["approval"],
        )  # fmt: skip
        taken = await approve_reply(system, ids["approval"], kim)
        messages = await _messages(system, conv)
    assert claimed["decided_by"] == sam.id
    assert claimed["state"] == "waiting"
    assert len(messages) == 1
    assert taken["state"] == "sent"
    assert taken["sent_seq"] == messages[0][0]
    assert taken["decided_by"] == sam.id  # who really sent it
