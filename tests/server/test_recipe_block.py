"""Websocket sessions and recipes: a blocked contact's open session is closed with 1008 and
its token refused afterwards (hello and REST); staff sessions make their user online."""

from __future__ import annotations

import trio
import trio.testing
from trio_websocket import ConnectionClosed

from protocol.codec import CODECS
from protocol.frames import Hello, Ping, Pong
from server.main import Running
from tests.helpers import Client, Seed, connect, open_ws, read_until_closed
from tests.recipe_kit import context, make_recipe, run

SUBPROTOCOL = "switchboard.v1.msgpack"


async def test_blocking_closes_the_contacts_session_and_refuses_its_token(
    server: Running, seed: Seed, guard: trio.CancelScope
) -> None:
    system = server.state.system
    with guard:
        webinar = await seed.context("Launch")
        att = await seed.attendee(webinar["id"], name="Ann")
        other = await seed.attendee(webinar["id"], name="Bob")
        async with (
            connect(seed.ws_url, att["token"]) as ann,
            connect(seed.ws_url, other["token"]) as bob,
        ):
            assert system.contact_sessions.count(att["contact"]["id"]) == 1
            recipe = await make_recipe(
                system.store,
                [{"type": "block_contact"}],
                trigger={"type": "status_changed", "status": "pending"},
            )
            done = await run(await context(system, recipe, att["conversation"], key_event=1))
            code, _ = await read_until_closed(ann.recv)
            # Bob is not blocked: his session stays (a ping is still answered).
            await bob.send(Ping(nonce=7))
            pong, _ = await bob.until(lambda f: isinstance(f, Pong))
        async with open_ws(seed.ws_url, subprotocols=[SUBPROTOCOL]) as ws:
            client = Client(ws, CODECS[SUBPROTOCOL])
            await client.send(Hello(token=att["token"], client="tests"))
            try:
                await client.recv()
                refused = None
            except ConnectionClosed as closed:
                refused = closed.reason
        async with seed.http(att["token"]) as http:
            me = await http.get("/api/v1/auth/me")
        async with seed.http(other["token"]) as http:
            bob_me = await http.get("/api/v1/auth/me")
    assert done.results[0]["detail"] == "blocked Ann (1 open session closed)"
    assert code == 1008
    assert refused is not None
    assert refused.code == 1008
    assert refused.reason == "unknown, revoked or expired token"
    assert me.status_code == 401
    assert bob_me.status_code == 200
    assert pong == Pong(nonce=7)
    assert system.contact_sessions.count(att["contact"]["id"]) == 0


async def test_staff_are_online_while_a_session_is_open(
    server: Running, seed: Seed, guard: trio.CancelScope
) -> None:
    online = server.state.system.staff_presence
    with guard:
        user, token = await seed.staff_token("sam@example.com")
        assert not online.is_online(user["id"])
        async with connect(seed.ws_url, token):
            async with connect(seed.ws_url, token):
                two_tabs = online.is_online(user["id"])
            one_tab = online.is_online(user["id"])
            listed = online.online()
        while online.is_online(user["id"]):  # the server notices the close just after
            await trio.testing.wait_all_tasks_blocked(0.01)
    assert two_tabs
    assert one_tab
    assert listed == frozenset({user["id"]})
