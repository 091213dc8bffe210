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
import datetime
import json
import multiprocessing
import os
import shlex
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

#: The sibling loadtest_* modules (also when this file is imported by path, not run).
SCRIPTS_DIR = str(Path(__file__).resolve().parent)
if SCRIPTS_DIR not in sys.path:
    sys.path.insert(0, SCRIPTS_DIR)

from loadtest_common import (  # noqa: E402
    FD_MARGIN,
    READY_TIMEOUT,
    Histogram,
    LoadTestError,
    check_loopback,
    raise_fd_limit,
)
from loadtest_server import OwnServer, seed_direct, seed_rest  # noqa: E402
from loadtest_worker import collect, plan_members, worker_entry  # noqa: E402

#: Upper bound of a run (seconds): a load loop must always end.
MAX_DURATION = 600.0
#: Upper bound of connections per run: the machine is shared.
MAX_CONNECTIONS = 10_000
#: Upper bound of messages/s per member.
MAX_RATE = 1000.0
#: Seconds between the start signal and the first send: time for it to reach every worker.
START_DELAY = 1.0
#: Seconds the server gets to settle after the connect storm before its RSS is read.
IDLE_SETTLE = 3.0
#: Seconds given to workers to report after their drain.
RESULT_TIMEOUT = 60.0


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
        ready = collect(results, "ready", len(plans), READY_TIMEOUT, procs)
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
        reports = collect(results, "result", len(plans), args.drain + RESULT_TIMEOUT, procs)
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
