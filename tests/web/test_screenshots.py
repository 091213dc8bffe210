"""Screenshots for the README (docs/screenshots/), taken from a real run with seeded data.

The test fails if a screenshot cannot be made; the images are rewritten on every run so
they always show the current pages.
"""

from __future__ import annotations

import functools
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from actors import contexts
from actors.records import ConversationChanges, NewMessage
from protocol.frames import Participant
from tests.web.conftest import World, login, new_context
from tests.web.test_browser_chat import reply, say
from tests.web.test_browser_recipes import rest

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def post(
    world: World, conversation: str, author: Participant, body: str, kind: str = "message"
) -> None:
    system = world.live.running.state.system  # type: ignore[union-attr]
    world.live.call(system.post, NewMessage(conversation, author, kind, body))


def seed_inbox(world: World) -> None:
    """A few conversations in different states, as a console would show them."""
    live, seed = world.live, world.live.seed
    assert seed is not None
    system = live.running.state.system  # type: ignore[union-attr]
    alex = Participant(kind="staff", id=world.agent["id"], name="Alex Rivera")
    invoice = live.call(
        seed.store.write,
        functools.partial(
            contexts.create_context,
            kind="email",
            title="Your invoice #1042",
            data={"subject": "Your invoice #1042", "body": "Hi Sam,\nyour invoice is attached."},
            moderators=[],
            primary_moderator=None,
            external_id=None,
        ),
    )
    people: list[tuple[dict[str, Any], str, str, ConversationChanges | None]] = [
        (world.context, "Priya Natarajan", "Is there a replay link for people in Asia?", None),
        (
            invoice,
            "Sam Okafor",
            "The VAT number on invoice #1042 is wrong, can you fix it?",
            ConversationChanges(tags_add=("billing",), priority="high"),
        ),
        (
            world.context,
            "Lena Fischer",
            "Audio dropped for a minute, all good now",
            ConversationChanges(status="pending", assignee_user=world.agent["id"]),
        ),
    ]
    for context, name, body, changes in people:
        attendee = live.call(seed.attendee, context["id"], name, None)
        contact = Participant(kind="contact", id=attendee["contact"]["id"], name=name)
        post(world, attendee["conversation"], contact, body)
        if changes is not None:
            live.call(system.update, attendee["conversation"], changes, alex)


def demo_conversation(world: World) -> str:
    def read(conn: sqlite3.Connection) -> str:
        row = conn.execute(
            "SELECT c.id FROM conversations c JOIN contexts x ON x.id = c.context_id "
            "WHERE x.external_id = 'switchboard-demo-webinar'"
        ).fetchone()
        return str(row[0])

    seed = world.live.seed
    assert seed is not None
    result: str = world.live.call(seed.store.read, read)
    return result


def test_screenshots_of_widget_and_console(browser: Browser, world: World) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    seed_inbox(world)
    attendee_context = new_context(browser, viewport={"width": 1280, "height": 800})
    page = attendee_context.new_page()
    page.goto(f"{world.url}/demo")
    page.get_by_role("button", name="Open chat").click()
    frame = page.frame_locator("iframe[title='Questions? Ask the team']")
    expect(frame.locator(".msg--bot")).to_be_visible()
    say(frame, "Hi! Will the recording be shared after the session? https://acme.example/launch")
    expect(frame.locator(".msg--out .msg-body")).to_have_count(1)

    console_context = new_context(browser, viewport={"width": 1440, "height": 860})
    login(console_context, world.url, "alex@example.com")
    console = console_context.new_page()
    conversation = demo_conversation(world)
    console.goto(f"{world.url}/console/c/{conversation}")
    expect(console.locator(".conv-scroll .msg-body")).to_have_count(2)
    reply(console, "Yes! Everyone who registered gets the recording and the slides by email.")
    console.get_by_role("tab", name="Internal note").click()
    reply(console, "Asked about the replay: add them to the follow-up list")
    console.get_by_role("tab", name="Reply").click()
    console.locator(".side input[aria-label='Add a tag']").fill("recording")
    console.locator(".side input[aria-label='Add a tag']").press("Enter")
    expect(console.get_by_role("button", name="Remove tag recording")).to_be_visible()
    expect(frame.locator(".msg--in .msg-body").last).to_contain_text("Everyone who registered")
    say(frame, "Perfect, thank you!")
    expect(console.locator(".conv-scroll .msg-body").last).to_have_text("Perfect, thank you!")
    console.locator(".conv-composer textarea").fill("You're welcome")
    expect(frame.locator(".typing")).to_be_visible()
    expect(frame.locator(".msg-seen")).to_be_visible()

    widget_png = SCREENSHOTS / "widget.png"
    console_png = SCREENSHOTS / "console.png"
    page.screenshot(path=str(widget_png))
    console.locator(".conv-composer textarea").fill("")
    console.locator(".conv-composer textarea").blur()
    console.screenshot(path=str(console_png))
    for shot in (widget_png, console_png):
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        assert len(data) > 20_000, f"{shot} looks empty"
    attendee_context.close()
    console_context.close()


def test_screenshot_of_the_recipe_editor(browser: Browser, world: World) -> None:
    """The README's recipe example 2 (billing triage), as the editor shows it."""
    context = new_context(browser, viewport={"width": 1440, "height": 2000})
    login(context, world.url, "maria@example.com")
    page = context.new_page()
    page.goto(f"{world.url}/console/settings/recipes")
    team = rest(context, world.url, "POST", "/teams", {"name": "Billing", "members": []})
    recipe = rest(
        context,
        world.url,
        "POST",
        "/recipes",
        {
            "name": "Billing triage",
            "trigger": {"type": "new_message"},
            "filter": {
                "type": "conditions",
                "match": "all",
                "conditions": [
                    {"field": "kind", "operator": "is", "value": "attendee_message"},
                    {
                        "field": "text",
                        "operator": "matches_keywords",
                        "value": ["refund", "invoice", "charge"],
                    },
                ],
            },
            "actions": [
                {"type": "add_tags", "tags": ["billing"]},
                {"type": "assign", "team": team["id"]},
                {"type": "reply", "mode": "approval", "text": "Thanks, our billing team is on it."},
            ],
        },
    )
    page.goto(f"{world.url}/console/settings/recipes/{recipe['id']}")
    expect(page.get_by_role("textbox", name="Name", exact=True)).to_have_value("Billing triage")
    shot = SCREENSHOTS / "recipes.png"
    page.screenshot(path=str(shot))
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 20_000, f"{shot} looks empty"
    context.close()
