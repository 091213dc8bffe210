#!/usr/bin/env python3
"""Load test of a Switchboard server over websockets (msgpack subprotocol), loopback only.

N conversations of K members each; member 0 of a conversation is its attendee, the other
K-1 are staff sockets. Every member sends ``--rate`` messages/s for ``--duration`` seconds
(or, with ``--saturate``, as fast as its window of unacked sends allows; or, with
``--idle``, nothing: the connections are held to measure the server's memory per
connection). One trio-websocket process tops out near 11,000 received messages/s, so the
clients are spread over ``--workers`` processes whose figures are merged here.

Every message body carries its sender and its ``time.monotonic()`` send time, so each
receiver measures send-to-delivery latency (CLOCK_MONOTONIC is system-wide on Linux, so
it is comparable between processes); ack latency is measured by the sender. Only
messages sent inside the measured window count, so a healthy run delivers exactly
``sent x members``.

When it starts the server itself (no ``--url``) it also reports the server's CPU seconds
per 1,000 deliveries (steadier than raw rates on a shared machine) and its RSS.

Examples::

    .venv/bin/python scripts/loadtest.py --conversations 100 --members 10 --rate 0.5 --duration 30
    .venv/bin/python scripts/loadtest.py --conversations 1 --members 100 --saturate --duration 20
    .venv/bin/python scripts/loadtest.py --conversations 1000 --members 10 --idle --duration 20
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime
import ipaddress
import json
import math
import multiprocessing
import os
import queue
import random
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import msgpack  # noqa: E402
import trio  # noqa: E402
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url  # noqa: E402

from protocol.codec import MSGPACK  # noqa: E402
from protocol.frames import Hello, Join, Send  # noqa: E402

#: Upper bound of a run (seconds): a load loop must always end.
MAX_DURATION = 600.0
#: Upper bound of connections per run: the machine is shared.
MAX_CONNECTIONS = 10_000
#: Upper bound of messages/s per member.
MAX_RATE = 1000.0
#: Seconds to wait for the server to print its URL.
SERVER_START_TIMEOUT = 60.0
#: Seconds for every worker to connect and join all its clients (10,000 take a while).
READY_TIMEOUT = 300.0
#: Seconds between the start signal and the first send: time for it to reach every worker.
START_DELAY = 1.0
#: Seconds the server gets to settle after the connect storm before its RSS is read.
IDLE_SETTLE = 3.0
#: Seconds given to workers to report after their drain.
RESULT_TIMEOUT = 60.0
#: prctl option: signal a child when its parent dies (linux/prctl.h).
PR_SET_PDEATHSIG = 1
#: Concurrent REST requests while seeding.
SEED_CONCURRENCY = 8
#: Descriptors a process needs besides its sockets.
FD_MARGIN = 256
#: Output of the server's logs (we start it with WARNING to keep logging off the hot path).
SERVER_LOG_LEVEL = "WARNING"
ADMIN_EMAIL = "loadtest@example.com"
#: A throwaway admin in a throwaway database (temp dir, deleted afterwards).
ADMIN_PASSWORD = "loadtest-password"


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


# -- clients (they run in the worker processes) ------------------------------------------------

#: Clients of one worker doing their websocket handshake, hello and join at once.
CONNECT_CONCURRENCY = 64
#: Seconds one client may take to connect, say hello and join.
CLIENT_CONNECT_TIMEOUT = 120.0
#: Unacked sends per member in rate mode before it counts as backlog and skips a send.
MAX_UNACKED = 1000
#: A rate-mode sender this far behind its schedule skips the missed slots (no bursts).
MAX_LAG = 1.0
#: Seconds without deliveries (and no unacked sends) that end the drain early.
QUIET = 0.5
#: Fraction of the server's advertised rate limit a client uses, to stay clear of it.
RATE_LIMIT_SHARE = 0.9
#: Seconds a worker waits for the parent's next instruction.
CONTROL_TIMEOUT = READY_TIMEOUT + 120.0
#: Seconds the clients get to close their sockets at the end.
CLOSE_TIMEOUT = 10.0


@dataclass(frozen=True)
class Member:
    """One websocket client: a member of one conversation."""

    conversation: str
    name: str
    token: str


@dataclass(frozen=True)
class WorkerPlan:
    """What one worker process runs."""

    index: int
    url: str
    members: list[Member]
    rate: float
    body_bytes: int
    saturate: bool
    window: int
    idle: bool
    drain: float
    fd_needed: int


class Pacer:
    """Client-side token bucket that keeps a sender under the server's rate limit."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst / 2  # hello and join spent some of the server's bucket
        self.last = time.monotonic()

    async def take(self) -> None:
        while True:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            await trio.sleep((1 - self.tokens) / self.rate)


