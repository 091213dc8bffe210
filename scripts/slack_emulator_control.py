"""Control API of the Slack emulator, under ``/_emulator/`` (part of scripts/slack_emulator.py).

What tests and the demo use to set up the workspace, inject faults and act as the
"humans" whose posts, edits and deletes produce Events API callbacks. JSON in, JSON out;
see docs/slack-emulator.md for the routes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict

from slack_emulator_events import EventsState
from slack_emulator_models import Emitted, Json, SlackError

#: What a handler of the HTTP app answers: (status, JSON body, extra headers).
Response = tuple[int, Json, dict[str, str]]


async def _control(state: EventsState, verb: str, route: str, body: bytes) -> Response:
    """Dispatch ``/_emulator/<route>``; JSON in, JSON out, 400 with ``error`` on misuse."""
    try:
        payload = json.loads(body) if body else {}
        if not isinstance(payload, dict):
            raise ValueError("the body must be a JSON object")
        if verb == "GET" and route == "state":
            return 200, state.snapshot(), {}
        handler = CONTROL_ROUTES.get(route)
        if handler is None or verb != "POST":
            return 404, {"ok": False, "error": f"no such control route: {verb} {route}"}, {}
        return 200, {"ok": True, **await handler(state, payload)}, {}
    except SlackError as exc:
        return 400, {"ok": False, "error": exc.code}, {}
    except (ValueError, KeyError, TypeError) as exc:
        return 400, {"ok": False, "error": f"bad request: {exc!r}"}, {}


async def _wait_result(state: EventsState, emitted: Emitted, payload: Json) -> Json:
    out: Json = asdict(emitted)
    if payload.get("wait") and emitted.event_id is not None:
        delivery = await state.wait_for_delivery(emitted.event_id)
        out["delivery"] = asdict(delivery)
    return out


async def _c_users(s: EventsState, b: Json) -> Json:
    user = s.add_user(b["name"], b.get("email"), real_name=b.get("real_name"), user_id=b.get("id"))
    return {"user": s.api_user(user)}


async def _c_channels(s: EventsState, b: Json) -> Json:
    ch = s.add_channel(
        b["name"],
        is_private=bool(b.get("is_private", False)),
        members=b.get("members", []),
        bot_member=bool(b.get("bot_member", True)),
        channel_id=b.get("id"),
    )
    return {"channel": {**s.api_channel(ch), "members": list(ch.members)}}


async def _c_members(s: EventsState, b: Json) -> Json:
    ch = s.add_members(b["channel"], b["users"])
    return {"channel": {**s.api_channel(ch), "members": list(ch.members)}}


async def _c_archive(s: EventsState, b: Json) -> Json:
    return {"channel": s.api_channel(s.archive_channel(b["channel"]))}


async def _c_config(s: EventsState, b: Json) -> Json:
    return {"config": asdict(s.configure(**b))}


async def _c_faults(s: EventsState, b: Json) -> Json:
    return {"fault": asdict(s.add_fault(b.pop("kind"), **b))}


async def _c_faults_clear(s: EventsState, b: Json) -> Json:
    s.clear_faults()
    return {}


async def _c_release(s: EventsState, b: Json) -> Json:
    s.release_hangs()
    return {}


async def _c_post(s: EventsState, b: Json) -> Json:
    emitted = s.post_as_user(b["user"], b["channel"], b["text"], thread_ts=b.get("thread_ts"))
    return await _wait_result(s, emitted, b)


async def _c_edit(s: EventsState, b: Json) -> Json:
    emitted = s.edit_as_user(b["channel"], b["ts"], b["text"], user=b.get("user"))
    return await _wait_result(s, emitted, b)


async def _c_delete(s: EventsState, b: Json) -> Json:
    return await _wait_result(s, s.delete_as_user(b["channel"], b["ts"]), b)


async def _c_replay(s: EventsState, b: Json) -> Json:
    delivery = s.deliveries[b["event_id"]]
    before = len(delivery.attempts)
    s.replay_event(b["event_id"], as_retry=bool(b.get("as_retry", True)))
    if b.get("wait"):
        await s.wait_until(lambda: len(delivery.attempts) > before)
    return {"delivery": asdict(delivery)}


async def _c_url_verification(s: EventsState, b: Json) -> Json:
    return await s.send_url_verification(b.get("challenge"))


async def _c_reset(s: EventsState, b: Json) -> Json:
    s.reset()
    return {}


CONTROL_ROUTES: dict[str, Callable[[EventsState, Json], Awaitable[Json]]] = {
    "users": _c_users,
    "channels": _c_channels,
    "members": _c_members,
    "archive": _c_archive,
    "config": _c_config,
    "faults": _c_faults,
    "faults/clear": _c_faults_clear,
    "release": _c_release,
    "post": _c_post,
    "edit": _c_edit,
    "delete": _c_delete,
    "replay": _c_replay,
    "url_verification": _c_url_verification,
    "reset": _c_reset,
}
