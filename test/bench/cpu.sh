#!/usr/bin/env bash
# make bench, CPU part (issue 15): the CPU time each process spends per record (user + sys,
# less its idle cost over the same time), for flow-aggregator and, in the same run, for
# reference programs carrying the same traffic:
#   - socat, a TCP byte relay that parses nothing (the floor for a user-space TCP relay)
#   - pmacct nfacctd, tee plugin: UDP datagrams copied out untouched
# Unlike a throughput ratio, CPU per record does not depend on what else shares the cores.
# Each row is measured BENCH_REPEATS times (rounds interleave the rows) and the median is
# printed. Also: flow-aggregator's idle CPU (nothing flowing, and with labels from
# BENCH_PODS Pods changing BENCH_UPDATES times a second), and the latency it adds at
# BENCH_CPU_LATENCY_RATE rec/s (p99 must stay within destination.flush_interval + 1 ms).
# Usage: test/bench/cpu.sh BUILD_DIR
#   env: BENCH_CPU_RATE (500000 rec/s, paced), BENCH_CPU_RECORDS (3000000 per row),
#        BENCH_CPU_SESSIONS (8 TCP sessions), BENCH_CPU_EXPORTERS (4 UDP exporters),
#        BENCH_CPU_ROWS (relay tcp labels tls tee udp-tcp udp-udp idle latency),
#        BENCH_REPEATS (3), BENCH_PODS (100000), BENCH_UPDATES (100),
#        BENCH_CPU_RUNTIME (TOML lines added to flow-aggregator's [runtime], e.g. "workers = 1"),
#        BENCH_CPU_COMPARE ([runtime] lines of a second setup measured in the same rounds),
#        BENCH_CPU_FA (another flow-aggregator binary),
#        BENCH_CPU_PERF (a directory: each flow-aggregator row is also recorded there with
#        perf, DIR/ROW.data, round by round; the CPU figures then include perf's cost),
#        BENCH_CPU_STAT (a directory: each flow-aggregator row's system calls and context
#        switches, every round appended to DIR/ROW[.SETUP].stat by `perf stat`, SETUP being
#        BENCH_CPU_RUNTIME's text; and the collector's last report, DIR/ROW[.SETUP].json)
set -euo pipefail

build=${1:-build/release}
rate=${BENCH_CPU_RATE:-500000}
total=${BENCH_CPU_RECORDS:-3000000}
sessions=${BENCH_CPU_SESSIONS:-8}
exporters=${BENCH_CPU_EXPORTERS:-4}
rows=${BENCH_CPU_ROWS:-relay tcp labels tls tee udp-tcp udp-udp idle latency}
repeats=${BENCH_REPEATS:-3}
pods=${BENCH_PODS:-100000}
updates=${BENCH_UPDATES:-100}
lat_rate=${BENCH_CPU_LATENCY_RATE:-100000}
template=${BENCH_TEMPLATE:-antrea-v4}
bin_fa=${BENCH_CPU_FA:-$build/app/flow-aggregator}
bin_gen=$build/tools/ipfix-loadgen
bin_col=$build/tools/ipfix-collector
bin_api=$build/tools/kube-api-test-server
hz=$(getconf CLK_TCK)

source "$(dirname "$0")/common.sh"
bench_setup cpu "$bin_fa" "$bin_gen" "$bin_col" "$bin_api"
command -v socat >/dev/null || { echo "bench: socat not installed" >&2; exit 1; }
command -v nfacctd >/dev/null || { echo "bench: nfacctd (pmacct) not installed" >&2; exit 1; }

free_port() { # $1 = SOCK_STREAM|SOCK_DGRAM
  python3 -c "import socket; s=socket.socket(socket.AF_INET, socket.$1); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"
}
now() { date +%s.%N; }
# group_ticks PGID: utime + stime of every live process in the process group, and of the
# children they reaped (cutime + cstime): socat forks one child per connection.
group_ticks() {
  # (a process may exit between the glob and the read; comm is taken out, it may hold spaces)
  cat /proc/[0-9]*/stat 2>/dev/null | sed 's/^.*) //' |
    awk -v g="$1" '$3 == g {s += $12 + $13 + $14 + $15} END {print s + 0}'
}

start_collector() { # $1 = tcp|udp, rest = extra args
  local mode=$1; shift
  rm -f "$work/col.port" "$work/col.json"
  # Counting only (no --verify): the collector shares the cores and must stay cheap.
  local args=(--listen 127.0.0.1:0 --port-file "$work/col.port" --idle-exit 1s --quiet
    --report "$work/col.json")
  [ "$mode" = udp ] && args+=(--udp)
  "$bin_col" "${args[@]}" "$@" >/dev/null 2>"$work/col.err" &
  col_pid=$!
  for _ in $(seq 200); do [ -s "$work/col.port" ] && break; sleep 0.05; done
  col_port=$(cat "$work/col.port")
}

