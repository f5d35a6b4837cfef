#!/usr/bin/env bash
# make bench, UDP part (issue 3): the highest rate at which every record arrives (zero
# loss: nothing dropped anywhere — kernel, flow-aggregator, collector), found by a
# doubling then bisecting search, for
#   - loadgen -UDP-> flow-aggregator -TCP-> collector
#   - loadgen -UDP-> flow-aggregator -UDP-> collector
#   - loadgen -UDP-> pmacct nfacctd (tee plugin, forwarding datagrams untouched) -UDP-> collector
# in the same run, so the ratio is fair on a shared machine. flow-aggregator parses,
# validates and enriches every record; tee only copies datagrams.
# Usage: test/bench/udp.sh BUILD_DIR
set -euo pipefail

build=${1:-build/release}
exporters=${BENCH_UDP_EXPORTERS:-4}
seconds=${BENCH_UDP_SECONDS:-2}       # traffic per trial
start_rate=${BENCH_UDP_START:-100000} # records/s, all exporters together
steps=${BENCH_UDP_STEPS:-5}           # bisection steps after the doubling phase
template=${BENCH_TEMPLATE:-antrea-v4}
# The loadgen shares the 2 cores with what it measures: each exporter's records are
# encoded once and sent round and round (--udp-ring), only the headers patched, so the
# sender costs little CPU per datagram. The same traffic goes to nfacctd and to us.
ring=${BENCH_UDP_RING:-16384}
bin_fa=$build/app/flow-aggregator
bin_gen=$build/tools/ipfix-loadgen
bin_col=$build/tools/ipfix-collector

source "$(dirname "$0")/common.sh"
bench_setup udp "$bin_fa" "$bin_gen" "$bin_col"
command -v nfacctd >/dev/null || { echo "bench: nfacctd (pmacct) not installed" >&2; exit 1; }


free_udp_port() {
  python3 -c "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"
}

start_collector() { # $1 = tcp|udp, $2 = records per exporter
  local mode=$1 per=$2
  rm -f "$work/col.port" "$work/col.json"
  # Counting only (no --verify): the collector shares the 2 cores with the loadgen and
  # the mediator, and must not be what limits the rate.
  local args=(--listen 127.0.0.1:0 --port-file "$work/col.port" --idle-exit 1500ms --quiet
    --report "$work/col.json")
  [ "$mode" = udp ] && args+=(--udp)
  "$bin_col" "${args[@]}" >/dev/null 2>"$work/col.err" &
  col_pid=$!
  for _ in $(seq 200); do [ -s "$work/col.port" ] && break; sleep 0.05; done
  col_port=$(cat "$work/col.port")
}

start_fa() { # $1 = ipfix+tcp|ipfix+udp
  cat > "$work/fa.toml" <<TOML
cluster_id = "0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11"
[collector]
listen = ["udp://127.0.0.1:0"]
[[destination]]
name = "bench"
url = "$1://127.0.0.1:$col_port"
[admin]
listen = ""
TOML
  run_fa
  mid_pid=$fa_pid
  mid_port=$fa_port
}

# The middle: flow-aggregator (start_fa) or nfacctd tee, each stopped its own way.
start_mid_tee() {
  mid_port=$(free_udp_port)
  start_tee $mid_port $col_port
  mid_pid=$tee_pid
}
stop_mid() {
  if [ "$mid_pid" = "${tee_pid:-}" ]; then stop_tee; else kill -TERM $mid_pid; wait $mid_pid || true; fi
}

# One trial at `rate`; prints "LOST ACHIEVED_RATE".
trial() { # $1 = fa-tcp|fa-udp|tee, $2 = rate
  local kind=$1 rate=$2
  local per=$(( rate * seconds / exporters ))
  case $kind in
  fa-tcp) start_collector tcp $per; start_fa ipfix+tcp ;;
  fa-udp) start_collector udp $per; start_fa ipfix+udp ;;
  tee) start_collector udp $per; start_mid_tee ;;
  esac
  "$bin_gen" --target 127.0.0.1:$mid_port --transport udp --template "$template" --seed 1 \
    --sessions $exporters --records $per --rate $rate --udp-ring $ring --quiet \
    --report "$work/gen.json" || true
  if [ $kind = tee ]; then
    # tee hands datagrams to its plugin in plugin_buffer_size chunks: push the last
    # partial chunk out with traffic of other ODIDs (the collector does not count them
    # towards the measured exporters' records).
    "$bin_gen" --target 127.0.0.1:$mid_port --transport udp --template "$template" --seed 1 \
      --odid-base 9000 --sessions 1 --records 2000 --quiet || true
  fi
  wait $col_pid || true
  stop_mid
  local missing achieved received
  if [ $kind = tee ]; then
    # tee keeps each exporter's ODID in the header; count only the measured exporters.
    received=$(python3 -c "import json; d=json.load(open('$work/col.json'))['records_by_header_odid']; print(sum(v for k, v in d.items() if 1000 <= int(k) < 1000 + $exporters))")
  else
    received=$(json "$work/col.json" "['records']")
  fi
  missing=$(( per * exporters - received ))
  achieved=$(json "$work/gen.json" "['records_per_s']")
  echo "$missing $achieved"
}

# Doubling until loss, then bisection; prints the highest zero-loss rate achieved.
search() { # $1 = kind
  local kind=$1 good=0 bad=0 rate=$start_rate lost achieved
  while :; do
    read -r lost achieved <<<"$(trial $kind $rate)"
    echo "  $kind: $rate rec/s asked, ${achieved%.*} sent, $lost lost" >&2
    if [ "$lost" = 0 ]; then good=${achieved%.*}; rate=$(( rate * 2 )); else bad=$rate; break; fi
    [ $rate -gt 20000000 ] && break
  done
  if [ $bad -gt 0 ]; then
    local lo=$good hi=$bad
    for _ in $(seq $steps); do
      rate=$(( (lo + hi) / 2 ))
      read -r lost achieved <<<"$(trial $kind $rate)"
      echo "  $kind: $rate rec/s asked, ${achieved%.*} sent, $lost lost" >&2
      if [ "$lost" = 0 ]; then lo=$rate; good=$(( ${achieved%.*} > good ? ${achieved%.*} : good )); else hi=$rate; fi
    done
  fi
  echo $good
}

echo "bench udp: $template, $exporters exporters, ${seconds}s per trial" >&2
tee_rate=$(search tee)
tcp_rate=$(search fa-tcp)
udp_rate=$(search fa-udp)
python3 - <<PY
tee, tcp, udp = $tee_rate, $tcp_rate, $udp_rate
print()
print("| zero-loss rate, records/s | value | vs nfacctd tee |")
print("|---|---|---|")
print(f"| nfacctd tee (UDP in, datagrams copied out over UDP) | {tee:,} | 1.00 |")
print(f"| flow-aggregator, UDP in -> TCP out (parsed, enriched) | {tcp:,} | {tcp/max(tee,1):.2f} |")
print(f"| flow-aggregator, UDP in -> UDP out (parsed, enriched) | {udp:,} | {udp/max(tee,1):.2f} |")
PY
