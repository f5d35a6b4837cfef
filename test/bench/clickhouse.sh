#!/usr/bin/env bash
# make bench, ClickHouse part (issue 12): loadgen -> flow-aggregator -> a local
# clickhouse-server (Debian's, on its own directory and ports) next to loadgen ->
# flow-aggregator -> ipfix-collector, rounds alternating in one run. Prints rows/s into
# ClickHouse and flow-aggregator's CPU per row beside its CPU per record with the IPFIX
# destination (target: at most 2x), and where the ClickHouse writer thread's share goes,
# for each insert format and compression, into a MergeTree table and into a Null one.
# Usage: test/bench/clickhouse.sh BUILD_DIR
set -euo pipefail

build=${1:-build/release}
sessions=${BENCH_CH_SESSIONS:-4}
records=${BENCH_CH_RECORDS:-250000}
repeats=${BENCH_REPEATS:-3}
template=${BENCH_TEMPLATE:-antrea-v4}
# FORMAT:COMPRESSION:TABLE; flows_null is the same table with ENGINE = Null: the server
# parses every row and stores none, so flow-aggregator runs at its own pace rather than
# the MergeTree's on these two shared cores.
variants=${BENCH_CH_VARIANTS:-"RowBinary:none:flows RowBinary:none:flows_null RowBinary:gzip:flows_null JSONEachRow:none:flows_null"}
bin_fa=$build/app/flow-aggregator
bin_gen=$build/tools/ipfix-loadgen
bin_col=$build/tools/ipfix-collector
total=$((sessions * records))
hz=$(getconf CLK_TCK)

