"""Shared by the load test's parent process and its workers (see ``loadtest.py``).

The error type, the loopback guard, the file descriptor limit and the latency histogram
whose buckets the workers send back to be merged. Importing this module also puts the
project root on ``sys.path``, so ``protocol`` and ``actors`` import when the scripts run
from any directory.
"""

from __future__ import annotations

import ipaddress
import math
import resource
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(ROOT))

#: Seconds for every worker to connect and join all its clients (10,000 take a while).
READY_TIMEOUT = 300.0
#: Descriptors a process needs besides its sockets.
FD_MARGIN = 256


class LoadTestError(Exception):
    """The load test cannot run as asked (bad option, server missing, seeding failed)."""


# -- safety ------------------------------------------------------------------------------------


def check_loopback(url: str) -> None:
    """Refuse any URL whose host is not loopback (127.0.0.0/8, ::1, localhost)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss"):
        raise LoadTestError(f"--url must be http(s):// or ws(s)://, not {url!r}")
    host = parts.hostname or ""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise LoadTestError(f"refusing non-loopback host {host!r}: the load test runs on loopback only")


def raise_fd_limit(needed: int) -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE up to the hard limit (inherited by child processes)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    if soft < needed:
        raise LoadTestError(
            f"need {needed} file descriptors but the hard limit is {hard}; raise it (ulimit -Hn)"
        )
    return soft, hard


# -- latency histograms ------------------------------------------------------------------------

#: Histogram buckets grow 2% each from 10 us: percentiles within 2%, cheap to merge.
HIST_MIN = 1e-5
HIST_GROWTH = 1.02
#: 1e-5 s * 1.02**1000 is over an hour: nothing we measure falls off the end.
HIST_BUCKETS = 1000
_LOG_GROWTH = math.log(HIST_GROWTH)


class Histogram:
    """Latencies in fixed log-scale buckets, so workers' samples merge exactly."""

    __slots__ = ("count", "counts", "max")

    def __init__(self) -> None:
        self.counts = [0] * HIST_BUCKETS
        self.count = 0
        self.max = 0.0

    def add(self, seconds: float) -> None:
        i = 0
        if seconds > HIST_MIN:
            i = min(int(math.log(seconds / HIST_MIN) / _LOG_GROWTH) + 1, HIST_BUCKETS - 1)
        self.counts[i] += 1
        self.count += 1
        if seconds > self.max:
            self.max = seconds

    def state(self) -> dict[str, Any]:
        """A small picklable form: the non-empty buckets and the maximum."""
        return {"counts": {i: n for i, n in enumerate(self.counts) if n}, "max": self.max}

    def merge_counts(self, state: dict[str, Any]) -> None:
        for i, n in state["counts"].items():
            self.counts[int(i)] += n
            self.count += n
        self.max = max(self.max, state["max"])

    def percentile(self, q: float) -> float:
        """The upper edge of the bucket holding the q-quantile (never above the maximum)."""
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for i, n in enumerate(self.counts):
            seen += n
            if seen >= rank:
                return min(HIST_MIN * HIST_GROWTH**i, self.max)
        return self.max

    def summary_ms(self) -> dict[str, Any]:
        if not self.count:
            return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None}
        ms = {f"p{round(q * 100)}": round(self.percentile(q) * 1000, 2) for q in (0.5, 0.95, 0.99)}
        return {"count": self.count, **ms, "max": round(self.max * 1000, 2)}
