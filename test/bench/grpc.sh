#!/usr/bin/env bash
# make bench, gRPC part (issue 13): CPU of the flow-aggregator process per record for
# gRPC in (Antrea's FlowExportService) against IPFIX over TCP in, the same records
# (grpc-loadgen sends ipfix-loadgen's records as Flows), rounds alternating in one run.
# gRPC is measured with one Flow per request (what an Agent sends) and with many per
# request; one Flow per request twice, from grpc-loadgen (C++ libgrpc: each request its
# own write) and from grpc-go-agent (grpc-go, the Agent's own library, which coalesces the
# frames queued while it writes), with the same requests (grpc-loadgen --dump). Once per
# run, a short extra run of each one-Flow loader counts its write system calls (perf's
# syscall tracepoints), so the requests per write say what the server receives. The CPU
# is flow-aggregator's own (utime + stime from /proc/PID/stat, from before the load
# until the collector has every record), so the load generators' CPU on
# the same cores does not count. Target: gRPC <= 2x IPFIX TCP per record. A last row
# measures gRPC alone (grpc-sink: the same server setup, reading and discarding), the
# floor under the one-Flow-per-request row.
# Usage: test/bench/grpc.sh BUILD_DIR
# Knobs: BENCH_GRPC_STREAMS, BENCH_GRPC_RECORDS (per stream), BENCH_GRPC_PER_REQUEST,
#        BENCH_REPEATS, BENCH_TEMPLATE, BENCH_GRPC_PERF (a directory: each mode's
#        flow-aggregator is also recorded there with perf, DIR/MODE-ROUND.data; the CPU
#        figures then include perf's cost), BENCH_GRPC_BASE (another build directory,
#        say main's: each round also measures its flow-aggregator's gRPC rows, for an
#        A/B in one run on a shared machine)
set -euo pipefail

build=${1:-build/release}
streams=${BENCH_GRPC_STREAMS:-4}
records=${BENCH_GRPC_RECORDS:-250000}
many=${BENCH_GRPC_PER_REQUEST:-100}
repeats=${BENCH_REPEATS:-3}
template=${BENCH_TEMPLATE:-antrea-v4}
bin_fa=$build/app/flow-aggregator
bin_gen=$build/tools/ipfix-loadgen
bin_grpc=$build/tools/grpc-loadgen/grpc-loadgen
bin_col=$build/tools/ipfix-collector
bin_sink=$build/test/bench/grpc-sink
bin_go=$build/tools/grpc-go-agent/grpc-go-agent
base_fa=${BENCH_GRPC_BASE:+$BENCH_GRPC_BASE/app/flow-aggregator}

source "$(dirname "$0")/common.sh"
bench_setup grpc "$bin_fa" "$bin_gen" "$bin_grpc" "$bin_col" "$bin_sink"
hz=$(getconf CLK_TCK)
# grpc-go-agent is built only where `go` is (tools/grpc-go-agent/CMakeLists.txt).
if [ -x "$bin_go" ]; then
  "$bin_grpc" --template "$template" --seed 1 --streams $streams --records $records \
    --flows-per-request 1 --dump "$work/requests"
  go_requests=()
  for s in $(seq 0 $(( streams - 1 ))); do go_requests+=(--requests "$work/requests.$s"); done
else
  echo "bench: $bin_go not built (no go at configure time): its row is skipped" >&2
fi

# BENCH_GRPC_PERF: a profile of flow-aggregator (sampled at 499 Hz, DWARF call stacks, as
# a Release build has no frame pointers) while the load runs.
perf_start() { # $1 = file name
  [ -n "${BENCH_GRPC_PERF:-}" ] || return 0
  mkdir -p "$BENCH_GRPC_PERF"
  perf record -q -e cpu-clock -F 499 --call-graph dwarf,16384 -p $fa_pid \
    -o "$BENCH_GRPC_PERF/$1.data" 2>/dev/null &
  perf_pid=$!
  sleep 0.5
}
perf_stop() {
  [ -n "${BENCH_GRPC_PERF:-}" ] || return 0
  kill -INT $perf_pid; wait $perf_pid || true
}