class Client:
    """State of one member's connection."""

    __slots__ = ("member", "n", "pacer", "pad", "pending", "window", "ws")

    def __init__(self, member: Member, ws: WebSocketConnection, window: int, body: int) -> None:
        self.member = member
        self.ws = ws
        self.n = 0
        # The body is "<name> <send time> <padding>", padded to about ``body`` bytes.
        self.pad = "x" * max(1, body - len(member.name) - len(f" {time.monotonic():.6f} "))
        #: client_msg_id -> (send time, inside the measured window)
        self.pending: dict[str, tuple[float, bool]] = {}
        self.window = trio.Semaphore(window)
        self.pacer = Pacer(1e9, 1e9)


class JoinFailed(Exception):
    """The server answered hello or join with an error frame."""


def _frames(data: bytes | str) -> list[dict[str, Any]]:
    """Server frames of one websocket message, batches flattened.

    Plain ``msgpack.unpackb`` rather than the validating codec: the clients must not be
    the bottleneck, and the server's frames are checked by the protocol tests.
    """
    obj = msgpack.unpackb(data, raw=False)
    if obj.get("type") == "batch":
        return obj["frames"]  # type: ignore[no-any-return]
    return [obj]


class Worker:
    """The clients of one worker process and their counters."""

    def __init__(self, plan: WorkerPlan) -> None:
        self.plan = plan
        self.errors: Counter[str] = Counter()
        self.hist = {name: Histogram() for name in ("delivery", "ack", "send_lag")}
        self.totals: Counter[str] = Counter()
        self.sent_by: Counter[str] = Counter()
        self.joined_by: Counter[str] = Counter()
        self.clients: list[Client] = []
        self.gate = trio.Semaphore(CONNECT_CONCURRENCY)
        self.unsettled = len(plan.members)
        self.all_settled = trio.Event()
        if not plan.members:
            self.all_settled.set()
        self.started = trio.Event()
        self.finish = trio.Event()
        self.closing = False
        self.start = self.window_start = self.window_end = math.inf
        self.last_message = time.monotonic()

    def _settled(self) -> None:
        self.unsettled -= 1
        if self.unsettled == 0:
            self.all_settled.set()

    async def run_client(self, member: Member) -> None:
        phase = "connect"
        settled = False
        await self.gate.acquire()
        gate_held = True
        try:
            async with open_websocket_url(
                self.plan.url,
                subprotocols=[MSGPACK.subprotocol],
                max_message_size=1 << 20,
                message_queue_size=64,
                receive_buffer_size=65536,
                connect_timeout=CLIENT_CONNECT_TIMEOUT,
                disconnect_timeout=2,
            ) as ws:
                phase = "join"
                with trio.fail_after(CLIENT_CONNECT_TIMEOUT):
                    client = await self._handshake(member, ws)
                self.gate.release()
                gate_held = False
                self.clients.append(client)
                self.joined_by[member.conversation] += 1
                self._settled()
                settled = True
                phase = "run"
                await self.started.wait()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._reader, client)
                    if self.plan.saturate or (self.plan.rate > 0 and not self.plan.idle):
                        nursery.start_soon(self._sender, client)
                    await self.finish.wait()
                    nursery.cancel_scope.cancel()
        except Exception as exc:
            if not self.closing:
                self.errors[f"{phase}:{type(exc).__name__}"] += 1
        finally:
            if gate_held:
                self.gate.release()
            if not settled:
                self._settled()

    async def _handshake(self, member: Member, ws: WebSocketConnection) -> Client:
        await ws.send_message(MSGPACK.encode(Hello(token=member.token, client="loadtest")))
        limits: dict[str, int] = {}
        joined = False
        while True:
            for frame in _frames(await ws.get_message()):
                kind = frame.get("type")
                if kind == "error":
                    raise JoinFailed(frame.get("code"))
                if kind == "welcome":
                    limits = frame.get("limits", {})
                    await ws.send_message(MSGPACK.encode(Join(conversation=member.conversation)))
                elif kind == "history_end" and not joined:
                    client = Client(member, ws, self.plan.window, self.plan.body_bytes)
                    rate = limits.get("rate_per_second")
                    if rate:
                        client.pacer = Pacer(
                            rate * RATE_LIMIT_SHARE, max(1.0, limits.get("rate_burst", 1) / 2)
                        )
                    return client

    async def _reader(self, client: Client) -> None:
        ws = client.ws
        conversation = client.member.conversation
        delivery = self.hist["delivery"]
        ack = self.hist["ack"]
        totals = self.totals
        saturate = self.plan.saturate
        while True:
            try:
                data = await ws.get_message()
            except ConnectionClosed as exc:
                if not self.closing:
                    code = exc.reason.code if exc.reason is not None else "none"
                    self.errors[f"close:{code}"] += 1
                return
            now = time.monotonic()
            totals["frames"] += 1
            for frame in _frames(data):
                kind = frame.get("type")
                if kind == "message":
                    totals["messages"] += 1
                    self.last_message = now
                    try:
                        sent_at = float(frame["body"].split(" ", 2)[1])
                    except (IndexError, ValueError):
                        continue  # not one of ours (e.g. a system event)
                    if frame["conversation"] != conversation:
                        self.errors["wrong_conversation"] += 1
                    elif self.window_start <= sent_at < self.window_end:
                        totals["delivered"] += 1
                        delivery.add(max(0.0, now - sent_at))
                elif kind == "ack":
                    entry = client.pending.pop(frame["client_msg_id"], None)
                    if entry is not None:
                        if entry[1]:
                            totals["acked"] += 1
                            ack.add(now - entry[0])
                        if saturate:
                            client.window.release()
                elif kind == "error":
                    self.errors[f"error:{frame.get('code')}"] += 1
                    if client.pending.pop(frame.get("ref") or "", None) is not None and saturate:
                        client.window.release()

    async def _send_one(self, client: Client, scheduled: float | None) -> None:
        await client.pacer.take()
        stamp = f"{time.monotonic():.6f}"
        # Decide on the rounded time the receivers will read, so both sides agree on
        # which messages belong to the window (an exact sent x members count).
        now = float(stamp)
        in_window = self.window_start <= now < self.window_end
        if scheduled is not None and in_window:
            self.hist["send_lag"].add(max(0.0, now - scheduled))
        client.n += 1
        cmid = f"{client.member.name}-{client.n}"
        body = f"{client.member.name} {stamp} {client.pad}"
        client.pending[cmid] = (now, in_window)
        if in_window:
            self.totals["sent"] += 1
            self.sent_by[client.member.conversation] += 1
        else:
            self.totals["sent_outside_window"] += 1
        frame = Send(conversation=client.member.conversation, client_msg_id=cmid, body=body)
        await client.ws.send_message(MSGPACK.encode(frame))

    async def _sender(self, client: Client) -> None:
        try:
            with trio.move_on_after(max(0.0, self.window_end - time.monotonic())):
                if self.plan.saturate:
                    while True:
                        await client.window.acquire()
                        await self._send_one(client, None)
                interval = 1.0 / self.plan.rate
                # A random phase per member, so the room does not send in lockstep.
                slot = self.start + interval * random.random()
                while True:
                    await trio.sleep(max(0.0, slot - time.monotonic()))
                    behind = time.monotonic() - slot
                    if behind > MAX_LAG:
                        self.errors["client_behind_schedule"] += 1
                        slot += interval * math.ceil(behind / interval)
                        continue
                    if len(client.pending) >= MAX_UNACKED:
                        self.errors["backlog"] += 1
                    else:
                        await self._send_one(client, slot)
                    slot += interval
        except ConnectionClosed:
            pass  # the reader records the close code

    async def drain(self) -> None:
        """After the window: wait (bounded) for outstanding acks and in-flight deliveries."""
        deadline = time.monotonic() + self.plan.drain
        while time.monotonic() < deadline:
            quiet = time.monotonic() - self.last_message >= QUIET
            if quiet and not any(c.pending for c in self.clients):
                return
            await trio.sleep(0.05)
        self.errors["drain_timeout"] += 1

    def report(self) -> dict[str, Any]:
        return {
            "hist": {name: h.state() for name, h in self.hist.items()},
            "errors": dict(self.errors),
            "totals": dict(self.totals),
            "sent_by_conversation": dict(self.sent_by),
            "joined_by_conversation": dict(self.joined_by),
        }


