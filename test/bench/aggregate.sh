#!/usr/bin/env bash
# make bench: mode = "aggregate" (issue 11). For each number of active flows, loadgen
# plays both Nodes of every inter-Node flow from two sessions (--pairs: session 0 the
# source Nodes, session 1 the destination Nodes), ROUNDS times with growing counters,
# into flow-aggregator in aggregate mode, which exports to ipfix-collector over TCP.
# Reported per number of flows:
#   - CPU of the flow-aggregator process per input record: (user + sys while the records
#     are processed, less its idle CPU over the same time) / records;
#   - RSS per active flow: (RSS with every flow held - RSS before the first record) /
#     flows (antrea-v4 records, with the enricher's fields), at the last record and
#     again settled, after the next heap trim (runtime.memory_trim_interval, 10 s);
#   - export lag p99 (aggregate_export_lag_seconds: from the deadline a poll met to the
#     hand-over to the destination), as the bucket bound it falls under;
#   - records in = records aggregated + counted drops, exactly (from the metrics).
# Usage: test/bench/aggregate.sh BUILD_DIR [FLOWS ...]   (default 10000 100000 1000000)
# BENCH_PERF=FILE adds a perf profile of flow-aggregator, BENCH_TRACE=FILE its RSS, records
# in, flows held and exports every 0.5 s (FILE.FLOWS each), BENCH_STAT=FILE a `perf stat`
# of flow-aggregator over the records and each thread's CPU ticks and context switches
# (FILE.FLOWS).
set -euo pipefail

build=${1:-build/release}
shift || true
flow_counts=("$@")
[ ${#flow_counts[@]} -gt 0 ] || flow_counts=(10000 100000 1000000)
rounds=${BENCH_ROUNDS:-4}
# At least this many records per run, so the CPU measured (in 10 ms ticks) is well above
# the tick and idle noise: fewer flows play more rounds.
min_records=${BENCH_MIN_RECORDS:-4000000}
bin_fa=$build/app/flow-aggregator
bin_gen=$build/tools/ipfix-loadgen
bin_col=$build/tools/ipfix-collector

source "$(dirname "$0")/common.sh"
bench_setup aggregate "$bin_fa" "$bin_gen" "$bin_col"

clk_tck=$(getconf CLK_TCK)
page=$(getconf PAGESIZE)

# thread_ticks PID: per thread (sorted by id): id, name, utime + stime, voluntary and
# involuntary context switches.
thread_ticks() {
  for t in /proc/$1/task/*; do
    awk -v id="${t##*/}" '
      FILENAME ~ /stat$/ { sub(/.*\) /, ""); ticks = $12 + $13 }
      /^Name:/ { name = $2 } /^voluntary_ctxt/ { v = $2 } /^nonvoluntary_ctxt/ { n = $2 }
      END { print id, name, ticks, v, n }' "$t/stat" "$t/status" 2>/dev/null
  done | sort -k1,1
}
rss_bytes() { echo $(( $(awk '{print $2}' /proc/$1/statm) * page )); }
lag_p99() { # the smallest bucket bound holding 99% of the export lags
  scrape | awk '
    /^flow_aggregator_aggregate_export_lag_seconds_bucket/ {
      match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5); b[++n] = le; c[n] = $2 }
    /^flow_aggregator_aggregate_export_lag_seconds_count/ { total = $2 }
    END { if (total == 0) { print "-"; exit } for (i = 1; i <= n; i++) if (c[i] >= 0.99 * total) { print b[i]; exit } }'
}

