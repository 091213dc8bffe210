"""Settings > Recipes and Settings > Business hours in a real browser.

The admin builds recipes through the editor and the tests check what the REST API
stored; API errors appear next to the field their ``field`` path names; the enabled
switch and every edit make versions; a test run evaluates a recipe against a seeded
conversation without changing it; business hours schedules are created and edited.
The server runs in its thread (conftest's :class:`ServerThread`); every wait is bounded
by Playwright's timeouts.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect
from standardwebhooks.webhooks import Webhook

from tests.web.conftest import World, login, new_context
from tests.web.hooks import HookWorld

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)


def console(browser: Browser, world: World, email: str, path: str) -> Page:
    context = new_context(browser)
    login(context, world.url, email)
    page = context.new_page()
    page.goto(f"{world.url}{path}")
    return page


def rest(context: BrowserContext, url: str, method: str, path: str, data: Any = None) -> Any:
    """Call the REST API with the context's session (and its CSRF token for writes)."""
    headers = {}
    if method != "GET":
        me = context.request.get(f"{url}/api/v1/auth/me")
        headers["X-CSRF-Token"] = me.json()["csrf"]
    response = context.request.fetch(
        f"{url}/api/v1{path}", method=method, data=data, headers=headers
    )
    assert response.ok, f"{method} {path}: {response.status} {response.text()}"
    return response.json()


def field_error(scope: Page | Locator, path: str) -> Locator:
    return scope.locator(f'[data-path="{path}"] > .field-error')


QUIET = {
    "name": "Resolve quiet conversations",
    "enabled": True,
    "trigger": {"type": "no_attendee_reply", "minutes": 30},
    "scope": {"contexts": [], "channels": []},
    "filter": {
        "type": "conditions",
        "match": "all",
        "conditions": [{"field": "status", "operator": "is", "value": "open"}],
    },
    "business_hours": None,
    "actions": [{"type": "resolve"}],
}


def test_admin_builds_the_quiet_resolve_recipe(browser: Browser, world: World) -> None:
    page = console(browser, world, "maria@example.com", "/console/settings/recipes")
    expect(page.locator(".empty-card")).to_contain_text("No recipes yet")
    page.get_by_role("button", name="New recipe").click()
    expect(page).to_have_url(f"{world.url}/console/settings/recipes/new")
    form = page.get_by_role("form", name="Recipe")
    form.get_by_label("Name", exact=True).fill("Resolve quiet conversations")
    form.get_by_label("When").select_option("no_attendee_reply")
    form.get_by_label("Minutes").fill("30")
    form.get_by_label("Custom conditions").check()
    expect(form.get_by_label("Condition 1 field")).to_have_value("status")
    # Only the operators valid for the field are offered.
    operators = form.get_by_label("Condition 1 operator").locator("option")
    expect(operators).to_have_text(["is", "is not", "is any of", "is none of"])
    form.get_by_label("Condition 1 value").select_option("open")
    form.get_by_label("Action to add").select_option("resolve")
    form.get_by_role("button", name="Add action").click()
    expect(form.get_by_role("group", name="Action 1: Mark resolved")).to_be_visible()
    form.get_by_role("button", name="Create recipe").click()
    expect(page.locator(".toast--success").last).to_have_text(
        "Created Resolve quiet conversations."
    )

    (recipe,) = rest(page.context, world.url, "GET", "/recipes")["items"]
    expect(page).to_have_url(f"{world.url}/console/settings/recipes/{recipe['id']}")
    assert recipe["kind"] == "update"
    assert recipe["version"] == 1
    assert recipe["enabled"] is True
    assert recipe["trigger"] == {"type": "no_attendee_reply", "minutes": 30}
    assert recipe["filter"]["type"] == "conditions"
    assert recipe["filter"]["match"] == "all"
    assert recipe["filter"]["conditions"] == [
        {"field": "status", "operator": "is", "value": "open"}
    ]
    assert recipe["scope"] == {"contexts": [], "channels": []}
    assert recipe["business_hours"] is None
    assert recipe["actions"] == [{"type": "resolve"}]

    # The saved recipe opens in the editor as it was stored.
    form = page.get_by_role("form", name="Recipe")
    expect(form.get_by_label("Name", exact=True)).to_have_value("Resolve quiet conversations")
    expect(form.get_by_label("Minutes")).to_have_value("30")
    page.get_by_role("link", name="← All recipes").click()
    row = page.locator(".recipe-row", has_text="Resolve quiet conversations")
    expect(row).to_contain_text("No attendee reply for 30 min")
    expect(row).to_contain_text("v1")
    page.context.close()


