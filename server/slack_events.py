"""``POST /slack/events``: the Slack Events API request URL.

Slack signs each request (``X-Slack-Signature`` over ``v0:{timestamp}:{raw body}`` with the
app's signing secret). A request with a bad or stale signature (more than 5 minutes off,
``slack_sdk.signature.SignatureVerifier``) is answered 401 and nothing is processed. The
``url_verification`` challenge is answered at once. An event callback is stored once per
``event_id`` (Slack resends events it thinks we missed: a repeat is acknowledged and
ignored) and acknowledged right away; the bridge applies it afterwards, so Slack's
3-second deadline is met however slow the work is.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from quart import Blueprint, Response, jsonify, request
from slack_sdk.signature import SignatureVerifier

from server.api.integrations import current_integrations
from server.http import error_response

log = logging.getLogger(__name__)

blueprint = Blueprint("slack_events", __name__)

#: Slack's event payloads are small; anything this big is not from Slack.
MAX_EVENT_BYTES = 1024 * 1024


def signature_ok(secret: str, body: bytes, timestamp: str | None, signature: str | None) -> bool:
    """Slack's signature check with its 5-minute window (never raises)."""
    if not secret or not timestamp or not signature:
        return False
    try:
        return SignatureVerifier(secret).is_valid(body, timestamp, signature)
    except (ValueError, TypeError):  # a timestamp that is not a number
        return False


@blueprint.post("/slack/events")
async def slack_events() -> Response | dict[str, Any]:
    hub = current_integrations()
    if hub is None:
        return error_response(503, "unavailable", "the Slack bridge is not running")
    length = request.content_length
    if length is not None and length > MAX_EVENT_BYTES:
        return error_response(413, "too_large", "request body too large")
    body = await request.get_data(as_text=False)
    assert isinstance(body, bytes)
    secret = hub.slack.config.signing_secret
    if not signature_ok(
        secret,
        body,
        request.headers.get("X-Slack-Request-Timestamp"),
        request.headers.get("X-Slack-Signature"),
    ):
        log.warning("slack.events_refused reason=signature")
        return error_response(401, "unauthorized", "missing, bad or stale Slack signature")
    try:
        payload = json.loads(body)
    except ValueError:
        return error_response(400, "bad_json", "the body must be JSON")
    if not isinstance(payload, dict):
        return error_response(400, "bad_json", "the body must be a JSON object")
    if payload.get("type") == "url_verification":
        return jsonify({"challenge": str(payload.get("challenge", ""))})
    if payload.get("type") != "event_callback":
        return {"ok": True, "ignored": str(payload.get("type"))}
    new = await hub.slack.accept(payload)
    if not new:
        log.info("slack.event_repeat id=%s", payload.get("event_id"))
    return {"ok": True, "duplicate": not new}
