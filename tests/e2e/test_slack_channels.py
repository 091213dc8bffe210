"""Channels: one per webinar (valid names, name_taken, moderators invited), settings changed
mid-way, and a channel the app is not in (held with the fix, then re-driven in order)."""

from __future__ import annotations

from pathlib import Path

import trio

from protocol.frames import Send
from tests.e2e.slack_env import Env
from tests.helpers import connect

TIMEOUT = 60


async def _env(nursery: trio.Nursery, tmp_path: Path, **overrides: object) -> Env:
    env = Env(nursery, tmp_path)
    await env.start_tools()
    await env.start_server(**overrides)
    await env.seed_people("Launch Day: Q&A, 2025 Édition!")
    return env


async def test_a_channel_per_webinar_with_a_valid_name_and_the_moderators_invited(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    with trio.fail_after(TIMEOUT):
        env = await _env(nursery, tmp_path, slack_channel_per_webinar=True)
        # Someone archived a channel with the name we would pick first: it is skipped.
        old = env.slack.add_channel("webinar-launch-day-q-a-2025-edition", members=["olga"])
        env.slack.archive_channel(old.id)
        twin = await env.webinar("Launch Day: Q&A, 2025 Édition!")  # same name, own channel
        await env.attendee("Ann", "ann@example.com")
        await env.attendee("Bob", "bob@example.com", context=twin["id"])

        def created() -> list[str]:
            return [c.params.get("name") for c in env.slack.calls_to("conversations.create")]

        await env.until(lambda: len(env.slack.calls_to("chat.postMessage")) >= 2)
    names = [
        ch.name
        for ch in env.slack.channels.values()
        if ch.name.startswith("webinar-") and not ch.is_archived
    ]
    # The two webinars are two lanes, so which one gets "-2" is a race; each gets its own.
    assert sorted(names) == [
        "webinar-launch-day-q-a-2025-edition-2",
        "webinar-launch-day-q-a-2025-edition-3",
    ]
    assert created()[0] == "webinar-launch-day-q-a-2025-edition"  # taken (archived): next
    channels = [env.slack.find_channel(name) for name in names]
    mia, sam, olga = (env.slack.find_user(n).id for n in ("mia", "sam", "olga"))
    for channel in channels:
        assert set(channel.members) == {"U0BOT", mia, sam}  # olga moderates neither
        assert not channel.is_private  # anyone on the team can find and join it
    parents = sorted(m.text.split(" (")[0] for ch in channels for m in env.top(ch.id))
    assert parents == ["Ann", "Bob"]
    assert [len(env.top(ch.id)) for ch in channels] == [1, 1]
    assert olga not in channels[0].members
    assert env.top() == []  # nothing in the picked channel


async def test_changing_the_toggles_keeps_running_threads_where_they_are(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    with trio.fail_after(TIMEOUT):
        env = await _env(nursery, tmp_path)
        ann = await env.attendee("Ann", "ann@example.com")
        ann_parent = await env.parent_of("Ann")
        async with env.seed.http(env.admin_token) as http:
            answer = await http.put(
                "/api/v1/integrations/slack",
                json={"channel_per_webinar": True, "first_message_only": True},
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["saved"] == ["channel_per_webinar", "first_message_only"]
        bob = await env.attendee("Bob", "bob@example.com")
        for att, body in ((ann, "Ann again"), (bob, "Bob here")):
            async with connect(env.seed.ws_url, att["token"]) as client:
                await client.send(
                    Send(conversation=att["conversation"], client_msg_id="x", body=body)
                )
        await env.until(lambda: len(env.slack.channels) == 2 and env.top(_webinar(env)))
        bob_parent = await env.parent_of("Bob", _webinar(env))
        ann_texts = await env.thread_texts(ann_parent.ts, 1)
        bob_texts = await env.thread_texts(bob_parent.ts, 1, _webinar(env))
        # Back to one channel: Bob's thread stays in the webinar's channel.
        async with env.seed.http(env.admin_token) as http:
            answer = await http.put(
                "/api/v1/integrations/slack", json={"channel_per_webinar": None}
            )
            assert answer.json()["settings"]["channel_per_webinar"] is False
        async with connect(env.seed.ws_url, bob["token"]) as client:
            await client.send(
                Send(conversation=bob["conversation"], client_msg_id="y", body="more")
            )
        bob_more = await env.thread_texts(bob_parent.ts, 2, _webinar(env))
    assert ann_texts == ["*Ann*: Ann again"]  # the running thread stayed in #attendees
    assert [m.ts for m in env.top()] == [ann_parent.ts]
    assert "started chatting" in bob_parent.text  # the new attendee follows the new setting
    assert bob_texts == ["*Bob*: Bob here"]
    assert bob_more == ["*Bob*: Bob here", "*Bob*: more"]


def _webinar(env: Env) -> str:
    return next(ch.id for ch in env.slack.channels.values() if ch.name.startswith("webinar-"))


async def test_not_in_channel_is_held_with_the_fix_and_redrive_delivers_in_order(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    with trio.fail_after(TIMEOUT):
        env = Env(nursery, tmp_path)
        await env.start_tools()
        closed = env.slack.add_channel("closed", members=["mia"], bot_member=False)
        await env.start_server(slack_channel=closed.id)
        await env.seed_people()
        att = await env.attendee()
        await env.until(
            lambda: any(c.error == "not_in_channel" for c in env.slack.calls_to("chat.postMessage"))
        )
        async with connect(env.seed.ws_url, att["token"]) as ann:
            for n in (1, 2):
                await ann.send(
                    Send(conversation=att["conversation"], client_msg_id=f"m{n}", body=f"msg {n}")
                )
        async with env.seed.http(env.admin_token) as http:
            errors: list[dict[str, object]] = []
            while not errors:  # the activity entry is written right after the call failed
                answer = await http.get("/api/v1/integrations/slack/activity?errors_only=1")
                errors = answer.json()["items"]
            status = (await http.get("/api/v1/integrations/slack")).json()
            everything = (await http.get("/api/v1/integrations/slack/activity")).json()["items"]
            calls_before = len(env.slack.calls_to("chat.postMessage"))
            env.slack.add_members(closed.id, ["U0BOT"])  # the admin adds the app
            redrive = await http.post("/api/v1/integrations/slack/redrive")
        parent = await env.parent_of("Ann", closed.id)
        texts = await env.thread_texts(parent.ts, 2, closed.id)
    (error,) = errors
    assert error["code"] == "not_in_channel"
    assert error["level"] == "error"
    assert "Integrations, Add apps" in str(error["hint"])
    assert status["operations"]["held"] == 1
    assert all(item["level"] == "error" for item in errors)
    assert len(everything) >= 1
    assert calls_before == 1  # held: nothing was retried while waiting for the fix
    assert redrive.json() == {"redriven": 1}
    assert texts == ["*Ann*: msg 1", "*Ann*: msg 2"]
