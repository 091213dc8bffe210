#!/usr/bin/env bash
# Run every benchmark of docs/benchmarks.md, each RUNS times, saving the JSON reports.
#
#   scripts/benchmark_all.sh [OUT_DIR] [RUNS]     (defaults: bench-results, 3)
#
# Everything runs on loopback against servers the scripts start themselves; every run is
# bounded (<= 30 s windows, <= 10,000 connections). About 30 minutes with RUNS=3. The
# machine is shared: the load average is recorded in every report, and before each run we
# wait (at most QUIET_WAIT seconds) for the 1-minute load average to drop below QUIET_LOAD.
set -euo pipefail

cd "$(dirname "$0")/.."
OUT=${1:-bench-results}
RUNS=${2:-3}
PY=.venv/bin/python
QUIET_LOAD=${QUIET_LOAD:-1.5}
QUIET_WAIT=${QUIET_WAIT:-120}
mkdir -p "$OUT"

wait_quiet() {
    local waited=0
    while awk -v max="$QUIET_LOAD" '{exit !($1 >= max)}' /proc/loadavg && ((waited < QUIET_WAIT)); do
        sleep 5
        waited=$((waited + 5))
    done
}

loadtest() {  # loadtest NAME ARGS...
    local name=$1
    shift
    for run in $(seq "$RUNS"); do
        wait_quiet
        echo "== $name run $run: loadtest.py $*" >&2
        timeout 900 "$PY" scripts/loadtest.py "$@" --json >"$OUT/$name-$run.json"
    done
}

# 1. 1,000 connections: 100 conversations of 10 at 0.5 messages/s each, then slower rates.
for rate in 0.5 0.2 0.1 0.05; do
    loadtest "rooms-rate$rate" --conversations 100 --members 10 --rate "$rate" \
        --duration 30 --warmup 3
done
# 2. One conversation of 100 members, saturated (2 unacked sends per member).
loadtest saturate --conversations 1 --members 100 --saturate --window 2 --duration 20 --warmup 3
# 3. Durable acknowledged sends/s through the Store and through ConversationGroups.
for concurrency in 1000 4000; do
    wait_quiet
    echo "== bench_store concurrency $concurrency" >&2
    timeout 900 "$PY" scripts/bench_store.py --messages 40000 --concurrency "$concurrency" \
        --runs "$RUNS" --json >"$OUT/store-c$concurrency.json"
done
# 4. Server memory per idle connection with 10,000 idle connections.
loadtest idle10k --conversations 1000 --members 10 --idle --duration 20
# Codec throughput (pure CPU).
"$PY" scripts/bench_codec.py --json >"$OUT/codec.json"

# Medians of the headline figures.
"$PY" - "$OUT" <<'EOF'
import json, statistics, sys
from pathlib import Path

out = Path(sys.argv[1])
def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None
groups = {}
for path in sorted(out.glob("*-[0-9]*.json")):
    groups.setdefault(path.stem.rsplit("-", 1)[0], []).append(json.loads(path.read_text()))
for name, runs in groups.items():
    if runs[0]["mode"] == "idle":
        print(f"{name}: joined {med([r['connections']['joined'] for r in runs])}, "
              f"{med([r['idle']['kb_per_connection'] for r in runs])} KB per connection, "
              f"peak RSS {med([r['server']['peak_rss_mb'] for r in runs])} MB")
        continue
    print(f"{name}: delivered {med([r['delivered_pct'] for r in runs])}%, "
          f"{med([r['delivered_per_s'] for r in runs])} deliveries/s, "
          f"p99 delivery {med([r['delivery_latency_ms']['p99'] for r in runs])} ms, "
          f"p99 ack {med([r['ack_latency_ms']['p99'] for r in runs])} ms, "
          f"server {med([r['server']['cpu_s_per_1000_deliveries'] for r in runs])} CPU s/1,000")
for path in sorted(out.glob("store-*.json")):
    print(f"{path.stem}: {json.loads(path.read_text())['median_acked_per_s']} acked sends/s")
EOF