def test_bad_values_show_the_api_error_next_to_the_field(browser: Browser, world: World) -> None:
    page = console(browser, world, "maria@example.com", "/console/settings/recipes/new")
    form = page.get_by_role("form", name="Recipe")
    form.get_by_label("Name", exact=True).fill("Nudge")
    form.get_by_label("When").select_option("pending_for")
    form.get_by_label("Minutes").fill("0")
    form.get_by_label("Action to add").select_option("set_pending")
    form.get_by_role("button", name="Add action").click()
    form.get_by_role("button", name="Create recipe").click()
    minutes_error = field_error(form, "trigger.minutes")
    expect(minutes_error).to_be_visible()
    expect(minutes_error).to_contain_text("525600")
    expect(form.get_by_label("Minutes")).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_label("Minutes")).to_be_focused()

    # Fixed; now an action's parameter: the error names actions[1].text.
    form.get_by_label("Minutes").fill("45")
    form.get_by_label("Action to add").select_option("reply")
    form.get_by_role("button", name="Add action").click()
    card = form.get_by_role("group", name="Action 2: Reply")
    expect(card.get_by_label("Reply text")).to_be_focused()
    form.get_by_role("button", name="Create recipe").click()
    expect(field_error(form, "actions[1].text")).to_contain_text("is required")
    expect(minutes_error).to_be_hidden()
    assert rest(page.context, world.url, "GET", "/recipes")["items"] == []

    card.get_by_label("Reply text").fill("Still there? We are here to help.")
    card.get_by_label("How").select_option("draft")
    # Reordering with the keyboard keeps the focus on the moved card's button.
    card.get_by_role("button", name="Move action 2 up").click()
    moved = form.get_by_role("group", name="Action 1: Reply")
    expect(moved.get_by_role("button", name="Move action 1 down")).to_be_focused()
    form.get_by_role("button", name="Create recipe").click()
    expect(page.locator(".toast--success").last).to_have_text("Created Nudge.")
    (recipe,) = rest(page.context, world.url, "GET", "/recipes")["items"]
    assert recipe["trigger"] == {"type": "pending_for", "minutes": 45}
    assert [a["type"] for a in recipe["actions"]] == ["reply", "set_pending"]
    assert recipe["actions"][0]["mode"] == "draft"
    page.context.close()


def test_toggle_enabled_and_versions_after_an_edit(browser: Browser, world: World) -> None:
    page = console(browser, world, "maria@example.com", "/console/settings/recipes")
    recipe = rest(page.context, world.url, "POST", "/recipes", QUIET)
    page.reload()
    switch = page.get_by_role("switch", name="Enabled: Resolve quiet conversations")
    expect(switch).to_have_attribute("aria-checked", "true")
    switch.click()
    expect(switch).to_have_attribute("aria-checked", "false")
    stored = rest(page.context, world.url, "GET", f"/recipes/{recipe['id']}")
    assert stored["enabled"] is False
    assert stored["version"] == 2
    expect(page.locator(".recipe-row .recipe-version")).to_have_text("v2")

    page.get_by_role("link", name="Resolve quiet conversations").click()
    form = page.get_by_role("form", name="Recipe")
    expect(form.get_by_label("Enabled")).not_to_be_checked()
    form.get_by_label("Name", exact=True).fill("Resolve after an hour")
    form.get_by_label("Minutes").fill("60")
    form.get_by_role("button", name="Save recipe").click()
    expect(page.locator(".toast--success").last).to_have_text(
        "Saved Resolve after an hour: version 3."
    )
    stored = rest(page.context, world.url, "GET", f"/recipes/{recipe['id']}")
    assert stored["name"] == "Resolve after an hour"
    assert stored["trigger"] == {"type": "no_attendee_reply", "minutes": 60}
    assert stored["version"] == 3

    page.get_by_role("tab", name="Versions").click()
    expect(page).to_have_url(f"{world.url}/console/settings/recipes/{recipe['id']}/versions")
    rows = page.locator(".version-row")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("v3")
    expect(rows.first).to_contain_text("current")
    expect(rows.last).to_contain_text("No attendee reply for 30 min")
    page.get_by_role("button", name="View version 1").click()
    old = page.get_by_role("form", name="Recipe (read only)")
    expect(old.get_by_label("Name", exact=True)).to_have_value("Resolve quiet conversations")
    expect(old.get_by_label("Name", exact=True)).to_be_disabled()
    expect(old.get_by_label("Minutes")).to_have_value("30")
    expect(old.get_by_label("Enabled")).to_be_checked()

    # Deleting asks for a second click, then the list is empty.
    delete = page.get_by_role("button", name="Delete")
    delete.click()
    page.get_by_role("button", name="Click again to delete").click()
    expect(page).to_have_url(f"{world.url}/console/settings/recipes")
    expect(page.locator(".empty-card")).to_contain_text("No recipes yet")
    assert rest(page.context, world.url, "GET", "/recipes")["items"] == []
    page.context.close()