sink_once() { # prints "µs of grpc-sink CPU per Flow", one Flow per request
  rm -f "$work/sink.port"
  "$bin_sink" --port-file "$work/sink.port" 2>"$work/sink.err" &
  local sink_pid=$!
  for _ in $(seq 200); do [ -s "$work/sink.port" ] && break; sleep 0.05; done
  local before after
  before=$(cpu_ticks $sink_pid)
  "$bin_grpc" --target 127.0.0.1:$(cat "$work/sink.port") --template "$template" --seed 1 \
    --streams $streams --records $records --flows-per-request 1 >/dev/null
  after=$(cpu_ticks $sink_pid)
  kill -TERM $sink_pid; wait $sink_pid || true
  python3 -c "print(($after - $before) / $hz * 1e6 / $(( streams * records )))"
}

# run_once MODE ROUND [RECORDS [WRAP...]]: prints "µs of flow-aggregator CPU per record";
# MODE tcp|grpc1|grpcgo|grpcN; WRAP runs the load generator (the write counts below).
run_once() {
  local mode=$1 records=${3:-$records}
  local wrap=("${@:4}")
  rm -f "$work/col.port" "$work/col.json"
  # The collector ends the run once idle: longer under perf, which can stall the process.
  local idle=1s
  [ -n "${BENCH_GRPC_PERF:-}" ] && idle=5s
  "$bin_col" --listen 127.0.0.1:0 --port-file "$work/col.port" --idle-exit $idle --quiet \
    --report "$work/col.json" >/dev/null 2>"$work/col.err" &
  local col_pid=$!
  for _ in $(seq 200); do [ -s "$work/col.port" ] && break; sleep 0.05; done
  local listen='tcp://127.0.0.1:0'
  [ "$mode" != tcp ] && listen='grpc://127.0.0.1:0'
  cat > "$work/fa.toml" <<TOML
cluster_id = "0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11"
[collector]
listen = ["$listen"]
[[destination]]
name = "bench"
url = "ipfix+tcp://127.0.0.1:$(cat "$work/col.port")"
[admin]
listen = ""
TOML
  run_fa
  perf_start "$mode-$2"
  local before after
  before=$(cpu_ticks $fa_pid)
  case $mode in
  tcp) "$bin_gen" --target 127.0.0.1:$fa_port --template "$template" --seed 1 --quiet \
         --sessions $streams --records $records --pregen-limit 4GiB ;;
  grpc1) "${wrap[@]}" "$bin_grpc" --target 127.0.0.1:$fa_port --template "$template" --seed 1 \
           --streams $streams --records $records --flows-per-request 1 >/dev/null ;;
  grpcgo) "${wrap[@]}" "$bin_go" --target 127.0.0.1:$fa_port "${go_requests[@]}" \
            --streams $streams --records $records >/dev/null ;;
  grpcN) "$bin_grpc" --target 127.0.0.1:$fa_port --template "$template" --seed 1 \
           --streams $streams --records $records --flows-per-request $many >/dev/null ;;
  esac
  wait $col_pid || true
  after=$(cpu_ticks $fa_pid)
  perf_stop
  kill -TERM $fa_pid; wait $fa_pid || true
  local got
  got=$(json "$work/col.json" "['records']")
  [ "$got" -eq $(( streams * records )) ] ||
    echo "bench: $mode lost $(( streams * records - got )) records" >&2
  python3 -c "print(($after - $before) / $hz * 1e6 / $got)"
}

