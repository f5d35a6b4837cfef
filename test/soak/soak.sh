#!/usr/bin/env bash
# Soak test (issue 16; `make soak`, not part of ctest): SOAK_MINUTES of steady load with
# what goes wrong in production happening at once, against a Release build:
#
#   - ipfix-loadgen: 8 TCP sessions at SOAK_RATE records/s and 2 UDP sessions at
#     SOAK_UDP_RATE, Antrea agent records, for the whole run;
#   - the collector "restarts" every SOAK_RESTART_SECONDS: one ipfix-collector --verify
#     counts everything, behind test/soak/relay.py, which alternately stops gracefully
#     (half-close, as a collector's stop) and is killed with SIGKILL (a crash: what it had
#     accepted but not passed on is lost, RFC 7011 has no acknowledgement);
#   - Pod churn: Pod labels come from kube-api-test-server over TLS (LIST + WATCH), which
#     changes the labels of SOAK_POD_UPDATES Pods a second;
#   - a reload every SOAK_RELOAD_SECONDS: SIGHUP with the destinations changed (a second
#     destination, "side", with its own collector, added and removed in turn);
#   - test/soak/hostile.py in parallel: idle connections, garbage, partial messages,
#     slowloris on the admin port, garbage datagrams, and a timed /healthz every second.
#
# Every SOAK_SAMPLE_SECONDS it samples flow-aggregator's RSS, open descriptors and threads
# (/proc) and its counters (/metrics). At the end test/soak/report.py prints the samples
# and fails when RSS, descriptors or threads grew beyond their tolerance between the
# start (after a warm-up) and the end, when the records do not add up exactly
# (loadgen sent = received [+ UDP losses counted upstream]; received = sent once (sent
# minus replayed) + counted drops; each collector's distinct records = sent once to it,
# duplicates only as counted replays, none changed), when a reload failed, or when the
# probes failed or were slow.
#
# Usage: test/soak/soak.sh [BUILD_DIR]     (make soak; nice it on a shared machine)
#   env: SOAK_MINUTES (30), SOAK_RATE (20000), SOAK_UDP_RATE (2000), SOAK_POD_UPDATES (20),
#        SOAK_RESTART_SECONDS (150), SOAK_RELOAD_SECONDS (60), SOAK_SAMPLE_SECONDS (10),
#        SOAK_RSS_GROWTH_MB (24), SOAK_FD_GROWTH (16), SOAK_THREAD_GROWTH (0),
#        SOAK_OUT (BUILD_DIR/soak: the samples, report and logs are kept there)
set -euo pipefail

build=${1:-build/release}
minutes=${SOAK_MINUTES:-30}
rate=${SOAK_RATE:-20000}
udp_rate=${SOAK_UDP_RATE:-2000}
pod_updates=${SOAK_POD_UPDATES:-20}
restart_every=${SOAK_RESTART_SECONDS:-150}
reload_every=${SOAK_RELOAD_SECONDS:-60}
sample_every=${SOAK_SAMPLE_SECONDS:-10}
out=${SOAK_OUT:-$build/soak}
here=$(cd "$(dirname "$0")" && pwd)
bin_fa=$build/app/flow-aggregator
bin_gen=$build/tools/ipfix-loadgen
bin_col=$build/tools/ipfix-collector
bin_api=$build/tools/kube-api-test-server
seed=7

