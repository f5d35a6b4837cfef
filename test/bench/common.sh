# Sourced by the benchmark scripts and the soak test: a scratch directory cleaned up on
# exit (with every child process), the binaries' check, a JSON field reader, starting
# flow-aggregator, and a PKI for the Kubernetes API test server.

bench_setup() { # $1 = scratch name, rest = binaries that must be built
  work=$(mktemp -d "/tmp/fa-bench-$1.XXXXXX")
  trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
  shift
  for b in "$@"; do
    [ -x "$b" ] || { echo "bench: $b not built" >&2; exit 1; }
  done
}

# json FILE EXPR: prints d EXPR of the JSON document in FILE, e.g. json r.json "['records']".
json() { python3 -c "import json,sys; d=json.load(open('$1')); print(eval('d' + sys.argv[1]))" "$2"; }

# run_fa: starts flow-aggregator ($bin_fa) on $work/fa.toml, written by the caller, and
# sets fa_pid and fa_port (its first listener's port, from the log).
run_fa() {
  rm -f "$work/fa.err"
  FA_STATE_DIR=$work "$bin_fa" run -c "$work/fa.toml" 2>"$work/fa.err" &
  fa_pid=$!
  for _ in $(seq 200); do grep -q ' port=' "$work/fa.err" 2>/dev/null && break; sleep 0.05; done
  fa_port=$(grep -o ' port=[0-9]*' "$work/fa.err" | head -1 | cut -d= -f2)
}

# bench_pki DIR: a CA (DIR/ca.crt) and a server certificate for 127.0.0.1 (DIR/server.crt,
# DIR/server.key), as a cluster's API server has, and the API token DIR/token.
bench_pki() {
  local d=$1; mkdir -p "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$d/ca.key" \
    -out "$d/ca.crt" -days 1 -subj /CN=bench-ca 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$d/server.key" \
    -out "$d/server.csr" -subj /CN=kube-apiserver 2>/dev/null
  echo "subjectAltName=IP:127.0.0.1" > "$d/ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -out "$d/server.crt" -days 1 -extfile "$d/ext" 2>/dev/null
  printf 'bench-token' > "$d/token"
}

# cpu_ticks PID: the process's utime + stime, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' /proc/$1/stat; }
# wait_admin_port: sets admin_port from the "started" line run_fa's process logs.
wait_admin_port() {
  for _ in $(seq 200); do grep -q ' admin_port=' "$work/fa.err" && break; sleep 0.05; done
  admin_port=$(grep -o ' admin_port=[0-9]*' "$work/fa.err" | head -1 | cut -d= -f2)
}
# idle_sample SECONDS: flow-aggregator's CPU ticks and the time before and after SECONDS
# with no traffic, into the caller's idle0 t_idle0 idle1 t_idle1 (its idle cost).
idle_sample() {
  idle0=$(cpu_ticks $fa_pid); t_idle0=$(date +%s.%N)
  sleep "$1"
  idle1=$(cpu_ticks $fa_pid); t_idle1=$(date +%s.%N)
}
# scrape: flow-aggregator's /metrics on 127.0.0.1:$admin_port.
scrape() { python3 -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:$admin_port/metrics').read().decode())"; }
# metric NAME [LABEL_FILTER]: the sum of the series (0 when none).
metric() {
  scrape | awk -v n="$1" -v f="${2:-}" '$1 ~ "^"n"({|$)" && index($1, f) {s += $2} END {printf "%.0f\n", s}'
}

# start_kube_api PODS UPDATES: kube-api-test-server ($bin_api) over TLS with the PKI of
# bench_pki "$work/pki", holding PODS Pods and changing UPDATES of them a second; sets
# api_pid and api_port.
start_kube_api() {
  "$bin_api" --cert "$work/pki/server.crt" --key "$work/pki/server.key" --token bench-token \
    --pods "$1" --updates-per-second "$2" --port-file "$work/api.port" 2>"$work/api.err" &
  api_pid=$!
  for _ in $(seq 600); do [ -s "$work/api.port" ] && break; sleep 0.1; done
  [ -s "$work/api.port" ] || { echo "bench: the API server did not start" >&2; cat "$work/api.err" >&2; exit 1; }
  api_port=$(cat "$work/api.port")
}
# labels_toml on|off: the body of flow-aggregator's [labels] (and [kubernetes]) for labels
# from start_kube_api's server, or none.
labels_toml() {
  if [ "$1" = on ]; then
    printf 'source = "kubernetes"\n[kubernetes]\napi_server = "https://127.0.0.1:%s"\ntoken_file = "%s"\nca_file = "%s"\n' \
      "$api_port" "$work/pki/token" "$work/pki/ca.crt"
  else
    echo 'source = "none"'
  fi
}
# wait_labels_synced: run_fa's process has listed every Pod and published the index.
wait_labels_synced() {
  for _ in $(seq 1200); do grep -q 'kubernetes Pods listed' "$work/fa.err" && break; sleep 0.1; done
  grep -q 'kubernetes Pods listed' "$work/fa.err" || { echo "bench: labels never synced" >&2; cat "$work/fa.err" >&2; exit 1; }
}

# start_tee PORT COLLECTOR_PORT: pmacct nfacctd with the tee plugin on 127.0.0.1:PORT
# (UDP), copying datagrams untouched to the collector; sets tee_pid. It runs in its own
# session: on exit nfacctd signals its whole process group (stop it with stop_tee).
start_tee() {
  echo "id=1 ip=127.0.0.1:$2" > "$work/receivers.lst"
  # Generous buffers, as pmacct's documentation advises for high rates.
  cat > "$work/tee.conf" <<CONF
daemonize: false
nfacctd_ip: 127.0.0.1
nfacctd_port: $1
nfacctd_pipe_size: 8388608
plugins: tee[bench]
tee_receivers[bench]: $work/receivers.lst
plugin_pipe_size: 67108864
plugin_buffer_size: 65536
CONF
  setsid nfacctd -f "$work/tee.conf" >"$work/tee.log" 2>&1 &
  tee_pid=$!
  for _ in $(seq 100); do grep -q "waiting for NetFlow" "$work/tee.log" 2>/dev/null && break; sleep 0.05; done
}
# stop_tee: nfacctd ignores SIGTERM and its plugin can outlive the core: SIGINT, then the
# whole process group is killed if it lingers.
stop_tee() {
  kill -INT $tee_pid 2>/dev/null || true
  for _ in $(seq 40); do kill -0 $tee_pid 2>/dev/null || break; sleep 0.05; done
  kill -KILL -- -$tee_pid 2>/dev/null || true
  kill -KILL $tee_pid 2>/dev/null || true
  wait $tee_pid 2>/dev/null || true
}