async def _control(control: Any) -> Any:
    """The parent's next instruction (read in a thread; bounded)."""
    return await trio.to_thread.run_sync(
        lambda: control.get(timeout=CONTROL_TIMEOUT), abandon_on_cancel=True
    )


async def _watch_parent(parent: int) -> None:
    """Exit when the load test process is gone (it was killed and cannot stop us)."""
    while True:
        await trio.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)


async def _worker_main(plan: WorkerPlan, results: Any, control: Any) -> None:
    worker = Worker(plan)
    async with trio.open_nursery() as outer:
        outer.start_soon(_watch_parent, os.getppid())
        async with trio.open_nursery() as nursery:
            for member in plan.members:
                nursery.start_soon(worker.run_client, member)
            await worker.all_settled.wait()  # bounded: every client has its own timeout
            joined = {"joined": len(worker.clients), "errors": dict(worker.errors)}
            results.put(("ready", plan.index, joined))
            _, start, window_start, window_end = await _control(control)
            worker.start, worker.window_start, worker.window_end = start, window_start, window_end
            await trio.sleep(max(0.0, start - time.monotonic()))
            worker.started.set()
            await trio.sleep(max(0.0, window_start - time.monotonic()))
            cpu0 = time.process_time()
            await trio.sleep(max(0.0, window_end - time.monotonic()))
            if not plan.idle:
                await worker.drain()
            worker.totals["cpu_ms"] = round((time.process_time() - cpu0) * 1000)
            results.put(("result", plan.index, worker.report()))
            await _control(control)  # "finish": the parent has read the server's figures
            worker.closing = True
            worker.finish.set()
            nursery.cancel_scope.deadline = trio.current_time() + CLOSE_TIMEOUT
        outer.cancel_scope.cancel()


