"""Business hours, saved filters, replies waiting for staff and notifications over REST,
on a real server: CRUD, refusals naming the JSON path that write nothing, 409s for taken
names and schedules or filters still in use, admin-only writes, and the staff side of
what recipes leave behind (approve, edit, discard; each user's own notifications).

Replies and notifications are made the real way: a recipe runs on a new conversation
or message, and :func:`settle` waits until the scheduler handled every event.
"""

from __future__ import annotations

from typing import Any

import trio

from actors import business_hours
from actors.store import now_ms
from protocol.frames import MAX_BODY_BYTES
from tests.helpers import Seed
from tests.server.test_api_recipes import (  # noqa: F401 - settings is a fixture
    contact_of,
    invalid,
    recipe_body,
    rows,
    say,
    settings,
    settle,
)
from tests.server.test_api_support import error_code, snapshot, staff

WEEK = {
    "mon": [["09:00", "17:30"]],
    "tue": [["09:00", "12:00"], ["13:00", "17:30"]],
    "fri": [["09:00", "17:00"]],
}
PARIS = {"name": "Paris office", "timezone": "Europe/Paris", "weekly": WEEK, "holidays": []}


def definition(found: dict[str, Any]) -> business_hours.Schedule:
    return business_hours.parse_schedule(
        {k: found[k] for k in ("name", "timezone", "weekly", "holidays")}
    )


# -- business hours -------------------------------------------------------------------------------


async def test_business_hours_crud_with_open_now(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        _, client = await staff(seed, "admin@example.com", "admin")
        _, agent = await staff(seed)
        all_day = [["00:00", "24:00"]]
        always = {
            "name": "Always",
            "timezone": "UTC",
            "weekly": {day: all_day for day in business_hours.DAYS},
        }
        async with client, agent:
            started = now_ms()
            created = await client.post(
                "/api/v1/business-hours", json={**PARIS, "holidays": ["2027-01-01", "2026-12-25"]}
            )
            sid = created.json()["id"]
            open_all_day = await client.post("/api/v1/business-hours", json=always)
            listed = await agent.get("/api/v1/business-hours")
            fetched = await agent.get(f"/api/v1/business-hours/{sid}")
            # The answer sent back with a change: its read-only fields are ignored.
            renamed = await client.put(
                f"/api/v1/business-hours/{sid}", json={**fetched.json(), "name": "Paris HQ"}
            )
            deleted = await client.delete(f"/api/v1/business-hours/{open_all_day.json()['id']}")
            gone = await agent.get(f"/api/v1/business-hours/{open_all_day.json()['id']}")
    assert created.status_code == 201, created.text
    paris = created.json()
    assert paris["name"] == "Paris office"
    assert paris["weekly"]["tue"] == [["09:00", "12:00"], ["13:00", "17:30"]]
    assert paris["weekly"]["sun"] == []  # every day present
    assert paris["holidays"] == ["2026-12-25", "2027-01-01"]
    schedule = definition(paris)
    # Open now as the schedule says, and the next change really flips it.
    assert paris["next_change"] > started
    assert business_hours.is_open(schedule, paris["next_change"]) != paris["open_now"]
    assert paris["open_now"] == business_hours.is_open(schedule, paris["next_change"] - 60_000)
    if business_hours.next_change(schedule, started) == paris["next_change"]:
        # No boundary passed while the request ran: open_now is the state at that moment.
        assert paris["open_now"] == business_hours.is_open(schedule, started)
    assert open_all_day.json()["open_now"] is True
    assert open_all_day.json()["next_change"] is None  # never closes
    assert [s["name"] for s in listed.json()["items"]] == ["Always", "Paris office"]
    live = ("open_now", "next_change")
    assert {k: v for k, v in fetched.json().items() if k not in live} == {
        k: v for k, v in paris.items() if k not in live
    }
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Paris HQ"
    assert renamed.json()["id"] == sid
    assert renamed.json()["weekly"] == paris["weekly"]
    assert deleted.json() == {"deleted": open_all_day.json()["id"]}
    assert gone.status_code == 404


BAD_SCHEDULES: list[tuple[dict[str, Any], str]] = [
    ({**PARIS, "timezone": "Mars/Olympus"}, "timezone"),
    ({**PARIS, "weekly": {"tue": [["13:00", "12:00"]]}}, "weekly.tue[0]"),
    ({**PARIS, "weekly": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}}, "weekly.mon[1]"),
    ({**PARIS, "weekly": {"someday": []}}, "weekly.someday"),
    ({**PARIS, "holidays": ["25/12/2026"]}, "holidays[0]"),
    ({**PARIS, "name": ""}, "name"),
    ({**PARIS, "colour": "blue"}, "colour"),
]


