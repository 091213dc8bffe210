"""The integrations REST API: Slack and SMTP settings (secrets write-only, saved values win
over the environment), the channel list from Slack, reply attribution per webinar."""

from __future__ import annotations

from pathlib import Path

import trio

from tests.e2e.slack_env import TOKEN, Env

TIMEOUT = 60


async def test_slack_settings_are_saved_masked_and_fall_back_to_the_environment(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    with trio.fail_after(TIMEOUT):
        env = Env(nursery, tmp_path)
        await env.start_tools()
        await env.start_server()
        await env.seed_people()
        async with env.seed.http(env.admin_token) as http:
            before = (await http.get("/api/v1/integrations/slack")).json()
            saved = await http.put(
                "/api/v1/integrations/slack",
                json={"bot_token": "xoxb-1234567890-secret-abcd", "channel_prefix": "live-"},
            )
            refused = [
                await http.put("/api/v1/integrations/slack", json=body)
                for body in (
                    {},
                    {"channel_prefix": "Live Events"},
                    {"api_url": "ftp://x"},
                    {"reply_as": "boss"},
                    {"first_message_only": "yes"},
                    {"nope": 1},
                )
            ]
            cleared = await http.put("/api/v1/integrations/slack", json={"bot_token": None})
            channels = await http.get("/api/v1/integrations/slack/channels")
            mail = await http.put(
                "/api/v1/integrations/mail", json={"password": "hunter22", "port": 2525}
            )
            bad_mail = await http.put("/api/v1/integrations/mail", json={"port": 70000})
    assert before["bot_token_set"] is True
    assert before["settings"]["bot_token"] == TOKEN[:5] + "…" + TOKEN[-4:]
    assert "signing_secret" not in before["settings"]
    assert before["signing_secret_set"] is True
    assert before["request_url"] == env.seed.running.url + "/slack/events"
    assert before["saved"] == []
    body = saved.json()
    assert saved.status_code == 200
    assert body["settings"]["bot_token"] == "xoxb-…abcd"
    assert "secret-abcd" not in saved.text
    assert body["settings"]["channel_prefix"] == "live-"
    assert body["saved"] == ["bot_token", "channel_prefix"]
    assert [r.status_code for r in refused] == [400] * 6
    assert cleared.json()["settings"]["bot_token"] == TOKEN[:5] + "…" + TOKEN[-4:]
    assert cleared.json()["saved"] == ["channel_prefix"]
    assert channels.status_code == 200
    assert [(c["name"], c["is_member"]) for c in channels.json()["items"]] == [("attendees", True)]
    assert mail.status_code == 200
    assert mail.json()["password_set"] is True
    assert "hunter22" not in mail.text
    assert mail.json()["settings"]["port"] == 2525
    assert bad_mail.status_code == 400


async def test_reply_attribution_per_webinar(nursery: trio.Nursery, tmp_path: Path) -> None:
    with trio.fail_after(TIMEOUT):
        env = Env(nursery, tmp_path)
        await env.start_tools()
        await env.start_server(reply_as="actual")
        await env.seed_people()
        path = f"/api/v1/contexts/{env.context['id']}/reply-as"
        async with env.seed.http(env.admin_token) as http:
            default = (await http.get(path)).json()
            primary = (await http.put(path, json={"reply_as": "primary"})).json()
            unset = (await http.put(path, json={"reply_as": None})).json()
            bad = await http.put(path, json={"reply_as": "whoever"})
            missing = await http.get("/api/v1/contexts/cx_nope/reply-as")
    assert default == {
        "context": env.context["id"],
        "reply_as": None,
        "effective": "actual",
        "primary_moderator": env.users["mia"]["id"],
    }
    assert (primary["reply_as"], primary["effective"]) == ("primary", "primary")
    assert (unset["reply_as"], unset["effective"]) == (None, "actual")
    assert bad.status_code == 400
    assert missing.status_code == 404