def worker_entry(plan: WorkerPlan, results: Any, control: Any) -> None:
    """Process entry point of a worker (multiprocessing, spawn)."""
    try:
        raise_fd_limit(plan.fd_needed)
        trio.run(_worker_main, plan, results, control)
    except Exception:
        results.put(("crash", plan.index, traceback.format_exc()))
        raise


# -- the server we start ------------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the server child: get SIGTERM when the load test dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process in bytes."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
    return out


def _proc_cpu(pid: int) -> float:
    """utime + stime of a process (all its threads) in seconds."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class OwnServer:
    """A ``python -m server serve`` subprocess on a temporary data dir, with an admin token."""

    def __init__(self, env_overrides: dict[str, str], keep: bool) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="switchboard-load-"))
        self.keep = keep
        self.env = {**os.environ, "SWITCHBOARD_LOG_LEVEL": SERVER_LOG_LEVEL, **env_overrides}
        self.env.pop("SWITCHBOARD_CONFIG", None)
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.token = ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _cli(self, *args: str, stdin: str = "") -> str:
        cmd = [sys.executable, "-m", "server", *args, "--data-dir", str(self.data_dir)]
        done = subprocess.run(
            cmd,
            input=stdin,
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=self.env,
            timeout=SERVER_START_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise LoadTestError(f"{shlex.join(args[:1])} failed: {done.stderr.strip()[-500:]}")
        return done.stdout

    def start(self) -> None:
        self._cli(
            "create-user",
            "--email",
            ADMIN_EMAIL,
            "--role",
            "admin",
            "--password-stdin",
            stdin=ADMIN_PASSWORD + "\n",
        )
        self.token = self._cli("token", "--email", ADMIN_EMAIL, "--name", "loadtest").split()[0]
        log = open(self.data_dir / "server.log", "w")  # lives as long as the server
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "server",
                "serve",
                "--port",
                "0",
                "--data-dir",
                str(self.data_dir),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,  # Ctrl-C reaches us, and we stop the server in order
            preexec_fn=_die_with_parent,
        )
        lines: queue.Queue[str] = queue.Queue()

        def pump() -> None:  # keep reading so the pipe never fills up
            assert self.proc is not None
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if line.startswith("Switchboard listening on "):
                self.url = line.split()[-1].strip()
                return
        raise LoadTestError(f"the server did not start; see {self.data_dir / 'server.log'}")

    def cpu(self) -> float:
        return _proc_cpu(self.pid)

    def memory(self) -> dict[str, int]:
        return _proc_status(self.pid)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        if not self.keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)


# -- seeding -----------------------------------------------------------------------------------


def seed_rest(base_url: str, token: str, count: int) -> list[tuple[str, str]]:
    """One webinar context and one attendee per conversation: [(conversation, attendee token)]."""
    from concurrent.futures import ThreadPoolExecutor

    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as http:

        def one(i: int) -> tuple[str, str]:
            r = http.post(
                "/api/v1/contexts", json={"kind": "webinar", "title": f"load {i}", "data": {}}
            )
            if r.status_code == 404:
                raise LoadTestError("the server has no POST /api/v1/contexts (404)")
            r.raise_for_status()
            body = r.json()
            context = body.get("id") or body["context"]["id"]
            r = http.post(f"/api/v1/contexts/{context}/attendees", json={"name": f"attendee {i}"})
            r.raise_for_status()
            body = r.json()
            return body["conversation"], body["token"]

        with ThreadPoolExecutor(SEED_CONCURRENCY) as pool:
            return list(pool.map(one, range(count)))


def seed_direct(data_dir: Path, count: int) -> list[tuple[str, str]]:
    """The same through the Store on the server's database (only for a server we started)."""
    import trio

    from actors import directory
    from actors.store import Store, Tx
    from server.config import Settings

    path = Settings.load(overrides={"data_dir": data_dir}).database_path

    def create(tx: Tx) -> list[tuple[str, str]]:
        out = []
        for i in range(count):
            ctx = directory.create_context(
                tx,
                kind="webinar",
                title=f"load {i}",
                data={},
                moderators=[],
                primary_moderator=None,
                external_id=None,
            )
            att = directory.create_attendee(
                tx,
                context_id=ctx["id"],
                name=f"attendee {i}",
                email=None,
                external_id=None,
                channel="widget",
                token=directory.new_token("sba"),
                ttl_ms=86_400_000,
            )
            out.append((att["conversation"], att["token"]))
        return out

    async def main() -> list[tuple[str, str]]:
        store = Store(path)
        async with trio.open_nursery() as nursery:
            await nursery.start(store.run)
            result = await store.write(create)
            nursery.cancel_scope.cancel()
        return result

    return trio.run(main)


