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