def test_test_run_against_a_seeded_conversation(browser: Browser, world: World) -> None:
    page = console(browser, world, "maria@example.com", "/console/settings/recipes")
    definition = {
        **QUIET,
        "name": "Tag Ann",
        "trigger": {"type": "new_conversation"},
        "filter": {
            "type": "conditions",
            "match": "all",
            "conditions": [
                {"field": "status", "operator": "is", "value": "open"},
                {"field": "contact_name", "operator": "contains", "value": "ann"},
                {"field": "priority", "operator": "is", "value": "urgent"},
            ],
        },
        "actions": [{"type": "add_tags", "tags": ["vip"]}, {"type": "resolve"}],
    }
    recipe = rest(page.context, world.url, "POST", "/recipes", definition)
    conversation = world.attendee["conversation"]
    before = rest(page.context, world.url, "GET", f"/conversations/{conversation}")
    page.goto(f"{world.url}/console/settings/recipes/{recipe['id']}/test")
    test_form = page.get_by_role("form", name="Test run")
    test_form.get_by_label("Conversation", exact=True).select_option(conversation)
    test_form.get_by_role("button", name="Run test").click()
    result = page.get_by_role("region", name="Test run result")
    expect(result.locator(".test-verdict")).to_contain_text("would not run")
    checks = result.locator(".checks-table tbody tr")
    expect(checks).to_have_count(3)
    expect(checks.nth(0)).to_have_class("check-ok")
    expect(checks.nth(1)).to_have_class("check-ok")
    expect(checks.nth(2)).to_have_class("check-fail")
    expect(checks.nth(2)).to_contain_text("urgent")

    # The editor's unsaved definition is what is tested: drop the failing condition.
    page.get_by_role("tab", name="Edit").click()
    form = page.get_by_role("form", name="Recipe")
    form.get_by_role("button", name="Remove condition 3").click()
    page.get_by_role("tab", name="Test run").click()
    test_form.get_by_role("button", name="Run test").click()
    expect(result.locator(".test-verdict")).to_contain_text("would run")
    expect(result.locator(".checks-table tbody tr")).to_have_count(2)
    actions = result.locator(".test-action")
    expect(actions).to_have_count(2)
    expect(actions.nth(0)).to_contain_text("Add tags")
    expect(actions.nth(0)).to_contain_text("vip")
    expect(actions.nth(1)).to_contain_text("Mark resolved")

    after = rest(page.context, world.url, "GET", f"/conversations/{conversation}")
    assert after["status"] == before["status"] == "open"
    assert after["tags"] == before["tags"] == []
    assert rest(page.context, world.url, "GET", f"/recipes/{recipe['id']}/runs")["items"] == []
    page.context.close()