source "$here/../bench/common.sh"
bench_setup soak "$bin_fa" "$bin_gen" "$bin_col" "$bin_api"
mkdir -p "$out"
rm -f "$out"/*
say() { echo "soak: $*" >&2; }

wait_port_file() { # $1 = file, $2 = what
  for _ in $(seq 300); do [ -s "$1" ] && return 0; sleep 0.1; done
  say "$2 did not start"; exit 1
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

metrics() { curl -s --max-time 5 "http://127.0.0.1:$admin_port/metrics"; }
metric() { # $1 = file, $2 = name, rest = label=value: the sum of the matching series
  python3 "$here/report.py" metric "$@"
}

# -- the world around flow-aggregator ----------------------------------------------------

bench_pki "$work/pki"
"$bin_api" --cert "$work/pki/server.crt" --key "$work/pki/server.key" --token bench-token \
  --pods 4000 --updates-per-second "$pod_updates" --port-file "$work/api.port" \
  2>"$out/kube-api.log" &
wait_port_file "$work/api.port" "kube-api-test-server"

start_collector() { # $1 = name; sets col_pid
  "$bin_col" --listen 127.0.0.1:0 --port-file "$work/$1.port" --verify $seed --quiet \
    --report "$out/collector-$1.json" >/dev/null 2>"$out/collector-$1.log" &
  col_pid=$!
  wait_port_file "$work/$1.port" "the $1 collector"
}
start_collector main
main_pid=$col_pid
start_collector side
side_pid=$col_pid
relay_port=$(free_port)
relay_pid=
start_relay() {
  python3 "$here/relay.py" "$relay_port" "$(cat "$work/main.port")" 2>>"$out/relay.log" &
  relay_pid=$!
  sleep 0.3
}
start_relay

side=0
write_config() { # the destinations: main always, side when $side is 1
  {
    cat <<TOML
cluster_id = "0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11"
[collector]
listen = ["tcp://127.0.0.1:0", "udp://127.0.0.1:0"]
[[destination]]
name = "main"
url = "ipfix+tcp://127.0.0.1:$relay_port"
reconnect_min = "200ms"
reconnect_max = "2s"
TOML
    if [ "$side" = 1 ]; then
      cat <<TOML
[[destination]]
name = "side"
url = "ipfix+tcp://127.0.0.1:$(cat "$work/side.port")"
TOML
    fi
    cat <<TOML
[enrichment]
fill_k8s_names = false # the input fields stay as sent: ipfix-collector --verify compares them
[labels]
source = "kubernetes"
[kubernetes]
api_server = "https://127.0.0.1:$(cat "$work/api.port")"
token_file = "$work/pki/token"
ca_file = "$work/pki/ca.crt"
[admin]
listen = "127.0.0.1:0"
TOML
  } >"$work/fa.toml.new"
  mv "$work/fa.toml.new" "$work/fa.toml"
}
write_config
FA_STATE_DIR=$work "$bin_fa" run -c "$work/fa.toml" 2>"$out/fa.log" &
fa_pid=$!
for _ in $(seq 300); do grep -q 'admin_port=' "$out/fa.log" 2>/dev/null && break; sleep 0.1; done
listen_port() { grep -o "event=listening transport=$1 address=[^ ]* port=[0-9]*" "$out/fa.log" | head -1 | sed 's/.*port=//'; }
tcp_port=$(listen_port tcp)
udp_port=$(listen_port udp)
admin_port=$(grep -o 'admin_port=[0-9]*' "$out/fa.log" | head -1 | cut -d= -f2)
[ -n "$tcp_port" ] && [ -n "$udp_port" ] && [ -n "$admin_port" ] || {
  say "flow-aggregator did not start"; cat "$out/fa.log" >&2; exit 1; }
for _ in $(seq 600); do
  metrics | grep -q '^flow_aggregator_label_cache_ready 1' && break; sleep 0.1
done

# -- load, hostility, churn --------------------------------------------------------------

"$bin_gen" --target "127.0.0.1:$tcp_port" --sessions 8 --rate "$rate" --duration "${minutes}m" \
  --template antrea-v4 --seed $seed --odid-base 1000 --connect-timeout 10s --close-timeout 60s \
  --report "$out/loadgen-tcp.json" --quiet 2>"$out/loadgen-tcp.log" &
gen_tcp_pid=$!
"$bin_gen" --target "127.0.0.1:$udp_port" --transport udp --sessions 2 --rate "$udp_rate" \
  --duration "${minutes}m" --template antrea-v4 --seed $seed --odid-base 2000 \
  --report "$out/loadgen-udp.json" --quiet 2>"$out/loadgen-udp.log" &
gen_udp_pid=$!
python3 "$here/hostile.py" attack "$tcp_port" "$udp_port" "$admin_port" "$out/hostile.json" \
  2>"$out/hostile.log" &
hostile_pid=$!
python3 "$here/hostile.py" probe "$admin_port" "$out/probes.json" 2>"$out/probes.log" &
probes_pid=$!

say "pid $fa_pid: tcp $tcp_port, udp $udp_port, admin $admin_port; $minutes min at $rate + $udp_rate records/s"
python3 "$here/report.py" sample-header >"$out/samples.csv"
sample() { # $1 = seconds since the start: one line of samples.csv
  local probe
  probe=$(curl -s -o /dev/null --max-time 10 -w '%{time_total}' "http://127.0.0.1:$admin_port/healthz" || echo 10)
  metrics >"$work/m.txt" || true
  python3 "$here/report.py" sample "$work/m.txt" "$fa_pid" "$1" "$probe" >>"$out/samples.csv"
}

start=$(date +%s)
end=$((start + minutes * 60))
next_sample=$start next_restart=$((start + restart_every)) next_reload=$((start + reload_every))
restarts=0 crashes=0 reloads=0
while [ "$(date +%s)" -lt "$end" ]; do
  now=$(date +%s)
  if [ "$now" -ge "$next_sample" ]; then
    sample $((now - start))
    next_sample=$((next_sample + sample_every))
  fi
  if [ "$now" -ge "$next_restart" ]; then
    restarts=$((restarts + 1))
    if [ $((restarts % 2)) = 0 ]; then
      crashes=$((crashes + 1))
      say "$((now - start))s: collector crash (SIGKILL)"
      kill -KILL "$relay_pid"
    else
      say "$((now - start))s: collector restart (graceful)"
      kill -TERM "$relay_pid"
    fi
    wait "$relay_pid" 2>/dev/null || true
    sleep 2
    start_relay
    next_restart=$((next_restart + restart_every))
  fi
  if [ "$now" -ge "$next_reload" ]; then
    side=$((1 - side))
    write_config
    kill -HUP "$fa_pid"
    reloads=$((reloads + 1))
    say "$((now - start))s: reload, side destination $([ $side = 1 ] && echo added || echo removed)"
    next_reload=$((next_reload + reload_every))
  fi
  kill -0 "$fa_pid" 2>/dev/null || { say "flow-aggregator died"; tail -20 "$out/fa.log" >&2; exit 1; }
  sleep 1
done

# -- the end: drain, count, compare ------------------------------------------------------

say "load done; draining"
wait "$gen_tcp_pid" || say "the TCP loadgen exited with $?"
wait "$gen_udp_pid" || say "the UDP loadgen exited with $?"
kill -TERM "$hostile_pid" "$probes_pid"
wait "$hostile_pid" || true
wait "$probes_pid" || true
sample $(($(date +%s) - start))
# Drained: nothing queued and nothing sent for three seconds in a row.
last='' same=0
for _ in $(seq 120); do
  metrics >"$work/m.txt" || true
  now_sent="$(metric "$work/m.txt" flow_aggregator_records_sent_total)/$(metric "$work/m.txt" flow_aggregator_destination_queue_bytes)"
  if [ "$now_sent" = "$last" ] && [ "${now_sent#*/}" = 0 ]; then
    same=$((same + 1)); [ $same -ge 3 ] && break
  else
    same=0
  fi
  last=$now_sent
  sleep 1
done
for _ in $(seq 10); do metrics >"$out/metrics-final.txt" && break; sleep 1; done
kill -TERM "$fa_pid"
wait "$fa_pid" || say "flow-aggregator exited with $?"
kill -TERM "$relay_pid"
wait "$relay_pid" 2>/dev/null || true
kill -TERM "$main_pid" "$side_pid"
wait "$main_pid" || true
wait "$side_pid" || true
echo "{\"minutes\": $minutes, \"restarts\": $restarts, \"crashes\": $crashes, \"reloads\": $reloads}" \
  >"$out/run.json"
python3 "$here/report.py" report "$out"
