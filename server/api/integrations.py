"""Integration settings and logs for admins: /api/v1/integrations/{slack,mail}/...

Settings saved here go to ``settings_kv`` and win over the environment; saving ``null``
removes a saved value, so the environment's applies again. Secrets are write-only: the
bot token is shown masked (``xoxb-…1a2b``), the signing secret and SMTP password only as
"set or not". The activity logs list every outcome of the external effects (newest first,
``errors_only=1`` for the errors with their fix); re-drive puts held operations back in
their queues, in order. Also here: a webinar's reply attribution (primary or actual
moderator), which applies to Slack and console replies alike.
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from quart import Blueprint, current_app, request

from actors import contexts, slack_store
from actors.integration_store import list_activity, read_settings, write_settings
from actors.mailer import SETTINGS_PREFIX as MAIL_PREFIX
from actors.mailer import Mailer, mail_counts
from actors.slack_bridge import SlackBridge
from actors.slack_client import SlackCallError
from actors.slack_store import REPLY_AS, WEBINAR_PREFIX
from actors.supervisor import ChildSpec, Restart
from actors.system import System
from server.api import known_fields
from server.http import ApiError, app_state, bad_request, field, int_arg, json_body, requires

blueprint = Blueprint("integrations", __name__)

#: Where serve() puts the running integrations in the Quart app's config.
CONFIG_KEY = "SWITCHBOARD_INTEGRATIONS"
#: Longest token, secret, password or URL accepted (Slack tokens are ~60 characters).
MAX_SECRET = 512
#: Channel prefixes leave room for the webinar's name in Slack's 80 characters.
MAX_PREFIX = 40
_PREFIX = re.compile(r"^[a-z0-9_-]*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


@dataclass
class Integrations:
    """The running Slack bridge and mailer (consumers of the System's event log)."""

    slack: SlackBridge
    mail: Mailer

    @classmethod
    def attach(cls, system: System, slack: SlackBridge, mail: Mailer) -> Integrations:
        """Register both as consumers; call before ``system.run``."""
        system.add_consumer(slack)
        system.add_consumer(mail)
        return cls(slack, mail)

    async def start(self, system: System) -> None:
        """Start their loops under the root supervisor (after the server is bound)."""
        await system.root.start_child(ChildSpec("slack-bridge", self.slack.run, Restart.PERMANENT))
        await system.root.start_child(ChildSpec("mailer", self.mail.run, Restart.PERMANENT))


def current_integrations() -> Integrations | None:
    found: Integrations | None = current_app.config.get(CONFIG_KEY)
    return found


def _hub() -> Integrations:
    hub = current_integrations()
    if hub is None:
        raise ApiError(503, "unavailable", "integrations are not running")
    return hub


def _mask(token: str) -> str:
    if not token:
        return ""
    return f"{token[:5]}…{token[-4:]}" if len(token) > 12 else "…"


def _url(value: Any, name: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_SECRET:
        raise bad_request(f"{name} must be an http(s) URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise bad_request(f"{name} must be an http(s) URL")
    return value if value.endswith("/") else value + "/"


def _activity(integration: str) -> dict[str, Any]:
    errors_only = request.args.get("errors_only", "") in ("1", "true", "yes")
    limit = int_arg("limit", 50, minimum=1, maximum=500)
    before = int_arg("before", 0, minimum=1) or None
    return {
        "integration": integration,
        "errors_only": errors_only,
        "limit": limit,
        "before": before,
    }


async def _read_activity(integration: str) -> dict[str, Any]:
    query = _activity(integration)
    items = await app_state().system.store.read(
        functools.partial(
            list_activity,
            integration=integration,
            errors_only=query["errors_only"],
            limit=query["limit"] + 1,
            before=query["before"],
        )
    )
    more = len(items) > query["limit"]
    items = items[: query["limit"]]
    return {"items": items, "next": items[-1]["id"] if more else None}


# -- Slack --------------------------------------------------------------------------------


async def _slack_view() -> dict[str, Any]:
    hub = _hub()
    config = await hub.slack.reload()
    saved = await app_state().system.store.read(
        functools.partial(read_settings, prefix=slack_store.SETTINGS_PREFIX)
    )
    settings = asdict(config)
    settings["bot_token"] = _mask(config.bot_token)
    settings.pop("signing_secret")
    return {
        "settings": settings,
        "bot_token_set": bool(config.bot_token),
        "signing_secret_set": bool(config.signing_secret),
        "saved": sorted(saved),
        "enabled": config.enabled,
        "request_url": app_state().settings.base_url + "/slack/events",
        "operations": await hub.slack.status(),
    }


def _slack_changes(data: dict[str, Any]) -> dict[str, Any]:
    """Validate a PUT body into settings_kv values (None removes a saved value)."""
    allowed = (
        "api_url", "bot_token", "signing_secret", "channel", "channel_per_webinar",
        "channel_prefix", "first_message_only", "note_prefix", "reply_as",
    )  # fmt: skip
    known_fields(data, allowed)
    if not data:
        raise bad_request(f"nothing to change: send any of {', '.join(allowed)}")
    changes: dict[str, Any] = {}
    for name in allowed:
        if name not in data:
            continue
        value = data[name]
        if value is None:
            changes[name] = None
        elif name == "api_url":
            changes[name] = _url(value, name)
        elif name in ("channel_per_webinar", "first_message_only"):
            changes[name] = field(data, name, bool)
        elif name == "reply_as":
            changes[name] = field(data, name, str, choices=REPLY_AS)
        elif name == "channel_prefix":
            prefix = field(data, name, str, max_len=MAX_PREFIX)
            if not _PREFIX.match(prefix):
                raise bad_request(
                    "channel_prefix may hold only lowercase letters, digits, - and _ "
                    "(Slack's channel name rules)"
                )
            changes[name] = prefix
        elif name == "note_prefix":
            prefix = field(data, name, str, max_len=32)
            if not prefix.strip():
                raise bad_request("note_prefix must not be empty")
            changes[name] = prefix
        else:
            changes[name] = field(data, name, str, max_len=MAX_SECRET).strip()
    return changes


@blueprint.get("/api/v1/integrations/slack")
@requires("admin")
async def get_slack() -> dict[str, Any]:
    return await _slack_view()


@blueprint.put("/api/v1/integrations/slack")
@requires("admin")
async def put_slack() -> dict[str, Any]:
    changes = _slack_changes(await json_body())
    _hub()
    await app_state().system.store.write(
        functools.partial(write_settings, prefix=slack_store.SETTINGS_PREFIX, values=changes)
    )
    return await _slack_view()


@blueprint.get("/api/v1/integrations/slack/channels")
@requires("admin")
async def slack_channels() -> dict[str, Any]:
    hub = _hub()
    if not hub.slack.config.enabled:
        raise ApiError(409, "conflict", "Slack is not configured: save a bot token first")
    items: list[dict[str, Any]] = []
    cursor = ""
    try:
        while len(items) < 5000:
            params: dict[str, Any] = {
                "types": "public_channel,private_channel", "exclude_archived": True,
                "limit": 1000,
            }  # fmt: skip
            if cursor:
                params["cursor"] = cursor
            answer = await hub.slack.client().call("conversations.list", **params)
            for channel in answer.get("channels") or []:
                items.append(
                    {
                        key: channel.get(key)
                        for key in ("id", "name", "is_private", "is_member", "num_members")
                    }
                )
            cursor = str((answer.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                break
    except SlackCallError as exc:
        hint = f" {exc.hint}" if exc.hint else ""
        raise ApiError(502, "slack_error", f"Slack answered {exc.code}.{hint}") from exc
    items.sort(key=lambda c: str(c["name"]))
    return {"items": items}


@blueprint.get("/api/v1/integrations/slack/activity")
@requires("admin")
async def slack_activity() -> dict[str, Any]:
    return await _read_activity("slack")


@blueprint.post("/api/v1/integrations/slack/redrive")
@requires("admin")
async def slack_redrive() -> dict[str, Any]:
    return {"redriven": await _hub().slack.redrive()}


# -- mail ---------------------------------------------------------------------------------


async def _mail_view() -> dict[str, Any]:
    hub = _hub()
    config = await hub.mail.reload()
    saved = await app_state().system.store.read(
        functools.partial(read_settings, prefix=MAIL_PREFIX)
    )
    settings = asdict(config)
    settings.pop("password")
    return {
        "settings": settings,
        "password_set": bool(config.password),
        "saved": sorted(saved),
        "enabled": config.enabled,
        "mail": await app_state().system.store.read(mail_counts),
    }


@blueprint.get("/api/v1/integrations/mail")
@requires("admin")
async def get_mail() -> dict[str, Any]:
    return await _mail_view()


@blueprint.put("/api/v1/integrations/mail")
@requires("admin")
async def put_mail() -> dict[str, Any]:
    data = await json_body()
    allowed = ("host", "port", "sender", "username", "password", "starttls")
    known_fields(data, allowed)
    if not data:
        raise bad_request(f"nothing to change: send any of {', '.join(allowed)}")
    changes: dict[str, Any] = {}
    for name in allowed:
        if name not in data:
            continue
        if data[name] is None:
            changes[name] = None
        elif name == "port":
            port = field(data, name, int)
            if not 1 <= port <= 65535:
                raise bad_request("port must be between 1 and 65535")
            changes[name] = port
        elif name == "starttls":
            changes[name] = field(data, name, bool)
        else:
            changes[name] = field(data, name, str, max_len=MAX_SECRET).strip()
            if name == "sender" and not _EMAIL.match(changes[name]):
                raise bad_request("sender must be an email address")
    _hub()
    await app_state().system.store.write(
        functools.partial(write_settings, prefix=MAIL_PREFIX, values=changes)
    )
    return await _mail_view()


@blueprint.get("/api/v1/integrations/mail/activity")
@requires("admin")
async def mail_activity() -> dict[str, Any]:
    return await _read_activity("mail")


@blueprint.post("/api/v1/integrations/mail/redrive")
@requires("admin")
async def mail_redrive() -> dict[str, Any]:
    return {"redriven": await _hub().mail.redrive()}


# -- reply attribution per webinar --------------------------------------------------------


async def _reply_as_view(context_id: str) -> dict[str, Any]:
    store = app_state().system.store
    context = await store.read(functools.partial(contexts.get_context, context_id=context_id))
    saved = await store.read(
        functools.partial(read_settings, prefix=f"{WEBINAR_PREFIX}{context_id}.")
    )
    hub = current_integrations()
    default = hub.slack.config.reply_as if hub is not None else app_state().settings.reply_as
    value = saved.get("reply_as")
    return {
        "context": context["id"],
        "reply_as": value,
        "effective": value if value in REPLY_AS else default,
        "primary_moderator": context["primary_moderator"],
    }


@blueprint.get("/api/v1/contexts/<context_id>/reply-as")
@requires("staff")
async def get_reply_as(context_id: str) -> dict[str, Any]:
    return await _reply_as_view(context_id)


@blueprint.put("/api/v1/contexts/<context_id>/reply-as")
@requires("admin")
async def put_reply_as(context_id: str) -> dict[str, Any]:
    data = await json_body()
    known_fields(data, ("reply_as",))
    if "reply_as" not in data:
        raise bad_request("reply_as is required (primary, actual or null)", "missing_field")
    value = field(data, "reply_as", str, choices=REPLY_AS)
    store = app_state().system.store
    await store.read(functools.partial(contexts.get_context, context_id=context_id))
    await store.write(
        functools.partial(
            write_settings, prefix=f"{WEBINAR_PREFIX}{context_id}.", values={"reply_as": value}
        )
    )
    return await _reply_as_view(context_id)