def test_business_hours_schedule_create_and_edit(browser: Browser, world: World) -> None:
    page = console(browser, world, "maria@example.com", "/console/settings/business-hours")
    expect(page.locator(".empty-card")).to_contain_text("No schedules yet")
    page.get_by_role("button", name="New schedule").click()
    form = page.get_by_role("form", name="Business hours schedule")
    form.get_by_label("Name", exact=True).fill("Paris office")
    form.get_by_label("Time zone").select_option("Europe/Paris")
    form.get_by_role("button", name="Add hours on Monday").click()
    expect(form.get_by_label("Monday interval 1 from")).to_be_focused()
    form.get_by_label("Monday interval 1 from").fill("09:00")
    form.get_by_label("Monday interval 1 until").fill("17:30")
    form.get_by_role("button", name="Copy Monday to the other weekdays").click()
    # Tuesday gets a lunch break: two intervals.
    form.get_by_label("Tuesday interval 1 until").fill("12:00")
    form.get_by_role("button", name="Add hours on Tuesday").click()
    form.get_by_label("Tuesday interval 2 from").fill("13:00")
    form.get_by_label("Tuesday interval 2 until").fill("17:30")
    form.get_by_role("button", name="Remove Wednesday interval 1").click()
    form.get_by_role("button", name="Add a holiday").click()
    form.get_by_label("Holiday 1", exact=True).fill("2026-12-25")
    form.get_by_role("button", name="Create schedule").click()
    expect(page.locator(".toast--success").last).to_have_text("Saved Paris office.")

    (schedule,) = rest(page.context, world.url, "GET", "/business-hours")["items"]
    assert schedule["name"] == "Paris office"
    assert schedule["timezone"] == "Europe/Paris"
    assert schedule["weekly"]["mon"] == [["09:00", "17:30"]]
    assert schedule["weekly"]["tue"] == [["09:00", "12:00"], ["13:00", "17:30"]]
    assert schedule["weekly"].get("wed", []) == []
    assert schedule["weekly"]["fri"] == [["09:00", "17:30"]]
    assert schedule["holidays"] == ["2026-12-25"]
    expect(page.locator(".recipe-meta .hours-status")).to_contain_text(
        "Open now" if schedule["open_now"] else "Closed now"
    )

    # Edit: a bad time is refused next to its field; fixed, it saves.
    form = page.get_by_role("form", name="Business hours schedule")
    form.get_by_label("Friday interval 1 until").fill("25:00")
    form.get_by_role("button", name="Save schedule").click()
    expect(field_error(form, "weekly.fri[0][1]")).to_contain_text("25:00")
    form.get_by_label("Friday interval 1 until").fill("16:00")
    form.get_by_label("Name", exact=True).fill("Paris office (winter)")
    form.get_by_role("button", name="Save schedule").click()
    expect(page.locator(".toast--success").last).to_have_text("Saved Paris office (winter).")
    stored = rest(page.context, world.url, "GET", f"/business-hours/{schedule['id']}")
    assert stored["weekly"]["fri"] == [["09:00", "16:00"]]
    assert stored["name"] == "Paris office (winter)"

    page.get_by_role("link", name="← All schedules").click()
    row = page.locator(".hours-row", has_text="Paris office (winter)")
    expect(row).to_contain_text("Europe/Paris")
    expect(row.locator(".hours-status")).to_be_visible()

    # The recipe editor offers the schedule.
    page.goto(f"{world.url}/console/settings/recipes/new")
    recipe_form = page.get_by_role("form", name="Recipe")
    recipe_form.get_by_label("Runs").select_option("outside")
    recipe_form.get_by_label("Schedule").select_option(schedule["id"])
    page.context.close()


def test_an_agent_views_recipes_read_only(browser: Browser, world: World) -> None:
    admin = console(browser, world, "maria@example.com", "/console/settings/recipes")
    recipe = rest(admin.context, world.url, "POST", "/recipes", QUIET)
    admin.context.close()
    page = console(browser, world, "alex@example.com", "/console/settings/recipes")
    expect(page.get_by_text("Only admins can change recipes.")).to_be_visible()
    expect(page.get_by_role("button", name="New recipe")).to_have_count(0)
    switch = page.get_by_role("switch", name="Enabled: Resolve quiet conversations")
    expect(switch).to_be_disabled()
    page.get_by_role("link", name="Resolve quiet conversations").click()
    form = page.get_by_role("form", name="Recipe (read only)")
    expect(form.get_by_label("Name", exact=True)).to_be_disabled()
    expect(form.get_by_role("button", name="Save recipe")).to_have_count(0)
    nav = page.get_by_role("navigation", name="Settings")
    expect(nav.get_by_role("link", name="Business hours")).to_have_count(0)
    assert recipe["id"] in page.url
    page.context.close()


