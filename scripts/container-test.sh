#!/usr/bin/env bash
# make container-test: builds the flow-aggregator image from the Dockerfile with buildah (no
# daemon: vfs storage, chroot isolation), checks what the image is made of, runs it the way
# a container runtime would (its ENTRYPOINT and CMD, as its USER, on its config path) and
# sends IPFIX through it from this host:
#
#   ipfix-loadgen (TCP and UDP) --> 127.0.0.1:4739 container --> ipfix-collector on the host
#
# The collector checks every record byte for byte (--verify) and their exact number; the
# admin API must answer /healthz, /readyz and /metrics on 127.0.0.1:10348 with the counts
# matching, the image's own HEALTHCHECK must pass, and SIGTERM must stop it with status 0.
# Any failure ends the script with status 1 and says what failed.
#
# Usage: scripts/container-test.sh [RELEASE_DIR]    (default build/release: host tools)
# Environment:
#   FA_IMAGE          image name (default localhost/flow-aggregator:test)
#   JOBS              compile jobs inside the build (default 2)
#   FA_CONTAINER_REF  build that commit's sources (git archive) instead of the working tree
#   FA_TOOLS_DIR      directory holding ipfix-loadgen and ipfix-collector already built
#                     (default: build them in RELEASE_DIR)
#   FA_NO_CACHE=1     rebuild every layer
#   FA_SKIP_BUILD=1   test FA_IMAGE as it is in buildah's storage, without building
#   FA_BUILD_TIMEOUT  longest the image build may take, in seconds (default 3600)
#   FA_CONTAINER_CACHE  base image tarballs and buildah's vfs storage
#                     (default /var/tmp/flow-aggregator-container; scripts/container-common.sh)
# The base image comes from scripts/container-base.sh (pulled, or bootstrapped with
# debootstrap and cached when no registry answers).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
  # debootstrap and buildah's vfs storage as root; rootless buildah would need subuid setup.
  exec sudo --preserve-env=FA_IMAGE,JOBS,FA_CONTAINER_REF,FA_TOOLS_DIR,FA_NO_CACHE,FA_SKIP_BUILD,FA_CONTAINER_CACHE,FA_BUILDAH_ROOT,FA_BUILDAH_RUNROOT,FA_BASE_MAX_AGE_DAYS,FA_BUILD_TIMEOUT \
    bash "$repo/scripts/container-test.sh" "$@"
fi

