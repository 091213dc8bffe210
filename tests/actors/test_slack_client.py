"""The WebClient wrapper against the Slack emulator: every failure classified (retry, hold,
fail) with Retry-After and in-doubt marks; and the per-channel pacer under MockClock."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import trio

from actors.slack_client import (
    HOLD_HINTS,
    Disposition,
    Pacer,
    SlackCallError,
    SlackClient,
    classify,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import slack_emulator

TOKEN = "xoxb-test-token"


@pytest.fixture
async def emulator(nursery: trio.Nursery) -> tuple[slack_emulator.SlackState, str]:
    state = slack_emulator.SlackState(token=TOKEN)
    with trio.fail_after(10):
        url = await nursery.start(slack_emulator.serve, state)
    return state, url


async def _error(client: SlackClient, method: str, **params: object) -> SlackCallError:
    with pytest.raises(SlackCallError) as info:
        await client.call(method, **params)
    return info.value


async def test_answers_and_failures_are_classified(
    emulator: tuple[slack_emulator.SlackState, str],
) -> None:
    state, url = emulator
    channel = state.add_channel("general").id
    client = SlackClient(TOKEN, url, timeout=1, limiter=trio.CapacityLimiter(2))
    with trio.fail_after(30):
        posted = await client.call("chat.postMessage", channel=channel, text="hi")
        state.add_fault("rate_limited", retry_after=7)
        limited = await _error(client, "chat.postMessage", channel=channel, text="x")
        state.add_fault("http_error", status=503)
        unavailable = await _error(client, "chat.postMessage", channel=channel, text="x")
        state.add_fault("error", error="not_in_channel")
        held = await _error(client, "chat.postMessage", channel=channel, text="x")
        state.add_fault("error", error="internal_error")
        internal = await _error(client, "chat.postMessage", channel=channel, text="x")
        too_long = await _error(client, "chat.postMessage", channel=channel, text="x" * 40_001)
        state.add_fault("hang", seconds=5)
        timeout = await _error(client, "chat.postMessage", channel=channel, text="late")
        state.release_hangs()
        bad_token = SlackClient("xoxb-nope", url, timeout=1, limiter=trio.CapacityLimiter(1))
        auth = await _error(bad_token, "auth.test")
        nobody = SlackClient(TOKEN, "http://127.0.0.1:9/api/", timeout=1,
                             limiter=trio.CapacityLimiter(1))  # fmt: skip
        refused = await _error(nobody, "auth.test")
    assert posted["ok"] is True
    assert posted["channel"] == channel
    assert (limited.disposition, limited.retry_after, limited.in_doubt) == (
        Disposition.RETRY, 7.0, False,
    )  # fmt: skip
    assert (unavailable.disposition, unavailable.code, unavailable.in_doubt) == (
        Disposition.RETRY, "service_unavailable", True,
    )  # fmt: skip
    assert (held.disposition, held.code) == (Disposition.HOLD, "not_in_channel")
    assert held.hint is not None
    assert "Add apps" in held.hint
    assert (internal.disposition, internal.in_doubt) == (Disposition.RETRY, True)
    assert (too_long.disposition, too_long.code) == (Disposition.FAIL, "msg_too_long")
    assert (timeout.disposition, timeout.code, timeout.in_doubt) == (
        Disposition.RETRY, "timeout", True,
    )  # fmt: skip
    assert (auth.disposition, auth.code) == (Disposition.HOLD, "invalid_auth")
    assert (refused.disposition, refused.code) == (Disposition.RETRY, "connection_failed")


def test_every_hold_has_a_hint_and_unknown_codes_fail_one_operation() -> None:
    assert all(hint.endswith((".", "re-drive.")) for hint in HOLD_HINTS.values())
    assert classify("not_in_channel") is Disposition.HOLD
    assert classify("ratelimited") is Disposition.RETRY
    assert classify("something_new") is Disposition.FAIL


async def test_pacer_spaces_posts_per_lane_and_honours_pauses(autojump_clock: object) -> None:
    pacer = Pacer(1.0)
    times: dict[str, list[float]] = {"a": [], "b": []}

    async def post(lane: str, count: int) -> None:
        for _ in range(count):
            await pacer.wait(lane)
            times[lane].append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(post, "a", 3)
        nursery.start_soon(post, "b", 2)
    assert times == {"a": [0.0, 1.0, 2.0], "b": [0.0, 1.0]}
    pacer.pause("a", 30)  # a 429 with Retry-After: 30
    await post("a", 2)
    assert times["a"][3:] == [32.0, 33.0]
    await post("b", 1)  # lane b was not paused: it posts at once (now is 33)
    assert times["b"][2:] == [33.0]