TOKEN = "Bearer recipe-receiver-token-123456"


def test_webhook_action_secret_runs_and_redeliver(browser: Browser, hook_world: HookWorld) -> None:
    live, receiver = hook_world.live, hook_world.receiver
    context = new_context(browser)
    login(context, live.url, "maria@example.com")
    page = context.new_page()
    page.goto(f"{live.url}/console/settings/recipes/new")
    form = page.get_by_role("form", name="Recipe")
    form.get_by_label("Name", exact=True).fill("Forward messages")
    form.get_by_label("When").select_option("new_message")
    form.get_by_label("Action to add").select_option("webhook")
    form.get_by_role("button", name="Add action").click()
    card = form.get_by_role("group", name="Action 1: Trigger a webhook")
    card.get_by_label("Webhook name").fill("CRM")
    card.get_by_label("URL").fill(f"{receiver.url}/hooks")
    card.get_by_label("Authorization header").fill(TOKEN)
    fields = card.get_by_role("group", name="Fields to send")
    for name in ("Conversation id", "Message text"):
        expect(fields.get_by_label(name, exact=True)).to_be_checked()
    for box in fields.get_by_role("checkbox").all():
        box.uncheck()
    fields.get_by_label("Conversation id", exact=True).check()
    fields.get_by_label("Message text", exact=True).check()
    form.get_by_role("button", name="Create recipe").click()

    # The signing secret is shown once, on the page the save lands on.
    notice = page.locator(".secret-notice")
    expect(notice).to_contain_text("Action 1 (CRM)")
    secret = notice.locator(".secret-value").inner_text()
    assert secret.startswith("whsec_")
    (recipe,) = rest(context, live.url, "GET", "/recipes")["items"]
    (action,) = recipe["actions"]
    assert action["authorization"] == "Bearer …3456"
    assert action["fields"] == ["conversation_id", "message_body"]
    assert action["url"] == f"{receiver.url}/hooks"
    assert TOKEN not in json.dumps(recipe)

    # Shown back masked; saving without touching it keeps the stored credentials.
    card = page.get_by_role("group", name="Action 1: Trigger a webhook")
    expect(card).to_contain_text("Stored: Bearer …3456")
    page.get_by_role("form", name="Recipe").get_by_role("button", name="Save recipe").click()
    expect(page.locator(".toast--success").last).to_have_text("Saved Forward messages: version 2.")
    expect(page.locator(".secret-notice")).to_have_count(0)

    hook_world.post("Hi there")
    (received,) = receiver.wait_for(1)
    payload = Webhook(secret).verify(received.body, received.headers)
    assert payload["recipe"]["id"] == recipe["id"]
    assert payload["fields"] == {
        "conversation_id": hook_world.conversation,
        "message_body": "Hi there",
    }
    assert received.headers["authorization"] == TOKEN

    # The runs log refreshes itself while open.
    page.get_by_role("tab", name="Runs").click()
    run = page.locator(".run-row").first
    expect(run).to_contain_text("done")
    expect(run).to_contain_text("Trigger a webhook")
    expect(run.get_by_role("link", name=hook_world.conversation)).to_be_visible()

    page.get_by_role("tab", name="Webhook deliveries").click()
    delivery = page.locator(".delivery-row").first
    expect(delivery).to_contain_text("Action 1: CRM")
    expect(delivery).to_contain_text("HTTP 200")
    delivery.get_by_role("button", name="Redeliver").click()
    expect(page.locator(".toast--success").last).to_have_text("Queued for delivery again.")
    second = receiver.wait_for(2)[1]
    assert second.headers["webhook-id"] == received.headers["webhook-id"]
    assert json.loads(second.body) == json.loads(received.body)

    page.get_by_role("link", name="← All recipes").click()
    row = page.locator(".recipe-row", has_text="Forward messages")
    expect(row).to_contain_text("New message")
    expect(row.locator(".run-state")).to_have_text(re.compile(r"^done · "))
    context.close()
