"""The Slack emulator, driven by the real ``slack_sdk.WebClient`` and a signed-event receiver.

WebClient is synchronous, so it runs in ``trio.to_thread.run_sync`` on the real clock;
nothing in those tests waits on a timer except the one client timeout (1 s). Event
delivery tests involve no threads and run under ``autojump_clock`` with exact virtual
times for Slack's retry schedule (at once, +60 s, +300 s) and its 3 s answer deadline.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import slack_emulator
import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve
from slack_emulator import SlackState
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier

TOKEN = "xoxb-test-token"
SECRET = "test-signing-secret"
#: A fixed emulator clock makes message ts values exact: 1700000000.000000, .000001, ...
T0 = 1_700_000_000.0
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "slack_emulator.py"


@dataclass
class Emu:
    """A running emulator plus a WebClient pointed at it."""

    state: SlackState
    url: str
    client: WebClient

    async def call(self, method: str, **kwargs: Any) -> Any:
        fn = partial(getattr(self.client, method), **kwargs)
        return (await trio.to_thread.run_sync(fn)).data

    async def error(self, method: str, **kwargs: Any) -> SlackApiError:
        fn = partial(getattr(self.client, method), **kwargs)

        def run() -> SlackApiError:
            with pytest.raises(SlackApiError) as info:
                fn()
            return info.value

        return await trio.to_thread.run_sync(run)

    async def code(self, method: str, **kwargs: Any) -> str:
        error = await self.error(method, **kwargs)
        assert error.response.status_code == 200
        return str(error.response["error"])


@pytest.fixture
async def emu(nursery: trio.Nursery) -> Emu:
    state = SlackState(clock=lambda: T0)
    with trio.fail_after(5):
        url = await nursery.start(slack_emulator.serve, state)
    return Emu(state, url, WebClient(token=TOKEN, base_url=url, timeout=5))


@dataclass
class Receiver:
    """A loopback Events API endpoint that records requests and answers as told."""

    statuses: list[int] = field(default_factory=list)  # answers for the next requests
    delays: list[float] = field(default_factory=list)  # stalls before the next answers
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.requests.append(({k.decode(): v.decode() for k, v in scope["headers"]}, body))
        if self.delays:
            await trio.sleep(self.delays.pop(0))
        status = self.statuses.pop(0) if self.statuses else 200
        payload = json.loads(body)
        answer = payload["challenge"] if payload["type"] == "url_verification" else ""
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": answer.encode()})

    def envelopes(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.requests]


@pytest.fixture
async def receiver(nursery: trio.Nursery, emu: Emu) -> Receiver:
    """A receiver the emulator is configured to deliver to, signed with SECRET."""
    rec = Receiver()
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.loglevel = "WARNING"
    with trio.fail_after(5):
        binds = await nursery.start(partial(hypercorn_serve, cast(Any, rec), config, mode="asgi"))
    rec.url = binds[0] + "/slack/events"
    emu.state.configure(request_url=rec.url, signing_secret=SECRET)
    return rec


# --------------------------------------------------------------- Web API


async def test_auth_test_and_token_checks(emu: Emu) -> None:
    with trio.fail_after(10):
        auth = await emu.call("auth_test")
        wrong = WebClient(token="xoxb-wrong", base_url=emu.url)
        missing = WebClient(token=None, base_url=emu.url)
        bad = await trio.to_thread.run_sync(partial(_expect_error, wrong.auth_test))
        none = await trio.to_thread.run_sync(partial(_expect_error, missing.auth_test))
        unknown = await emu.error("api_call", api_method="nope.never")
        team = await emu.call("team_info")
        bot = await emu.call("bots_info", bot="B0BOT")
    assert auth["team_id"] == "T0EMULATOR"
    assert (auth["user_id"], auth["bot_id"]) == ("U0BOT", "B0BOT")
    assert auth["url"] == "https://emulator.slack.com/"
    assert (bad, none) == ("invalid_auth", "not_authed")
    assert unknown.response.status_code == 404
    assert unknown.response["error"] == "unknown_method"
    assert emu.state.calls[0].token == TOKEN
    assert team["team"]["domain"] == "emulator"
    assert bot["bot"]["user_id"] == "U0BOT"


def _expect_error(fn: Callable[[], Any]) -> str:
    with pytest.raises(SlackApiError) as info:
        fn()
    return str(info.value.response["error"])


async def test_post_message_threads_and_ts(emu: Emu) -> None:
    st = emu.state
    ch = st.add_channel("webinar-1")
    with trio.fail_after(10):
        parent = await emu.call("chat_postMessage", channel=ch.id, text="New attendee")
        reply = await emu.call(
            "chat_postMessage", channel="#webinar-1", text="r1", thread_ts=parent["ts"]
        )
        nested = await emu.call("chat_postMessage", channel=ch.id, text="r2", thread_ts=reply["ts"])
        thread = await emu.call("conversations_replies", channel=ch.id, ts=parent["ts"])
        history = await emu.call("conversations_history", channel=ch.id)
        link = await emu.call("chat_getPermalink", channel=ch.id, message_ts=reply["ts"])
    assert [parent["ts"], reply["ts"], nested["ts"]] == [
        "1700000000.000000",
        "1700000000.000001",
        "1700000000.000002",
    ]
    assert parent["message"]["bot_id"] == "B0BOT"
    assert parent["message"]["user"] == "U0BOT"
    assert nested["message"]["thread_ts"] == parent["ts"]  # a reply's ts threads under its parent
    assert [m["text"] for m in thread["messages"]] == ["New attendee", "r1", "r2"]
    assert thread["messages"][0]["reply_count"] == 2
    assert thread["messages"][1]["parent_user_id"] == "U0BOT"
    assert [m["text"] for m in history["messages"]] == ["New attendee"]
    assert link["permalink"] == (
        f"https://emulator.slack.com/archives/{ch.id}/p1700000000000001"
        f"?thread_ts={parent['ts']}&cid={ch.id}"
    )


async def test_post_message_errors(emu: Emu) -> None:
    st = emu.state
    ch = st.add_channel("ok-channel")
    outside = st.add_channel("outside", bot_member=False)
    secret = st.add_channel("secret", is_private=True, bot_member=False)
    old = st.add_channel("old")
    st.archive_channel(old.id)
    post = partial(emu.code, "chat_postMessage")
    with trio.fail_after(10):
        codes = [
            await post(channel=outside.id, text="x"),
            await post(channel="C404", text="x"),
            await post(channel=secret.id, text="x"),
            await post(channel=old.id, text="x"),
            await emu.code("api_call", api_method="chat.postMessage", json={"channel": ch.id}),
            await post(channel=ch.id, text="x" * 40_001),
            await post(channel=ch.id, text="x", thread_ts="1700000000.5"),
            await post(channel=ch.id, text="x", thread_ts="1600000000.000000"),
            await emu.code("conversations_replies", channel=ch.id, ts="1600000000.000000"),
            await emu.code("conversations_history", channel=outside.id),
        ]
    assert codes == [
        "not_in_channel",
        "channel_not_found",
        "channel_not_found",  # private channels are invisible to non-members
        "is_archived",
        "no_text",
        "msg_too_long",
        "invalid_thread_ts",
        "thread_not_found",
        "thread_not_found",
        "not_in_channel",
    ]
    assert st.messages == {}
    assert [c.error for c in st.calls_to("chat.postMessage")][:2] == [
        "not_in_channel",
        "channel_not_found",
    ]


async def test_chat_write_public_allows_posting_without_joining(emu: Emu) -> None:
    outside = emu.state.add_channel("outside", bot_member=False)
    emu.state.configure(chat_write_public=True)
    with trio.fail_after(10):
        sent = await emu.call("chat_postMessage", channel=outside.id, text="hi")
    assert sent["channel"] == outside.id


async def test_form_encoded_blocks_arrive_as_json_strings(emu: Emu) -> None:
    ch = emu.state.add_channel("forms")
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*bold*"}}]
    form = {"channel": ch.id, "text": "fallback", "blocks": json.dumps(blocks)}
    with trio.fail_after(10):
        await emu.call("api_call", api_method="chat.postMessage", params=form)
        bad = await emu.code(
            "api_call", api_method="chat.postMessage", params={**form, "blocks": "[x"}
        )
        await emu.call("chat_postMessage", channel=ch.id, text="json body", blocks=blocks)
    first, second = emu.state.history(ch.id)
    assert first.blocks == blocks
    assert second.blocks == blocks
    assert bad == "invalid_blocks"


async def test_update_and_delete_only_the_bots_messages(emu: Emu) -> None:
    st = emu.state
    ann = st.add_user("ann", "ann@example.com")
    ch = st.add_channel("edits", members=[ann.id])
    human = st.post_as_user(ann.id, ch.id, "from a human")
    with trio.fail_after(10):
        mine = await emu.call("chat_postMessage", channel=ch.id, text="v1")
        reply = await emu.call("chat_postMessage", channel=ch.id, text="re", thread_ts=mine["ts"])
        updated = await emu.call("chat_update", channel=ch.id, ts=mine["ts"], text="v2")
        codes = [
            await emu.code("chat_update", channel=ch.id, ts=human.ts, text="hack"),
            await emu.code("chat_delete", channel=ch.id, ts=human.ts),
            await emu.code("chat_update", channel=ch.id, ts="1600000000.000000", text="x"),
            await emu.code("chat_delete", channel=ch.id, ts="1600000000.000000"),
        ]
        await emu.call("chat_delete", channel=ch.id, ts=mine["ts"])  # has a reply: tombstone
        tomb = st.message(ch.id, mine["ts"])
        tomb_code = await emu.code("chat_update", channel=ch.id, ts=mine["ts"], text="x")
        await emu.call("chat_delete", channel=ch.id, ts=reply["ts"])
    assert updated["text"] == "v2"
    assert updated["message"]["edited"]["user"] == "U0BOT"
    assert codes == [
        "cant_update_message",
        "cant_delete_message",
        "message_not_found",
        "message_not_found",
    ]
    assert (tomb.subtype, tomb.text) == ("tombstone", "This message was deleted.")
    assert tomb_code == "message_not_found"
    assert [m.text for m in st.history(ch.id)] == ["from a human"]  # last reply took the tombstone


async def test_reactions(emu: Emu) -> None:
    ch = emu.state.add_channel("reacts")
    with trio.fail_after(10):
        msg = await emu.call("chat_postMessage", channel=ch.id, text="hi")
        await emu.call("reactions_add", channel=ch.id, timestamp=msg["ts"], name="eyes")
        codes = [
            await emu.code("reactions_add", channel=ch.id, timestamp=msg["ts"], name="eyes"),
            await emu.code("reactions_add", channel=ch.id, timestamp=msg["ts"], name="Bad Name"),
            await emu.code("reactions_add", channel=ch.id, timestamp="1600000000.000000", name="x"),
            await emu.code("reactions_add", channel=ch.id, timestamp="soon", name="x"),
        ]
        stored = {k: list(v) for k, v in emu.state.message(ch.id, msg["ts"]).reactions.items()}
        await emu.call("reactions_remove", channel=ch.id, timestamp=msg["ts"], name="eyes")
        gone = await emu.code("reactions_remove", channel=ch.id, timestamp=msg["ts"], name="eyes")
    assert codes == ["already_reacted", "invalid_name", "message_not_found", "bad_timestamp"]
    assert stored == {"eyes": ["U0BOT"]}
    assert gone == "no_reaction"


async def test_conversations_create_validates_names(emu: Emu) -> None:
    with trio.fail_after(10):
        created = await emu.call("conversations_create", name="webinar-42_a", is_private=True)
        codes = [
            await emu.code("conversations_create", name=name)
            for name in ["", "x" * 81, "Webinar", "two words", "é", "---", "webinar-42_a"]
        ]
    channel = created["channel"]
    assert (channel["name"], channel["is_private"], channel["is_member"]) == (
        "webinar-42_a",
        True,
        True,
    )
    assert channel["creator"] == "U0BOT"
    assert codes == [
        "invalid_name_required",
        "invalid_name_maxlength",
        "invalid_name_specials",
        "invalid_name_specials",
        "invalid_name_specials",
        "invalid_name_punctuation",
        "name_taken",
    ]


async def test_join_invite_and_members(emu: Emu) -> None:
    st = emu.state
    ann, bob = st.add_user("ann", "ann@example.com"), st.add_user("bob", "bob@example.com")
    public = st.add_channel("lobby", members=[ann.id], bot_member=False)
    private = st.add_channel("staff", is_private=True, bot_member=False)
    with trio.fail_after(10):
        before = await emu.code("conversations_invite", channel=public.id, users=bob.id)
        joined = await emu.call("conversations_join", channel=public.id)
        again = await emu.call("conversations_join", channel=public.id)
        await emu.call("conversations_invite", channel=public.id, users=f"{bob.id}")
        codes = [
            await emu.code("conversations_invite", channel=public.id, users=f"{ann.id},{bob.id}"),
            await emu.code("conversations_invite", channel=public.id, users="U404"),
            await emu.code("conversations_invite", channel=public.id, users="U0BOT"),
            await emu.code("conversations_invite", channel=public.id, users=""),
            await emu.code("conversations_join", channel=private.id),
        ]
        members = await emu.call("conversations_members", channel=public.id)
        info = await emu.call("conversations_info", channel=public.id)
    assert before == "not_in_channel"
    assert joined["channel"]["is_member"] is True
    assert again["warning"] == "already_in_channel"
    assert codes == [
        "already_in_channel",
        "user_not_found",
        "cant_invite_self",
        "no_user",
        "channel_not_found",
    ]
    assert members["members"] == [ann.id, "U0BOT", bob.id]
    assert info["channel"]["num_members"] == 3


async def test_conversations_list_paginates_and_filters(emu: Emu) -> None:
    st = emu.state
    for i in range(5):
        st.add_channel(f"c{i}")
    st.add_channel("mine", is_private=True)
    st.add_channel("hidden", is_private=True, bot_member=False)
    st.archive_channel("c4")

    def all_pages(**kwargs: Any) -> list[list[str]]:
        pages = emu.client.conversations_list(limit=2, **kwargs)
        return [[c["name"] for c in page["channels"]] for page in pages]

    with trio.fail_after(10):
        public = await trio.to_thread.run_sync(all_pages)
        live = await trio.to_thread.run_sync(partial(all_pages, exclude_archived=True))
        private = await emu.call("conversations_list", types="private_channel")
        bad = await emu.code("conversations_list", cursor="not-a-cursor")
    assert public == [["c0", "c1"], ["c2", "c3"], ["c4"]]
    assert live == [["c0", "c1"], ["c2", "c3"]]
    assert [c["name"] for c in private["channels"]] == ["mine"]
    assert bad == "invalid_cursor"


async def test_users_info_and_lookup(emu: Emu) -> None:
    ann = emu.state.add_user("ann", "Ann@Example.com", real_name="Ann Agent")
    with trio.fail_after(10):
        info = await emu.call("users_info", user=ann.id)
        found = await emu.call("users_lookupByEmail", email="ann@example.com")
        bot = await emu.call("users_info", user="U0BOT")
        listed = await emu.call("users_list")
        codes = [
            await emu.code("users_info", user="U404"),
            await emu.code("users_lookupByEmail", email="nobody@example.com"),
        ]
    assert info["user"]["profile"]["email"] == "Ann@Example.com"
    assert info["user"]["real_name"] == "Ann Agent"
    assert found["user"]["id"] == ann.id
    assert bot["user"]["is_bot"] is True
    assert [u["id"] for u in listed["members"]] == ["U0BOT", ann.id]
    assert codes == ["user_not_found", "users_not_found"]


# ------------------------------------------------------------------ faults


async def test_rate_limit_fault_surfaces_429_with_retry_after(emu: Emu) -> None:
    st = emu.state
    ch = st.add_channel("pace")
    st.add_fault("rate_limited", count=2, method="chat.postMessage", retry_after=7)
    with trio.fail_after(10):
        await emu.call("auth_test")  # other methods are not affected
        errors = [await emu.error("chat_postMessage", channel=ch.id, text="hi") for _ in range(2)]
        await emu.call("chat_postMessage", channel=ch.id, text="hi")
    assert not any(isinstance(h, RateLimitErrorRetryHandler) for h in emu.client.retry_handlers)
    for error in errors:
        assert error.response.status_code == 429
        assert error.response.headers["Retry-After"] == "7"
        assert error.response["error"] == "ratelimited"
    assert [c.status for c in st.calls_to("chat.postMessage")] == [429, 429, 200]
    assert len(st.history(ch.id)) == 1
    assert st.faults == []


async def test_server_error_faults(emu: Emu) -> None:
    st = emu.state
    ch = st.add_channel("flaky")
    st.add_fault("http_error", status=503)
    st.add_fault("http_error", status=500, process=True)
    with trio.fail_after(10):
        unavailable = await emu.error("chat_postMessage", channel=ch.id, text="lost")
        ambiguous = await emu.error("chat_postMessage", channel=ch.id, text="posted anyway")
    assert unavailable.response.status_code == 503
    assert unavailable.response["error"] == "service_unavailable"
    assert ambiguous.response.status_code == 500
    # process=True: the post took effect although the client saw a 500 (a retry duplicates it)
    assert [m.text for m in st.history(ch.id)] == ["posted anyway"]


async def test_error_fault_for_the_next_n_calls(emu: Emu) -> None:
    emu.state.add_fault("error", error="account_inactive", count=2)
    with trio.fail_after(10):
        codes = [await emu.code("auth_test"), await emu.code("auth_test")]
        ok = await emu.call("auth_test")
    assert codes == ["account_inactive", "account_inactive"]
    assert ok["ok"] is True


async def test_hang_fault_times_out_the_client_then_completes(emu: Emu) -> None:
    st = emu.state
    ch = st.add_channel("slow")
    st.add_fault("hang", seconds=60, method="chat.postMessage")
    impatient = WebClient(token=TOKEN, base_url=emu.url, timeout=1)

    def post() -> None:
        with pytest.raises(TimeoutError):
            impatient.chat_postMessage(channel=ch.id, text="slow")

    with trio.fail_after(10):
        await trio.to_thread.run_sync(post)
        assert st.history(ch.id) == []  # still hanging
        st.release_hangs()
        await st.wait_until(lambda: len(st.history(ch.id)) == 1)
    record = st.calls_to("chat.postMessage")[0]
    assert (record.fault, record.ok) == ("hang", True)


async def test_a_cut_hang_posts_but_the_client_gets_no_answer(emu: Emu) -> None:
    st = emu.state
    ch = st.add_channel("cut")
    st.add_fault("hang", seconds=60, method="chat.postMessage", cut=True)
    client = WebClient(token=TOKEN, base_url=emu.url, timeout=30)
    failures: list[BaseException] = []

    def post() -> None:
        try:
            client.chat_postMessage(channel=ch.id, text="did it work?")
        except Exception as exc:
            failures.append(exc)

    hung = trio.Event()
    original = st.hang

    async def hang(seconds: float) -> None:
        hung.set()
        await original(seconds)

    st.hang = hang  # type: ignore[method-assign]
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.to_thread.run_sync, post)
            await hung.wait()
            st.release_hangs()
    assert [m.text for m in st.history(ch.id)] == ["did it work?"]  # it took effect
    assert len(failures) == 1  # but the answer never arrived
    assert "IncompleteRead" in repr(failures[0]) or "Connection" in repr(failures[0])
    with pytest.raises(ValueError, match="hang faults only"):
        st.add_fault("error", cut=True)


# ------------------------------------------------------------------ events


async def test_human_post_sends_signed_event_callback(
    emu: Emu, receiver: Receiver, autojump_clock: trio.testing.MockClock
) -> None:
    st = emu.state
    ann = st.add_user("ann", "ann@example.com")
    ch = st.add_channel("webinar-1", members=[ann.id])
    with trio.fail_after(10):
        top = st.post_as_user("ann@example.com", ch.id, "Hello staff")
        reply = st.post_as_user(ann.id, "webinar-1", "more", thread_ts=top.ts)
        assert reply.event_id is not None
        delivery = await st.wait_for_delivery(reply.event_id)
    assert trio.current_time() == 0  # no timeout or retry was needed
    assert delivery.acknowledged
    assert [(a.retry_num, a.status) for a in delivery.attempts] == [(0, 200)]
    verifier = SignatureVerifier(SECRET)
    for headers, body in receiver.requests:
        assert verifier.is_valid_request(body, headers)
        assert "x-slack-retry-num" not in headers
    first, second = receiver.envelopes()
    assert first["type"] == "event_callback"
    assert (first["team_id"], first["api_app_id"]) == ("T0EMULATOR", "A0EMULATOR")
    assert first["token"] == st.config.verification_token
    assert first["event_id"] == top.event_id != second["event_id"]
    assert first["event_id"].startswith("Ev")
    assert first["event_time"] == int(T0)
    event = first["event"]
    assert (event["type"], event["user"], event["text"]) == ("message", ann.id, "Hello staff")
    assert (event["channel"], event["ts"], event["channel_type"]) == (ch.id, top.ts, "channel")
    assert "bot_id" not in event
    assert "subtype" not in event
    assert event["blocks"][0]["type"] == "rich_text"
    assert (second["event"]["thread_ts"], second["event"]["parent_user_id"]) == (top.ts, ann.id)


async def test_failed_delivery_is_retried_with_the_same_event_id(
    emu: Emu, receiver: Receiver, autojump_clock: trio.testing.MockClock
) -> None:
    st = emu.state
    ann = st.add_user("ann", "ann@example.com")
    ch = st.add_channel("retry", members=[ann.id])
    receiver.statuses = [500, 503]
    with trio.fail_after(600):
        posted = st.post_as_user(ann.id, ch.id, "hello?")
        assert posted.event_id is not None
        delivery = await st.wait_for_delivery(posted.event_id)
    assert trio.current_time() == 60.0  # Slack: retry at once, then one minute later
    assert [(a.retry_num, a.status, a.failure) for a in delivery.attempts] == [
        (0, 500, "http_error"),
        (1, 503, "http_error"),
        (2, 200, None),
    ]
    assert {e["event_id"] for e in receiver.envelopes()} == {posted.event_id}
    retries = [
        (h.get("x-slack-retry-num"), h.get("x-slack-retry-reason")) for h, _ in receiver.requests
    ]
    assert retries == [(None, None), ("1", "http_error"), ("2", "http_error")]


async def test_slow_receiver_gets_a_timeout_retry(
    emu: Emu, receiver: Receiver, autojump_clock: trio.testing.MockClock
) -> None:
    st = emu.state
    ann = st.add_user("ann", "ann@example.com")
    ch = st.add_channel("slow", members=[ann.id])
    receiver.delays = [10.0]  # first answer comes after Slack's 3 s deadline
    with trio.fail_after(600):
        posted = st.post_as_user(ann.id, ch.id, "hello?")
        assert posted.event_id is not None
        delivery = await st.wait_for_delivery(posted.event_id)
    assert trio.current_time() == 3.0
    assert [(a.retry_num, a.failure) for a in delivery.attempts] == [(0, "http_timeout"), (1, None)]
    assert receiver.requests[1][0]["x-slack-retry-reason"] == "http_timeout"


async def test_undeliverable_event_gives_up_after_three_retries(
    emu: Emu, receiver: Receiver, autojump_clock: trio.testing.MockClock
) -> None:
    st = emu.state
    ann = st.add_user("ann", "ann@example.com")
    ch = st.add_channel("down", members=[ann.id])
    receiver.statuses = [500] * 4
    with trio.fail_after(600):
        posted = st.post_as_user(ann.id, ch.id, "anyone?")
        assert posted.event_id is not None
        delivery = await st.wait_for_delivery(posted.event_id)
    assert trio.current_time() == 360.0
    assert not delivery.acknowledged
    assert [a.retry_num for a in delivery.attempts] == [0, 1, 2, 3]


async def test_edit_and_delete_event_shapes(
    emu: Emu, receiver: Receiver, autojump_clock: trio.testing.MockClock
) -> None:
    st = emu.state
    ann = st.add_user("ann", "ann@example.com")
    ch = st.add_channel("edits", members=[ann.id], is_private=True)
    with trio.fail_after(10):
        top = st.post_as_user(ann.id, ch.id, "parent")
        posted = st.post_as_user(ann.id, ch.id, "first draft", thread_ts=top.ts)
        st.edit_as_user(ch.id, posted.ts, "final text", user="ann")
        deleted = st.delete_as_user(ch.id, posted.ts)
        assert deleted.event_id is not None
        await st.wait_for_delivery(deleted.event_id)
    changed, removed = (e["event"] for e in receiver.envelopes()[2:])
    assert (changed["type"], changed["subtype"], changed["hidden"]) == (
        "message",
        "message_changed",
        True,
    )
    assert (changed["channel"], changed["channel_type"]) == (ch.id, "group")
    assert changed["message"]["ts"] == posted.ts
    assert changed["message"]["text"] == "final text"
    assert changed["message"]["thread_ts"] == top.ts
    assert changed["message"]["edited"] == {"user": ann.id, "ts": changed["ts"]}
    assert changed["previous_message"]["text"] == "first draft"
    assert (removed["subtype"], removed["deleted_ts"]) == ("message_deleted", posted.ts)
    assert removed["thread_ts"] == top.ts
    assert removed["previous_message"]["text"] == "final text"
    assert (ch.id, posted.ts) not in st.messages


async def test_replay_resends_the_same_event(
    emu: Emu, receiver: Receiver, autojump_clock: trio.testing.MockClock
) -> None:
    st = emu.state
    ann = st.add_user("ann", "ann@example.com")
    ch = st.add_channel("dupes", members=[ann.id])
    with trio.fail_after(10):
        posted = st.post_as_user(ann.id, ch.id, "once")
        assert posted.event_id is not None
        delivery = await st.wait_for_delivery(posted.event_id)
        st.replay_event(posted.event_id)
        st.replay_event(posted.event_id, as_retry=False)
        await st.wait_until(lambda: len(delivery.attempts) == 3)
    bodies = {body for _, body in receiver.requests}
    assert len(bodies) == 1  # byte-identical envelopes, same event_id
    retry_headers = [h.get("x-slack-retry-num") for h, _ in receiver.requests]
    assert retry_headers == [None, "1", None]


async def test_url_verification_challenge(
    emu: Emu, receiver: Receiver, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(10):
        result = await emu.state.send_url_verification("c-123")
    assert result == {"challenge": "c-123", "status": 200, "failure": None, "echoed": True}
    headers, body = receiver.requests[0]
    assert SignatureVerifier(SECRET).is_valid_request(body, headers)
    assert json.loads(body)["type"] == "url_verification"


async def test_bot_posts_produce_events_unless_disabled(emu: Emu, receiver: Receiver) -> None:
    st = emu.state
    ch = st.add_channel("bots")
    with trio.fail_after(10):
        sent = await emu.call("chat_postMessage", channel=ch.id, text="from the bridge")
        (event_id,) = st.deliveries
        delivery = await st.wait_for_delivery(event_id)
        st.configure(bot_message_events=False)
        await emu.call("chat_postMessage", channel=ch.id, text="quiet")
    event = delivery.envelope["event"]
    assert (event["bot_id"], event["user"], event["ts"]) == ("B0BOT", "U0BOT", sent["ts"])
    assert list(st.deliveries) == [event_id]


def test_human_rules_and_event_scope() -> None:
    st = SlackState()
    ann = st.add_user("ann", "ann@example.com")
    st.add_user("bob", "bob@example.com")
    quiet = st.add_channel("quiet", members=[ann.id], bot_member=False)
    with pytest.raises(slack_emulator.SlackError, match="not_in_channel"):
        st.post_as_user("bob", quiet.id, "hi")
    with pytest.raises(slack_emulator.SlackError, match="email_taken"):
        st.add_user("ann2", "ANN@example.com")
    assert st.post_as_user("ann", quiet.id, "unseen by the bot").event_id is None
    assert st.deliveries == {}


async def test_loopback_only() -> None:
    st = SlackState()
    with pytest.raises(ValueError, match="loopback"):
        st.configure(request_url="http://10.1.2.3/slack/events")
    with pytest.raises(ValueError, match="loopback"):
        await slack_emulator.serve(st, host="0.0.0.0")
    assert st.config.request_url is None


# ------------------------------------------------------------- control API


async def test_control_api_drives_a_thread(emu: Emu, receiver: Receiver) -> None:
    base = emu.url.removesuffix("api/") + "_emulator/"
    async with httpx.AsyncClient(base_url=base, trust_env=False) as http:

        async def control(route: str, **body: Any) -> tuple[int, dict[str, Any]]:
            response = await http.post(route, json=body)
            return response.status_code, response.json()

        with trio.fail_after(10):
            _, cfg = await control("config", retry_delays=[0, 0, 0])
            _, user = await control("users", name="bea", email="bea@example.com")
            _, chan = await control("channels", name="webinar-7", members=["bea@example.com"])
            channel_id = chan["channel"]["id"]
            parent = await emu.call("chat_postMessage", channel=channel_id, text="New: Bea")
            _, posted = await control(
                "post",
                user="bea",
                channel="webinar-7",
                thread_ts=parent["ts"],
                text="Hi!",
                wait=True,
            )
            _, edited = await control(
                "edit", channel=channel_id, ts=posted["ts"], text="Hi there", wait=True
            )
            snap_before = (await http.get("state")).json()
            _, deleted = await control("delete", channel=channel_id, ts=posted["ts"], wait=True)
            _, replay = await control("replay", event_id=posted["event_id"], wait=True)
            _, verification = await control("url_verification", challenge="xyz")
            await control("faults", kind="error", error="not_in_channel", method="chat.postMessage")
            faulted = await emu.code("chat_postMessage", channel=channel_id, text="x")
            bad_status, bad = await control("post", user="nobody", channel=channel_id, text="x")
            await control("members", channel=channel_id, users=["bea"])
            await control("archive", channel=channel_id)
            archived = await emu.code("chat_postMessage", channel=channel_id, text="x")
            missing = await http.post("nope", json={})
            snap = (await http.get("state")).json()
            await control("reset")
            after_reset = (await http.get("state")).json()
    assert cfg["config"]["retry_delays"] == [0, 0, 0]
    assert user["user"]["profile"]["email"] == "bea@example.com"
    assert chan["channel"]["members"] == ["U0BOT", user["user"]["id"]]
    for result in (posted, edited, deleted):
        assert result["ok"] is True
        assert result["delivery"]["acknowledged"] is True
    assert [a["retry_num"] for a in replay["delivery"]["attempts"]] == [0, 1]
    assert verification["echoed"] is True
    assert faulted == "not_in_channel"
    assert (bad_status, bad["error"]) == (400, "user_not_found")
    assert archived == "is_archived"
    assert missing.status_code == 404
    thread = snap_before["channels"][0]["messages"][0]
    assert [r["text"] for r in thread["replies"]] == ["Hi there"]
    assert snap["channels"][0]["messages"][0]["replies"] == []
    events = [d["envelope"]["event"].get("subtype") for d in snap["deliveries"]]
    assert events == [None, None, "message_changed", "message_deleted"]
    assert [c["method"] for c in snap["calls"]] == ["chat.postMessage"] * 3
    assert [u["id"] for u in after_reset["users"]] == ["U0BOT"]
    assert after_reset["config"]["request_url"] == receiver.url  # reset keeps config


# --------------------------------------------------------------------- CLI


@pytest.mark.slow
async def test_cli_prints_url_and_stops_on_sigterm() -> None:
    args = [sys.executable, str(SCRIPT), "--port", "0", "--seed-demo"]
    with trio.fail_after(20):
        proc = await trio.lowlevel.open_process(args, stdout=subprocess.PIPE)
        try:
            assert proc.stdout is not None
            line = b""
            while not line.endswith(b"\n"):
                chunk = await proc.stdout.receive_some(1)
                assert chunk, "emulator exited before printing its URL"
                line += chunk
            text = line.decode().strip()
            assert text.startswith("slack emulator listening on http://127.0.0.1:")
            url = text.rsplit(" ", 1)[1]
            assert url.endswith("/api/")
            client = WebClient(token=TOKEN, base_url=url)
            listed = await trio.to_thread.run_sync(client.conversations_list)
            proc.send_signal(signal.SIGTERM)
            assert await proc.wait() == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            if proc.stdout is not None:
                await proc.stdout.aclose()
    assert [c["name"] for c in listed["channels"]] == ["switchboard-demo", "general"]