# -- running -----------------------------------------------------------------------------------


def _ws_url(url: str) -> str:
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path if parts.path.endswith("/ws") else parts.path.rstrip("/") + "/ws"
    return f"{scheme}://{parts.netloc}{path}"


def _http_url(url: str) -> str:
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}"


def plan_members(
    args: argparse.Namespace, seeded: list[tuple[str, str]], staff_token: str, ws_url: str
) -> list[WorkerPlan]:
    """Spread the members round-robin over the workers (a room spans every worker)."""
    members = []
    for c, (conversation, attendee_token) in enumerate(seeded):
        for m in range(args.members):
            members.append(
                Member(
                    conversation=conversation,
                    name=f"c{c}m{m}",
                    token=attendee_token if m == 0 else staff_token,
                )
            )
    workers = max(1, min(args.workers, len(members)))
    return [
        WorkerPlan(
            index=w,
            url=ws_url,
            members=members[w::workers],
            rate=args.rate,
            body_bytes=args.body_bytes,
            saturate=args.saturate,
            window=args.window,
            idle=args.idle,
            drain=args.drain,
            fd_needed=len(members[w::workers]) + FD_MARGIN,
        )
        for w in range(workers)
    ]


def _collect(
    results: Any, kind: str, count: int, timeout: float, procs: list[Any]
) -> dict[int, Any]:
    """Wait for ``count`` messages of ``kind`` from the workers (bounded)."""
    got: dict[int, Any] = {}
    deadline = time.monotonic() + timeout
    while len(got) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            raise LoadTestError(f"workers did not report {kind!r} within {timeout:.0f} s")
        try:
            msg = results.get(timeout=min(left, 1.0))
        except queue.Empty:
            dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            if dead:
                raise LoadTestError(f"a worker died (exit codes {dead})") from None
            continue
        if msg[0] == "crash":
            raise LoadTestError(f"worker {msg[1]} crashed:\n{msg[2]}")
        if msg[0] == kind:
            got[msg[1]] = msg[2]
    return got


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run one load test and return the merged report."""
    connections = args.conversations * args.members
    soft, hard = raise_fd_limit(connections + FD_MARGIN)
    load_before = [round(x, 2) for x in os.getloadavg()]  # the machine is shared: say how busy
    server: OwnServer | None = None
    procs: list[Any] = []
    notes: list[str] = []
    try:
        if args.url:
            url, token = args.url, args.token
            if not token:
                raise LoadTestError("--url needs --token (a staff API token)")
        else:
            _progress("starting the server")
            env = dict(item.split("=", 1) for item in args.server_env)
            server = OwnServer(env, keep=args.keep_data)
            server.start()
            url, token = server.url, server.token
        _progress(f"seeding {args.conversations} conversations")
        t_seed = time.monotonic()
        try:
            if args.seed == "direct":
                raise LoadTestError("direct seeding requested")
            seeded = seed_rest(_http_url(url), token, args.conversations)
        except LoadTestError as exc:
            if server is None:
                raise
            notes.append(f"seeded through the Store, not REST ({exc})")
            seeded = seed_direct(server.data_dir, args.conversations)
        seed_s = time.monotonic() - t_seed
        plans = plan_members(args, seeded, token, _ws_url(url))
        rss_before = server.memory() if server else None
        ctx = multiprocessing.get_context("spawn")
        results = ctx.Queue()
        controls = [ctx.Queue() for _ in plans]
        for plan, control in zip(plans, controls, strict=True):
            proc = ctx.Process(target=worker_entry, args=(plan, results, control), daemon=True)
            proc.start()
            procs.append(proc)
        _progress(f"connecting {connections} clients from {len(plans)} worker(s)")
        t0 = time.monotonic()
        ready = _collect(results, "ready", len(plans), READY_TIMEOUT, procs)
        connect_s = time.monotonic() - t0
        if args.idle:
            time.sleep(IDLE_SETTLE)
        rss_connected = server.memory() if server else None
        start = time.monotonic() + START_DELAY
        window_start = start + (0.0 if args.idle else args.warmup)
        window_end = window_start + args.duration
        for control in controls:
            control.put(("start", start, window_start, window_end))
        _progress(f"running for {window_end - time.monotonic():.0f} s")
        time.sleep(max(0.0, window_start - time.monotonic()))
        cpu0 = server.cpu() if server else 0.0
        time.sleep(max(0.0, window_end - time.monotonic()))
        rss_end = server.memory() if server else None
        reports = _collect(results, "result", len(plans), args.drain + RESULT_TIMEOUT, procs)
        cpu1 = server.cpu() if server else 0.0
        memory = server.memory() if server else None
        for control in controls:
            control.put(("finish",))
        for proc in procs:
            proc.join(timeout=15)
        report = merge(args, [reports[i] for i in sorted(reports)], ready)
        report.update(
            command=shlex.join([Path(sys.executable).name, *sys.argv]),
            date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            machine=machine(),
            url=url,
            workers=len(plans),
            seed_s=round(seed_s, 2),
            connect_s=round(connect_s, 2),
            fd_limit={"soft": soft, "hard": hard},
            loadavg_before=load_before,
            loadavg_after=[round(x, 2) for x in os.getloadavg()],
            notes=notes,
        )
        report["server"] = None
        if server is not None and memory is not None:
            cpu = cpu1 - cpu0
            per_k = cpu / report["delivered"] * 1000 if report["delivered"] else None
            report["server"] = {
                "pid": server.pid,
                "cpu_s": round(cpu, 3),
                "cpu_s_per_1000_deliveries": None if per_k is None else round(per_k, 4),
                "rss_mb": round(memory["VmRSS"] / 2**20, 1),
                "peak_rss_mb": round(memory["VmHWM"] / 2**20, 1),
            }
            if args.idle and rss_before and rss_connected and rss_end:
                n = max(1, report["connections"]["joined"])
                report["idle"] = {
                    "rss_before_mb": round(rss_before["VmRSS"] / 2**20, 1),
                    "rss_connected_mb": round(rss_connected["VmRSS"] / 2**20, 1),
                    "rss_end_mb": round(rss_end["VmRSS"] / 2**20, 1),
                    "kb_per_connection": round(
                        (rss_connected["VmRSS"] - rss_before["VmRSS"]) / n / 1024, 1
                    ),
                    "kb_per_connection_end": round(
                        (rss_end["VmRSS"] - rss_before["VmRSS"]) / n / 1024, 1
                    ),
                    "cpu_s_while_idle": round(cpu1 - cpu0, 3),
                }
        return report
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
        if server is not None:
            server.stop()


def merge(
    args: argparse.Namespace, reports: list[dict[str, Any]], ready: dict[int, Any]
) -> dict[str, Any]:
    """Add up the workers' counters and histograms into one report."""
    hist = {name: Histogram() for name in ("delivery", "ack", "send_lag")}
    errors: Counter[str] = Counter()
    sent_by: Counter[str] = Counter()
    joined_by: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for rep in reports:
        for name, h in hist.items():
            h.merge_counts(rep["hist"][name])
        errors.update(rep["errors"])
        sent_by.update(rep["sent_by_conversation"])
        joined_by.update(rep["joined_by_conversation"])
        totals.update(rep["totals"])
    expected = sum(sent * joined_by[conv] for conv, sent in sent_by.items())
    delivered = totals["delivered"]
    duration = args.duration
    mode = "idle" if args.idle else "saturate" if args.saturate else "rate"
    return {
        "mode": mode,
        "config": {
            "conversations": args.conversations,
            "members": args.members,
            "rate": args.rate,
            "duration": args.duration,
            "warmup": args.warmup,
            "body_bytes": args.body_bytes,
            "window": args.window,
        },
        "connections": {
            "planned": args.conversations * args.members,
            "joined": sum(r["joined"] for r in ready.values()),
        },
        "sent": totals["sent"],
        "acked": totals["acked"],
        "delivered": delivered,
        "expected_deliveries": expected,
        "delivered_pct": round(100.0 * delivered / expected, 3) if expected else None,
        "sent_per_s": round(totals["sent"] / duration, 1),
        "delivered_per_s": round(delivered / duration, 1),
        "ack_latency_ms": hist["ack"].summary_ms(),
        "delivery_latency_ms": hist["delivery"].summary_ms(),
        "send_lag_ms": hist["send_lag"].summary_ms(),
        "errors": dict(sorted(errors.items())),
        "client": {
            "frames_received": totals["frames"],
            "messages_received": totals["messages"],
            "warmup_and_late_sends": totals["sent_outside_window"],
            "cpu_s": round(totals["cpu_ms"] / 1000, 2),
        },
    }


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        model = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "")
    return {"nproc": os.cpu_count(), "cpu": model, "python": sys.version.split()[0]}


