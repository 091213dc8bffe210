"""Test charter (binding for every test in this tree):

- Network tests talk to real servers bound to 127.0.0.1 on port 0 (the OS picks a free
  port). Nothing is ever sent to another address.
- Every network test runs inside ``trio.fail_after(...)`` (the ``server`` fixture's tests
  use the ``guard`` fixture or their own), so a hang fails instead of blocking CI.
- Anything that waits for a timer runs under trio's MockClock (``autojump_clock``) and
  asserts exact virtual times; no test sleeps in real time to wait for a timer.
- Everything is real: SQLite files in tmp_path, hypercorn, websockets, browsers. Only
  Slack is emulated (scripts/slack_emulator.py), because it cannot run here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio

from server.config import Settings
from server.main import Running, serve
from tests.helpers import Seed

#: Generous real-time bound for one network test on a loaded 2-core CI machine.
NETWORK_TEST_TIMEOUT = 60


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Generous rate limits: tests push bursts on purpose; the limiter has its own test.
    return Settings.from_mapping(
        {
            "port": 0,
            "data_dir": tmp_path / "data",
            "host": "127.0.0.1",
            "rate_per_second": 10000,
            "rate_burst": 10000,
        }
    )


@pytest.fixture
async def server(nursery: trio.Nursery, settings: Settings) -> AsyncIterator[Running]:
    """A real server (actors + hypercorn) on 127.0.0.1, port 0, stopped after the test."""
    with trio.fail_after(NETWORK_TEST_TIMEOUT):
        running: Running = await nursery.start(serve, settings)
    return running


@pytest.fixture
async def seed(server: Running) -> Seed:
    """Helpers to create users, tokens, contexts and attendees straight through the Store."""
    return Seed(server)


@pytest.fixture
def guard() -> Any:
    """``with guard:`` bounds a network test in real time."""
    return trio.fail_after(NETWORK_TEST_TIMEOUT)