# start_fa LISTEN DESTINATION_URL [labels]: flow-aggregator with Antrea enrichment, as
# test/bench/run.sh and labels.sh configure it; with labels, ready once the Pods are listed.
start_fa() {
  cat > "$work/fa.toml" <<TOML
cluster_id = "0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11"
[collector]
listen = ["$1"]
max_sessions = 20000
[collector.tls]
cert = "$work/pki/server.crt"
key = "$work/pki/server.key"
[[destination]]
name = "bench"
url = "$2"
[enrichment]
provenance = true
antrea = true
pod_labels = true
fill_k8s_names = true
[admin]
listen = ""
[runtime]
${BENCH_CPU_RUNTIME:-}
[labels]
$(labels_toml $([ "${3:-}" = labels ] && echo on || echo off))
TOML
  run_fa
  if [ "${3:-}" = labels ]; then wait_labels_synced; fi
}

# BENCH_CPU_PERF: a profile of flow-aggregator (sampled at 499 Hz, DWARF call stacks, as
# a Release build has no frame pointers) while the row's traffic flows.
perf_start() { # $1 = row
  [ -n "${BENCH_CPU_PERF:-}" ] || return 0
  mkdir -p "$BENCH_CPU_PERF"
  perf record -q -e cpu-clock -F 499 --call-graph dwarf,16384 -p $fa_pid \
    -o "$BENCH_CPU_PERF/$1.data" 2>/dev/null &
  perf_pid=$!
  sleep 0.5
}
perf_stop() {
  [ -n "${BENCH_CPU_PERF:-}" ] || return 0
  kill -INT $perf_pid; wait $perf_pid || true
}
# BENCH_CPU_STAT: what one row costs in system calls and wake-ups (issue 15), counted by
# `perf stat` on flow-aggregator while the row's traffic flows.
stat_name() { # $1 = row
  local setup; setup=$(printf %s "${BENCH_CPU_RUNTIME:-}" | tr -cs 'a-z0-9' _)
  echo "$BENCH_CPU_STAT/$1${setup:+.$setup}"
}
stat_start() { # $1 = row
  [ -n "${BENCH_CPU_STAT:-}" ] || return 0
  mkdir -p "$BENCH_CPU_STAT"
  local ev=task-clock,context-switches,cpu-migrations
  for s in recvmmsg sendmmsg sendmsg sendto recvfrom read write writev futex epoll_wait getsockopt; do
    ev+=,syscalls:sys_enter_$s
  done
  perf stat -x, -e "$ev" -p $fa_pid --append -o "$(stat_name $1).stat" 2>/dev/null &
  stat_pid=$!
  sleep 0.2
}
stat_stop() { # $1 = row
  [ -n "${BENCH_CPU_STAT:-}" ] || return 0
  kill -INT $stat_pid; wait $stat_pid || true
  cp "$work/col.json" "$(stat_name $1).json"
}

# The loadgen paces `rate` records/s in total; UDP exporters send a ring of pre-encoded
# records (cheap for the sender, see udp.sh); TCP sessions send pre-encoded streams.
send_tcp() { # $1 = port, rest = extra args
  local port=$1; shift
  "$bin_gen" --target 127.0.0.1:$port --template "$template" --seed 1 --quiet \
    --sessions $sessions --records $(( total / sessions )) --rate $rate "$@"
}
send_udp() { # $1 = port, $2 = records per exporter, $3 = odid base
  "$bin_gen" --target 127.0.0.1:$1 --transport udp --template "$template" --seed 1 --quiet \
    --sessions $exporters --records $2 --rate $rate --udp-ring 16384 --odid-base $3 || true
}

