#!/usr/bin/env bash
# make bench: loadgen -> flow-aggregator -> collector over loopback, next to loadgen ->
# collector (the ceiling), measured in one run so the ratio is fair on a shared machine.
# Usage: test/bench/run.sh BUILD_DIR [SESSIONS] [RECORDS_PER_SESSION]
set -euo pipefail

build=${1:-build/release}
sessions=${2:-10}
records=${3:-400000}
template=${BENCH_TEMPLATE:-antrea-v4}
repeats=${BENCH_REPEATS:-3}
bin_fa=$build/app/flow-aggregator
bin_gen=$build/tools/ipfix-loadgen
bin_col=$build/tools/ipfix-collector

source "$(dirname "$0")/common.sh"
bench_setup tcp "$bin_fa" "$bin_gen" "$bin_col"


start_collector() { # $1 = name, rest = extra args
  local name=$1; shift
  rm -f "$work/$name.port"
  "$bin_col" --listen 127.0.0.1:0 --port-file "$work/$name.port" --idle-exit 1s --quiet \
    --report "$work/$name.json" "$@" >/dev/null 2>"$work/$name.err" &
  col_pid=$!
  for _ in $(seq 200); do [ -s "$work/$name.port" ] && break; sleep 0.05; done
  col_port=$(cat "$work/$name.port")
}

start_fa() { # $1 = destination port
  cat > "$work/fa.toml" <<TOML
cluster_id = "0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11"
[collector]
listen = ["tcp://127.0.0.1:0"]
max_sessions = 20000
[[destination]]
name = "bench"
url = "ipfix+tcp://127.0.0.1:$1"
[enrichment]
provenance = true
antrea = true
pod_labels = true
[admin]
listen = ""
TOML
  run_fa
}

stop_fa() {
  fa_rss=$(awk '/VmHWM/ {print $2}' /proc/$fa_pid/status)
  kill -TERM $fa_pid; wait $fa_pid || true
}

wait_collector() { wait $col_pid || true; }

loadgen() { # $1 = port, rest = args
  local port=$1; shift
  "$bin_gen" --target 127.0.0.1:$port --template "$template" --seed 1 --quiet \
    --pregen-limit 4GiB "$@"
}

throughput_direct() {
  start_collector direct
  loadgen $col_port --sessions $sessions --records $records
  wait_collector
  json "$work/direct.json" "['records_per_s']"
}

throughput_fa() {
  start_collector via
  start_fa $col_port
  loadgen $fa_port --sessions $sessions --records $records
  wait_collector
  stop_fa
  local lost=$(( sessions * records - $(json "$work/via.json" "['records']") ))
  [ $lost -eq 0 ] || echo "bench: $lost records missing through flow-aggregator" >&2
  echo "$(json "$work/via.json" "['records_per_s']") $fa_rss"
}

latency() { # $1 = direct|via, at a fixed rate so queues stay short
  start_collector lat_$1 --stamp
  local target=$col_port
  if [ $1 = via ]; then start_fa $col_port; target=$fa_port; fi
  loadgen $target --sessions 10 --rate ${BENCH_LATENCY_RATE:-100000} --duration 4s --stamp
  wait_collector
  [ $1 = via ] && stop_fa
  echo "$(json "$work/lat_$1.json" "['latency_us']['p50']") $(json "$work/lat_$1.json" "['latency_us']['p99']")"
}

rss_sessions() { # $1 = sessions, $2 = records per session
  start_collector rss
  start_fa $col_port
  loadgen $fa_port --sessions $1 --records $2
  wait_collector
  stop_fa
  echo "$fa_rss $(json "$work/rss.json" "['records']")"
}

echo "bench: $template, $sessions sessions x $records records, $repeats rounds (direct and via alternate)" >&2
best_direct=0; best_via=0; via_rss=0
for r in $(seq $repeats); do
  d=$(throughput_direct)
  read -r v rss <<<"$(throughput_fa)"
  echo "  round $r: direct $d rec/s, via flow-aggregator $v rec/s (rss ${rss} KiB)" >&2
  best_direct=$(python3 -c "print(max($best_direct, $d))")
  best_via=$(python3 -c "print(max($best_via, $v))")
  via_rss=$rss
done
read -r lat_d50 lat_d99 <<<"$(latency direct)"
read -r lat_v50 lat_v99 <<<"$(latency via)"
read -r rss1000 rec1000 <<<"$(rss_sessions 1000 2000)"
read -r rss_small rec_small <<<"$(rss_sessions 10 20000)"
read -r rss_large rec_large <<<"$(rss_sessions 10 400000)"

record_size=$(python3 -c "import json; d=json.load(open('$work/via.json')); print(d['bytes']/max(1,d['records']))")
python3 - <<PY
d, v = $best_direct, $best_via
size = $record_size
print()
print("| measure | value |")
print("|---|---|")
print(f"| loadgen -> collector (ceiling), records/s | {d:,.0f} |")
print(f"| loadgen -> flow-aggregator -> collector, records/s | {v:,.0f} |")
print(f"| ratio (through flow-aggregator / ceiling) | {v/d:.2f} |")
print(f"| output MB/s through flow-aggregator ({size:.0f} B/record) | {v*size/1e6:,.0f} |")
print(f"| added latency p50 / p99 at ${BENCH_LATENCY_RATE:-100000} rec/s, us | {$lat_v50-$lat_d50:,.0f} / {$lat_v99-$lat_d99:,.0f} |")
print(f"| latency p50 / p99 direct, us | {$lat_d50:,.0f} / {$lat_d99:,.0f} |")
print(f"| flow-aggregator peak RSS, $sessions sessions at full rate | {$via_rss/1024:.0f} MiB |")
print(f"| flow-aggregator peak RSS, 1000 sessions ({$rec1000:,} records) | {$rss1000/1024:.0f} MiB |")
print(f"| peak RSS, {$rec_small:,} distinct flows vs {$rec_large:,} | {$rss_small/1024:.0f} MiB vs {$rss_large/1024:.0f} MiB |")
PY
