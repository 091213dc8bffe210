"""What recipes leave for staff, in a real browser: replies waiting for approval (the
Approvals view), drafts offered above the composer, the notifications bell, a run's
history line in the conversation, and saved inbox filters.

Recipes are created through the REST API (an admin's API token), and attendees write
through the server's System, as the other browser tests do; the recipe scheduler of the
real server (conftest's :class:`ServerThread`) does the rest. Each test first waits, in
a console page, for the run's history line: once it shows, the run's replies and
notifications are stored. Every wait is bounded by Playwright's timeouts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from actors.records import NewMessage
from protocol.frames import Participant
from tests.web.conftest import World, login, new_context

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)

ACK = "Thanks for your question: an agent will answer shortly."


class Api:
    """REST calls as the admin (an API token: no session, no CSRF token)."""

    def __init__(self, world: World) -> None:
        seed = world.live.seed
        assert seed is not None
        token = world.live.call(seed.api_token, world.admin["id"])
        self.client = httpx.Client(
            base_url=f"{world.url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=15
        )

    def __call__(self, method: str, path: str, body: Any = None) -> Any:
        answer = self.client.request(method, path, json=body)
        assert answer.is_success, f"{method} {path}: {answer.status_code} {answer.text}"
        return answer.json()


@pytest.fixture
def api(world: World) -> Iterator[Api]:
    client = Api(world)
    yield client
    client.client.close()


def recipe(name: str, actions: list[dict[str, Any]], **parts: Any) -> dict[str, Any]:
    """A new-message recipe for attendee messages, with ``parts`` replacing defaults."""
    definition: dict[str, Any] = {
        "name": name,
        "enabled": True,
        "trigger": {"type": "new_message"},
        "scope": {"contexts": [], "channels": []},
        "filter": {
            "type": "conditions",
            "match": "all",
            "conditions": [{"field": "kind", "operator": "is", "value": "attendee_message"}],
        },
        "business_hours": None,
        "actions": actions,
    }
    definition.update(parts)
    return definition


def attendee(world: World, name: str) -> dict[str, Any]:
    seed = world.live.seed
    assert seed is not None
    found: dict[str, Any] = world.live.call(
        seed.attendee, world.context["id"], name, f"{name.split()[0].lower()}@example.com"
    )
    return found


def say(world: World, who: dict[str, Any], body: str) -> None:
    contact = Participant("contact", who["contact"]["id"], who["contact"]["name"])
    system = world.live.running.state.system  # type: ignore[union-attr]
    world.live.call(system.post, NewMessage(who["conversation"], contact, "message", body))


def console(
    browser: Browser, world: World, path: str = "/console", email: str = "alex@example.com"
) -> Page:
    context = new_context(browser)
    login(context, world.url, email)
    page = context.new_page()
    page.goto(f"{world.url}{path}")
    return page


def open_conversation(page: Page, world: World, conversation: str) -> None:
    page.goto(f"{world.url}/console/c/{conversation}")
    expect(page.locator(".conv-title")).to_be_visible()


def run_line(page: Page, text: str) -> Any:
    return page.locator(".conv-scroll .msg-event--recipe", has_text=text)


def test_approve_with_an_edit_and_discard(browser: Browser, world: World, api: Api) -> None:
    api(
        "POST",
        "/recipes",
        recipe("Acknowledge", [{"type": "reply", "text": ACK, "mode": "approval"}]),
    )
    ann = world.attendee
    bob = attendee(world, "Bob Stone")
    say(world, ann, "Will there be a recording?")
    say(world, bob, "Where are the slides?")
    page = console(browser, world)
    for who in (ann, bob):
        open_conversation(page, world, who["conversation"])
        expect(run_line(page, "Recipe “Acknowledge” v1")).to_be_visible()

    page.get_by_role("link", name="Approvals, 2 waiting").click()
    expect(page).to_have_url(f"{world.url}/console/approvals")
    expect(page.get_by_role("heading", name="Approvals")).to_be_visible()
    cards = page.locator(".approval")
    expect(cards).to_have_count(2)
    ann_card = cards.filter(has_text="Ann Lee")
    bob_card = cards.filter(has_text="Bob Stone")
    expect(ann_card).to_contain_text("Recipe: Acknowledge")
    expect(ann_card.get_by_label("Proposed reply")).to_have_value(ACK)

    edited = "Yes: the recording comes by email tomorrow."
    ann_card.get_by_label("Proposed reply").fill(edited)
    ann_card.get_by_label("Proposed reply").press("Control+Enter")  # = "Approve and send"
    expect(page.locator(".toast--success").last).to_have_text("Sent to Ann Lee.")
    expect(cards).to_have_count(1)

    bob_card.get_by_role("button", name="Discard").click()
    expect(cards).to_have_count(0)
    expect(page.get_by_text("Nothing waits for approval.")).to_be_visible()
    expect(page.get_by_role("link", name="Approvals", exact=True)).to_be_visible()

    sent = api("GET", "/replies?state=sent")["items"]
    assert [(r["conversation"], r["body"]) for r in sent] == [(ann["conversation"], edited)]
    discarded = api("GET", "/replies?state=discarded")["items"]
    assert [r["conversation"] for r in discarded] == [bob["conversation"]]
    messages = api("GET", f"/conversations/{ann['conversation']}/messages")["items"]
    staff = [m for m in messages if m["author"]["kind"] == "staff"]
    assert [(m["body"], m["author"]["id"]) for m in staff] == [(edited, world.agent["id"])]
    bob_messages = api("GET", f"/conversations/{bob['conversation']}/messages")["items"]
    assert not [m for m in bob_messages if m["author"]["kind"] == "staff"]

    # The approved reply shows once in the conversation, from Alex.
    open_conversation(page, world, ann["conversation"])
    expect(page.locator(".conv-scroll .msg--staff .msg-body")).to_have_text([edited])
    page.context.close()


def test_a_draft_is_offered_above_the_composer(browser: Browser, world: World, api: Api) -> None:
    api(
        "POST",
        "/recipes",
        recipe("Draft an answer", [{"type": "reply", "text": ACK, "mode": "draft"}]),
    )
    ann = world.attendee
    conversation = ann["conversation"]
    say(world, ann, "Is there a discount?")
    page = console(browser, world)
    open_conversation(page, world, conversation)
    expect(run_line(page, "Recipe “Draft an answer” v1")).to_be_visible()

    strip = page.get_by_role("region", name="Prepared replies")
    expect(strip).to_contain_text("Draft · recipe “Draft an answer”")
    expect(strip).to_contain_text(ACK)
    strip.get_by_role("button", name="Use the draft from Draft an answer").click()
    box = page.locator(".conv-composer textarea")
    expect(box).to_have_value(ACK)
    expect(box).to_be_focused()
    expect(strip).to_contain_text("sending approves it with your edits")

    box.fill("Yes: 20% until Friday.")
    box.press("Enter")
    expect(page.locator(".conv-scroll .msg--staff .msg-body")).to_have_text(
        ["Yes: 20% until Friday."]
    )
    expect(strip).to_be_hidden()
    expect(box).to_have_value("")
    expect(page.locator(".conv-scroll .msg--pending")).to_have_count(0)
    (sent,) = api("GET", "/replies?state=sent")["items"]
    assert sent["body"] == "Yes: 20% until Friday."

    # A second draft (the next message runs the recipe again; the history line arrives
    # live and the strip reloads): discarded, nothing is sent.
    say(world, ann, "And for teams?")
    expect(strip).to_be_visible()
    expect(strip.locator(".draft")).to_have_count(1)
    strip.get_by_role("button", name="Discard the draft from Draft an answer").click()
    expect(strip).to_be_hidden()
    assert len(api("GET", "/replies?state=discarded")["items"]) == 1
    messages = api("GET", f"/conversations/{conversation}/messages")["items"]
    assert [m["body"] for m in messages if m["author"]["kind"] == "staff"] == [
        "Yes: 20% until Friday."
    ]
    page.context.close()


def test_the_bell_counts_and_marks_notifications_read(
    browser: Browser, world: World, api: Api
) -> None:
    notify = {
        "type": "notify",
        "users": [world.agent["id"]],
        "console": True,
        "text": "A question came in",
    }
    api("POST", "/recipes", recipe("Tell Alex", [notify]))
    ann = world.attendee
    bob = attendee(world, "Bob Stone")
    page = console(browser, world)
    bell = page.locator(".rail-bell > button")
    expect(bell).to_have_attribute("aria-label", "Notifications")
    say(world, ann, "First question")
    say(world, bob, "Second question")
    open_conversation(page, world, bob["conversation"])
    expect(run_line(page, "Recipe “Tell Alex” v1")).to_be_visible()
    open_conversation(page, world, ann["conversation"])
    expect(run_line(page, "Recipe “Tell Alex” v1")).to_be_visible()
    page.goto(f"{world.url}/console")
    expect(bell).to_have_attribute("aria-label", "Notifications, 2 unread")
    expect(page.locator(".rail-bell .rail-badge")).to_have_text("2")

    bell.click()
    panel = page.get_by_role("dialog", name="Notifications")
    items = panel.locator(".notif")
    expect(items).to_have_count(2)
    expect(items.first).to_contain_text("A question came in")
    expect(panel.locator(".notif--unread")).to_have_count(2)
    # Opening one goes to its conversation and marks it read.
    link = items.first.get_by_role("link")
    href = link.get_attribute("href")
    assert href in {f"/console/c/{c['conversation']}" for c in (ann, bob)}
    link.click()
    expect(page).to_have_url(f"{world.url}{href}")
    expect(panel).to_be_hidden()
    expect(bell).to_have_attribute("aria-label", "Notifications, 1 unread")

    # Keyboard: open, Escape closes and gives the focus back; then mark all read.
    bell.focus()
    page.keyboard.press("Enter")
    expect(panel).to_be_visible()
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(bell).to_be_focused()
    bell.click()
    panel.get_by_role("button", name="Mark all read").click()
    expect(panel.locator(".notif--unread")).to_have_count(0)
    expect(bell).to_have_attribute("aria-label", "Notifications")
    expect(page.locator(".rail-bell .rail-badge")).to_be_hidden()
    unread = page.context.request.get(f"{world.url}/api/v1/notifications?unread=1").json()
    assert unread["items"] == []
    page.context.close()


def test_a_recipe_run_is_a_readable_history_line(browser: Browser, world: World, api: Api) -> None:
    conditions = [{"field": "text", "operator": "contains", "value": "refund"}]
    api(
        "POST",
        "/recipes",
        recipe(
            "Billing triage",
            [{"type": "add_tags", "tags": ["billing"]}, {"type": "set_pending"}],
            filter={"type": "conditions", "match": "all", "conditions": conditions},
        ),
    )
    closed = api("POST", "/business-hours", {"name": "Never open", "timezone": "UTC", "weekly": {}})
    api(
        "POST",
        "/recipes",
        recipe(
            "Office hours only",
            [{"type": "resolve"}],
            business_hours={"schedule": closed["id"], "when": "inside"},
        ),
    )
    ann = world.attendee
    say(world, ann, "I would like a refund, please")
    page = console(browser, world)
    open_conversation(page, world, ann["conversation"])
    line = run_line(page, "Billing triage")
    expect(line.locator(".hist-line")).to_have_text(
        "Recipe “Billing triage” v1: added tags; set pending"
    )
    skipped = run_line(page, "Office hours only")
    expect(skipped.locator(".hist-line")).to_contain_text("Recipe “Office hours only” v1 skipped:")
    expect(skipped).to_have_class("msg-event msg-event--recipe msg-event--skipped")

    # Collapsed until asked; Enter on the summary opens the details.
    body = line.locator(".hist-body")
    expect(body).to_be_hidden()
    line.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(body).to_be_visible()
    expect(body).to_contain_text("new_message")
    check = body.locator(".hist-check")
    expect(check).to_have_count(1)
    expect(check).to_contain_text("text contains refund")
    expect(check.get_by_role("img", name="matched")).to_be_visible()
    results = body.locator(".hist-result")
    expect(results).to_have_count(2)
    expect(results.nth(0)).to_contain_text("add_tags")
    expect(results.nth(0).locator(".hist-outcome")).to_have_text("done")
    expect(results.nth(1)).to_contain_text("set_pending")
    page.context.close()


def test_save_a_filter_and_apply_it(browser: Browser, world: World, api: Api) -> None:
    bob = attendee(world, "Bob Stone")
    api("PATCH", f"/conversations/{bob['conversation']}", {"tags_add": ["vip"]})
    page = console(browser, world, email="maria@example.com")  # saved filters are shared
    expect(page.locator(".live-status")).to_have_text("Live")
    rows = page.locator(".conv-row")
    expect(rows).to_have_count(2)

    page.get_by_role("group", name="Status").get_by_role("button", name="All").click()
    page.get_by_label("Channel").select_option("widget")
    page.get_by_label("Tag", exact=True).fill("vip")
    page.get_by_label("Tag", exact=True).press("Enter")
    expect(rows).to_have_count(1)
    page.get_by_role("button", name="Save filter").click()
    name = page.get_by_label("Filter name")
    expect(name).to_be_focused()
    name.fill("VIP on the widget")
    name.press("Enter")
    expect(page.locator(".toast--success").last).to_have_text(
        "Saved the filter “VIP on the widget”."
    )
    saved = page.get_by_label("Saved filters")
    expect(saved.locator("option:checked")).to_have_text("VIP on the widget")
    (stored,) = api("GET", "/saved-filters")["items"]
    assert stored["name"] == "VIP on the widget"
    assert stored["filters"] == {"channel": "widget", "tag": "vip"}

    # Change the filters by hand: the saved one is no longer selected.
    page.get_by_role("group", name="Status").get_by_role("button", name="Open").click()
    page.get_by_label("Tag", exact=True).fill("")
    page.get_by_label("Tag", exact=True).press("Enter")
    page.get_by_label("Channel").select_option("")
    expect(saved).to_have_value("")
    expect(rows).to_have_count(2)

    # Apply it: every control shows it, and the list follows.
    saved.select_option(label="VIP on the widget")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Bob Stone")
    status = page.get_by_role("group", name="Status")
    expect(status.get_by_role("button", name="All")).to_have_attribute("aria-pressed", "true")
    expect(status.get_by_role("button", name="Open")).to_have_attribute("aria-pressed", "false")
    expect(page.get_by_label("Channel")).to_have_value("widget")
    expect(page.get_by_label("Tag", exact=True)).to_have_value("vip")
    page.context.close()

    # An agent applies it too, but cannot save one.
    agent = console(browser, world)
    saved = agent.get_by_label("Saved filters")
    expect(saved.locator("option")).to_have_text(["Saved filters…", "VIP on the widget"])
    expect(agent.get_by_role("button", name="Save filter")).to_have_count(0)
    expect(agent.locator(".conv-row")).to_have_count(2)
    saved.select_option(label="VIP on the widget")
    expect(agent.locator(".conv-row")).to_have_count(1)
    expect(agent.get_by_label("Tag", exact=True)).to_have_value("vip")
    agent.context.close()
