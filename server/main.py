"""Starting a server: the actor system and the HTTP listener under one root nursery.

The listener is server/listener.py (hypercorn for HTTP, ``/ws`` websockets on our own
connection handler), or hypercorn alone when ``ws_native`` is off.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

from actors.mailer import Mailer
from actors.recipe_scheduler import CONFIG_KEY as RECIPES_CONFIG_KEY
from actors.recipe_scheduler import RecipeScheduler
from actors.slack_bridge import SlackBridge
from actors.slack_store import REPLY_AS, SlackConfig
from actors.smtp import MailConfig
from actors.supervisor import ChildSpec, Restart
from actors.system import System, SystemConfig
from actors.webhook_dispatcher import WebhookDispatcher
from server.api import webhooks as webhooks_api
from server.api.integrations import CONFIG_KEY, Integrations
from server.app import SwitchboardApp
from server.config import Settings, SettingsError
from server.listener import serve_http
from server.state import AppState

log = logging.getLogger(__name__)

#: Seconds open connections get to finish when the server shuts down.
GRACEFUL_TIMEOUT = 5.0


@dataclass(frozen=True)
class Running:
    """What ``serve`` reports once it accepts connections."""

    url: str
    state: AppState
    #: The Slack bridge and the mailer (issue 4).
    integrations: Integrations | None = None
    #: The outgoing webhook dispatcher (issue 5).
    webhooks: WebhookDispatcher | None = None
    #: The automation recipes' scheduler (issue 5).
    recipes: RecipeScheduler | None = None


def system_config(settings: Settings) -> SystemConfig:
    return SystemConfig(
        database=settings.database_path,
        synchronous=settings.sqlite_synchronous,
        group_idle_timeout=settings.group_idle_timeout,
        public_url=settings.base_url,
    )


def slack_config(settings: Settings) -> SlackConfig:
    """The Slack bridge's defaults from the environment (REST-saved values win over them)."""
    if settings.reply_as not in REPLY_AS:
        raise SettingsError(f"reply_as must be one of {', '.join(REPLY_AS)}")
    if settings.slack_post_interval < 0 or settings.slack_timeout <= 0:
        raise SettingsError("slack_post_interval must be >= 0 and slack_timeout positive")
    api_url = settings.slack_api_url
    return SlackConfig(
        api_url=api_url if api_url.endswith("/") else api_url + "/",
        bot_token=settings.slack_bot_token,
        signing_secret=settings.slack_signing_secret,
        channel=settings.slack_channel,
        channel_per_webinar=settings.slack_channel_per_webinar,
        channel_prefix=settings.slack_channel_prefix,
        first_message_only=settings.slack_first_message_only,
        note_prefix=settings.slack_note_prefix,
        reply_as=settings.reply_as,
    )


def mail_config(settings: Settings) -> MailConfig:
    """The mailer's defaults from the environment (REST-saved values win over them)."""
    return MailConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_from,
        username=settings.smtp_username,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
        timeout=settings.smtp_timeout,
    )


def hypercorn_config(settings: Settings) -> HypercornConfig:
    config = HypercornConfig()
    config.bind = [f"{settings.host}:{settings.port}"]
    # Messages over the protocol's limit are refused with close 1009 (by hypercorn, or by
    # server/ws_native.py, which reads these two settings from this config too).
    config.websocket_max_message_size = settings.ws_max_message_bytes
    config.websocket_ping_interval = settings.ws_ping_interval
    config.graceful_timeout = GRACEFUL_TIMEOUT
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.keep_alive_timeout = 75
    return config


async def serve(
    settings: Settings, *, task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run the system and the HTTP server until cancelled."""
    system = System(system_config(settings))
    integrations = Integrations.attach(
        system,
        SlackBridge(
            system,
            slack_config(settings),
            post_interval=settings.slack_post_interval,
            timeout=settings.slack_timeout,
        ),
        Mailer(system, mail_config(settings)),
    )
    webhooks = WebhookDispatcher(system, allow_private=settings.webhook_allow_private_targets)
    system.add_consumer(webhooks)
    recipes = RecipeScheduler(system)
    system.add_consumer(recipes)
    async with trio.open_nursery() as nursery:
        await nursery.start(system.run)
        state = AppState(settings=settings, system=system)
        app = SwitchboardApp(state)
        app.quart.config[CONFIG_KEY] = integrations
        app.quart.config[webhooks_api.CONFIG_KEY] = webhooks
        app.quart.config[RECIPES_CONFIG_KEY] = recipes
        if settings.ws_native:
            http = functools.partial(serve_http, app, hypercorn_config(settings))
        else:
            http = functools.partial(
                hypercorn_serve,
                app,  # type: ignore[arg-type]
                hypercorn_config(settings),
                mode="asgi",
            )
        binds: list[str] = await nursery.start(http)
        url = binds[0]
        if settings.port == 0 or not settings.public_url:
            # Links we generate must point at the real port when it was picked for us.
            state.settings = _with_public_url(settings, url)
        integrations.slack.base_url = state.settings.base_url
        await integrations.start(system)
        await system.root.start_child(ChildSpec("webhooks", webhooks.run, Restart.PERMANENT))
        await system.root.start_child(ChildSpec("recipes", recipes.run, Restart.PERMANENT))
        log.info("server.listening url=%s", url)
        task_status.started(
            Running(
                url=url,
                state=state,
                integrations=integrations,
                webhooks=webhooks,
                recipes=recipes,
            )
        )


def _with_public_url(settings: Settings, url: str) -> Settings:
    import dataclasses

    if settings.public_url:
        return settings
    return dataclasses.replace(settings, public_url=url)