# -- output ------------------------------------------------------------------------------------


def _progress(text: str) -> None:
    print(f"[loadtest] {text}", file=sys.stderr, flush=True)


def _lat(summary: dict[str, Any]) -> str:
    if not summary["count"]:
        return "-"
    return (
        f"p50 {summary['p50']:.1f} ms  p95 {summary['p95']:.1f} ms  "
        f"p99 {summary['p99']:.1f} ms  max {summary['max']:.1f} ms"
    )


def summary_text(r: dict[str, Any]) -> str:
    c = r["config"]
    lines = [
        f"Switchboard load test, {r['date']}",
        f"command:     {r['command']}",
        f"machine:     {r['machine']['nproc']} CPU(s), {r['machine']['cpu']}, "
        f"Python {r['machine']['python']}; load average {r['loadavg_before'][0]} before, "
        f"{r['loadavg_after'][0]} after",
        f"server:      {r['url']}" + (" (started by the load test)" if r["server"] else ""),
        f"mode:        {r['mode']}: {c['conversations']} conversation(s) x {c['members']} members"
        + (f", {c['rate']} msg/s per member" if r["mode"] == "rate" else "")
        + (
            f", held idle for {c['duration']} s"
            if r["mode"] == "idle"
            else f", {c['duration']} s window after {c['warmup']} s warm-up"
        ),
        f"connections: {r['connections']['joined']} of {r['connections']['planned']} joined "
        f"in {r['connect_s']} s by {r['workers']} worker(s)",
    ]
    if r["mode"] != "idle":
        pct = "-" if r["delivered_pct"] is None else f"{r['delivered_pct']:.2f}%"
        lines += [
            f"sent:        {r['sent']} ({r['sent_per_s']}/s), acked {r['acked']}",
            f"delivered:   {r['delivered']} of {r['expected_deliveries']} expected ({pct}), "
            f"{r['delivered_per_s']} messages/s",
            f"ack latency:      {_lat(r['ack_latency_ms'])}",
            f"delivery latency: {_lat(r['delivery_latency_ms'])}",
            f"client send lag:  {_lat(r['send_lag_ms'])}",
        ]
    errors = ", ".join(f"{k} {v}" for k, v in r["errors"].items()) or "none"
    lines.append(f"errors:      {errors}")
    lines.append(
        f"clients:     {r['client']['frames_received']} websocket messages carrying "
        f"{r['client']['messages_received']} chat messages; {r['client']['cpu_s']} CPU s"
    )
    if r["server"]:
        s = r["server"]
        per_k = s["cpu_s_per_1000_deliveries"]
        lines.append(
            f"server:      {s['cpu_s']} CPU s"
            + (f" = {per_k} CPU s per 1,000 deliveries" if per_k is not None else "")
            + f"; RSS {s['rss_mb']} MB, peak {s['peak_rss_mb']} MB"
        )
    if r.get("idle"):
        i = r["idle"]
        lines.append(
            f"idle memory: RSS {i['rss_before_mb']} MB -> {i['rss_connected_mb']} MB connected "
            f"-> {i['rss_end_mb']} MB after the hold: {i['kb_per_connection']} KB per connection "
            f"({i['kb_per_connection_end']} KB at the end); {i['cpu_s_while_idle']} CPU s idle"
        )
    lines += [f"note:        {n}" for n in r["notes"]]
    return "\n".join(lines)