echo "bench grpc: $template, $streams streams x $records records, $repeats rounds" >&2
best_tcp=1e9; best_one=1e9; best_many=1e9; best_sink=1e9; best_bone=1e9; best_bmany=1e9
best_go=1e9; best_bgo=1e9
for r in $(seq $repeats); do
  t=$(run_once tcp $r)
  o=$(run_once grpc1 $r)
  m=$(run_once grpcN $r)
  g=1e9; [ -x "$bin_go" ] && g=$(run_once grpcgo $r)
  k=$(sink_once)
  printf '  round %s: CPU us/record: ipfix tcp %.3f, grpc 1/request %.3f, grpc-go 1/request %.3f, grpc %s/request %.3f, grpc-sink 1/request %.3f\n' \
    "$r" "$t" "$o" "$g" "$many" "$m" "$k" >&2
  if [ -n "$base_fa" ]; then
    ours=$bin_fa; bin_fa=$base_fa
    bo=$(run_once grpc1 base-$r)
    bg=1e9; [ -x "$bin_go" ] && bg=$(run_once grpcgo base-$r)
    bm=$(run_once grpcN base-$r)
    bin_fa=$ours
    printf '  round %s, %s: grpc 1/request %.3f, grpc-go 1/request %.3f, grpc %s/request %.3f\n' \
      "$r" "$BENCH_GRPC_BASE" "$bo" "$bg" "$many" "$bm" >&2
    best_bone=$(python3 -c "print(min($best_bone, $bo))")
    best_bgo=$(python3 -c "print(min($best_bgo, $bg))")
    best_bmany=$(python3 -c "print(min($best_bmany, $bm))")
  fi
  best_go=$(python3 -c "print(min($best_go, $g))")
  best_tcp=$(python3 -c "print(min($best_tcp, $t))")
  best_one=$(python3 -c "print(min($best_one, $o))")
  best_many=$(python3 -c "print(min($best_many, $m))")
  best_sink=$(python3 -c "print(min($best_sink, $k))")
done

# Requests per write system call of each one-Flow loader, against this build's
# flow-aggregator (a short run of its own: perf counts the loader's write, writev,
# sendmsg and sendto calls, every thread; libgrpc writes with sendmsg, grpc-go with write).
writes_once() { # $1 = grpc1|grpcgo; prints "writes requests/write"
  local n=$(( records < 50000 ? records : 50000 ))
  run_once "$1" writes $n perf stat -x, -o "$work/writes.csv" -e syscalls:sys_enter_write \
    -e syscalls:sys_enter_writev -e syscalls:sys_enter_sendmsg -e syscalls:sys_enter_sendto -- \
    >/dev/null
  awk -F, -v req=$(( streams * n )) '$3 ~ /^syscalls:/ {w += $1}
    END {if (w > 0) printf "%d %.1f\n", w, req / w; else print "0 0"}' "$work/writes.csv"
}
writes_c=""; writes_go=""
if perf stat -e syscalls:sys_enter_write -o /dev/null -- true 2>/dev/null; then
  writes_c=$(writes_once grpc1)
  [ -x "$bin_go" ] && writes_go=$(writes_once grpcgo)
else
  echo "bench: perf cannot count syscall tracepoints here: requests per write not measured" >&2
fi

python3 - <<PY
tcp, one, many, sink, go = $best_tcp, $best_one, $best_many, $best_sink, $best_go
writes_c, writes_go = "$writes_c".split(), "$writes_go".split()
def per_write(w):
    return f"{w[1]} ({w[0]} writes)" if w else "not measured"
print()
print("| flow-aggregator CPU per record (TCP out) | µs | vs IPFIX TCP | requests per write |")
print("|---|---|---|---|")
print(f"| IPFIX over TCP in | {tcp:.3f} | 1.00 | |")
print(f"| gRPC in, 1 Flow per request, C++ libgrpc client (grpc-loadgen) | {one:.3f} | {one/tcp:.2f} | {per_write(writes_c)} |")
if go < 1e9:
    print(f"| gRPC in, 1 Flow per request, grpc-go client (the Agent's library) | {go:.3f} | {go/tcp:.2f} | {per_write(writes_go)} |")
print(f"| gRPC in, $many Flows per request | {many:.3f} | {many/tcp:.2f} | |")
print(f"| gRPC alone (grpc-sink: reads, discards), 1 Flow per request | {sink:.3f} | {sink/tcp:.2f} | |")
if "$base_fa":
    bone, bgo, bmany = $best_bone, $best_bgo, $best_bmany
    print(f"| ${BENCH_GRPC_BASE:-}: gRPC in, 1 Flow per request | {bone:.3f} | {bone/tcp:.2f} | |")
    if bgo < 1e9:
        print(f"| ${BENCH_GRPC_BASE:-}: gRPC in, 1 Flow per request, grpc-go client | {bgo:.3f} | {bgo/tcp:.2f} | |")
    print(f"| ${BENCH_GRPC_BASE:-}: gRPC in, $many Flows per request | {bmany:.3f} | {bmany/tcp:.2f} | |")
PY
