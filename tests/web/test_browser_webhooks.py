"""Settings > Webhooks in a real browser, delivering to a loopback receiver.

The server runs in its thread (conftest's :class:`ServerThread`) with
``webhook_allow_private_targets`` on, so it may call the receiver on 127.0.0.1. The
receiver is a small threaded ``http.server`` that records each request and answers with
the next scripted status (then 200). The secret the page shows once verifies the
receiver's requests with the ``standardwebhooks`` reference library. Every wait is
bounded: Playwright's timeouts, and the receiver's own ``WAIT``.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect
from standardwebhooks.webhooks import Webhook

from tests.web.conftest import login, new_context
from tests.web.hooks import HookWorld

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)

TOKEN = "Bearer receiver-token-123456"


def admin_page(browser: Browser, world: HookWorld) -> Page:
    context = new_context(browser)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    login(context, world.url, "maria@example.com")
    page = context.new_page()
    page.goto(f"{world.url}/console/settings/webhooks")
    return page


def test_admin_adds_an_endpoint_and_sees_its_secret_once(
    browser: Browser, hook_world: HookWorld
) -> None:
    world = hook_world
    page = admin_page(browser, world)
    expect(page.get_by_role("heading", level=2)).to_have_text("Webhooks")
    expect(page.get_by_text("No endpoints yet.")).to_be_visible()

    form = page.get_by_role("form", name="Add a webhook endpoint")
    # A refused URL: the API's message appears next to the field.
    form.get_by_label("URL").fill("ftp://example.com/hook")
    form.get_by_role("button", name="Add endpoint").click()
    expect(page.locator("[data-field=url] .field-error")).to_contain_text("url")

    form.get_by_label("URL").fill(f"{world.receiver.url}/hooks")
    form.get_by_label("Description").fill("CRM sync")
    expect(form.get_by_label("message.posted")).to_be_checked()
    form.get_by_label("Authorization header (optional)").fill(TOKEN)
    form.get_by_role("button", name="Add endpoint").click()

    secret_card = page.get_by_role("region", name="Signing secret of the new endpoint")
    expect(secret_card).to_contain_text("Shown once.")
    secret = secret_card.get_by_label("Signing secret").input_value()
    assert secret.startswith("whsec_")
    secret_card.get_by_role("button", name="Copy secret").click()
    expect(secret_card.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == secret

    card = page.get_by_role("listitem", name=f"{world.receiver.url}/hooks")
    expect(card).to_contain_text("CRM sync")
    expect(card).to_contain_text("Bearer …3456")
    expect(card).to_contain_text("0 pending · 0 delivered · 0 failed")
    expect(card.locator(".webhook-head")).not_to_contain_text("null")
    listed = page.context.request.get(f"{world.url}/api/v1/webhooks").json()["items"]
    assert secret not in str(listed)
    assert TOKEN not in str(listed)

    # Gone for good once dismissed, and not there after a reload either.
    secret_card.get_by_role("button", name="I have saved it").click()
    expect(secret_card).to_have_count(0)
    page.reload()
    expect(card).to_be_visible()
    assert secret not in page.content()

    # The secret verifies what the receiver gets.
    world.post("Hello hooks")
    (received,) = world.receiver.wait_for(1)
    event = Webhook(secret).verify(received.body, received.headers)
    assert event["type"] == "message.posted"
    assert event["data"]["body"] == "Hello hooks"
    assert received.headers["authorization"] == TOKEN
    page.context.close()


def test_delivery_log_redeliver_edit_410_and_delete(
    browser: Browser, hook_world: HookWorld
) -> None:
    world = hook_world
    page = admin_page(browser, world)
    url = f"{world.receiver.url}/crm"
    form = page.get_by_role("form", name="Add a webhook endpoint")
    form.get_by_label("URL").fill(url)
    form.get_by_role("button", name="Add endpoint").click()
    card = page.get_by_role("listitem", name=url)
    expect(card).to_be_visible()

    # The receiver refuses the first delivery: a 404 fails it at once.
    world.receiver.script = [404]
    world.post("First")
    world.receiver.wait_for(1)
    card.get_by_role("button", name="Delivery log").click()
    expect(card.get_by_role("button", name="Delivery log")).to_have_attribute(
        "aria-expanded", "true"
    )
    rows = card.locator("tr.hook-delivery")
    expect(rows).to_have_count(1)
    row = rows.first
    expect(row).to_contain_text("message.posted")
    expect(row.locator(".hook-delivery-state")).to_have_text("failed")
    expect(row).to_contain_text("404")
    expect(row.locator(".hook-delivery-excerpt")).to_have_text("answered 404")
    expect(row.locator("td").nth(5)).to_contain_text(" ms")
    expect(card.locator(".webhook-counts")).to_have_text("0 pending · 0 delivered · 1 failed")
    # The details show the request body and the attempt.
    row.locator("summary").click()
    expect(row.locator(".hook-delivery-body").first).to_contain_text('"body": "First"')
    expect(row.locator(".hook-delivery-attempts li")).to_have_count(1)

    # Redeliver: the same webhook-id again, now answered 200.
    row.get_by_role("button", name="Redeliver message.posted").click()
    requests = world.receiver.wait_for(2)
    assert requests[0].headers["webhook-id"] == requests[1].headers["webhook-id"]
    expect(row.locator(".hook-delivery-state")).to_have_text("delivered")
    expect(row.locator("td").nth(3)).to_have_text("2")
    expect(card.locator(".webhook-counts")).to_have_text("0 pending · 1 delivered · 0 failed")

    # Edit: all events, a header, then a description.
    card.get_by_role("button", name="Edit").click()
    edit = card.get_by_role("form", name=f"Edit {url}")
    edit.get_by_label("Description").fill("Data warehouse")
    edit.get_by_label("All events").check()
    expect(edit.get_by_label("message.posted")).to_be_disabled()
    edit.get_by_label("Authorization header").fill(TOKEN)
    edit.get_by_role("button", name="Save changes").click()
    expect(edit).to_have_count(0)
    expect(card).to_contain_text("Data warehouse")
    expect(card.locator(".webhook-events")).to_have_text("all events")
    expect(card).to_contain_text("Bearer …3456")
    view = page.context.request.get(f"{world.url}/api/v1/webhooks").json()["items"][0]
    assert view["event_types"] == ["*"]
    assert view["description"] == "Data warehouse"
    assert view["authorization"] == "Bearer …3456"
    # Keyboard: Escape leaves the editor; removing the header.
    card.get_by_role("button", name="Edit").click()
    edit.get_by_label("Description").press("Escape")
    expect(edit).to_have_count(0)
    card.get_by_role("button", name="Edit").click()
    edit.get_by_label("Remove the Authorization header").check()
    edit.get_by_role("button", name="Save changes").click()
    expect(card.locator(".webhook-facts")).to_contain_text("Authorizationnone")

    # A 410 disables the endpoint; the card says why and offers to enable it.
    world.receiver.script = [410]
    world.post("Second")
    world.receiver.wait_for(3)
    disabled = card.locator(".webhook-disabled")
    expect(disabled).to_contain_text("Disabled on ")
    expect(disabled).to_contain_text("410 Gone")
    expect(card.locator(".status-pill")).to_have_text("Disabled")
    expect(rows.first.get_by_role("button", name="Redeliver")).to_be_disabled()
    disabled.get_by_role("button", name="Enable again").click()
    expect(card.locator(".status-pill")).to_have_text("Enabled")
    expect(card.locator(".webhook-disabled")).to_have_count(0)
    assert page.context.request.get(f"{world.url}/api/v1/webhooks").json()["items"][0]["enabled"]

    # Delete asks first; Cancel keeps it.
    card.get_by_role("button", name="Delete").click()
    confirm = card.get_by_role("group", name="Confirm deletion")
    expect(confirm).to_contain_text("cannot be undone")
    expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_have_count(0)
    card.get_by_role("button", name="Delete").click()
    confirm.get_by_role("button", name="Delete endpoint").click()
    expect(card).to_have_count(0)
    expect(page.get_by_text("No endpoints yet.")).to_be_visible()
    assert page.context.request.get(f"{world.url}/api/v1/webhooks").json()["items"] == []
    page.context.close()


def test_an_agent_has_no_webhooks_page(browser: Browser, hook_world: HookWorld) -> None:
    world = hook_world
    seed = world.live.seed
    assert seed is not None
    world.live.call(seed.user, "alex@example.com", "agent", "Alex Rivera")
    context = new_context(browser)
    login(context, world.url, "alex@example.com")
    page = context.new_page()
    page.goto(f"{world.url}/console/settings/webhooks")
    expect(page.get_by_role("heading", level=2)).to_have_text("Your profile")
    nav = page.get_by_role("navigation", name="Settings")
    expect(nav.get_by_role("link", name="Webhooks")).to_have_count(0)
    assert context.request.get(f"{world.url}/api/v1/webhooks").status == 403
    context.close()