# -- command line ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--conversations", type=int, default=10, help="N conversations")
    p.add_argument("--members", type=int, default=10, help="K members per conversation")
    p.add_argument(
        "--rate",
        type=float,
        default=1.0,
        help="messages/s each member sends (0: members do not send)",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=10.0,
        help=f"seconds of the measured window (at most {MAX_DURATION:.0f})",
    )
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of sending not counted")
    p.add_argument(
        "--drain",
        type=float,
        default=5.0,
        help="at most this many seconds to wait for in-flight deliveries",
    )
    p.add_argument("--workers", type=int, default=2, help="client processes (default 2)")
    p.add_argument("--url", help="an existing loopback server (default: start one)")
    p.add_argument("--token", help="staff API token for --url")
    p.add_argument("--body-bytes", type=int, default=64, help="size of each message body")
    p.add_argument(
        "--saturate",
        action="store_true",
        help="send as fast as acks allow (bounded window; honours the server's "
        "advertised rate limit)",
    )
    p.add_argument("--window", type=int, default=8, help="unacked sends per member (--saturate)")
    p.add_argument(
        "--idle",
        action="store_true",
        help="connect, join and hold for --duration s; report server RSS per connection",
    )
    p.add_argument(
        "--seed",
        choices=("rest", "direct"),
        default="rest",
        help="create conversations through REST (default; falls back to the Store "
        "for a server we started when REST is missing) or the Store",
    )
    p.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="SWITCHBOARD_X=V",
        help="environment for the server we start (repeatable)",
    )
    p.add_argument("--keep-data", action="store_true", help="keep the server's temp data dir")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return p


