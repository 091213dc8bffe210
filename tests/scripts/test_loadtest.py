"""scripts/loadtest.py: a tiny end-to-end run, the loopback guard and the histogram.

The load test is run as the command people run (a subprocess that starts its own server
on 127.0.0.1 port 0). Nothing here asserts on latency or rates: those belong in
docs/benchmarks.md, not in tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import loadtest
import pytest
import trio

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "loadtest.py"
#: Real-time bound of one load test subprocess (server start, seeding, 2 s window, drain).
RUN_TIMEOUT = 90


async def _run(*args: str) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(RUN_TIMEOUT):
        return await trio.run_process(
            [sys.executable, str(SCRIPT), *args],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )


@pytest.mark.slow
async def test_tiny_load_test_delivers_every_message_to_every_member() -> None:
    done = await _run(
        "--conversations", "2", "--members", "3", "--rate", "2", "--duration", "2",
        "--warmup", "0.5", "--drain", "5", "--workers", "1", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    report = json.loads(done.stdout)
    assert report["connections"] == {"planned": 6, "joined": 6}
    assert report["sent"] > 0
    assert report["acked"] == report["sent"]
    assert report["delivered"] == report["sent"] * 3
    assert report["expected_deliveries"] == report["delivered"]
    assert report["errors"] == {}
    assert report["delivery_latency_ms"]["count"] == report["delivered"]
    assert report["server"]["pid"] > 0
    assert report["server"]["peak_rss_mb"] > 0


@pytest.mark.slow
async def test_two_workers_idle_mode_reports_memory_per_connection() -> None:
    done = await _run(
        "--conversations", "2", "--members", "2", "--idle", "--duration", "1",
        "--workers", "2", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    report = json.loads(done.stdout)
    assert report["mode"] == "idle"
    assert report["connections"]["joined"] == 4
    assert report["sent"] == 0
    assert report["errors"] == {}
    assert report["idle"]["rss_connected_mb"] > 0


async def test_non_loopback_url_is_refused_before_any_connection() -> None:
    done = await _run("--url", "http://192.0.2.10:8080", "--token", "sbt_x", "--json")
    assert done.returncode == 2
    assert b"non-loopback" in done.stderr
    assert done.stdout == b""


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "ws://127.3.4.5:1/ws", "http://[::1]:80", "http://localhost"]
)
def test_loopback_urls_are_accepted(url: str) -> None:
    loadtest.check_loopback(url)


@pytest.mark.parametrize(
    "url",
    ["http://10.0.0.1:8080", "http://example.com", "ws://[2001:db8::1]/ws", "ftp://127.0.0.1"],
)
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(loadtest.LoadTestError):
        loadtest.check_loopback(url)


def test_histograms_merge_exactly_and_give_percentiles_within_two_percent() -> None:
    first, second, merged = loadtest.Histogram(), loadtest.Histogram(), loadtest.Histogram()
    for ms in range(1, 51):
        first.add(ms / 1000)
    for ms in range(51, 101):
        second.add(ms / 1000)
    merged.merge_counts(first.state())
    merged.merge_counts(second.state())
    assert merged.count == 100
    assert merged.max == 0.1
    assert 0.050 <= merged.percentile(0.5) <= 0.050 * 1.02
    assert 0.099 <= merged.percentile(0.99) <= 0.099 * 1.02
    assert merged.percentile(1.0) == 0.1
    assert merged.summary_ms()["count"] == 100


# -- the benchmark scripts run at a tiny size too (every script is exercised by a test) --


async def _run_script(name: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(RUN_TIMEOUT):
        return await trio.run_process(
            [sys.executable, str(SCRIPT.parent / name), *args],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )


@pytest.mark.slow
async def test_bench_store_acks_every_message_in_both_modes(tmp_path: Path) -> None:
    done = await _run_script(
        "bench_store.py", "--messages", "60", "--concurrency", "8", "--conversations", "3",
        "--data-dir", str(tmp_path), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    report = json.loads(done.stdout)
    for mode in ("store", "groups"):
        (run,) = report["runs"][mode]
        assert run["acked"] == 60
        assert run["store"]["writes"] >= 60
        assert run["store"]["failed_writes"] == 0
    assert os.listdir(tmp_path) == []  # the temporary databases are removed


async def test_bench_codec_measures_every_operation_of_both_codecs() -> None:
    done = await _run_script("bench_codec.py", "--number", "20", "--repeat", "1", "--json")
    assert done.returncode == 0, done.stderr.decode()
    results = json.loads(done.stdout)["results"]
    assert {r["codec"] for r in results} == {"switchboard.v1.msgpack", "switchboard.v1.json"}
    assert len(results) == 14
    assert all(r["ops_per_s"] > 0 for r in results)
