#!/usr/bin/env bash
# make bench, TLS part (issue 3): loadgen -TLS-> flow-aggregator -TCP-> collector next to
# loadgen -TCP-> flow-aggregator -TCP-> collector, rounds alternating in one run, so the
# ratio (target >= 0.7) is fair on a shared machine. Both load generators send streams
# encoded before the run (--pregen-limit); over TLS the stream is also encrypted before
# any session sends, so the sender's cipher does not take the CPU flow-aggregator is
# measured on: the ratio is what TLS costs flow-aggregator (and the kernel), not the
# load generator. flow-aggregator still decrypts every octet.
# Usage: test/bench/tls.sh BUILD_DIR
set -euo pipefail

build=${1:-build/release}
sessions=${BENCH_TLS_SESSIONS:-4}
records=${BENCH_TLS_RECORDS:-1000000}
repeats=${BENCH_REPEATS:-3}
template=${BENCH_TEMPLATE:-antrea-v4}
bin_fa=$build/app/flow-aggregator
bin_gen=$build/tools/ipfix-loadgen
bin_col=$build/tools/ipfix-collector

source "$(dirname "$0")/common.sh"
bench_setup tls "$bin_fa" "$bin_gen" "$bin_col"


# A CA and a server certificate for 127.0.0.1 (ECDSA P-256: what a modern deployment uses).
openssl ecparam -name prime256v1 -genkey -noout -out "$work/ca.key" 2>/dev/null
openssl req -x509 -new -key "$work/ca.key" -subj /CN=bench-ca -days 1 -out "$work/ca.crt" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$work/server.key" 2>/dev/null
openssl req -new -key "$work/server.key" -subj /CN=flow-aggregator -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > "$work/server.ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" \
  -CAcreateserial -days 1 -extfile "$work/server.ext" -out "$work/server.crt" 2>/dev/null

run_once() { # $1 = tcp|tls; prints records/s at the collector
  local mode=$1
  rm -f "$work/col.port" "$work/col.json"
  "$bin_col" --listen 127.0.0.1:0 --port-file "$work/col.port" --idle-exit 1s --quiet \
    --report "$work/col.json" >/dev/null 2>"$work/col.err" &
  local col_pid=$!
  for _ in $(seq 200); do [ -s "$work/col.port" ] && break; sleep 0.05; done
  cat > "$work/fa.toml" <<TOML
cluster_id = "0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11"
[collector]
listen = ["$mode://127.0.0.1:0"]
[collector.tls]
cert = "$work/server.crt"
key = "$work/server.key"
[[destination]]
name = "bench"
url = "ipfix+tcp://127.0.0.1:$(cat "$work/col.port")"
[admin]
listen = ""
TOML
  run_fa
  local port=$fa_port
  local tls_args=()
  [ "$mode" = tls ] && tls_args=(--tls-ca "$work/ca.crt")
  "$bin_gen" --target 127.0.0.1:$port --template "$template" --seed 1 --quiet \
    --sessions $sessions --records $records --pregen-limit 4GiB "${tls_args[@]}"
  wait $col_pid || true
  kill -TERM $fa_pid; wait $fa_pid || true
  local got
  got=$(json "$work/col.json" "['records']")
  [ "$got" -eq $(( sessions * records )) ] ||
    echo "bench: $mode lost $(( sessions * records - got )) records" >&2
  json "$work/col.json" "['records_per_s']"
}

echo "bench tls: $template, $sessions sessions x $records records, $repeats rounds" >&2
best_tcp=0; best_tls=0
for r in $(seq $repeats); do
  t=$(run_once tcp)
  s=$(run_once tls)
  echo "  round $r: tcp in $t rec/s, tls in $s rec/s" >&2
  best_tcp=$(python3 -c "print(max($best_tcp, $t))")
  best_tls=$(python3 -c "print(max($best_tls, $s))")
done
python3 - <<PY
tcp, tls = $best_tcp, $best_tls
print()
print("| records/s through flow-aggregator (TCP out) | value |")
print("|---|---|")
print(f"| TCP in | {tcp:,.0f} |")
print(f"| TLS in | {tls:,.0f} |")
print(f"| ratio TLS / TCP | {tls/tcp:.2f} |")
PY