# One measured run of a flow-aggregator row; prints "NS_PER_RECORD LOST IDLE_CORES".
fa_row() { # $1 = row
  local row=$1 listen dest in=tcp out=tcp lab=""
  case $row in
  tcp) ;;
  labels) lab=labels ;;
  tls) in=tls ;;
  udp-tcp) in=udp ;;
  udp-udp) in=udp; out=udp ;;
  esac
  start_collector $out
  listen="$in://127.0.0.1:0"
  start_fa "$listen" "ipfix+$out://127.0.0.1:$col_port" $lab
  sleep 1 # what starting (and the first list of Pods) left to do is not idle
  local idle0 t_idle0 idle1 t_idle1
  idle_sample 2
  local c0 t0 c1 t1 sent
  perf_start $row
  stat_start $row
  c0=$(cpu_ticks $fa_pid); t0=$(now)
  case $in in
  tcp) send_tcp $fa_port; sent=$(( total / sessions * sessions )) ;;
  tls) send_tcp $fa_port --tls-ca "$work/pki/ca.crt"; sent=$(( total / sessions * sessions )) ;;
  udp) send_udp $fa_port $(( total / exporters )) 1000; sent=$(( total / exporters * exporters )) ;;
  esac
  wait $col_pid || true
  c1=$(cpu_ticks $fa_pid); t1=$(now)
  perf_stop
  stat_stop $row
  kill -TERM $fa_pid; wait $fa_pid || true
  local got; got=$(json "$work/col.json" "['records']")
  python3 -c "
idle = ($idle1 - $idle0) / $hz / ($t_idle1 - $t_idle0)
cpu = ($c1 - $c0) / $hz - idle * ($t1 - $t0)
print(f'{cpu / max($got, 1) * 1e9:.0f} {$sent - $got} {idle:.4f}')"
}

relay_row() { # socat, one child per TCP session; prints "NS_PER_RECORD LOST 0"
  start_collector tcp
  local port; port=$(free_port SOCK_STREAM)
  setsid socat -b 262144 TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork,backlog=64 \
    TCP:127.0.0.1:$col_port &
  local relay=$!
  for _ in $(seq 100); do ss -ltn "sport = :$port" | grep -q LISTEN && break; sleep 0.05; done
  local c0; c0=$(group_ticks $relay)
  send_tcp $port
  wait $col_pid || true
  sleep 0.2 # the children have exited (the collector saw them close): the parent reaps them
  local c1; c1=$(group_ticks $relay)
  kill -TERM -- -$relay 2>/dev/null || true; wait $relay 2>/dev/null || true
  local got; got=$(json "$work/col.json" "['records']")
  python3 -c "print(f'{($c1 - $c0) / $hz / max($got, 1) * 1e9:.0f} $(( total / sessions * sessions - got )) 0')"
}

tee_row() { # nfacctd tee, as test/bench/udp.sh runs it; prints "NS_PER_RECORD LOST 0"
  start_collector udp
  local port; port=$(free_port SOCK_DGRAM)
  start_tee $port $col_port
  local tee=$tee_pid
  local per=$(( total / exporters ))
  local c0; c0=$(group_ticks $tee)
  send_udp $port $per 1000
  # tee hands datagrams to its plugin in plugin_buffer_size chunks: push the last partial
  # chunk out with other ODIDs (not counted below, and their CPU is a rounding error).
  send_udp $port 2000 9000
  wait $col_pid || true
  local c1; c1=$(group_ticks $tee)
  stop_tee
  [ -z "${BENCH_CPU_STAT:-}" ] || { mkdir -p "$BENCH_CPU_STAT"; cp "$work/col.json" "$BENCH_CPU_STAT/tee.json"; }
  local got
  got=$(python3 -c "import json; d=json.load(open('$work/col.json'))['records_by_header_odid']; print(sum(v for k, v in d.items() if 1000 <= int(k) < 1000 + $exporters))")
  python3 -c "print(f'{($c1 - $c0) / $hz / max($got, 1) * 1e9:.0f} $(( per * exporters - got )) 0')"
}

# Idle CPU, in cores, over 5 s with nothing flowing; $1 = labels for 100k Pods changing.
idle_row() {
  start_collector tcp
  start_fa "tcp://127.0.0.1:0" "ipfix+tcp://127.0.0.1:$col_port" ${1:-}
  sleep 1
  local idle0 t_idle0 idle1 t_idle1
  perf_start idle${1:+-$1}
  idle_sample 5
  perf_stop
  kill -TERM $fa_pid; wait $fa_pid || true
  kill -TERM $col_pid; wait $col_pid || true
  python3 -c "print(f'{($idle1 - $idle0) / $hz / ($t_idle1 - $t_idle0):.4f}')"
}

latency_row() { # $1 = direct|via; prints "P50_US P99_US"
  start_collector tcp --stamp
  local target=$col_port
  if [ $1 = via ]; then start_fa "tcp://127.0.0.1:0" "ipfix+tcp://127.0.0.1:$col_port"; target=$fa_port; fi
  "$bin_gen" --target 127.0.0.1:$target --template "$template" --seed 1 --quiet \
    --sessions 10 --rate $lat_rate --duration 4s --stamp
  wait $col_pid || true
  if [ $1 = via ]; then kill -TERM $fa_pid; wait $fa_pid || true; fi
  echo "$(json "$work/col.json" "['latency_us']['p50']") $(json "$work/col.json" "['latency_us']['p99']")"
}