async def test_business_hours_refusals_and_conflicts(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        _, client = await staff(seed, "admin@example.com", "admin")
        _, agent = await staff(seed)
        async with client, agent:
            sid = (await client.post("/api/v1/business-hours", json=PARIS)).json()["id"]
            other = await client.post("/api/v1/business-hours", json={**PARIS, "name": "Other"})
            recipe = await client.post(
                "/api/v1/recipes",
                json=recipe_body(business_hours={"schedule": sid, "when": "outside"}),
            )
            before = await snapshot(seed)
            refused = []
            for body, _ in BAD_SCHEDULES:
                refused.append(await client.post("/api/v1/business-hours", json=body))
                refused.append(await client.put(f"/api/v1/business-hours/{sid}", json=body))
            taken = await client.post(
                "/api/v1/business-hours", json={**PARIS, "name": "PARIS office"}
            )
            taken_put = await client.put(f"/api/v1/business-hours/{other.json()['id']}", json=PARIS)
            in_use = await client.delete(f"/api/v1/business-hours/{sid}")
            agent_answers = [
                await agent.post("/api/v1/business-hours", json={**PARIS, "name": "Mine"}),
                await agent.put(f"/api/v1/business-hours/{sid}", json=PARIS),
                await agent.delete(f"/api/v1/business-hours/{sid}"),
            ]
            missing = [
                await client.get("/api/v1/business-hours/bh_nope"),
                await client.put("/api/v1/business-hours/bh_nope", json=PARIS),
                await client.delete("/api/v1/business-hours/bh_nope"),
            ]
            after = await snapshot(seed)
            # Once the recipe is gone, the schedule may go.
            await client.delete(f"/api/v1/recipes/{recipe.json()['id']}")
            freed = await client.delete(f"/api/v1/business-hours/{sid}")
    for (body, path), answer in zip(
        [b for b in BAD_SCHEDULES for _ in (0, 1)], refused, strict=True
    ):
        assert invalid(answer)[0] == path, (body, answer.text)
    assert (taken.status_code, error_code(taken)) == (409, "conflict")
    assert (taken_put.status_code, error_code(taken_put)) == (409, "conflict")
    assert (in_use.status_code, error_code(in_use)) == (409, "conflict")
    assert "Tag new conversations" in in_use.json()["error"]["message"]  # names the recipe
    assert [(a.status_code, error_code(a)) for a in agent_answers] == [(403, "forbidden")] * 3
    assert [(a.status_code, error_code(a)) for a in missing] == [(404, "not_found")] * 3
    assert after == before
    assert freed.json() == {"deleted": sid}


# -- saved filters --------------------------------------------------------------------------------


async def test_saved_filters_crud_refusals_and_conflicts(
    seed: Seed, guard: trio.CancelScope
) -> None:
    with guard:
        admin, client = await staff(seed, "admin@example.com", "admin")
        agent_user, agent = await staff(seed)
        context = await seed.context()
        async with client, agent:
            created = await client.post(
                "/api/v1/saved-filters",
                json={
                    "name": "My open widget chats",
                    "filters": {
                        "status": "open",
                        "assignee": agent_user["id"],
                        "context": context["id"],
                        "channel": "widget",
                        "tag": "VIP",
                        "q": "refund*",
                    },
                },
            )
            fid = created.json()["id"]
            everything = await client.post("/api/v1/saved-filters", json={"name": "All"})
            listed = await agent.get("/api/v1/saved-filters")
            fetched = await agent.get(f"/api/v1/saved-filters/{fid}")
            changed = await client.put(
                f"/api/v1/saved-filters/{fid}",
                json={**fetched.json(), "filters": {"assignee": "unassigned"}},
            )
            recipe = await client.post(
                "/api/v1/recipes",
                json=recipe_body(filter={"type": "saved", "saved_filter": fid}),
            )
            before = await snapshot(seed)
            bad = [
                ({"name": "x", "filters": {"status": "closed"}}, "filters.status"),
                ({"name": "x", "filters": {"assignee": "me"}}, "filters.assignee"),
                ({"name": "x", "filters": {"context": "cx_nope"}}, "filters.context"),
                ({"name": "x", "filters": {"assignee": "team:tm_nope"}}, "filters.assignee"),
                ({"name": "x", "filters": {"channel": "fax"}}, "filters.channel"),
                ({"name": "x", "filters": {"sort": "new"}}, "filters.sort"),
                ({"filters": {}}, "name"),
            ]
            refused = [
                (path, await client.post("/api/v1/saved-filters", json=body), await client.put(
                    f"/api/v1/saved-filters/{fid}", json=body
                ))
                for body, path in bad
            ]  # fmt: skip
            taken = await client.post("/api/v1/saved-filters", json={"name": "all"})
            in_use = await client.delete(f"/api/v1/saved-filters/{fid}")
            agent_answers = [
                await agent.post("/api/v1/saved-filters", json={"name": "Mine"}),
                await agent.put(f"/api/v1/saved-filters/{fid}", json={"name": "Mine"}),
                await agent.delete(f"/api/v1/saved-filters/{fid}"),
            ]
            missing = [
                await client.get("/api/v1/saved-filters/sf_nope"),
                await client.put("/api/v1/saved-filters/sf_nope", json={"name": "x"}),
                await client.delete("/api/v1/saved-filters/sf_nope"),
            ]
            after = await snapshot(seed)
            await client.delete(f"/api/v1/recipes/{recipe.json()['id']}")
            freed = await client.delete(f"/api/v1/saved-filters/{fid}")
    assert created.status_code == 201, created.text
    saved = created.json()
    assert saved["filters"] == {
        "status": "open",
        "assignee": agent_user["id"],
        "context": context["id"],
        "channel": "widget",
        "tag": "vip",
        "q": "refund*",
    }
    assert saved["created_by"] == admin["id"]
    assert everything.json()["filters"] == {}
    assert [f["name"] for f in listed.json()["items"]] == ["All", "My open widget chats"]
    assert fetched.json() == saved
    assert changed.status_code == 200, changed.text
    assert changed.json()["filters"] == {"assignee": "unassigned"}
    assert recipe.status_code == 201, recipe.text
    for path, post, put in refused:
        assert invalid(post)[0] == path, post.text
        assert invalid(put)[0] == path, put.text
    assert (taken.status_code, error_code(taken)) == (409, "conflict")
    assert (in_use.status_code, error_code(in_use)) == (409, "conflict")
    assert [(a.status_code, error_code(a)) for a in agent_answers] == [(403, "forbidden")] * 3
    assert [(a.status_code, error_code(a)) for a in missing] == [(404, "not_found")] * 3
    assert after == before
    assert freed.json() == {"deleted": fid}


# -- replies --------------------------------------------------------------------------------------


async def test_agents_approve_edit_and_discard_replies(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        _, admin = await staff(seed, "admin@example.com", "admin")
        agent_user, agent = await staff(seed)
        context = await seed.context()
        async with admin, agent:
            created = await admin.post(
                "/api/v1/recipes",
                json=recipe_body(
                    name="Answer refunds",
                    trigger={"type": "new_message"},
                    filter={
                        "type": "conditions",
                        "conditions": [
                            {"field": "kind", "operator": "is", "value": "attendee_message"}
                        ],
                    },
                    actions=[
                        {"type": "reply", "text": "A draft for you.", "mode": "draft"},
                        {"type": "reply", "text": "Refunds take 5 days.", "mode": "approval"},
                    ],
                ),
            )
            assert created.status_code == 201, created.text
            ann = await seed.attendee(context["id"], name="Ann")
            bob = await seed.attendee(context["id"], name="Bob")
            await say(seed.running, ann["conversation"], "Refund?", contact_of(ann))
            await say(seed.running, bob["conversation"], "Refund!", contact_of(bob))
            await settle(seed.store)
            waiting = await agent.get("/api/v1/replies")
            approvals = await agent.get("/api/v1/replies", params={"mode": "approval"})
            anns = await agent.get(
                "/api/v1/replies", params={"conversation": ann["conversation"], "mode": "draft"}
            )
            by_mode = {r["mode"]: r for r in anns.json()["items"]}
            anns_approval = next(
                r for r in approvals.json()["items"] if r["conversation"] == ann["conversation"]
            )
            before = await snapshot(seed)
            refusals = [
                await agent.post(f"/api/v1/replies/{anns_approval['id']}/approve", json=body)
                for body in ({"body": ""}, {"body": "   "}, {"body": 5}, {"text": "hi"})
            ]
            too_long = await agent.post(
                f"/api/v1/replies/{anns_approval['id']}/approve",
                json={"body": "x" * (MAX_BODY_BYTES + 1)},
            )
            unknown = [
                await agent.post("/api/v1/replies/rp_nope/approve"),
                await agent.post("/api/v1/replies/rp_nope/discard"),
            ]
            unchanged = await snapshot(seed)
            approved = await agent.post(
                f"/api/v1/replies/{anns_approval['id']}/approve",
                json={"body": "Refunds take 3 days."},
            )
            again = await agent.post(f"/api/v1/replies/{anns_approval['id']}/approve")
            discard_sent = await agent.post(f"/api/v1/replies/{anns_approval['id']}/discard")
            discarded = await agent.post(f"/api/v1/replies/{by_mode['draft']['id']}/discard")
            discarded_again = await agent.post(f"/api/v1/replies/{by_mode['draft']['id']}/discard")
            approve_discarded = await agent.post(
                f"/api/v1/replies/{by_mode['draft']['id']}/approve"
            )
            # Bob's approval reply as written, no body at all.
            bobs = next(
                r for r in approvals.json()["items"] if r["conversation"] == bob["conversation"]
            )
            as_written = await admin.post(f"/api/v1/replies/{bobs['id']}/approve")
            sent = await agent.get("/api/v1/replies", params={"state": "sent"})
            every = await agent.get("/api/v1/replies", params={"state": "all"})
            bad_state = await agent.get("/api/v1/replies", params={"state": "lost"})
            messages = await rows(
                seed,
                "SELECT body, author_id FROM messages WHERE conversation_id = ? AND kind = "
                "'message' ORDER BY seq",
                ann["conversation"],
            )
    assert len(waiting.json()["items"]) == 4
    assert {(r["mode"], r["state"]) for r in waiting.json()["items"]} == {
        ("draft", "waiting"),
        ("approval", "waiting"),
    }
    assert len(approvals.json()["items"]) == 2
    assert set(by_mode) == {"draft"}
    assert by_mode["draft"]["body"] == "A draft for you."
    assert anns_approval["recipe_name"] == "Answer refunds"
    assert [r.status_code for r in refusals] == [400, 400, 400, 400]
    assert (too_long.status_code, error_code(too_long)) == (400, "body_too_large")
    assert [(a.status_code, error_code(a)) for a in unknown] == [(404, "not_found")] * 2
    assert unchanged == before

    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "sent"
    assert approved.json()["body"] == "Refunds take 3 days."
    assert approved.json()["decided_by"] == agent_user["id"]
    assert again.json() == approved.json()  # idempotent: nothing sent twice
    assert messages == [
        ("Refund?", ann["contact"]["id"]),
        ("Refunds take 3 days.", agent_user["id"]),
    ]
    assert approved.json()["sent_seq"] is not None
    assert (discard_sent.status_code, error_code(discard_sent)) == (409, "conflict")
    assert discarded.json()["state"] == "discarded"
    assert discarded_again.json() == discarded.json()
    assert (approve_discarded.status_code, error_code(approve_discarded)) == (409, "conflict")
    assert as_written.json()["body"] == "Refunds take 5 days."
    assert as_written.json()["state"] == "sent"
    assert {r["id"] for r in sent.json()["items"]} == {anns_approval["id"], bobs["id"]}
    assert len(every.json()["items"]) == 4
    assert bad_state.status_code == 400


# -- notifications --------------------------------------------------------------------------------


async def test_each_user_reads_and_marks_their_own_notifications(
    seed: Seed, guard: trio.CancelScope
) -> None:
    with guard:
        admin_user, admin = await staff(seed, "admin@example.com", "admin")
        agent_user, agent = await staff(seed)
        context = await seed.context()
        async with admin, agent:
            created = await admin.post(
                "/api/v1/recipes",
                json=recipe_body(
                    name="Tell us",
                    actions=[
                        {
                            "type": "notify",
                            "users": [admin_user["id"], agent_user["id"]],
                            "text": "A new conversation",
                        }
                    ],
                ),
            )
            assert created.status_code == 201, created.text
            for name in ("Ann", "Bob", "Cem"):
                await seed.attendee(context["id"], name=name)
            await settle(seed.store)
            mine = await agent.get("/api/v1/notifications")
            ids = [n["id"] for n in mine.json()["items"]]
            admins = await admin.get("/api/v1/notifications")
            before = await snapshot(seed)
            refusals = [
                await agent.post("/api/v1/notifications/read", json=body)
                for body in ({"ids": "all"}, {"ids": [True]}, {"ids": ["1"]}, {"every": True})
            ]
            bad_query = await agent.get("/api/v1/notifications", params={"unread": "yes"})
            unchanged = await snapshot(seed)
            # Someone else's ids change nothing.
            others = await agent.post(
                "/api/v1/notifications/read",
                json={"ids": [n["id"] for n in admins.json()["items"]]},
            )
            one = await agent.post("/api/v1/notifications/read", json={"ids": [ids[0], ids[0]]})
            unread = await agent.get("/api/v1/notifications", params={"unread": 1})
            limited = await agent.get("/api/v1/notifications", params={"limit": 1})
            rest = await agent.post("/api/v1/notifications/read")
            after = await agent.get("/api/v1/notifications")
            admins_after = await admin.get("/api/v1/notifications", params={"unread": "1"})
    items = mine.json()["items"]
    assert mine.json()["unread"] == 3
    assert len(items) == 3
    assert ids == sorted(ids, reverse=True)  # newest first
    assert [(n["read"], n["read_at"]) for n in items] == [(False, None)] * 3
    assert all(n["recipe"] == created.json()["id"] for n in items)
    assert all("A new conversation" in n["title"] + n["body"] for n in items)
    assert not set(ids) & {n["id"] for n in admins.json()["items"]}
    assert [r.status_code for r in refusals] == [400, 400, 400, 400]
    assert bad_query.status_code == 400
    assert unchanged == before
    assert others.json() == {"marked": 0, "unread": 3}
    assert one.json() == {"marked": 1, "unread": 2}
    assert [n["id"] for n in unread.json()["items"]] == ids[1:]
    assert len(limited.json()["items"]) == 1
    assert rest.json() == {"marked": 2, "unread": 0}
    assert after.json()["unread"] == 0
    assert all(n["read"] and n["read_at"] for n in after.json()["items"])
    assert admins_after.json()["unread"] == 3  # the admin's own are untouched
    assert len(admins_after.json()["items"]) == 3