def validate(args: argparse.Namespace) -> None:
    if args.url:
        check_loopback(args.url)
    if args.conversations < 1 or args.members < 1:
        raise LoadTestError("--conversations and --members must be at least 1")
    if args.conversations * args.members > MAX_CONNECTIONS:
        raise LoadTestError(f"at most {MAX_CONNECTIONS} connections per run")
    if not 0 < args.duration <= MAX_DURATION:
        raise LoadTestError(f"--duration must be in (0, {MAX_DURATION:.0f}]")
    if not 0 <= args.rate <= MAX_RATE or args.warmup < 0 or not 0 <= args.drain <= 60:
        raise LoadTestError(
            f"--rate must be in [0, {MAX_RATE:.0f}], --warmup >= 0, --drain in [0, 60]"
        )
    if not 1 <= args.workers <= 32 or not 1 <= args.window <= 1024:
        raise LoadTestError("--workers must be in [1, 32], --window in [1, 1024]")
    if not 32 <= args.body_bytes <= 16000:
        raise LoadTestError("--body-bytes must be in [32, 16000]")
    if args.idle and args.saturate:
        raise LoadTestError("--idle and --saturate exclude each other")
    for item in args.server_env:
        if not item.startswith("SWITCHBOARD_") or "=" not in item:
            raise LoadTestError(f"--server-env wants SWITCHBOARD_NAME=VALUE, not {item!r}")
    if args.url and args.server_env:
        raise LoadTestError("--server-env only applies to a server the load test starts")


def _terminated(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop the server


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminated)
    try:
        validate(args)
        report = run(args)
    except LoadTestError as exc:
        print(f"loadtest: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if args.json else summary_text(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