run_one() { # $1 = flows
  local flows=$1
  local r=$(( (min_records + 2 * flows - 1) / (2 * flows) ))
  [ $r -ge $rounds ] || r=$rounds
  local records=$(( 2 * flows * r ))
  rm -f "$work/col.port"
  "$bin_col" --listen 127.0.0.1:0 --port-file "$work/col.port" --quiet \
    --report "$work/col.json" >/dev/null 2>"$work/col.err" &
  local col_pid=$!
  for _ in $(seq 200); do [ -s "$work/col.port" ] && break; sleep 0.05; done
  cat > "$work/fa.toml" <<TOML
mode = "aggregate"
cluster_id = "0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11"
[collector]
listen = ["tcp://127.0.0.1:0"]
[aggregate]
max_flows = $(( flows * 2 ))
[[destination]]
name = "bench"
url = "ipfix+tcp://127.0.0.1:$(cat "$work/col.port")"
[admin]
listen = "127.0.0.1:0"
[runtime]
shutdown_timeout = "120s"
TOML
  run_fa
  wait_admin_port
  # Records are generated before the clock starts (--pregen-limit); the process's idle
  # cost (its 1 s ticks, the other actors) is measured first, over 3 s.
  sleep 1
  local idle0 t_idle0 idle1 t_idle1
  idle_sample 3
  local rss0; rss0=$(rss_bytes $fa_pid)
  "$bin_gen" --target 127.0.0.1:$fa_port --template antrea-v4 --seed 1 --quiet \
    --sessions 2 --pairs $flows --records $(( flows * r )) --pregen-limit 4GiB \
    --report "$work/gen.json" &
  local gen_pid=$!
  # BENCH_TRACE=FILE: every 0.5 s, seconds since the load started, RSS (MiB), anonymous
  # and file-backed RSS from smaps_rollup, records in, flows held and flows exported.
  local trace_pid=
  if [ -n "${BENCH_TRACE:-}" ]; then
    ( t_start=$(date +%s)
      while kill -0 $fa_pid 2>/dev/null; do
        { echo "t=$(( $(date +%s) - t_start )) rss=$(( $(rss_bytes $fa_pid) >> 20 ))M" \
            "$(awk '/^Anonymous/ {printf "anon=%dM", $2 / 1024}' /proc/$fa_pid/smaps_rollup)"
          scrape | awk '
            $1 ~ /^flow_aggregator_records_received_total/ {i += $2}
            $1 ~ /^flow_aggregator_aggregate_flows({|$)/ {f += $2}
            $1 ~ /^flow_aggregator_aggregate_exports_total/ {e += $2}
            END {printf "in=%d flows=%d exports=%d\n", i, f, e}'; } | paste -sd' '
        sleep 0.5
      done ) > "$BENCH_TRACE.$flows" 2>/dev/null &
    trace_pid=$!
  fi
  # BENCH_PERF=FILE: a CPU profile of flow-aggregator while the records come in.
  local perf_pid=
  if [ -n "${BENCH_PERF:-}" ]; then
    perf record -F 499 -g -o "$BENCH_PERF.$flows" -p $fa_pid >/dev/null 2>&1 &
    perf_pid=$!
  fi
  # The clock starts when the first record is in, and stops when the last one is.
  local cpu0 t0
  for _ in $(seq 3000); do [ "$(metric flow_aggregator_records_received_total)" -gt 0 ] && break; sleep 0.02; done
  cpu0=$(cpu_ticks $fa_pid); t0=$(date +%s.%N)
  local stat_pid=
  if [ -n "${BENCH_STAT:-}" ]; then
    thread_ticks $fa_pid > "$work/threads0"
    perf stat -e task-clock,context-switches,cpu-migrations,instructions,cycles -p $fa_pid \
      -o "$BENCH_STAT.$flows" >/dev/null 2>&1 &
    stat_pid=$!
  fi
  # Every record accounted for: aggregated, forwarded unaggregated or dropped (counted).
  accounted() {
    scrape | awk '$1 ~ /^flow_aggregator_(aggregate_records_total|aggregate_unaggregated_records_total|enrich_dropped_records_total)({|$)/ {s += $2} END {printf "%.0f\n", s}'
  }
  for _ in $(seq 6000); do [ "$(accounted)" -ge $records ] && break; sleep 0.2; done
  local cpu1 t1 rss1
  cpu1=$(cpu_ticks $fa_pid); t1=$(date +%s.%N)
  if [ -n "$stat_pid" ]; then
    kill -INT $stat_pid; wait $stat_pid || true
    thread_ticks $fa_pid > "$work/threads1"
    # Per thread: CPU ticks and voluntary/involuntary context switches over the records.
    join -j1 "$work/threads0" "$work/threads1" | awk '
      { printf "%-8s %-16s ticks=%d vcs=%d ivcs=%d\n", $1, $2, $7 - $3, $8 - $4, $9 - $5 }' \
      >> "$BENCH_STAT.$flows"
  fi
  rss1=$(rss_bytes $fa_pid)
  local table_bytes; table_bytes=$(metric flow_aggregator_aggregate_state_bytes)
  # Settled: after the next heap trim hands back what the burst left free.
  local trims; trims=$(metric flow_aggregator_heap_trims_total)
  for _ in $(seq 150); do [ "$(metric flow_aggregator_heap_trims_total)" -gt "$trims" ] && break; sleep 0.1; done
  local rss2; rss2=$(rss_bytes $fa_pid)
  [ -z "$perf_pid" ] || { kill -INT $perf_pid; wait $perf_pid || true; }
  wait $gen_pid
  local aggregated dropped unagg received flows_held malformed
  received=$(metric flow_aggregator_records_received_total)
  malformed=$(metric flow_aggregator_aggregate_records_total 'result="malformed"')
  aggregated=$(( $(metric flow_aggregator_aggregate_records_total) - malformed ))
  dropped=$(( $(metric flow_aggregator_enrich_dropped_records_total) + malformed ))
  unagg=$(metric flow_aggregator_aggregate_unaggregated_records_total)
  flows_held=$(metric flow_aggregator_aggregate_flows)
  # Let a poll or two export what became ready, then stop (SIGTERM exports the rest).
  sleep 2
  local p99; p99=$(lag_p99)
  [ -z "${BENCH_TRACE:-}" ] ||
    scrape | grep -E '^flow_aggregator_aggregate_(export_lag|exports_total)' > "$BENCH_TRACE.$flows.metrics"
  kill -TERM $fa_pid; wait $fa_pid || true
  [ -z "$trace_pid" ] || wait $trace_pid || true
  kill -TERM $col_pid; wait $col_pid || true
  python3 - "$cpu0" "$cpu1" "$idle0" "$idle1" "$t_idle0" "$t_idle1" "$t0" "$t1" "$clk_tck" \
    "$records" "$rss0" "$rss1" "$flows" "$received" "$aggregated" "$dropped" "$unagg" \
    "$flows_held" "$p99" "$table_bytes" "$rss2" <<'PY'
import sys
a = sys.argv[1:]
cpu0, cpu1, idle0, idle1 = (int(x) for x in a[0:4])
ti0, ti1, t0, t1 = (float(x) for x in a[4:8])
tck, records, rss0, rss1, flows = (int(x) for x in a[8:13])
received, aggregated, dropped, unagg, held = (int(x) for x in a[13:18])
p99 = a[18]
table = int(a[19])
rss2 = int(a[20])
idle_rate = (idle1 - idle0) / tck / (ti1 - ti0)           # CPU s per s, idle
busy = (cpu1 - cpu0) / tck - idle_rate * (t1 - t0)        # CPU s for the records
ok = "yes" if received == records and aggregated + dropped + unagg == received else "NO"
print(f"| {flows:,} | {records:,} | {busy * 1e9 / records:.0f} | {(rss1 - rss0) / flows:.0f} | "
      f"{(rss2 - rss0) / flows:.0f} | "
      f"{table / flows:.0f} | "
      f"{held:,} | {p99} | {received:,} = {aggregated:,} + {dropped} + {unagg}: {ok} |")
PY
}

echo "aggregate mode, at least $rounds rounds and $min_records records of both Nodes' records per flow (antrea-v4, 2 sessions)"
echo "| active flows | records in | CPU ns/record | RSS B/flow at last record | RSS B/flow settled | flow table B/flow (state_bytes) | flows held | export lag p99 (s, bucket) | in = aggregated + dropped + unaggregated |"
echo "|---|---|---|---|---|---|---|---|---|"
for n in "${flow_counts[@]}"; do
  run_one "$n"
done
