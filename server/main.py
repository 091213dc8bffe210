"""Starting a server: the actor system and hypercorn under one root nursery."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

from actors.system import System, SystemConfig
from server.app import SwitchboardApp
from server.config import Settings
from server.state import AppState

log = logging.getLogger(__name__)

#: Seconds open connections get to finish when the server shuts down.
GRACEFUL_TIMEOUT = 5.0


@dataclass(frozen=True)
class Running:
    """What ``serve`` reports once it accepts connections."""

    url: str
    state: AppState


def system_config(settings: Settings) -> SystemConfig:
    return SystemConfig(
        database=settings.database_path,
        synchronous=settings.sqlite_synchronous,
        group_idle_timeout=settings.group_idle_timeout,
    )


def hypercorn_config(settings: Settings) -> HypercornConfig:
    config = HypercornConfig()
    config.bind = [f"{settings.host}:{settings.port}"]
    # Frames over the protocol's limit are refused by hypercorn itself with close 1009.
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
    async with trio.open_nursery() as nursery:
        await nursery.start(system.run)
        state = AppState(settings=settings, system=system)
        app = SwitchboardApp(state)
        binds: list[str] = await nursery.start(
            functools.partial(hypercorn_serve, app, hypercorn_config(settings), mode="asgi")  # type: ignore[arg-type]
        )
        url = binds[0]
        if settings.port == 0 or not settings.public_url:
            # Links we generate must point at the real port when it was picked for us.
            state.settings = _with_public_url(settings, url)
        log.info("server.listening url=%s", url)
        task_status.started(Running(url=url, state=state))


def _with_public_url(settings: Settings, url: str) -> Settings:
    import dataclasses

    if settings.public_url:
        return settings
    return dataclasses.replace(settings, public_url=url)
