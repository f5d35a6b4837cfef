#!/usr/bin/env bash
# Labels benchmark (issue 4): loadgen -> flow-aggregator -> collector over loopback, the
# same path as test/bench/run.sh, once with Pod labels from the Kubernetes API and once
# with labels off, alternating in one run so the ratio is fair on a shared machine.
# With labels on, the API server (kube-api-test-server, over TLS) holds 100,000 Pods
# whose addresses cover every Pod address the loadgen sends, and changes the labels of
# 100 of those Pods per second throughout: the enrichers keep getting new snapshots while
# they look up two addresses per record.
# Usage: test/bench/labels.sh BUILD_DIR [SESSIONS] [RECORDS_PER_SESSION]
#   env: BENCH_PODS (100000), BENCH_UPDATES (100 per second), BENCH_REPEATS (3),
#        BENCH_TEMPLATE (antrea-v4)
set -euo pipefail

build=${1:-build/release}
sessions=${2:-10}
records=${3:-400000}
pods=${BENCH_PODS:-100000}
updates=${BENCH_UPDATES:-100}
repeats=${BENCH_REPEATS:-3}
template=${BENCH_TEMPLATE:-antrea-v4}
bin_fa=$build/app/flow-aggregator
bin_gen=$build/tools/ipfix-loadgen
bin_col=$build/tools/ipfix-collector
bin_api=$build/tools/kube-api-test-server

source "$(dirname "$0")/common.sh"
bench_setup labels "$bin_fa" "$bin_gen" "$bin_col" "$bin_api"

start_collector() { # $1 = name
  rm -f "$work/$1.port"
  "$bin_col" --listen 127.0.0.1:0 --port-file "$work/$1.port" --idle-exit 1s --quiet \
    --report "$work/$1.json" >/dev/null 2>"$work/$1.err" &
  col_pid=$!
  for _ in $(seq 200); do [ -s "$work/$1.port" ] && break; sleep 0.05; done
  col_port=$(cat "$work/$1.port")
}

start_fa() { # $1 = destination port, $2 = on|off
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
fill_k8s_names = true
[admin]
listen = ""
[labels]
$(labels_toml $2)
TOML
  run_fa
  # Ready = the first full list of every Pod is indexed and published.
  if [ "$2" = on ]; then wait_labels_synced; fi
}

stop_fa() {
  fa_rss=$(awk '/VmHWM/ {print $2}' /proc/$fa_pid/status)
  kill -TERM $fa_pid; wait $fa_pid || true
}

run() { # $1 = on|off -> "records/s rss_kib"
  start_collector "via_$1"
  start_fa $col_port $1
  "$bin_gen" --target 127.0.0.1:$fa_port --template "$template" --seed 1 --quiet \
    --pregen-limit 4GiB --sessions $sessions --records $records
  wait $col_pid || true
  stop_fa
  local got; got=$(json "$work/via_$1.json" "['records']")
  [ "$got" -eq $((sessions * records)) ] || echo "bench: $((sessions * records - got)) records missing (labels $1)" >&2
  echo "$(json "$work/via_$1.json" "['records_per_s']") $fa_rss"
}

# The records carry real labels and names: a short run with labels on, every record
# printed by the collector as JSON. Sources and destinations at Pod addresses (10.244/16)
# must have their Pod's labels, and InterNode records their filled names.
verify_labels() {
  rm -f "$work/check.port"
  "$bin_col" --listen 127.0.0.1:0 --port-file "$work/check.port" --idle-exit 1s --print \
    >"$work/check.jsonl" 2>"$work/check.err" &
  col_pid=$!
  for _ in $(seq 200); do [ -s "$work/check.port" ] && break; sleep 0.05; done
  start_fa "$(cat "$work/check.port")" on
  "$bin_gen" --target 127.0.0.1:$fa_port --template "$template" --seed 2 --quiet \
    --sessions 1 --records 2000
  wait $col_pid || true
  stop_fa
  python3 - "$work/check.jsonl" <<'PY'
import json, sys
n = labelled = filled = 0
bad = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    n += 1
    for side in ("source", "destination"):
        addr = r.get(side + "IPv4Address", "")
        labels = r.get(side + "PodLabels")
        if addr.startswith("10.244."):
            if not labels or "app" not in json.loads(labels):
                bad.append(f"{side} {addr}: labels {labels!r}")
            else:
                labelled += 1
            if r.get("flowType") == 2:
                if r.get(side + "PodName") and r.get(side + "PodNamespace"):
                    filled += 1
                else:
                    bad.append(f"InterNode {side} {addr}: no Pod name")
if n < 2000 or bad or labelled == 0 or filled == 0:
    print(f"bench: label check failed: {n} records, {len(bad)} wrong, e.g. {bad[:3]}",
          file=sys.stderr)
    sys.exit(1)
print(f"bench: label check: {n} records, {labelled} Pod addresses labelled, "
      f"{filled} InterNode Pod names present", file=sys.stderr)
PY
}

bench_pki "$work/pki"
start_kube_api "$pods" "$updates"
verify_labels
echo "bench: $template, $sessions sessions x $records records, $repeats rounds; labels on = $pods Pods, $updates updates/s" >&2
best_off=0; best_on=0
for r in $(seq $repeats); do
  read -r off rss_off <<<"$(run off)"
  read -r on rss_on <<<"$(run on)"
  echo "  round $r: labels off $off rec/s (rss ${rss_off} KiB), labels on $on rec/s (rss ${rss_on} KiB)" >&2
  best_off=$(python3 -c "print(max($best_off, $off))")
  best_on=$(python3 -c "print(max($best_on, $on))")
done
kill -TERM $api_pid; wait $api_pid || true
tail -1 "$work/api.err" >&2
python3 - <<PY
off, on = $best_off, $best_on
print()
print("| measure | value |")
print("|---|---|")
print(f"| labels off, records/s | {off:,.0f} |")
print(f"| labels on ($pods Pods, $updates updates/s), records/s | {on:,.0f} |")
print(f"| ratio (labels on / off) | {on/off:.3f} |")
print(f"| flow-aggregator peak RSS, labels off / on | {$rss_off/1024:.0f} MiB / {$rss_on/1024:.0f} MiB |")
PY
