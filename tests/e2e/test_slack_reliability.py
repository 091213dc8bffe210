"""Delivery you can trust: rate limits, 5xx, ambiguous failures, a restart mid-call, and
the Events API's signature and replay rules. Timers run under MockClock where the test is
about time (the emulator's ts then come from the same virtual clock)."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing

from protocol.frames import Send
from tests.e2e.slack_env import SECRET, Env, slack_emulator
from tests.helpers import connect

TIMEOUT = 60
#: Under MockClock the bound is virtual; autojump reaches it at once if the test hangs.
VIRTUAL_TIMEOUT = 3600
T0 = 1_700_000_000.0


@pytest.fixture
def clock() -> trio.testing.MockClock:
    """Virtual time that jumps only after 0.2 s of real idleness (Slack calls are threads)."""
    return trio.testing.MockClock(autojump_threshold=0.2)


async def _started(env: Env, **overrides: object) -> tuple[dict[str, object], str]:
    await env.start_tools()
    await env.start_server(**overrides)
    await env.seed_people()
    att = await env.attendee()
    parent = await env.parent_of("Ann")
    return att, parent.ts


async def _send(env: Env, att: dict[str, object], bodies: list[str]) -> None:
    async with connect(env.seed.ws_url, str(att["token"])) as ann:
        for n, body in enumerate(bodies):
            await ann.send(
                Send(conversation=str(att["conversation"]), client_msg_id=f"m{n}", body=body)
            )


async def test_a_burst_of_429s_delivers_everything_once_in_order(
    clock: trio.testing.MockClock, nursery: trio.Nursery, tmp_path: Path
) -> None:
    with trio.fail_after(VIRTUAL_TIMEOUT):
        env = Env(nursery, tmp_path, clock=lambda: T0 + trio.current_time())
        att, parent_ts = await _started(env, slack_post_interval=1.0)
        env.slack.add_fault("rate_limited", count=6, retry_after=30, method="chat.postMessage")
        sent_at = trio.current_time()
        bodies = [f"question {n}" for n in range(5)]
        await _send(env, att, bodies)
        texts = await env.thread_texts(parent_ts, 5)
    replies = env.thread(parent_ts)
    assert texts == [f"*Ann*: {b}" for b in bodies]
    posts = env.slack.calls_to("chat.postMessage")
    assert [c.status for c in posts] == [200] + [429] * 6 + [200] * 5
    # One second of pacing after the parent, six Retry-After waits of 30 s, then one post
    # a second (exact virtual times: the emulator's ts come from the same clock).
    times = [round(float(m.ts) - T0 - sent_at, 3) for m in replies]
    assert times == [181.0, 182.0, 183.0, 184.0, 185.0]


async def test_5xx_backs_off_and_an_ambiguous_failure_is_not_posted_twice(
    clock: trio.testing.MockClock, nursery: trio.Nursery, tmp_path: Path
) -> None:
    with trio.fail_after(VIRTUAL_TIMEOUT):
        env = Env(nursery, tmp_path, clock=lambda: T0 + trio.current_time())
        att, parent_ts = await _started(env, slack_post_interval=1.0)
        env.slack.add_fault("http_error", count=3, status=503, method="chat.postMessage")
        sent_at = trio.current_time()
        await _send(env, att, ["first"])
        await env.thread_texts(parent_ts, 1)
        first_at = float(env.thread(parent_ts)[0].ts) - T0
        # Slack stores the post, then answers 500: the retry must find it, not repost.
        env.slack.add_fault("http_error", count=1, process=True, method="chat.postMessage")
        async with connect(env.seed.ws_url, str(att["token"])) as ann:
            await ann.send(
                Send(conversation=str(att["conversation"]), client_msg_id="x", body="second")
            )
            await ann.send(
                Send(conversation=str(att["conversation"]), client_msg_id="y", body="third")
            )
        texts = await env.thread_texts(parent_ts, 3)
    # One second of pacing after the parent, then backoff 1, 2, 4 s (exact virtual times).
    assert round(first_at - sent_at, 3) == 1 + 1 + 2 + 4
    assert texts == ["*Ann*: first", "*Ann*: second", "*Ann*: third"]
    # A 5xx may have posted: each retry after one looks in the thread first.
    assert len(env.slack.calls_to("conversations.replies")) == 3 + 1
    async with env.seed.http(env.admin_token) as http:
        warnings = (await http.get("/api/v1/integrations/slack/activity")).json()["items"]
    codes = [w["code"] for w in warnings if w["level"] == "warning"]
    assert codes.count("service_unavailable") == 3
    assert codes.count("internal_error") == 1


async def test_server_stopped_mid_call_and_restarted_posts_nothing_twice(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    with trio.fail_after(TIMEOUT):
        env = Env(nursery, tmp_path)
        att, parent_ts = await _started(env)
        hung = env.watch_hangs()
        env.slack.add_fault("hang", seconds=60, method="chat.postMessage", cut=True)
        bodies = [f"line {n}" for n in range(4)]
        await _send(env, att, bodies)
        await hung.wait()  # the bridge is inside chat.postMessage for "line 0"
        await env.stop_server(release_hangs=True)  # Slack stores it; the answer is cut off
        assert [m.text for m in env.thread(parent_ts)] == ["*Ann*: line 0"]
        await env.start_server()
        texts = await env.thread_texts(parent_ts, 4)
    assert texts == [f"*Ann*: {b}" for b in bodies]
    ok_posts = [c for c in env.slack.calls_to("chat.postMessage") if c.ok]
    assert len(ok_posts) == 1 + 4  # the parent and each line, once
    assert len(env.slack.calls_to("conversations.replies")) == 1  # found "line 0" again


async def test_bad_signatures_are_refused_and_replayed_events_applied_once(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    with trio.fail_after(TIMEOUT):
        env = Env(nursery, tmp_path)
        att, parent_ts = await _started(env)
        assert env.running is not None
        url = env.running.url + "/slack/events"
        body = json.dumps({"type": "event_callback", "event_id": "EvFORGED", "event": {}}).encode()
        now = str(int(time.time()))
        stale = str(int(time.time()) - 600)
        async with httpx.AsyncClient(timeout=10) as http:
            refused = [
                await http.post(url, content=body, headers=headers)
                for headers in (
                    {},
                    {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": "v0=" + "0" * 64},
                    {
                        "X-Slack-Request-Timestamp": now,
                        "X-Slack-Signature": slack_emulator.sign_request("wrong", now, body),
                    },
                    {
                        "X-Slack-Request-Timestamp": stale,
                        "X-Slack-Signature": slack_emulator.sign_request(SECRET, stale, body),
                    },
                    {"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=x"},
                )
            ]
        verification = await env.slack.send_url_verification()
        posted = env.slack.post_as_user("mia", env.channel, "Welcome!", thread_ts=parent_ts)
        assert posted.event_id is not None
        first = await env.slack.wait_for_delivery(posted.event_id)
        env.slack.replay_event(posted.event_id)
        replayed = await env.slack.wait_for_delivery(posted.event_id, attempts=2)
        hello = env.slack.post_as_user("mia", env.channel, "Anything else?", thread_ts=parent_ts)
        assert hello.event_id is not None
        await env.slack.wait_for_delivery(hello.event_id)

        def rows(conn: sqlite3.Connection) -> tuple[list[str], int]:
            bodies = [
                r[0]
                for r in conn.execute(
                    "SELECT body FROM messages WHERE conversation_id = ? AND author_kind = "
                    "'staff' ORDER BY seq",
                    (att["conversation"],),
                ).fetchall()
            ]
            forged = conn.execute(
                "SELECT COUNT(*) FROM slack_inbox WHERE event_id = 'EvFORGED'"
            ).fetchone()[0]
            return bodies, int(forged)

        # The inbox applies events in order: once "Anything else?" is in, so is the rest.
        while "Anything else?" not in (result := await env.seed.store.read(rows))[0]:
            pass
    assert [r.status_code for r in refused] == [401] * 5
    assert {r.json()["error"]["code"] for r in refused} == {"unauthorized"}
    assert verification["echoed"] is True
    assert first.acknowledged
    assert [a.status for a in replayed.attempts] == [200, 200]
    assert replayed.attempts[1].retry_num == 1
    assert result == (["Welcome!", "Anything else?"], 0)
