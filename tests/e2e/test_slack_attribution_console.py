"""Console replies follow the webinar's reply attribution, exactly like Slack replies.

The webinar "Launch Day" has primary moderator mia and moderator sam; olga is staff but no
moderator of it. A staff reply written in the console (over the websocket or REST) reaches
the attendee from mia in ``primary`` mode and from its real writer in ``actual`` mode when
that writer is a moderator; olga's replies always appear from mia. Internal notes keep
their real writer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from protocol.frames import Ack, HistoryEnd, Join, Send
from tests.e2e.slack_env import Env, next_message
from tests.helpers import Client, connect

#: Real-time bound of one test (the Slack calls run in worker threads on the real clock).
TIMEOUT = 60


@pytest.fixture
async def env(nursery: trio.Nursery, tmp_path: Path) -> Env:
    with trio.fail_after(TIMEOUT):
        e = Env(nursery, tmp_path)
        await e.start_tools()
        await e.start_server()
        await e.seed_people()
    return e


async def _join(client: Client, conversation: str) -> None:
    await client.send(Join(conversation=conversation))
    await client.until(lambda f: isinstance(f, HistoryEnd))


class Console:
    """One staff user writing replies over the websocket and over REST."""

    def __init__(self, env: Env, name: str, token: str) -> None:
        self.env = env
        self.name = name
        self.token = token
        self.sent = 0

    async def over_ws(self, attendee: Client, conversation: str) -> str:
        """Send a reply over the websocket; return the author id the attendee sees."""
        self.sent += 1
        body = f"{self.name} ws {self.sent}"
        async with connect(self.env.seed.ws_url, self.token) as ws:
            await ws.send(
                Send(
                    conversation=conversation,
                    client_msg_id=f"{self.name}-{self.sent}",
                    body=body,
                )
            )
            await ws.until(lambda f: isinstance(f, Ack))
        frame = await next_message(attendee)
        assert frame.body == body
        return frame.author.id

    async def over_rest(self, attendee: Client, conversation: str) -> str:
        """Post a reply over REST; return the author id the attendee sees."""
        self.sent += 1
        body = f"{self.name} rest {self.sent}"
        async with self.env.seed.http(self.token) as http:
            answer = await http.post(
                f"/api/v1/conversations/{conversation}/messages", json={"body": body}
            )
            assert answer.status_code == 201, answer.text
            stored: dict[str, Any] = answer.json()
        frame = await next_message(attendee)
        assert frame.body == body
        assert stored["author"]["id"] == frame.author.id
        return frame.author.id


async def _consoles(env: Env) -> dict[str, Console]:
    sam = await env.seed.api_token(env.users["sam"]["id"])
    return {"sam": Console(env, "sam", sam), "olga": Console(env, "olga", env.admin_token)}


async def _put(env: Env, path: str, body: dict[str, Any]) -> None:
    async with env.seed.http(env.admin_token) as http:
        answer = await http.put(path, json=body)
        assert answer.status_code == 200, answer.text


async def test_console_replies_follow_the_webinars_reply_as(env: Env) -> None:
    ids = {name: user["id"] for name, user in env.users.items()}
    with trio.fail_after(TIMEOUT):
        consoles = await _consoles(env)
        sam, olga = consoles["sam"], consoles["olga"]
        att = await env.attendee()
        conv = att["conversation"]
        async with connect(env.seed.ws_url, att["token"]) as ann:
            await _join(ann, conv)
            # Default (primary): the moderator's reply appears from the primary moderator.
            assert await sam.over_ws(ann, conv) == ids["mia"]
            assert await sam.over_rest(ann, conv) == ids["mia"]
            assert await olga.over_ws(ann, conv) == ids["mia"]
            assert await olga.over_rest(ann, conv) == ids["mia"]
            await _put(
                env, f"/api/v1/contexts/{env.context['id']}/reply-as", {"reply_as": "actual"}
            )
            # Actual: a moderator appears as themself; a non-moderator still as the primary.
            assert await sam.over_ws(ann, conv) == ids["sam"]
            assert await sam.over_rest(ann, conv) == ids["sam"]
            assert await olga.over_ws(ann, conv) == ids["mia"]
            assert await olga.over_rest(ann, conv) == ids["mia"]
        # Internal notes (never shown to the attendee) always keep their real writer.
        async with env.seed.http(env.admin_token) as http:
            answer = await http.post(
                f"/api/v1/conversations/{conv}/messages", json={"body": "vip", "kind": "note"}
            )
        assert answer.status_code == 201, answer.text
        assert answer.json()["author"]["id"] == ids["olga"]


async def test_the_reply_as_saved_over_rest_wins_over_the_environment(env: Env) -> None:
    ids = {name: user["id"] for name, user in env.users.items()}
    with trio.fail_after(TIMEOUT):
        sam = (await _consoles(env))["sam"]
        att = await env.attendee()
        conv = att["conversation"]
        async with connect(env.seed.ws_url, att["token"]) as ann:
            await _join(ann, conv)
            assert await sam.over_rest(ann, conv) == ids["mia"]  # environment: primary
            await _put(env, "/api/v1/integrations/slack", {"reply_as": "actual"})
            assert await sam.over_ws(ann, conv) == ids["sam"]
            assert await sam.over_rest(ann, conv) == ids["sam"]
            await _put(env, "/api/v1/integrations/slack", {"reply_as": None})
            assert await sam.over_ws(ann, conv) == ids["mia"]
