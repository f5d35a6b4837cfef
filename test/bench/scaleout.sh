#!/usr/bin/env bash
# Aggregate mode scaled out (issue 14): the proxy tier's CPU per record with
# fanout = "flow" to 3 destinations (the shards) against fanout = "all" to 1 destination,
# the same records (ipfix-loadgen --pairs: Antrea v4 records of inter-Node flows, both
# Nodes, pre-generated, as fast as it goes) and the proxy configured as in
# deploy/kubernetes/aggregate-scaleout (provenance on, Antrea enrichment left to the
# shards, no labels). Each destination is an ipfix-collector. CPU is flow-aggregator's
# utime + stime from the first record in to the last one sent, less its idle rate.
# Usage: test/bench/scaleout.sh BUILD_DIR [FLOWS] [ROUNDS]; BENCH_REPEATS runs alternate.
# BENCH_PERF=FILE adds a perf profile of flow-aggregator per run (FILE.<fanout>.<run>),
# sampled at BENCH_PERF_FREQ Hz (499).
set -euo pipefail

build=${1:-build/release}
flows=${2:-250000}
rounds=${3:-4}
repeats=${BENCH_REPEATS:-3}
bin_fa=$build/app/flow-aggregator
bin_gen=$build/tools/ipfix-loadgen
bin_col=$build/tools/ipfix-collector

source "$(dirname "$0")/common.sh"
bench_setup scaleout "$bin_fa" "$bin_gen" "$bin_col"

clk_tck=$(getconf CLK_TCK)
records=$(( 2 * flows * rounds ))

run_one() { # $1 = fanout (all|flow), $2 = destinations
  local fanout=$1 n=$2 col_pids=()
  cat > "$work/fa.toml" <<TOML
cluster_id = "0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11"
[collector]
listen = ["tcp://127.0.0.1:0"]
[fanout]
mode = "$fanout"
[enrichment]
provenance = true
antrea = false
[admin]
listen = "127.0.0.1:0"
TOML
  for i in $(seq 0 $(( n - 1 ))); do
    rm -f "$work/col$i.port"
    "$bin_col" --listen 127.0.0.1:0 --port-file "$work/col$i.port" --quiet \
      --report "$work/col$i.json" >/dev/null 2>"$work/col$i.err" &
    col_pids+=($!)
    for _ in $(seq 200); do [ -s "$work/col$i.port" ] && break; sleep 0.05; done
    printf '[[destination]]\nname = "shard-%d"\nurl = "ipfix+tcp://127.0.0.1:%s"\n' \
      $i "$(cat "$work/col$i.port")" >> "$work/fa.toml"
  done
  run_fa
  wait_admin_port
  sleep 1
  local idle0 t_idle0 idle1 t_idle1
  idle_sample 2
  "$bin_gen" --target 127.0.0.1:$fa_port --template antrea-v4 --seed 1 --quiet \
    --sessions 2 --pairs $flows --records $(( flows * rounds )) --pregen-limit 4GiB &
  local gen_pid=$!
  for _ in $(seq 3000); do [ "$(metric flow_aggregator_records_received_total)" -gt 0 ] && break; sleep 0.02; done
  local cpu0 t0 cpu1 t1 perf_pid=
  if [ -n "${BENCH_PERF:-}" ]; then
    perf record -F ${BENCH_PERF_FREQ:-499} -g -o "$BENCH_PERF.$fanout.$run" -p $fa_pid >/dev/null 2>&1 &
    perf_pid=$!
  fi
  cpu0=$(cpu_ticks $fa_pid); t0=$(date +%s.%N)
  for _ in $(seq 6000); do [ "$(metric flow_aggregator_records_sent_total)" -ge $records ] && break; sleep 0.05; done
  cpu1=$(cpu_ticks $fa_pid); t1=$(date +%s.%N)
  [ -z "$perf_pid" ] || { kill -INT $perf_pid; wait $perf_pid || true; }
  wait $gen_pid
  local sent dropped; sent=$(metric flow_aggregator_records_sent_total)
  dropped=$(metric flow_aggregator_records_dropped_total)
  local per; per=$(for i in $(seq 0 $(( n - 1 ))); do
    scrape | awk -v d="shard-$i" '$1 ~ /^flow_aggregator_records_sent_total/ && index($1, "\""d"\"") {s += $2} END {printf "%.0f ", s}'; done)
  kill -TERM $fa_pid; wait $fa_pid || true
  for p in "${col_pids[@]}"; do kill -TERM $p 2>/dev/null || true; wait $p 2>/dev/null || true; done
  python3 - "$cpu0" "$cpu1" "$idle0" "$idle1" "$t_idle0" "$t_idle1" "$t0" "$t1" "$clk_tck" \
    "$records" "$sent" "$dropped" "$fanout" "$n" "$per" <<'PY'
import sys
a = sys.argv[1:]
cpu0, cpu1, idle0, idle1 = (int(x) for x in a[0:4])
ti0, ti1, t0, t1 = (float(x) for x in a[4:8])
tck, records, sent, dropped = int(a[8]), int(a[9]), int(a[10]), int(a[11])
idle_rate = (idle1 - idle0) / tck / (ti1 - ti0)
busy = (cpu1 - cpu0) / tck - idle_rate * (t1 - t0)
print(f"| {a[12]} | {a[13]} | {records:,} | {busy * 1e9 / records:.0f} | {records / (t1 - t0):,.0f} | "
      f"{sent:,} sent ({a[14].strip().replace(' ', ' / ')}), {dropped} dropped |")
PY
}

echo "| fanout | destinations | records | proxy CPU ns/record | records/s | delivered |"
echo "|---|---|---|---|---|---|"
for run in $(seq $repeats); do
  run_one all 1
  run_one flow 3
done