has() { [[ " $rows " == *" $1 "* ]]; }
bench_pki "$work/pki"
if has labels || has idle; then start_kube_api "$pods" "$updates"; fi
echo "bench cpu: $template, $total records per row at $rate rec/s ($sessions TCP sessions, $exporters UDP exporters), $repeats rounds" >&2
declare -A res
measure() { # $1 = row; prints its figures
  case $1 in
  relay) relay_row ;;
  tee) tee_row ;;
  idle) echo "$(idle_row) $(idle_row labels)" ;;
  latency) local d50 d99 v50 v99
    read -r d50 d99 <<<"$(latency_row direct)"; read -r v50 v99 <<<"$(latency_row via)"
    python3 -c "print($v50 - $d50, $v99 - $d99)" ;;
  *) fa_row $1 ;;
  esac
}
# BENCH_CPU_COMPARE: [runtime] lines for a second flow-aggregator setup measured in the
# same rounds (e.g. CAF's own idle polling: 'idle_spin = 100' and 'idle_poll = "25ms"').
compare=${BENCH_CPU_COMPARE:-}
for r in $(seq $repeats); do
  for row in $rows; do
    out=$(measure $row)
    echo "  round $r: $row: $out" >&2
    res[$row]+="$out;"
    if [ -n "$compare" ] && [ $row != relay ] && [ $row != tee ]; then
      out=$(BENCH_CPU_RUNTIME="$compare" measure $row)
      echo "  round $r: $row (compare): $out" >&2
      res[$row@cmp]+="$out;"
    fi
  done
done
[ -n "${api_pid:-}" ] && { kill -TERM $api_pid; wait $api_pid || true; }

python3 - "$rows" <<PY
import statistics, sys
rows = sys.argv[1].split()
res = {$(for k in "${!res[@]}"; do printf '"%s": "%s", ' "$k" "${res[$k]}"; done)}
cmp = any(k.endswith("@cmp") for k in res)
def col(row, i):
    return statistics.median(float(x.split()[i]) for x in res[row].strip(';').split(';'))
def lost(row):
    return max(int(x.split()[1]) for x in res[row].strip(';').split(';'))
names = {
    "relay": "socat TCP byte relay (parses nothing)",
    "tcp": "flow-aggregator TCP -> TCP, labels off",
    "labels": "flow-aggregator TCP -> TCP, labels from $pods Pods, $updates updates/s",
    "tls": "flow-aggregator TLS -> TCP",
    "tee": "nfacctd tee, UDP -> UDP",
    "udp-tcp": "flow-aggregator UDP -> TCP",
    "udp-udp": "flow-aggregator UDP -> UDP",
}
ref = {"tcp": "relay", "labels": "tcp", "tls": "tcp", "udp-tcp": "tee", "udp-udp": "tee"}
def extra(row, fmt):
    if not cmp:
        return ""
    return " " + (fmt(row + "@cmp") if row + "@cmp" in res else "") + " |"
print()
print("| path ($rate rec/s, median of $repeats) | CPU per record | vs | records lost (worst) |"
      + (" compare setup |" if cmp else ""))
print("|---|---|---|---|" + ("---|" if cmp else ""))
for row in rows:
    if row not in names:
        continue
    ns = col(row, 0)
    vs = ""
    if row in ref and ref[row] in res:
        vs = f"{ns / max(col(ref[row], 0), 1):.2f}x {ref[row]}"
    print(f"| {names[row]} | {ns:,.0f} ns | {vs} | {lost(row)} |"
          + extra(row, lambda k: f"{col(k, 0):,.0f} ns (lost {lost(k)})"))
if "idle" in res:
    print(f"| flow-aggregator idle, nothing flowing | {col('idle', 0):.3f} core | | |"
          + extra("idle", lambda k: f"{col(k, 0):.3f} core"))
    print(f"| flow-aggregator idle, $pods Pods, $updates updates/s | {col('idle', 1):.3f} core | | |"
          + extra("idle", lambda k: f"{col(k, 1):.3f} core"))
if "latency" in res:
    print(f"| added latency p50 / p99 at $lat_rate rec/s | {col('latency', 0):,.0f} / {col('latency', 1):,.0f} us | | |"
          + extra("latency", lambda k: f"{col(k, 0):,.0f} / {col(k, 1):,.0f} us"))
PY