source "$(dirname "$0")/common.sh"
bench_setup clickhouse "$bin_fa" "$bin_gen" "$bin_col"
command -v clickhouse-server >/dev/null || { echo "bench: clickhouse-server not installed" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The server: a minimal config on $work/ch, loopback ports chosen now.
ch_http=$(free_port); ch_tcp=$(free_port)
mkdir -p "$work/ch"
cat > "$work/ch/users.xml" <<XML
<?xml version="1.0"?>
<yandex><profiles><default></default></profiles><quotas><default></default></quotas>
<users><default><password></password><networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota></default></users></yandex>
XML
cat > "$work/ch/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$ch_http</http_port><tcp_port>$ch_tcp</tcp_port>
  <path>$work/ch/data/</path><tmp_path>$work/ch/tmp/</tmp_path>
  <user_files_path>$work/ch/user_files/</user_files_path>
  <format_schema_path>$work/ch/format_schemas/</format_schema_path>
  <users_config>$work/ch/users.xml</users_config>
  <default_profile>default</default_profile><default_database>default</default_database>
  <timezone>UTC</timezone><mark_cache_size>16777216</mark_cache_size>
</yandex>
XML
clickhouse-server --config-file="$work/ch/config.xml" >"$work/ch/server.log" 2>&1 &
ch_pid=$!
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$ch_http/ping" >/dev/null 2>&1 && break; sleep 0.1; done
ch() { clickhouse-client --host 127.0.0.1 --port "$ch_tcp" --query "$1"; }
"$bin_fa" clickhouse-schema | clickhouse-client --host 127.0.0.1 --port "$ch_tcp"
ch "CREATE TABLE flows_null AS flows ENGINE = Null"

# CPU seconds (user + system) of a process, or of one of its threads by name.
cpu() { awk -v hz="$hz" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }
now() { date +%s.%N; }

# idle_rate: flow-aggregator's CPU seconds per second with nothing to do (its timers, the
# scheduler's polling), measured over 2 s after it started, so that each run can subtract
# it for the time it lasted (the IPFIX run ends with the collector's 1 s idle exit, the
# ClickHouse run with the last insert's commit_interval).
idle_rate() {
  sleep 0.5
  local c0 t0; c0=$(cpu $fa_pid); t0=$(now)
  sleep 2
  python3 -c "print(max(0, ($(cpu $fa_pid) - $c0) / ($(now) - $t0)))"
}
thread_cpu() { # $1 = pid, $2 = thread name prefix
  local sum=0
  for t in /proc/$1/task/*; do
    if grep -q "^$2" "$t/comm" 2>/dev/null; then
      sum=$(awk -v s="$sum" -v hz="$hz" '{print s + ($14 + $15) / hz}' "$t/stat")
    fi
  done
  echo "$sum"
}

write_config() { # $1 = destination TOML
  cat > "$work/fa.toml" <<TOML
cluster_id = "0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11"
[collector]
listen = ["tcp://127.0.0.1:0"]
$1
[enrichment]
provenance = true
antrea = true
pod_labels = true
[admin]
listen = "127.0.0.1:0"
TOML
}

# A counter of flow-aggregator's /metrics (the admin port is in its "started" log line).
fa_metric() {
  local admin; admin=$(grep -o 'admin_port=[0-9]*' "$work/fa.err" | head -1 | cut -d= -f2)
  curl -sf "http://127.0.0.1:$admin/metrics" | awk -v m="$1" '$1 ~ "^"m {s += $2} END {print s + 0}'
}

# BENCH_CH_PERF=DIR: a call-graph profile of flow-aggregator per run, DIR/NAME.data.
perf_pid=
perf_start() {
  [ -n "${BENCH_CH_PERF:-}" ] || return 0
  mkdir -p "$BENCH_CH_PERF"
  perf record -g -q -p $fa_pid -o "$BENCH_CH_PERF/$1.data" 2>/dev/null &
  perf_pid=$!
}
perf_stop() {
  [ -z "$perf_pid" ] || { kill -INT $perf_pid; wait $perf_pid || true; }
  perf_pid=
}

loadgen() { # builds every message first, then sends; $work/gen.json says for how long
  "$bin_gen" --target 127.0.0.1:$fa_port --template "$template" --seed 1 --quiet \
    --sessions $sessions --records $records --pregen-limit 4GiB --report "$work/gen.json"
}

run_ipfix() { # prints: flow-aggregator CPU us per record, records/s
  rm -f "$work/col.port" "$work/col.json"
  "$bin_col" --listen 127.0.0.1:0 --port-file "$work/col.port" --idle-exit 1s --quiet \
    --report "$work/col.json" >/dev/null 2>"$work/col.err" &
  local col_pid=$!
  for _ in $(seq 200); do [ -s "$work/col.port" ] && break; sleep 0.05; done
  write_config "[[destination]]
name = \"bench\"
url = \"ipfix+tcp://127.0.0.1:$(cat "$work/col.port")\""
  run_fa
  local idle; idle=$(idle_rate)
  local c0 t0; c0=$(cpu $fa_pid); t0=$(now)
  perf_start ipfix
  loadgen
  wait $col_pid || true
  local c1 t1; c1=$(cpu $fa_pid); t1=$(now)
  perf_stop
  kill -TERM $fa_pid; wait $fa_pid || true
  local got; got=$(json "$work/col.json" "['records']")
  [ "$got" -eq $total ] || echo "bench: $((total - got)) records missing at the collector" >&2
  python3 -c "print(($c1 - $c0 - $idle * ($t1 - $t0)) * 1e6 / $total, $(json "$work/col.json" "['records_per_s']"), $idle)"
}

run_clickhouse() { # $1 = format, $2 = compression, $3 = table; prints: CPU us/row, writer us/row, rows/s
  [ "$3" = flows ] && ch "TRUNCATE TABLE flows"
  write_config "[[destination]]
name = \"bench\"
url = \"clickhouse+http://127.0.0.1:$ch_http/?database=default&table=$3\"
format = \"$1\"
compression = \"$2\"
commit_interval = \"200ms\"" # the last rows wait 200 ms, not the default 1 s
  run_fa
  local idle; idle=$(idle_rate)
  local c0 tc; c0=$(cpu $fa_pid); tc=$(now)
  perf_start "$1-$2-$3"
  loadgen
  # Rows/s from the first message sent (not from before the messages were built).
  local t0; t0=$(python3 -c "print($(now) - $(json "$work/gen.json" "['seconds']"))")
  local rows=0
  for _ in $(seq 3000); do
    rows=$(fa_metric flow_aggregator_clickhouse_rows_inserted_total)
    [ "${rows%.*}" -ge $total ] && break
    sleep 0.02
  done
  local t1; t1=$(now)
  local c1; c1=$(cpu $fa_pid)
  local w; w=$(thread_cpu $fa_pid fa-clickhouse)
  perf_stop
  kill -TERM $fa_pid; wait $fa_pid || true
  [ "${rows%.*}" -eq $total ] || echo "bench: $rows rows of $total inserted" >&2
  if [ "$3" = flows ]; then
    local stored; stored=$(ch "SELECT count() FROM flows")
    [ "$stored" -eq $total ] || echo "bench: ClickHouse holds $stored rows of $total" >&2
  fi
  python3 -c "print(($c1 - $c0 - $idle * ($t1 - $tc)) * 1e6 / $total, $w * 1e6 / $total, $total / ($t1 - $t0), $idle)"
}

echo "bench: $template, $sessions sessions x $records records, $repeats rounds (IPFIX and ClickHouse alternate)" >&2
declare -A best_cpu best_writer best_rate
best_ipfix=1e9; ipfix_rate=0
for r in $(seq $repeats); do
  read -r ic irate iidle <<<"$(run_ipfix)"
  echo "  round $r: IPFIX destination ${ic} us/record CPU less idle ($iidle of a core), $irate rec/s" >&2
  best_ipfix=$(python3 -c "print(min($best_ipfix, $ic))")
  ipfix_rate=$(python3 -c "print(max($ipfix_rate, $irate))")
  for v in $variants; do
    IFS=: read -r format compression table <<<"$v"
    read -r cc wc rate cidle <<<"$(run_clickhouse "$format" "$compression" "$table")"
    echo "  round $r: ClickHouse $v ${cc} us/row CPU less idle ($cidle of a core; writer thread ${wc}), $rate rows/s" >&2
    best_cpu[$v]=$(python3 -c "print(min(${best_cpu[$v]:-1e9}, $cc))")
    best_writer[$v]=$(python3 -c "print(min(${best_writer[$v]:-1e9}, $wc))")
    best_rate[$v]=$(python3 -c "print(max(${best_rate[$v]:-0}, $rate))")
  done
done
kill -TERM $ch_pid; wait $ch_pid || true

echo
echo "| destination | rows or records/s | flow-aggregator CPU per row, us | of which the writer thread, us | vs IPFIX |"
echo "|---|---|---|---|---|"
printf "| IPFIX (ipfix+tcp to ipfix-collector) | %s | %s | - | 1.00 |\n" \
  "$(python3 -c "print(f'{$ipfix_rate:,.0f}')")" "$(python3 -c "print(f'{$best_ipfix:.2f}')")"
for v in $variants; do
  IFS=: read -r format compression table <<<"$v"
  engine=MergeTree; [ "$table" = flows_null ] && engine="Null engine"
  python3 -c "
c, w, r, i = ${best_cpu[$v]}, ${best_writer[$v]}, ${best_rate[$v]}, $best_ipfix
print(f'| ClickHouse ($engine), $format, compression $compression | {r:,.0f} | {c:.2f} | {w:.2f} | {c / i:.2f} |')"
done
