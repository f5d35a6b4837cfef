# Sourced by the benchmark scripts: a scratch directory cleaned up on exit (with every
# child process), the binaries' check, and a JSON field reader.

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