# shellcheck source=scripts/container-common.sh
. "$repo/scripts/container-common.sh"
IMAGE=${FA_IMAGE:-localhost/flow-aggregator:test}
JOBS=${JOBS:-2}
release_dir=${1:-build/release}
case $release_dir in /*) ;; *) release_dir=$repo/$release_dir ;; esac

# The container shares the host's network (there is no daemon to make a bridge), so it
# listens on the image's documented ports on loopback only.
IPFIX_PORT=4739
ADMIN_PORT=10348
TCP_SESSIONS=4
UDP_SESSIONS=1
RECORDS=2500 # per session
TOTAL=$(((TCP_SESSIONS + UDP_SESSIONS) * RECORDS))
SEED=7
ODID_BASE=1000

started=$(date +%s)
say() { echo "container-test: $*" >&2; }
step() { echo "container-test: [$(($(date +%s) - started))s] $*" >&2; }
fail() {
  echo "container-test: FAILED: $*" >&2
  exit 1
}

work=$(mktemp -d /tmp/fa-container-test.XXXXXX)
ctr=""
run_pid=""
fa_pid=""
collector_pid=""
cleanup() {
  local rc=$?
  set +e
  if [ -n "$fa_pid" ] && kill -0 "$fa_pid" 2>/dev/null; then
    kill -TERM "$fa_pid"
    for _ in $(seq 100); do kill -0 "$fa_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$fa_pid" 2>/dev/null
  fi
  [ -n "$run_pid" ] && kill "$run_pid" 2>/dev/null
  [ -n "$collector_pid" ] && kill "$collector_pid" 2>/dev/null
  wait 2>/dev/null
  [ -n "$ctr" ] && buildah rm "$ctr" >/dev/null 2>&1
  if [ $rc -ne 0 ]; then
    for f in fa.stderr collector.stderr loadgen-tcp.stderr loadgen-udp.stderr; do
      if [ -s "$work/$f" ]; then
        echo "---- $f (last 20 lines)" >&2
        tail -n 20 "$work/$f" >&2
      fi
    done
  fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s, fails after SECONDS.
wait_for() {
  local secs=$1 what=$2
  shift 2
  local deadline=$(($(date +%s) + secs))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "timed out after ${secs}s waiting for $what"
    if [ -n "$run_pid" ] && ! kill -0 "$run_pid" 2>/dev/null; then
      fail "the container exited while waiting for $what"
    fi
    sleep 0.2
  done
}

# Every source change leaves the previous build's layers behind (about 1 GB on vfs). After
# a build, images nothing refers to (no name, no child) and that this build did not make or
# take from its cache are removed; removing one can leave its parent unreferenced, hence the
# rounds. The base image and the layers this build used stay, so a rerun is still cached.
prune_old_builds() {
  local used ids id removed
  used=$(grep -oE '^--> (Using cache )?[0-9a-f]{11,64}' "$work/bud.log" | grep -oE '[0-9a-f]{11,64}$' |
    cut -c1-11 | sort -u)
  for _ in $(seq 20); do
    removed=0
    ids=$(buildah images -a --noheading --filter dangling=true --format '{{.ID}}' | cut -c1-11 | sort -u)
    for id in $ids; do
      grep -qx "$id" <<<"$used" && continue
      buildah rmi "$id" >/dev/null 2>&1 && removed=$((removed + 1))
    done
    [ "$removed" -gt 0 ] || break
  done
}

# ---- tools and packages -----------------------------------------------------------------
bash "$repo/scripts/install-deps.sh" --container
for t in curl ss python3; do
  command -v $t >/dev/null || fail "$t is missing (scripts/install-deps.sh installs it)"
done

tools=${FA_TOOLS_DIR:-}
if [ -z "$tools" ]; then
  step "building ipfix-loadgen and ipfix-collector in $release_dir"
  if [ ! -f "$release_dir/build.ninja" ]; then
    cmake -S "$repo" -B "$release_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFA_TESTS=OFF >/dev/null
  fi
  cmake --build "$release_dir" --target ipfix-loadgen ipfix-collector -j "$JOBS" >/dev/null ||
    fail "building the host tools failed (cmake --build $release_dir --target ipfix-loadgen ipfix-collector)"
  tools=$release_dir/tools
fi
loadgen=$tools/ipfix-loadgen
collector=$tools/ipfix-collector
if [ ! -x "$loadgen" ] || [ ! -x "$collector" ]; then
  fail "no ipfix-loadgen/ipfix-collector in $tools"
fi

for p in "tcp:$IPFIX_PORT" "udp:$IPFIX_PORT" "tcp:$ADMIN_PORT"; do
  proto=${p%%:*} port=${p#*:}
  if [ "$proto" = tcp ]; then used=$(ss -Htlnp "sport = :$port"); else used=$(ss -Hulnp "sport = :$port"); fi
  [ -z "$used" ] || fail "port $port/$proto is in use on this host, the container needs it: $used"
done

# ---- base image and build ---------------------------------------------------------------
step "base image"
bash "$repo/scripts/container-base.sh"

context=$repo
if [ -n "${FA_CONTAINER_REF:-}" ]; then
  context=$work/context
  mkdir -p "$context"
  git -C "$repo" archive "$FA_CONTAINER_REF" | tar -x -C "$context"
  cp "$repo/Dockerfile" "$repo/.dockerignore" "$context/"
  say "building the sources of $FA_CONTAINER_REF ($(git -C "$repo" rev-parse --short "$FA_CONTAINER_REF")), the working tree's Dockerfile"
fi

if [ "${FA_SKIP_BUILD:-}" = 1 ]; then
  buildah inspect --type image "$IMAGE" >/dev/null 2>&1 || fail "FA_SKIP_BUILD=1 but there is no image $IMAGE"
  say "FA_SKIP_BUILD=1: testing $IMAGE as it is"
else
  step "buildah bud $IMAGE (a full compile takes 10 minutes or more on 2 cores; cached layers are reused)"
  bud_args=(--layers --format docker --isolation chroot --network host --pull=false
    --build-arg "JOBS=$JOBS" -f "$context/Dockerfile" -t "$IMAGE")
  [ "${FA_NO_CACHE:-}" = 1 ] && bud_args+=(--no-cache)
  build_started=$(date +%s)
  build_timeout=${FA_BUILD_TIMEOUT:-3600}
  if ! timeout "$build_timeout" "${buildah_cmd[@]}" bud "${bud_args[@]}" "$context" >"$work/bud.log" 2>&1; then
    tail -n 40 "$work/bud.log" >&2
    fail "buildah bud failed or took longer than ${build_timeout}s (last lines above)"
  fi
  step "built $IMAGE in $(($(date +%s) - build_started))s"
  prune_old_builds
fi
size=$(buildah images --format '{{.Size}}' "$IMAGE" | head -n1)
step "image size: $size"

# ---- what the image is made of ----------------------------------------------------------
fmt() { buildah inspect --type image --format "$1" "$IMAGE"; }
user=$(fmt '{{.Docker.Config.User}}')
[ "$user" = "10001:10001" ] || fail "image USER is '$user', want 10001:10001 (non-root, numeric)"
# shellcheck disable=SC2016 # a Go template, not shell
ports=$(fmt '{{range $p, $_ := .Docker.Config.ExposedPorts}}{{$p}} {{end}}' | tr ' ' '\n' | sed '/^$/d' | sort | tr '\n' ' ')
[ "$ports" = "10348/tcp 4739/tcp 4739/udp 4740/tcp " ] || fail "image EXPOSEs '$ports', want 4739/tcp 4739/udp 4740/tcp 10348/tcp"
mapfile -t health < <(fmt '{{if .Docker.Config.Healthcheck}}{{range .Docker.Config.Healthcheck.Test}}{{.}}{{"\n"}}{{end}}{{end}}')
[ ${#health[@]} -ge 2 ] || fail "image has no HEALTHCHECK (an OCI-format build drops it: build with --format docker)"
mapfile -t entrypoint < <(fmt '{{range .Docker.Config.Entrypoint}}{{.}}{{"\n"}}{{end}}')
mapfile -t cmd < <(fmt '{{range .Docker.Config.Cmd}}{{.}}{{"\n"}}{{end}}')
[ ${#entrypoint[@]} -ge 1 ] || fail "image has no ENTRYPOINT"
case " ${cmd[*]} " in
  *" /etc/flow-aggregator/config.toml "*) ;;
  *) fail "image CMD '${cmd[*]}' does not take /etc/flow-aggregator/config.toml" ;;
esac

ctr=$(buildah from --pull-never --name "fa-container-test-$$" "$IMAGE")
# One command in the container, bounded in time.
in_ctr() { timeout 60 "${buildah_cmd[@]}" run --isolation chroot --network host "$ctr" -- "$@"; }

# Only runtime libraries: every library the binary needs resolves, and nothing to build with.
ldd_out=$(in_ctr ldd /usr/bin/flow-aggregator) || fail "ldd /usr/bin/flow-aggregator failed in the image"
if grep -q "not found" <<<"$ldd_out"; then
  fail "libraries missing in the image: $(grep 'not found' <<<"$ldd_out" | tr -s ' \t\n' ' ')"
fi
# shellcheck disable=SC2016 # a dpkg-query format
build_pkgs=$(in_ctr dpkg-query -W -f '${Package}\n' |
  grep -E -- '-dev$|^(gcc|g\+\+|cpp|clang|cmake|ninja-build|make|build-essential|binutils)(-[0-9.]+)?$' || true)
[ -z "$build_pkgs" ] || fail "build-time packages in the runtime image: $(tr '\n' ' ' <<<"$build_pkgs")"
version=$(in_ctr /usr/bin/flow-aggregator version) || fail "flow-aggregator version failed in the image"
in_ctr /usr/bin/flow-aggregator check-config -c /etc/flow-aggregator/config.toml >/dev/null 2>"$work/check.err" ||
  fail "the image's /etc/flow-aggregator/config.toml is invalid: $(cat "$work/check.err")"
step "image: $version, USER $user, EXPOSE $ports, HEALTHCHECK ${health[*]}, ENTRYPOINT ${entrypoint[*]} CMD ${cmd[*]}, runtime libraries only"

# ---- run it -----------------------------------------------------------------------------
"$collector" --listen 127.0.0.1:0 --port-file "$work/collector.port" --verify "$SEED" \
  --expect-odids "$ODID_BASE:$((TCP_SESSIONS + UDP_SESSIONS))" --expect-records "$RECORDS" \
  --expect-exporter 127.0.0.1 --expect-total "$TOTAL" --report "$work/collector.json" \
  >/dev/null 2>"$work/collector.stderr" &
collector_pid=$!
wait_for 20 "ipfix-collector to listen" test -s "$work/collector.port"
collector_port=$(cat "$work/collector.port")

# The image's config, with the destination pointed at the host's collector (and at the
# container's stdout, so its log can be counted too) and everything on loopback.
cat >"$work/config.toml" <<EOF
mode = "proxy"

[collector]
listen = ["tcp://127.0.0.1:$IPFIX_PORT", "udp://127.0.0.1:$IPFIX_PORT"]

[[destination]]
name = "host-collector"
url = "ipfix+tcp://127.0.0.1:$collector_port"

[[destination]]
name = "stdout"
url = "jsonl:stdout"

[admin]
listen = "127.0.0.1:$ADMIN_PORT"

[runtime]
log_format = "json"
EOF
chmod 0644 "$work/config.toml"

step "running ${entrypoint[*]} ${cmd[*]} in the container"
buildah run --isolation chroot --network host \
  --volume "$work/config.toml:/etc/flow-aggregator/config.toml:ro" \
  "$ctr" -- "${entrypoint[@]}" "${cmd[@]}" >"$work/fa.stdout" 2>"$work/fa.stderr" &
run_pid=$!

# The flow-aggregator process: a descendant of `buildah run` (chroot isolation runs it
# through a helper process).
find_fa() {
  local queue=("$run_pid") p c
  while [ ${#queue[@]} -gt 0 ]; do
    p=${queue[0]}
    queue=("${queue[@]:1}")
    if [ "$p" != "$run_pid" ] && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "flow-aggregator" ]; then
      echo "$p"
      return 0
    fi
    for c in $(ps -o pid= --ppid "$p"); do queue+=("$c"); done
  done
  return 1
}
wait_for 30 "the flow-aggregator process" find_fa
fa_pid=$(find_fa)
uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$fa_pid/status")
gids=$(awk '/^Gid:/ {print $2, $3, $4, $5}' "/proc/$fa_pid/status")
[ "$uids" = "10001 10001 10001 10001" ] || fail "flow-aggregator runs with uids '$uids', want the image's user 10001"
[ "$gids" = "10001 10001 10001 10001" ] || fail "flow-aggregator runs with gids '$gids', want 10001"
root=$(readlink "/proc/$fa_pid/root")
[ "$root" != "/" ] || fail "flow-aggregator is not inside the container's root file system"

admin=http://127.0.0.1:$ADMIN_PORT
wait_for 30 "/healthz" curl -fsS -o /dev/null "$admin/healthz"
healthz=$(curl -fsS --max-time 5 "$admin/healthz") || fail "/healthz failed"
[ "$healthz" = "ok" ] || fail "/healthz answered '$healthz', want ok"
wait_for 30 "/readyz to answer 200 (listeners up, destination reachable)" curl -fsS -o /dev/null "$admin/readyz"
if [ "${health[0]}" = "CMD-SHELL" ]; then
  in_ctr sh -c "${health[1]}" || fail "the image's HEALTHCHECK (${health[1]}) failed"
else
  in_ctr "${health[@]:1}" || fail "the image's HEALTHCHECK (${health[*]:1}) failed"
fi
# The state directory is the non-root user's: the cluster id is kept there.
grep -q 'stored in /var/lib/flow-aggregator/cluster-id' "$work/fa.stderr" ||
  fail "the cluster id was not stored in /var/lib/flow-aggregator (is it writable by uid 10001?)"
step "running as uid 10001 in $root; /healthz ok, /readyz 200, HEALTHCHECK passes, state dir writable"

step "sending $TOTAL records: $TCP_SESSIONS TCP sessions and $UDP_SESSIONS UDP session, $RECORDS records each"
timeout 120 "$loadgen" --target "127.0.0.1:$IPFIX_PORT" --sessions "$TCP_SESSIONS" --records "$RECORDS" \
  --seed "$SEED" --odid-base "$ODID_BASE" --quiet 2>"$work/loadgen-tcp.stderr" ||
  fail "ipfix-loadgen over TCP failed"
# UDP is paced: a datagram the kernel drops on a loaded host would be lost for good.
timeout 120 "$loadgen" --target "127.0.0.1:$IPFIX_PORT" --transport udp --sessions "$UDP_SESSIONS" \
  --records "$RECORDS" --rate 5000 --seed "$SEED" --odid-base "$((ODID_BASE + TCP_SESSIONS))" --quiet \
  2>"$work/loadgen-udp.stderr" || fail "ipfix-loadgen over UDP failed"

deadline=$(($(date +%s) + 120))
while kill -0 "$collector_pid" 2>/dev/null; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "ipfix-collector did not get $TOTAL records within 120s"
  sleep 0.2
done
collector_rc=0
wait "$collector_pid" || collector_rc=$?
collector_pid=""
[ "$collector_rc" -eq 0 ] || fail "ipfix-collector found errors (status $collector_rc): $(tail -n 5 "$work/collector.stderr")"
received=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['records'])" "$work/collector.json")
[ "$received" -eq "$TOTAL" ] || fail "the host collector received $received records, want exactly $TOTAL"
step "host ipfix-collector: $received records, each verified (content, ODIDs, exporter 127.0.0.1)"

# /metrics: Prometheus text with the same counts.
curl -fsS --max-time 5 "$admin/metrics" >"$work/metrics" || fail "/metrics did not answer"
metric_sum() { # NAME [LABEL-FILTER]: sum of the samples of NAME whose labels contain FILTER
  awk -v n="$1" -v f="${2:-}" '$1 == n || index($1, n "{") == 1 { if (f == "" || index($1, f)) s += $NF } END { printf "%d", s }' "$work/metrics"
}
families=$(grep -c '^# TYPE flow_aggregator_' "$work/metrics" || true)
[ "$families" -gt 0 ] || fail "/metrics has no flow_aggregator_ metrics"
in=$(metric_sum flow_aggregator_records_received_total)
out=$(metric_sum flow_aggregator_records_sent_total 'destination="host-collector"')
[ "$in" -eq "$TOTAL" ] || fail "/metrics: flow_aggregator_records_received_total is $in, want $TOTAL"
[ "$out" -eq "$TOTAL" ] || fail "/metrics: flow_aggregator_records_sent_total{destination=\"host-collector\"} is $out, want $TOTAL"
step "/metrics: $families flow_aggregator_ families, records received $in, sent to host-collector $out"

# inspect, from inside the container, finds the admin API through the config.
timeout 60 "${buildah_cmd[@]}" run --isolation chroot --network host \
  --volume "$work/config.toml:/etc/flow-aggregator/config.toml:ro" "$ctr" -- \
  /usr/bin/flow-aggregator inspect destinations -c /etc/flow-aggregator/config.toml >"$work/inspect.txt" 2>&1 ||
  fail "flow-aggregator inspect destinations failed in the container: $(cat "$work/inspect.txt")"
grep -q host-collector "$work/inspect.txt" || fail "inspect destinations does not list host-collector: $(cat "$work/inspect.txt")"

# SIGTERM, as `docker stop` sends it: drain and exit 0.
kill -TERM "$fa_pid"
deadline=$(($(date +%s) + 30))
while kill -0 "$run_pid" 2>/dev/null; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "the container did not stop within 30s of SIGTERM"
  sleep 0.2
done
run_rc=0
wait "$run_pid" || run_rc=$?
run_pid=""
fa_pid=""
[ "$run_rc" -eq 0 ] || fail "the container exited with status $run_rc after SIGTERM, want 0"
lines=$(grep -c '^{' "$work/fa.stdout" || true)
[ "$lines" -eq "$TOTAL" ] || fail "the container's stdout destination printed $lines records, want $TOTAL"
step "SIGTERM: exited 0; container stdout had $lines JSON records"

step "PASSED: $IMAGE ($size) received, enriched and forwarded $TOTAL of $TOTAL records in $(($(date +%s) - started))s"
